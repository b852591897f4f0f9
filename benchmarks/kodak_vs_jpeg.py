"""Shipped model vs JPEG (Pillow/libjpeg 4:2:0) at matched bpp on Kodak.

Usage: .venv/bin/python benchmarks/kodak_vs_jpeg.py [--model=NAME] [--kodak=DIR]
Per image: the model's real .tfpc size (header included) gives its bpp; JPEG's
quality is searched to the closest bpp, and JPEG's PSNR is also interpolated to
exactly the model's bpp between the two bracketing qualities.
"""

import os
import sys

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags
from tqdm import tqdm

from tfpc import data
from tfpc import image as image_lib
from tfpc import zoo
from tfpc.evaluation import compare
from tfpc.evaluation import jpeg

import harness  # benchmarks/, beside this script

flags.DEFINE_string("model", zoo.DEFAULT_MODEL, "Model name or path.")
flags.DEFINE_string("kodak", harness.KODAK,
    "Folder of Kodak images.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  model = zoo.load(FLAGS.model)
  rows = []
  for path in tqdm(data.list_images(FLAGS.kodak), file=sys.stderr):
    pixels = image_lib.read_image(path).pixels
    result = compare.learned_vs_jpeg([model], pixels)
    learned, closest = result["learned"][0], result["jpeg"]
    rows.append((os.path.basename(path), learned["bpp"], learned["psnr"],
                 learned["msssim"], closest["quality"], closest["bpp"],
                 closest["psnr"], closest["msssim"],
                 jpeg.psnr_at_bpp(pixels, learned["bpp"])))
  print(f"model {model.name}, {len(rows)} images")
  print("| image | tfpc bpp | tfpc PSNR | tfpc MS-SSIM | JPEG q | JPEG bpp "
        "| JPEG PSNR | JPEG MS-SSIM | JPEG PSNR @ tfpc bpp |")
  print("|---|---|---|---|---|---|---|---|---|")
  for row in rows:
    print("| {} | {:.4f} | {:.2f} | {:.4f} | {} | {:.4f} | {:.2f} | {:.4f} | "
          "{:.2f} |".format(*row))
  means = np.mean([r[1:] for r in rows], axis=0)
  print("| **mean** | {:.4f} | {:.2f} | {:.4f} | | {:.4f} | {:.2f} | {:.4f} | "
        "{:.2f} |".format(*means[:3], *means[4:]))


if __name__ == "__main__":
  cli.run(main)
