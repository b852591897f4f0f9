"""Range-coding tables of factorized priors: tfc's eager build vs tfpc's graph build.

Usage: .venv/bin/python benchmarks/coding_tables.py [--models=bls2017-mse-l0.0008,bmshj2018-vmafp-l0.0008,eic-base-demo,mbt2018-mean-mse]
For each shipped model's factorized prior (`prior` or `hyperprior`), builds the
coding tables both ways, in turn, and prints both times, their ratio and
whether tables and quantization offsets are identical. Building these tables
was most of `prepare_for_coding` (so of every export and of many tests).
"""

import functools

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow_compression as tfc
from absl import flags

from tfpc import entropy
from tfpc import zoo

import harness  # benchmarks/, beside this script

flags.DEFINE_list("models", ["bls2017-mse-l0.0008", "bmshj2018-vmafp-l0.0008",
                             "eic-base-demo", "mbt2018-mean-mse"],
                  "Shipped models to load.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  for name in FLAGS.models:
    codec = zoo.load_keras(name)
    for part in ("prior", "hyperprior"):
      if not hasattr(codec, part):
        continue
      prior = getattr(codec, part)
      models = {}
      times = harness.interleaved({
          "eager": functools.partial(tfc.ContinuousBatchedEntropyModel,
                                     prior, coding_rank=3, compression=True),
          "graph": functools.partial(entropy.batched_coding_model, prior, 3)},
                                  rounds=1, warmup=0, results=models)
      eager, graph = models["eager"], models["graph"]
      eager_s, graph_s = times["eager"][0], times["graph"][0]
      same = all(np.array_equal(a.numpy(), b.numpy()) for a, b in (
          (eager.cdf, graph.cdf), (eager.cdf_offset, graph.cdf_offset),
          (eager.quantization_offset, graph.quantization_offset)))
      print(f"{name} {part}: eager {eager_s:.2f} s, graph {graph_s:.2f} s, "
            f"ratio {graph_s / eager_s:.2f}, identical tables: {same}")


if __name__ == "__main__":
  cli.run(main)
