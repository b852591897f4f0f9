"""The two exported forms of one model, side by side on the same images.

Usage: .venv/bin/python benchmarks/serving_form.py [--model=bls2017-mse]
       [--images=../shared/data/kodak] [--limit=24]
Per image: codec form (`compress` then `decompress`, range coding), serving
form (`reconstruct`, stock TF); whether both give the same pixels, and the
serving form's estimated rate against the real `.tfpc` payload. Model loading
and a warm-up image are excluded from the times.
"""

import functools

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags
import tensorflow as tf

from tfpc import coding
from tfpc import export
from tfpc import zoo
from tfpc.evaluation import suite

import harness  # benchmarks/, beside this script

flags.DEFINE_string("model", zoo.DEFAULT_MODEL, "Codec-form model name; its "
                    "serving form is <model>-serving.")
flags.DEFINE_string("images", harness.KODAK, "Folder or glob of images.")
flags.DEFINE_integer("limit", 24, "At most this many images.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfpc import image as image_lib  # pylint: disable=g-import-not-at-top
  codec = zoo.load(FLAGS.model)
  serving = tf.saved_model.load(zoo.resolve(FLAGS.model +
                                            export.SERVING_SUFFIX))
  reconstruct = serving.signatures["reconstruct"]
  paths = suite.find_images(FLAGS.images)[:FLAGS.limit]
  warm = image_lib.read_image(paths[0]).pixels
  coding.decode(coding.encode(codec, warm), codec)
  reconstruct(images=warm[None])
  rows = []
  for path in paths:
    pixels = image_lib.read_image(path).pixels
    data, results = coding.encode(codec, pixels), {}
    times = harness.interleaved({
        "encode": functools.partial(coding.encode, codec, pixels),
        "decode": lambda d=data: coding.decode(d, codec).pixels,
        "serve": functools.partial(reconstruct, images=pixels[None])},
                                rounds=1, warmup=0, results=results)
    (encode_s,), (decode_s,), (serve_s,) = times.values()
    decoded, out = results["decode"], results["serve"]
    payload_bits = 8 * (len(data) - 27 - 4 * codec.num_strings)
    estimate = float(out["bpp"][0]) * pixels.shape[0] * pixels.shape[1]
    rows.append((np.array_equal(out["reconstruction"][0].numpy(), decoded),
                 estimate / payload_bits - 1, encode_s, decode_s, serve_s))
  same, error, encode_s, decode_s, serve_s = map(np.array, zip(*rows))
  print(f"{len(rows)} images, model {codec.name}")
  print(f"identical pixels (serving vs codec form): {same.sum()}/{len(rows)}")
  print(f"rate estimate vs payload: mean {100 * error.mean():+.3f}%, "
        f"max |error| {100 * np.abs(error).max():.3f}%")
  print(f"codec form: encode {1000 * encode_s.mean():.0f} ms, decode "
        f"{1000 * decode_s.mean():.0f} ms; serving reconstruct "
        f"{1000 * serve_s.mean():.0f} ms "
        f"(ratio to encode+decode {serve_s.mean() / (encode_s + decode_s).mean():.2f})")


if __name__ == "__main__":
  cli.run(main)
