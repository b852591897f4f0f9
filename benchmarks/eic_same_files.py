"""A base codec and decoders tuned from it, on the base's own `.tfpc` files.

Usage: .venv/bin/python benchmarks/eic_same_files.py BASE LABEL=MODEL...
       [--images=../shared/data/kodak] [--limit=6] [--crop=OUT.png]
For each image, BASE writes one `.tfpc` file; every model (BASE included)
re-encodes the image (the bytes must be identical) and decodes BASE's file.
Prints, per model, the mean bpp (the same file for all), PSNR, MS-SSIM and
NIQE (lower is better) as a markdown table. `--crop` writes a side-by-side
crop of the first image (original, then each model), like the paper's Fig. 4.
"""

import os

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags
from PIL import Image

from tfpc import coding
from tfpc import data
from tfpc import errors
from tfpc import image as image_lib
from tfpc import metrics
from tfpc import zoo

import harness  # benchmarks/, beside this script

flags.DEFINE_string("images", None, "Folder or glob (default: Kodak).")
flags.DEFINE_integer("limit", 6, "How many images (the first, sorted).")
flags.DEFINE_string("crop", None, "Side-by-side crop PNG of the first image.")
flags.DEFINE_integer("crop_size", 192, "Side of the crop.")
FLAGS = flags.FLAGS
METRICS = ("psnr", "msssim", "niqe")


def main(argv):
  if len(argv) < 3:
    raise errors.ConfigError("give BASE and at least one LABEL=MODEL")
  models = {"base": zoo.load(argv[1])}
  for item in argv[2:]:
    label, _, spec = item.partition("=")
    models[label] = zoo.load(spec)
  paths = data.list_images(FLAGS.images or harness.KODAK)[:FLAGS.limit]
  scores = {label: [] for label in models}
  crops = []
  for index, path in enumerate(paths):
    pixels = image_lib.read_image(path).pixels
    file_bytes = coding.encode(models["base"], pixels)
    bpp = 8 * len(file_bytes) / (pixels.shape[0] * pixels.shape[1])
    for label, model in models.items():
      if coding.encode(model, pixels) != file_bytes:
        raise errors.TfpcError(f"{label} writes other bytes for {path}")
      decoded = coding.decode(file_bytes, model).pixels
      scores[label].append([bpp] + [
          float(metrics.compute(m, pixels, decoded)) for m in METRICS])
      if index == 0:
        crops.append(decoded)
    print(f"{os.path.basename(path)}: {len(file_bytes)} bytes", flush=True)
  print(f"\n{len(paths)} images: " +
        ", ".join(os.path.basename(p) for p in paths))
  print("\n| model | bpp | PSNR | MS-SSIM | NIQE |\n|---|---:|---:|---:|---:|")
  for label, rows in scores.items():
    bpp, psnr, msssim, niqe = np.mean(rows, axis=0)
    print(f"| {label} ({models[label].name}) | {bpp:.4f} | {psnr:.2f} | "
          f"{msssim:.4f} | {niqe:.3f} |")
  if FLAGS.crop:
    original = image_lib.read_image(paths[0]).pixels
    height, width = original.shape[:2]
    top, left = (height - FLAGS.crop_size) // 2, (width - FLAGS.crop_size) // 2
    window = (slice(top, top + FLAGS.crop_size),
              slice(left, left + FLAGS.crop_size))
    Image.fromarray(np.concatenate(
        [original[window]] + [c[window] for c in crops], axis=1)).save(
            FLAGS.crop)
    print(f"\ncrop of {os.path.basename(paths[0])} at ({top}, {left}): "
          f"original, {', '.join(models)} -> {FLAGS.crop}")


if __name__ == "__main__":
  cli.run(main)
