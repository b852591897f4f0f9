"""CompressAI's FactorizedPrior and ScaleHyperprior timed on Kodak (the peer).

Runs in its own environment, not tfpc's (commands in docs/speed.md):
  $PEER_VENV/bin/python benchmarks/compressai_peer.py --channels=64 \
      --output=compressai.json     # PEER_VENV: see harness.py
Random weights (timing only), `torch.set_num_threads(--threads)`, images
padded to a multiple of 64 as CompressAI's examples do. Each figure is the
mean over images of the median over `--rounds` calls of `compress` or
`decompress` (entropy coding included, interleaved), after a warm-up.
benchmarks/codec_speed.py reads the JSON.
"""

import argparse
import functools
import glob
import json
import os

import compressai
import numpy as np
import torch
import torch.nn.functional as F
from compressai.models import FactorizedPrior, ScaleHyperprior
from PIL import Image

import harness  # benchmarks/, beside this script


def padded(path):
  x = torch.from_numpy(np.array(Image.open(path).convert("RGB")))
  x = x.permute(2, 0, 1)[None].float() / 255
  height, width = x.shape[2:]
  return F.pad(x, (0, -width % 64, 0, -height % 64), mode="replicate")


def time_model(model, images, rounds):
  model.eval().update(force=True)
  encode, decode = [], []
  with torch.no_grad():
    for x in images:
      coded = model.compress(x)
      times = harness.summary(harness.interleaved(
          {"encode": functools.partial(model.compress, x),
           "decode": functools.partial(model.decompress, coded["strings"],
                                       coded["shape"])}, rounds, warmup=1))
      encode.append(times["encode"][1])
      decode.append(times["decode"][1])
  return {"encode": float(np.mean(encode)), "decode": float(np.mean(decode))}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", default=harness.KODAK)
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
