"""The VMAF bridge with ffmpeg's default filter-graph threads vs one thread.

Usage: .venv/bin/python benchmarks/vmaf_bridge.py [--rounds=30]
Cases: ProxIQA's training batch (8 patches of 128x128 from Kodak) and one
Kodak image (768x512), each coded by JPEG quality 20. Calls alternate between
`ffmpeg_threads=None` (ffmpeg's default: a thread pool per core) and
`ffmpeg_threads=1` (tfpc's default), round by round, so both see the same
machine load; medians and their ratio are printed, with the largest score
difference between the two.
"""

import glob
import io
import os
import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags
from PIL import Image

from tfpc.metrics import libvmaf

flags.DEFINE_integer("rounds", 30, "Timed calls per case and setting.")
flags.DEFINE_string("kodak", os.path.join(os.path.dirname(__file__), "..", "..",
                                          "shared", "data", "kodak"),
                    "Folder of Kodak PNGs.")
FLAGS = flags.FLAGS


def jpeg(pixels, quality=20):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def cases():
  paths = sorted(glob.glob(os.path.join(FLAGS.kodak, "*.png")))
  if not paths:
    raise SystemExit(f"no Kodak images in {FLAGS.kodak}")
  photos = [np.asarray(Image.open(p).convert("RGB"))[:512, :768] for p in paths[:8]]
  batch = np.stack([p[128:256, 256:384] for p in photos])
  return {"8x128x128": (batch, np.stack([jpeg(p) for p in batch])),
          "768x512": (photos[0][None], jpeg(photos[0])[None])}


def main(argv):
  del argv
  settings = {"ffmpeg default": None, "one thread": 1}
  for name, (reference, distorted) in cases().items():
    times = {s: [] for s in settings}
    scores = {s: libvmaf.vmaf(reference, distorted, ffmpeg_threads=t)
              for s, t in settings.items()}
    for _ in range(FLAGS.rounds):
      for setting, threads in settings.items():
        start = time.perf_counter()
        libvmaf.vmaf(reference, distorted, ffmpeg_threads=threads)
        times[setting].append(1000 * (time.perf_counter() - start))
    medians = {s: float(np.median(t)) for s, t in times.items()}
    difference = float(np.max(np.abs(scores["ffmpeg default"] -
                                      scores["one thread"])))
    print(f"{name}: " + ", ".join(f"{s} {m:.1f} ms" for s, m in
                                  medians.items()) +
          f"; ratio {medians['one thread'] / medians['ffmpeg default']:.2f}; "
          f"max score difference {difference:.1e}")


if __name__ == "__main__":
  cli.run(main)
