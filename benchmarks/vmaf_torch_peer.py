"""vmaf-torch (PyPI, PyTorch) on the pairs of `vmaf_graph_parity.py`.

Runs in the peers' venv, not tfpc's (torch is no tfpc dependency):

  /work/peers-venv/bin/python benchmarks/vmaf_torch_peer.py pairs.npz \
      [--threads=2] [--rounds=30]

`pairs.npz` is written by `vmaf_graph_parity.py --save_pairs`: per reference
image, the Y planes libvmaf scored (as the bridge converts them) and libvmaf's
scores for both models. Prints vmaf-torch's mean and max |difference| to
libvmaf (motion off, scores clipped, as libvmaf does for stills), and its
time for 8 crops of 128x128 (the first pairs' top-left corners), forward and
forward + backward, median of `rounds`.
"""

import argparse
import time

import numpy as np
import torch
from vmaf_torch import VMAF


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("pairs")
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--rounds", type=int, default=30)
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  data = np.load(args.pairs)
  count = len([k for k in data if k.startswith("ref_")])
  for model, neg in (("vmaf_v0.6.1", False), ("vmaf_v0.6.1neg", True)):
    metric = VMAF(enable_motion=False, clip_score=True, NEG=neg)
    diffs = []
    for i in range(count):
      to_torch = lambda x: torch.from_numpy(x.astype(np.float32))[:, None]
      with torch.no_grad():
        scores = metric(to_torch(data[f"ref_{i}"]),
                        to_torch(data[f"dis_{i}"])).numpy().ravel()
      diffs.extend(np.abs(scores - data[f"score_{model}_{i}"]))
    print(f"vmaf-torch {model}: {len(diffs)} pairs, mean |diff| "
          f"{np.mean(diffs):.4f}, max {np.max(diffs):.4f}")
  crops = lambda key: torch.from_numpy(np.concatenate(
      [data[f"{key}_{i}"][:, :128, :128] for i in range(count)])[:8]
                                       .astype(np.float32))[:, None]
  ref, dis = crops("ref"), crops("dis")
  metric = VMAF(enable_motion=False, clip_score=True)
  times = {"forward": [], "forward + backward": []}
  for _ in range(args.rounds):
    start = time.perf_counter()
    with torch.no_grad():
      metric(ref, dis)
    times["forward"].append(1000 * (time.perf_counter() - start))
    start = time.perf_counter()
    dis_grad = dis.clone().requires_grad_(True)
    metric(ref, dis_grad).sum().backward()
    times["forward + backward"].append(1000 * (time.perf_counter() - start))
  for name, values in times.items():
    print(f"vmaf-torch 8x128x128 {name}: {np.median(values):.1f} ms "
          f"({args.threads} threads)")


if __name__ == "__main__":
  main()
