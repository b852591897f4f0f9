"""Throughput of tfpc.metrics.vmaf, and what the bridge costs around libvmaf.

Usage: .venv/bin/python benchmarks/vmaf_throughput.py [--repeats=10]
Cases: a batch of 8 patches of 128x128 (ProxIQA's training batch) and one
768x512 image, with 1 and 2 libvmaf threads. "no-vmaf" runs the same ffmpeg
command (raw input, YUV conversion) with libvmaf replaced by a null sink: the
process and I/O overhead the bridge pays whatever libvmaf does.
"""

import os
import subprocess
import tempfile
import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags

from tfpc.metrics import libvmaf as vmaf_lib

flags.DEFINE_integer("repeats", 10, "Timed calls per case (after a warm-up).")
FLAGS = flags.FLAGS


def timed(fn):
  fn()
  start = time.perf_counter()
  for _ in range(FLAGS.repeats):
    fn()
  return 1000 * (time.perf_counter() - start) / FLAGS.repeats


def no_vmaf(reference):
  count, height, width, _ = reference.shape
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "x.rgb")
    reference.tofile(path)
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
    subprocess.run([vmaf_lib.ffmpeg_path(), "-hide_banner", "-nostdin",
                    "-loglevel", "error", *raw, "-i", path, *raw, "-i", path,
                    "-lavfi", "[0:v]scale=out_color_matrix=bt601:out_range=tv,"
                    "format=yuv444p[a];[1:v]scale=out_color_matrix=bt601:"
                    "out_range=tv,format=yuv444p[b];[a][b]hstack",
                    "-f", "null", "-"], check=True)
  del count


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  from skimage import data  # pylint: disable=g-import-not-at-top
  photo = np.asarray(data.astronaut())
  cases = {
      "8 x 128x128": np.stack([photo[i * 48:i * 48 + 128, i * 40:i * 40 + 128]
                               for i in range(8)]),
      "1 x 768x512": np.tile(photo, (1, 2, 1))[:512, :768][None],
  }
  print(f"{os.cpu_count()} CPU cores, {FLAGS.repeats} calls per case")
  print("| case | vmaf 1 thread ms | vmaf 2 threads ms | no-vmaf ms "
        "| libvmaf share (2 threads) |")
  print("|---|---|---|---|---|")
  for name, ref in cases.items():
    dis = np.clip(ref + rng.normal(0, 8, ref.shape), 0, 255).astype(np.uint8)
    one = timed(lambda: vmaf_lib.vmaf(ref, dis, threads=1))
    two = timed(lambda: vmaf_lib.vmaf(ref, dis, threads=2))
    base = timed(lambda: no_vmaf(ref))
    print(f"| {name} | {one:.1f} | {two:.1f} | {base:.1f} | "
          f"{max(two - base, 0) / two:.0%} |")


if __name__ == "__main__":
  cli.run(main)
