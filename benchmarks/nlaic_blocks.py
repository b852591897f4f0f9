"""Peak memory and time of 4K coding with NLAIC-lite: whole image vs blocks.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/nlaic_blocks.py
       --work_dir=/tmp/nlaic_bench [--codec_steps=1000] [--lmbda=8]
       [--post_steps=200] [--block=1024x2048] [--whole_timeout=600]

Prepares once (in this process): a small nlaic-lite (`--num_filters`), trained
for `--codec_steps` on `nlaic_rd` without DISTS (MSE only), and its post
filter for `--post_steps` on `nlaic_post` (both on train-photos patches,
Adam 1e-3: a toy budget, to make the seams measurable, not a useful codec);
the codec form export; a 3840x2160 image (`--size`; Kodak kodim23
upsampled 5x, bicubic, centre crop). Then each measurement runs in its own
process, whose peak RSS (VmHWM, polled) and wall time are reported: encode
and decode of the whole image, encode and decode in blocks, decode in blocks
with partial post-processing. A run over `--whole_timeout` seconds is stopped and reported
with the peak RSS it had reached. Seam PSNR: PSNR of the pixels within 4 of a
block boundary, against the rest of the image.
"""

import json
import os
import sys
import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from PIL import Image

from tfpc import bitstream
from tfpc import blocks
from tfpc import codecs
from tfpc import coding
from tfpc import data
from tfpc import export
from tfpc import image as image_lib
from tfpc import losses
from tfpc import training
from tfpc import zoo
from tfpc.losses import nlaic  # noqa: F401  pylint: disable=unused-import

import harness  # benchmarks/, beside this script

flags.DEFINE_string("work_dir", "/tmp/nlaic_bench", "Models, image, files.")
flags.DEFINE_string("run", None, "Internal: the measurement this child runs.")
flags.DEFINE_integer("num_filters", 16, "N = M = hyper filters.")
flags.DEFINE_integer("codec_steps", 1000, "Stage-1 steps of the toy codec.")
flags.DEFINE_float("lmbda", 8.0, "Stage-1 lambda (MSE on [0, 1], w1 = 100).")
flags.DEFINE_integer("post_steps", 200, "Steps of the post filter.")
flags.DEFINE_string("size", "2160x3840", "Test image height x width.")
flags.DEFINE_string("block", "1024x2048", "Block height x width.")
flags.DEFINE_integer("width", 128, "Post-processed strip width w.")
flags.DEFINE_integer("whole_timeout", 600, "Seconds before a run is stopped.")
flags.DEFINE_string("kodak", os.path.join(harness.KODAK, "kodim23.png"),
                    "The Kodak image to upsample.")
flags.DEFINE_string("train_images", os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "train-photos"),
                    "Training photos.")
FLAGS = flags.FLAGS


def _shape(text):
  return tuple(int(v) for v in text.split("x"))


def _block_shape():
  return _shape(FLAGS.block)


def _path(*names):
  return os.path.join(FLAGS.work_dir, *names)


def prepare():
  """Trains the toy codec and post filter, exports, writes the 4K image."""
  n = FLAGS.num_filters
  codec = codecs.build_codec({
      "architecture": "nlaic-lite", "num_filters": n, "latent_channels": n,
      "hyper_filters": n, "num_blocks": 1, "attention_chunk": 256})
  images, _ = data.load_images(data.list_images(FLAGS.train_images), 256)
  for objective, networks, steps, patch in (
      (losses.OBJECTIVES["nlaic_rd"](codec, FLAGS.lmbda, distance="none"),
       None, FLAGS.codec_steps, 64),
      (losses.OBJECTIVES["nlaic_post"](codec, width=32, filters=16),
       "post_filter", FLAGS.post_steps, 128)):
    networks = networks and {networks: training.Network(
        *objective.auxiliary[networks])}
    training.Trainer(codec, objective, _path("train", str(patch)),
                     networks=networks, total_steps=steps, log_every=50,
                     learning_rate=1e-3, final_learning_rate=1e-3).run(
                         data.patch_dataset(images, batch_size=8,
                                            patch_size=patch,
                                            crop_size=2 * patch, seed=0))
  objective.post_filter.save_weights(_path("post_filter.h5"))
  export.export_codec(codec, _path("models"), "nlaic-toy", overwrite=True,
                      version=1)
  height, width = _shape(FLAGS.size)
  source = Image.open(FLAGS.kodak).convert("RGB")
  scale = max(width / source.width, height / source.height)
  big = source.resize((round(source.width * scale),
                       round(source.height * scale)), Image.BICUBIC)
  top = (big.height - height) // 2
  big.crop((0, top, width, top + height)).save(_path("4k.png"))


def _psnr(a, b, mask):
  mse = np.mean((a[mask].astype(np.float64) - b[mask]) ** 2)
  return 10 * np.log10(255.0**2 / mse)


def _seam_mask(height, width, block_shape, band=4):
  mask = np.zeros((height, width), bool)
  for seam in range(block_shape[0], height, block_shape[0]):
    mask[seam - band:seam + band] = True
  for seam in range(block_shape[1], width, block_shape[1]):
    mask[:, seam - band:seam + band] = True
  return mask


def child(run):
  """One measurement; prints a JSON line."""
  model = zoo.load(_path("models", "nlaic-toy"))
  pixels = image_lib.read_image(_path("4k.png")).pixels
  mode, kind = run.split("-", 1)
  coded = _path(f"{kind}.tfpc")
  result = {"run": run}
  start = time.perf_counter()
  if mode == "encode":
    data = coding.encode(model, pixels, block_shape=(
        None if kind == "whole" else _block_shape()))
    with open(coded, "wb") as f:
      f.write(data)
    result["bpp"] = 8 * len(data) / pixels[..., 0].size
  else:
    with open(_path(("whole" if kind == "whole" else "blocks") + ".tfpc"),
              "rb") as f:
      data = f.read()
    decoded = coding.decode(data, model).pixels
    if kind == "post":
      result["decode_s"] = time.perf_counter() - start
      post_filter = blocks.PostFilter(16)
      post_filter.load_weights(_path("post_filter.h5"))
      post_start = time.perf_counter()
      container = bitstream.unpack(data)
      x = blocks.post_process(tf.constant(decoded[None], tf.float32),
                              container.block_shape, post_filter,
                              FLAGS.width)
      decoded = tf.saturate_cast(tf.round(x[0]), tf.uint8).numpy()
      result["post_s"] = time.perf_counter() - post_start
    result["psnr"] = _psnr(pixels, decoded, np.ones(pixels.shape[:2], bool))
    if kind != "whole":
      seams = _seam_mask(*pixels.shape[:2], _block_shape())
      result["psnr_seams"] = _psnr(pixels, decoded, seams)
      result["psnr_elsewhere"] = _psnr(pixels, decoded, ~seams)
      image_lib.write_image(_path(f"crop_{kind}.png"), decoded[
          _block_shape()[0] - 48:_block_shape()[0] + 48,
          _block_shape()[1] - 48:_block_shape()[1] + 48])
  result["seconds"] = time.perf_counter() - start
  print(json.dumps(result))


def measure(run):
  """Runs a child; returns its result with peak RSS (GiB) or a timeout."""
  child_run = harness.peak_rss_child(
      [sys.executable, __file__, f"--run={run}", *sys.argv[1:]],
      timeout=FLAGS.whole_timeout)
  if child_run["timed_out"]:
    result = {"run": run, "timed_out": FLAGS.whole_timeout}
  elif child_run["returncode"]:
    result = {"run": run, "returncode": child_run["returncode"]}
  else:
    result = json.loads(child_run["stdout"].strip().splitlines()[-1])
  return {**result, "peak_rss_gib": child_run["peak_rss"] / 2**30}


def main(argv):
  del argv
  if FLAGS.run:
    child(FLAGS.run)
    return
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  if not os.path.exists(_path("4k.png")):
    prepare()
  results = [measure(run) for run in ("encode-blocks", "decode-blocks",
                                      "decode-post", "encode-whole",
                                      "decode-whole")]
  with open(_path("results.json"), "w") as f:
    json.dump(results, f, indent=2)
  for result in results:
    print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
