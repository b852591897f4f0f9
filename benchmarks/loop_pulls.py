"""Training-loop step time of two code trees, side by side.

Made to show that the loop which pulls values to the host only at log and
checkpoint steps costs no more than the one that pulled every step: each
round runs a fresh process per tree (PYTHONPATH=tree), alternating, on the
same codec, objective and data; a process traces and warms up, then times
`Trainer.run` over `--steps` steps with log_every=100. Every process imports
tfpc from its tree.

  git worktree add /tmp/tfpc_old <commit>
  .venv/bin/python benchmarks/loop_pulls.py --trees=old=/tmp/tfpc_old,new=.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc import training
from tfpc.training import stages

flags.DEFINE_string("trees", None, "name=path,... of tfpc source trees.")
flags.DEFINE_string("architecture", "bls2017", "Codec.")
flags.DEFINE_integer("num_filters", 64, "Filters.")
flags.DEFINE_integer("steps", 30, "Timed steps per process.")
flags.DEFINE_integer("rounds", 3, "Processes per tree.")
flags.DEFINE_bool("inner", False, "Time this process's tfpc (internal).")
FLAGS = flags.FLAGS


def time_loop():
  """Seconds per step of `Trainer.run` in this process's tfpc."""
  dataset = data.patch_dataset(stages.sample_photos(), 8, 128, 256, seed=0)
  codec = codecs.build_codec({"architecture": FLAGS.architecture,
                              "num_filters": FLAGS.num_filters})
  trainer = training.Trainer(codec, losses.RateDistortion(0.01),
                             tempfile.mkdtemp(), total_steps=2,
                             log_every=100, checkpoint_every=10**9)
  trainer.run(dataset)  # trace and warm up
  trainer.total_steps = 2 + FLAGS.steps
  start = time.perf_counter()
  trainer.run(dataset)
  return (time.perf_counter() - start) / FLAGS.steps


def main(argv):
  del argv
  if FLAGS.inner:
    print(f"seconds_per_step={time_loop()}")
    return
  trees = dict(item.split("=", 1) for item in FLAGS.trees.split(","))
  times = {name: [] for name in trees}
  for _ in range(FLAGS.rounds):
    for name, tree in trees.items():
      result = subprocess.run(
          [sys.executable, os.path.abspath(__file__), "--inner",
           f"--architecture={FLAGS.architecture}",
           f"--num_filters={FLAGS.num_filters}", f"--steps={FLAGS.steps}"],
          env={**os.environ, "PYTHONPATH": os.path.abspath(tree)},
          capture_output=True, text=True, check=True)
      line = [l for l in result.stdout.splitlines()
              if l.startswith("seconds_per_step=")][-1]
      times[name].append(float(line.split("=")[1]))
  print(f"{FLAGS.architecture}-{FLAGS.num_filters}, batch 8x128x128, "
        f"{FLAGS.steps} steps, {FLAGS.rounds} processes per tree "
        "(median s/step):")
  first = statistics.median(next(iter(times.values())))
  for name, values in times.items():
    median = statistics.median(values)
    print(f"  {name:8s} {median:.4f}  ratio to first {median / first:.3f}  "
          f"(all: {', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
  app.run(main)
