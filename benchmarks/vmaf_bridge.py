"""What a call of the VMAF bridge costs, and what libvmaf's share of it is.

Usage: .venv/bin/python benchmarks/vmaf_bridge.py [--rounds=30]
Cases: ProxIQA's training batch (8 patches of 128x128 from Kodak) and one
Kodak image (768x512), each coded by JPEG quality 20. Paths, interleaved
(harness.interleaved): tfpc's default (one libvmaf thread, one ffmpeg
filter-graph thread), ffmpeg's default filter-graph threads (a pool per
core), two libvmaf threads, and "no vmaf": the same ffmpeg process (raw
input, both YUV conversions) with libvmaf replaced by a null sink, what the
bridge pays whatever libvmaf does. Prints min and median ms and the largest
score difference to the default.
"""

import functools
import io
import os
import subprocess
import tempfile

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags
from PIL import Image

from tfpc import data
from tfpc.metrics import libvmaf

import harness  # benchmarks/, beside this script

flags.DEFINE_integer("rounds", 30, "Timed calls per case and path.")
FLAGS = flags.FLAGS
SETTINGS = {"default": {}, "ffmpeg threads": {"ffmpeg_threads": None},
            "2 vmaf threads": {"threads": 2}}


def jpeg(pixels, quality=20):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def cases():
  photos = [np.asarray(Image.open(p).convert("RGB"))[:512, :768]
            for p in data.list_images(harness.KODAK)[:8]]
  batch = np.stack([p[128:256, 256:384] for p in photos])
  return {"8x128x128": (batch, np.stack([jpeg(p) for p in batch])),
          "768x512": (photos[0][None], jpeg(photos[0])[None])}


def no_vmaf(reference):
  """The bridge's ffmpeg command with a null sink in place of libvmaf."""
  _, height, width, _ = reference.shape
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "x.rgb")
    reference.tofile(path)
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
    subprocess.run([libvmaf.ffmpeg_path(), "-hide_banner", "-nostdin",
                    "-loglevel", "error", *raw, "-i", path, *raw, "-i", path,
                    "-lavfi", "[0:v]scale=out_color_matrix=bt601:out_range=tv,"
                    "format=yuv444p[a];[1:v]scale=out_color_matrix=bt601:"
                    "out_range=tv,format=yuv444p[b];[a][b]hstack",
                    "-f", "null", "-"], check=True)


def main(argv):
  del argv
  print(f"{os.cpu_count()} CPU cores, {FLAGS.rounds} rounds, load average "
        f"{harness.load():.1f}")
  print("| case | " + " | ".join(f"{s} ms min / median" for s in SETTINGS) +
        " | no vmaf ms min / median | max score difference |")
  print("|---|" + "---|" * (len(SETTINGS) + 2))
  for name, (reference, distorted) in cases().items():
    calls = {s: functools.partial(libvmaf.vmaf, reference, distorted, **kw)
             for s, kw in SETTINGS.items()}
    scores = {s: call() for s, call in calls.items()}
    calls["no vmaf"] = functools.partial(no_vmaf, reference)
    times = harness.summary(harness.interleaved(calls, FLAGS.rounds))
    difference = max(float(np.max(np.abs(s - scores["default"])))
                     for s in scores.values())
    print(f"| {name} | " + " | ".join(f"{low:.1f} / {median:.1f}" for
                                      low, median in times.values()) +
          f" | {difference:.1e} |")


if __name__ == "__main__":
  cli.run(main)
