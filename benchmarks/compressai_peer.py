"""CompressAI's FactorizedPrior and ScaleHyperprior timed on Kodak (the peer).

Runs in its own environment, not tfpc's (commands in docs/speed.md):
  peerenv/bin/python benchmarks/compressai_peer.py --channels=64 \
      --output=compressai.json
Random weights (timing only), `torch.set_num_threads(--threads)`, images
padded to a multiple of 64 as CompressAI's examples do. Each figure is the
mean over images of the median over `--rounds` calls of `compress` or
`decompress` (entropy coding included), after one warm-up image.
benchmarks/codec_speed.py reads the JSON.
"""

import argparse
import glob
import json
import os
import time

import compressai
import numpy as np
import torch
import torch.nn.functional as F
from compressai.models import FactorizedPrior, ScaleHyperprior
from PIL import Image


def padded(path):
  x = torch.from_numpy(np.array(Image.open(path).convert("RGB")))
  x = x.permute(2, 0, 1)[None].float() / 255
  height, width = x.shape[2:]
  return F.pad(x, (0, -width % 64, 0, -height % 64), mode="replicate")


def time_model(model, images, rounds):
  model.eval().update(force=True)
  encode, decode = [], []
  with torch.no_grad():
    coded = model.compress(images[0])
    model.decompress(coded["strings"], coded["shape"])
    for x in images:
      times = {"encode": [], "decode": []}
      for _ in range(rounds):
        start = time.perf_counter()
        coded = model.compress(x)
        times["encode"].append(time.perf_counter() - start)
        start = time.perf_counter()
        model.decompress(coded["strings"], coded["shape"])
        times["decode"].append(time.perf_counter() - start)
      encode.append(1000 * np.median(times["encode"]))
      decode.append(1000 * np.median(times["decode"]))
  return {"encode": float(np.mean(encode)), "decode": float(np.mean(decode))}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", default=os.path.join(
      os.path.dirname(__file__), "..", "..", "shared", "data", "kodak"))
  parser.add_argument("--limit", type=int, default=8)
  parser.add_argument("--channels", type=int, default=64)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--output", required=True)
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  paths = sorted(glob.glob(os.path.join(args.images, "*.png")))[:args.limit]
  images = [padded(p) for p in paths]
  result = {
      "compressai": compressai.__version__, "torch": torch.__version__,
      "threads": args.threads, "channels": args.channels,
      "images": [os.path.basename(p) for p in paths], "models": {}}
  for cls in (FactorizedPrior, ScaleHyperprior):
    result["models"][cls.__name__] = time_model(
        cls(args.channels, args.channels), images, args.rounds)
    print(cls.__name__, result["models"][cls.__name__])
  with open(args.output, "w") as f:
    json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
