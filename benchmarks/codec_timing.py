"""Encode/decode time per Kodak image for BLS2017 and BMSHJ2018 (Table 2).

Usage: .venv/bin/python benchmarks/codec_timing.py [--num_filters=192]
       [--images=../shared/data/kodak] [--limit=24]
Times the `compress` and `decompress` tf.functions (range coding included),
after one warm-up image that traces them; model loading is excluded. Weights
are untrained: transforms cost the same as trained ones, range coding may cost
more (untrained models spend more bits).
"""

import os
import sys
import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags
from tqdm import tqdm

from tfpc import codecs
from tfpc import data
from tfpc import image as image_lib

flags.DEFINE_integer("num_filters", 192, "Filters per layer (paper: 192).")
flags.DEFINE_string("images", os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "kodak"),
    "Folder of images.")
flags.DEFINE_integer("limit", 24, "At most this many images.")
FLAGS = flags.FLAGS


def time_codec(codec, images):
  codec.prepare_for_coding()
  strings, shape = codec.compress(images[0])  # traces both functions
  codec.decompress(strings, shape)
  encode, decode, bits = [], [], []
  for pixels in tqdm(images, file=sys.stderr, desc=codec.architecture):
    start = time.perf_counter()
    strings, shape = codec.compress(pixels)
    strings.numpy()
    encode.append(time.perf_counter() - start)
    start = time.perf_counter()
    codec.decompress(strings, shape).numpy()
    decode.append(time.perf_counter() - start)
    bits.append(8 * sum(len(s) for s in strings.numpy()) /
                (pixels.shape[0] * pixels.shape[1]))
  return 1000 * np.mean(encode), 1000 * np.mean(decode), np.mean(bits)


def main(argv):
  del argv
  paths = data.list_images(FLAGS.images)[:FLAGS.limit]
  images = [image_lib.read_image(p).pixels for p in paths]
  print(f"{len(images)} images from {FLAGS.images}, {FLAGS.num_filters} "
        f"filters, {os.cpu_count()} CPU cores")
  print("| model | encode ms | decode ms | decode/encode | bpp (untrained) |")
  print("|---|---|---|---|---|")
  for architecture in ("bls2017", "bmshj2018"):
    codec = codecs.build_codec({"architecture": architecture,
                                "num_filters": FLAGS.num_filters})
    encode, decode, bpp = time_codec(codec, images)
    print(f"| {architecture} | {encode:.1f} | {decode:.1f} | "
          f"{decode / encode:.2f} | {bpp:.2f} |")


if __name__ == "__main__":
  cli.run(main)
