"""DPC real coding: encode/decode time and file size against the estimate.

Usage: .venv/bin/python benchmarks/dpc_coding.py [--image=kodim23.png]
       [--num_filters=128] [--latent_channels=32] [--sides=256,512]
Codes the Kodak image whole and its top-left crops of the given sides with
an untrained `dpc` codec (default sizes: Mentzer's K = 32, a 3-layer
24-filter context network) or that of `--train_dir`, through the
`compress`/`decompress` tf.functions after a warm-up run that traces them.
Prints per size: wavefronts, times, real bits (constriction strings) and the
cross-entropy estimate (`symbol_bits`). Untrained weights cost the same network time; their
importance maps and distributions are not those of a trained model.
"""

import functools
import os

from tfpc import cli  # quiets TensorFlow

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from tfpc import codecs
from tfpc import image as image_lib
from tfpc import metrics
from tfpc.codecs import context
from tfpc.training import run_folder

import harness  # benchmarks/, beside this script

flags.DEFINE_string("image", os.path.join(harness.KODAK, "kodim23.png"),
                    "Image to code.")
flags.DEFINE_integer("num_filters", 128, "Filters of the transforms.")
flags.DEFINE_integer("num_blocks", 5, "Residual blocks on each side.")
flags.DEFINE_integer("latent_channels", 32, "K.")
flags.DEFINE_integer("context_filters", 24, "Filters of the context network.")
flags.DEFINE_list("sides", ["256", "512"], "Sides of square crops to time.")
flags.DEFINE_string("train_dir", None, "A `dpc` training run whose latest "
                    "checkpoint to use instead of untrained weights.")
flags.DEFINE_integer("repeats", 2, "Timed runs per size (the best counts).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if FLAGS.train_dir:
    codec, step = run_folder.restore_codec(FLAGS.train_dir)
    weights = f"{FLAGS.train_dir} at step {step}"
  else:
    codec = codecs.build_codec({
        "architecture": "dpc", **{name: FLAGS[name].value for name in (
            "num_filters", "num_blocks", "latent_channels",
            "context_filters")}})
    weights = "untrained weights"
  codec.prepare_for_coding()
  pixels = image_lib.read_image(FLAGS.image).pixels
  crops = [pixels[:int(s), :int(s)] for s in FLAGS.sides] + [pixels]
  strings, shape = codec.compress(crops[0])  # traces both functions
  codec.decompress(strings, shape)
  print(f"{codec.get_config()}, {weights}, {os.cpu_count()} CPU cores")
  print("| size | wavefronts | encode s | decode s | real bits | estimate "
        "bits | real/estimate | bpp | PSNR dB | coded symbols | bit-exact |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for crop in crops:
    strings, shape = codec.compress(crop)
    results = {}
    times = harness.summary(harness.interleaved(
        {"encode": functools.partial(codec.compress, crop),
         "decode": functools.partial(codec.decompress, strings, shape)},
        FLAGS.repeats, warmup=0, results=results), unit=1.0)
    (encode, _), (decode, _) = times["encode"], times["decode"]
    decoded = results["decode"]
    x = codecs.base.pad_to_multiple(crop[None].astype(np.float32),
                                    codec.stride)
    symbols = codec.latent_symbols(x)
    exact = np.array_equal(decoded, tf.saturate_cast(tf.round(
        codec.synthesize(symbols)[0, :crop.shape[0], :crop.shape[1]]),
                                                     tf.uint8))
    real = 8 * sum(len(s) for s in strings.numpy())
    estimate = float(codec.symbol_bits(symbols)[0])
    _, height, width, channels = symbols["latents"].shape
    _, bounds = context.wavefront_order(channels, height, width)
    coded = int(np.minimum(symbols["importance"], channels).sum())
    print(f"| {crop.shape[1]}x{crop.shape[0]} | {len(bounds) - 1} | "
          f"{encode:.2f} | {decode:.2f} | {real} | {estimate:.0f} | "
          f"{real / estimate:.4f} | {real / crop.shape[0] / crop.shape[1]:.3f} | "
          f"{metrics.compute('psnr', crop, decoded.numpy()):.2f} | {coded} of {height * width * channels} | "
          f"{exact} |")


if __name__ == "__main__":
  app.run(main)
