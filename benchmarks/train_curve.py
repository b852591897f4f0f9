"""The loss curve of one recipe trained by code trees, side by side.

  git worktree add /tmp/tfpc_old <commit>
  .venv/bin/python benchmarks/train_curve.py --trees=before=/tmp/tfpc_old,after=. \
      --runs=2 -- --flagfile=configs/demo.flags --total_steps=100 --final_steps=0

Runs `bin/tfpc_train` of each tree (PYTHONPATH=tree), trees alternating,
`--runs` times each, with the arguments after `--` and a fresh train_dir, and
prints the logged loss (and PSNR, bpp) of every run at every logged step.
Two runs of one tree differ where the data pipeline is not bit-deterministic
(its parallel map); the spread between them is the noise a change is judged
against.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

flags.DEFINE_string("trees", ".", "name=path,... of tfpc source trees.")
flags.DEFINE_integer("runs", 2, "Runs per tree.")
flags.DEFINE_list("columns", ["loss", "psnr", "bpp"], "Logged values shown.")
FLAGS = flags.FLAGS


def main(argv):
  trees = dict(item.split("=", 1) if "=" in item else (item, item)
               for item in FLAGS.trees.split(","))
  logs = {}
  for run in range(FLAGS.runs):
    for name, tree in trees.items():
      train_dir = tempfile.mkdtemp()
      tree = os.path.abspath(tree)
      subprocess.run(
          [sys.executable, os.path.join(tree, "bin", "tfpc_train"), *argv[1:],
           f"--train_dir={train_dir}"], cwd=tree, check=True,
          env={**os.environ, "PYTHONPATH": tree}, capture_output=True)
      with open(os.path.join(train_dir, "metrics.jsonl")) as f:
        logs[f"{name} {run + 1}"] = {r["step"]: r for r in map(json.loads, f)}
  steps = sorted(set().union(*logs.values()))
  print("| step | " + " | ".join(logs) + " |\n|---:|" + "---|" * len(logs))
  for step in steps:
    cells = [" / ".join(f"{log[step][c]:.4g}" for c in FLAGS.columns
                        if c in log.get(step, {})) for log in logs.values()]
    print(f"| {step} | " + " | ".join(cells) + " |")
  print(f"\n({' / '.join(FLAGS.columns)})")


if __name__ == "__main__":
  app.run(main)
