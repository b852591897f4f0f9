"""Peak memory and time of coding large photos: tiled vs whole transforms.

Each case runs in its own process (peak RSS is per process): a Kodak photo
resized to the size, encoded or decoded (after tracing both functions on a
small image) with the shipped default model's weights; `whole` sets no tiling (as before tiling existed). A last run checks
that tiled and whole coding give the same strings and pixels.

  .venv/bin/python benchmarks/tiled_coding.py [--sizes=1500x1000,3000x2000,6000x4000]
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
from PIL import Image

import harness  # benchmarks/, beside this script

flags.DEFINE_string("sizes", "1500x1000,3000x2000,6000x4000", "WxH,...")
flags.DEFINE_string("whole_sizes", "1500x1000,3000x2000",
                    "Sizes also run without tiles (memory grows fast).")
flags.DEFINE_string("image", os.path.join(harness.KODAK, "kodim23.png"),
                    "Photo.")
flags.DEFINE_string("model", None, "Model (default: the shipped default).")
flags.DEFINE_string("case", None, "mode,op,size (internal).")
flags.DEFINE_string("output", "docs/figures/tiled_coding.json", "Results.")
FLAGS = flags.FLAGS


def photo(size):
  width, height = (int(v) for v in size.split("x"))
  return np.asarray(Image.open(FLAGS.image).convert("RGB").resize(
      (width, height), Image.BICUBIC))


def codec(mode):
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  model = zoo.load_keras(FLAGS.model)
  if mode == "whole":
    model.coding_halo = None
  model.prepare_for_coding()
  return model


def run_case(mode, op, size):
  """Seconds of one encode or decode in this process (after tracing)."""
  model = codec(mode)
  model.decompress(*model.compress(photo("256x256")))  # trace both
  if op == "encode":
    image = photo(size)
    start = time.perf_counter()
    model.compress(image)
  else:  # the strings the parent encoded: this process never encodes
    coded = np.load(_strings_path(size))
    strings = [coded[f"string_{i}"].tobytes()
               for i in range(len(coded.files) - 1)]
    start = time.perf_counter()
    model.decompress(strings, coded["shape"])
  return {"seconds": time.perf_counter() - start}


def _strings_path(size):
  return f"/tmp/tfpc_tiled_coding_{size}.npz"


def measure_peak(mode, op, size):
  """Seconds and peak RSS (GB) of a case, in a child process."""
  child = harness.peak_rss_child(
      [sys.executable, os.path.abspath(__file__), f"--case={mode},{op},{size}",
       f"--image={FLAGS.image}"] + ([f"--model={FLAGS.model}"]
                                    if FLAGS.model else []))
  lines = [l for l in child["stdout"].splitlines() if l.startswith("{")]
  if not lines:
    return {"error": f"exit status {child['returncode']}"}
  return {**json.loads(lines[-1]), "peak_rss_gb": child["peak_rss"] / 2**30}


def main(argv):
  del argv
  if FLAGS.case:
    mode, op, size = FLAGS.case.split(",")
    print(json.dumps(run_case(mode, op, size)))
    return
  results = []
  for size in FLAGS.sizes.split(","):
    strings, shape = codec("tiled").compress(photo(size))
    np.savez(_strings_path(size), shape=shape.numpy(), **{
        f"string_{i}": np.frombuffer(s, np.uint8)
        for i, s in enumerate(strings.numpy())})
    modes = ["tiled"] + (["whole"] if size in FLAGS.whole_sizes else [])
    for mode in modes:
      for op in ("encode", "decode"):
        row = {"size": size, "mode": mode, "op": op,
               **measure_peak(mode, op, size)}
        print(row, flush=True)
        results.append(row)
  size = FLAGS.sizes.split(",")[0]
  image = photo(size)
  tiled = codec("tiled")
  whole = codec("whole")
  tiled_strings, shape = tiled.compress(image)
  whole_strings, _ = whole.compress(image)
  pixels = [m.decompress(whole_strings, shape).numpy().astype(int)
            for m in (tiled, whole)]
  check = {"size": size, "tile_side": tiled.tile_side(),
           "same_strings": bool(np.array_equal(tiled_strings.numpy(),
                                               whole_strings.numpy())),
           "max_pixel_difference": int(np.abs(pixels[0] - pixels[1]).max())}
  print(check)
  os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
  with open(FLAGS.output, "w") as f:
    json.dump({"cases": results, "check": check}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
