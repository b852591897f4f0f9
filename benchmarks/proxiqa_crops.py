#!/usr/bin/env python3
"""ProxIQA Fig. 5 analogue: crops of one Kodak image at about the same rate.

Learned models (default: the lowest-rate BLS-MSE and BLS-VMAF_p) and
conventional codecs (default: JPEG2000 and HEVC) at the setting whose rate is
closest to the first model's, each with bpp (real file size), VMAF, PSNR and
SSIM of the whole image under its crop.

  .venv/bin/python benchmarks/proxiqa_crops.py --output=docs/proxiqa/fig5_crops.png
"""

import os

from absl import app
from absl import flags
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from tfpc import coding
from tfpc import image as image_lib
from tfpc import metrics
from tfpc import zoo
from tfpc.evaluation import conventional

import harness  # benchmarks/, beside this script

flags.DEFINE_string("image", "kodim23", "Kodak image name (or a path).")
flags.DEFINE_list("models", ["bls2017-mse-l0.0008", "bls2017-vmafp-l0.0008"],
                  "Learned models, in panel order.")
flags.DEFINE_list("codecs", ["jpeg2000", "hevc444"],
                  "Conventional codecs, at the first model's rate.")
flags.DEFINE_list("crop", ["120", "230", "256"], "Crop top, left and side.")
flags.DEFINE_string("output", "docs/proxiqa/fig5_crops.png", "PNG to write.")
FLAGS = flags.FLAGS


def closest_setting(codec, pixels, target_bpp):
  """The codec's coded image whose rate is closest to target_bpp."""
  low, high = sorted((codec.settings[0], codec.settings[-1]))
  candidates = np.unique(np.round(np.geomspace(low, high, 48)).astype(int))
  best = None
  for setting in candidates:
    coded = conventional.code(codec, int(setting), pixels)
    bpp = 8 * coded["num_bytes"] / pixels[..., 0].size
    if best is None or abs(bpp - target_bpp) < abs(best[0] - target_bpp):
      best = (bpp, coded["decoded"], f"{codec.label} ({setting})")
  return best


def learned(spec, pixels):
  model = zoo.load(spec)
  data = coding.encode(model, pixels)
  return (8 * len(data) / pixels[..., 0].size,
          coding.decode(data, model).pixels, model.name)


def main(argv):
  del argv
  path = FLAGS.image if os.path.exists(FLAGS.image) else os.path.join(
      harness.KODAK, FLAGS.image + ".png")
  pixels = image_lib.read_image(path).pixels
  panels = [learned(spec, pixels) for spec in FLAGS.models]
  for name in FLAGS.codecs:
    panels.append(closest_setting(conventional.CODECS[name], pixels,
                                  panels[0][0]))
  top, left, side = (int(v) for v in FLAGS.crop)
  fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3 * len(panels) + 3,
                                                        3.6))
  axes[0].imshow(pixels[top:top + side, left:left + side])
  axes[0].set_title("original", fontsize=9)
  for ax, (bpp, decoded, label) in zip(axes[1:], panels):
    ax.imshow(decoded[top:top + side, left:left + side])
    ax.set_title(label, fontsize=9)
    ax.set_xlabel(f"{bpp:.3f} bpp, VMAF "
                  f"{metrics.compute('vmaf', pixels, decoded):.1f}, "
                  f"{metrics.compute('psnr', pixels, decoded):.2f} dB, SSIM "
                  f"{metrics.compute('ssim', pixels, decoded):.3f}",
                  fontsize=8)
  for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
  fig.suptitle(f"{os.path.basename(path)}: crop at ({top}, {left})",
               fontsize=10)
  fig.tight_layout()
  os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
  fig.savefig(FLAGS.output, dpi=110)
  print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
