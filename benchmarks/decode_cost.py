"""Measured decode memory and time next to `decode_cost`'s estimate.

Per (model, size), one process encodes a `size` photo crop (Kodak upscaled,
whole image: no blocks) and another decodes it, after a warm-up decode of a
64x64 file; peak RSS growth during the decode (VmHWM, reset before
it, minus VmRSS) and
wall time against the architecture's estimate (`zoo.CodecModel.decode_cost`,
its work at the nominal `limits.MACS_PER_CORE_SECOND` of one core).

  PYTHONPATH=. python benchmarks/decode_cost.py --sizes=256x1024,512x1024
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

MODELS = ("bls2017-mse-l0.0008", "bmshj2018-vmafp-l0.0008", "mbt2018-mean-mse",
          "eic-base-demo")

_ENCODE = r"""
import sys
import numpy as np
from PIL import Image
from tfpc import coding, limits, zoo
name, height, width, photo, output = sys.argv[1:6]
height, width = int(height), int(width)
model = zoo.load(name)
image = Image.open(photo).convert("RGB")
image = image.resize((max(width, image.width), max(height, image.height)))
pixels = np.ascontiguousarray(np.asarray(image)[:height, :width])
unlimited = limits.Cost(1 << 50, float("inf"))
for path, crop in ((output + ".warm", pixels[:64, :64]), (output, pixels)):
  with open(path, "wb") as f:
    f.write(coding.encode(model, crop, block_shape=None, allowed=unlimited))
"""

_DECODE = r"""
import json, sys, time
from tfpc import coding, limits, zoo
name, path = sys.argv[1:3]
def status(field):
  for line in open("/proc/self/status"):
    if line.startswith(field + ":"):
      return int(line.split()[1]) * 1024
model = zoo.load(name)
unlimited = limits.Cost(1 << 50, float("inf"))
coding.decode(open(path + ".warm", "rb").read(), model)
data = open(path, "rb").read()
with open("/proc/self/clear_refs", "w") as f:
  f.write("5")  # resets the peak (VmHWM) to the current RSS
before = status("VmRSS")
start = time.perf_counter()
pixels = coding.decode(data, model, allowed=unlimited).pixels
seconds = time.perf_counter() - start
height, width = pixels.shape[:2]
cost = model.decode_cost(height, width)
print(json.dumps({"model": name, "size": f"{width}x{height}",
                  "measured_mib": round((status("VmHWM") - before) / 2**20),
                  "estimated_mib": round(cost.memory / 2**20),
                  "seconds": round(seconds, 2), "estimated_one_core_s":
                  round(cost.work / limits.MACS_PER_CORE_SECOND, 2)}))
"""


def _run(code, *args):
  return subprocess.run([sys.executable, "-c", code, *args],
                        capture_output=True, text=True, check=False,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--sizes", default="256x1024,512x1024")
  parser.add_argument("--photo", default=os.path.join(
      os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
      "shared", "data", "kodak", "kodim23.png"))
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as folder:
    for name in args.models.split(","):
      for size in args.sizes.split(","):
        height, width = size.split("x")
        path = os.path.join(folder, "file.tfpc")
        result = _run(_ENCODE, name, height, width, args.photo, path)
        if result.returncode == 0:
          result = _run(_DECODE, name, path)
        lines = result.stdout.strip().splitlines()
        row = json.loads(lines[-1]) if result.returncode == 0 and lines else {
            "model": name, "size": size, "error": result.stderr[-300:]}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
