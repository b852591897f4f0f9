"""A warm start at step 0: is the new codec as good as its source?

Usage: .venv/bin/python benchmarks/warm_start_psnr.py SOURCE LABEL=RUN...
       [--images=../shared/data/kodak] [--limit=2]
SOURCE and each RUN are exported models or training runs (a stage trained
for 0 steps holds its warm start: `tfpc_train --config=... --config.stages.
NAME.total_steps=0`). Each codec reconstructs every image whole (padded to
its stride, latents rounded, `codec(x, training=False)`); prints per image
and model the estimated bpp (the entropy models' bits, no range coder) and
the PSNR of the uint8 reconstruction, then the means, as markdown tables.
Also the PSNR of the transforms alone (latents not quantized): what no rate
can exceed, e.g. the cap 64 latent channels put on mbt2018-mean at high
rates (docs/results.md).
"""

import os

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import flags

from tfpc import data
from tfpc import errors
from tfpc import image as image_lib
from tfpc import metrics
from tfpc.codecs import base
from tfpc.training import warm_start

import harness  # benchmarks/, beside this script

flags.DEFINE_string("images", None, "Folder or glob (default: Kodak).")
flags.DEFINE_integer("limit", 2, "How many images (the first, sorted).")
FLAGS = flags.FLAGS


def _uint8(x_hat, height, width):
  return tf.saturate_cast(tf.round(x_hat[0, :height, :width]),
                          tf.uint8).numpy()


def reconstruct(codec, pixels):
  """(estimated bpp, uint8 reconstruction, uint8 reconstruction from the
  latents not quantized) of one uint8 image."""
  height, width = pixels.shape[:2]
  x = base.pad_to_multiple(tf.cast(pixels[None], tf.float32), codec.stride)
  outputs = codec(x, training=False)
  unquantized = codec.synthesis_transform(codec.analysis_transform(x))
  return (float(outputs["bits"][0]) / (height * width),
          _uint8(outputs["x_hat"], height, width),
          _uint8(unquantized, height, width))


def main(argv):
  if len(argv) < 3:
    raise errors.ConfigError("give SOURCE and at least one LABEL=RUN")
  sources = {"source": argv[1]}
  sources.update(item.partition("=")[::2] for item in argv[2:])
  codecs = {label: warm_start.source_codec(spec)[0]
            for label, spec in sources.items()}
  paths = data.list_images(FLAGS.images or harness.KODAK)[:FLAGS.limit]
  print("| image | model | bpp (estimated) | PSNR dB | PSNR dB, latents not "
        "quantized |\n|---|---|---:|---:|---:|")
  rows = {label: [] for label in codecs}
  for path in paths:
    pixels = image_lib.read_image(path).pixels
    for label, codec in codecs.items():
      bpp, decoded, unquantized = reconstruct(codec, pixels)
      psnr, ceiling = (float(metrics.compute("psnr", pixels, x))
                       for x in (decoded, unquantized))
      rows[label].append((bpp, psnr, ceiling))
      print(f"| {os.path.basename(path)} | {label} ({sources[label]}) | "
            f"{bpp:.4f} | {psnr:.3f} | {ceiling:.3f} |", flush=True)
  print(f"\nmeans over {len(paths)} images\n\n| model | bpp | PSNR dB | "
        "PSNR - source | PSNR dB, latents not quantized |\n"
        "|---|---:|---:|---:|---:|")
  source_psnr = np.mean(rows["source"], axis=0)[1]
  for label, values in rows.items():
    bpp, psnr, ceiling = np.mean(values, axis=0)
    print(f"| {label} | {bpp:.4f} | {psnr:.3f} | {psnr - source_psnr:+.3f} | "
          f"{ceiling:.3f} |")

if __name__ == "__main__":
  cli.run(main)
