"""NLAIC-lite stage-3 step: one forward pass (the trainer's, in inference
mode) against the two it took before (the trainer's training-mode pass,
discarded, then the objective's own), side by side in one run.

  .venv/bin/python benchmarks/nlaic_gan_step.py [--rounds=20]
"""

from tfpc import cli  # quiets TensorFlow

import numpy as np
from absl import flags

import steptime  # benchmarks/, beside this script
from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc.training import stages

flags.DEFINE_integer("rounds", 20, "Timed steps per variant.")
FLAGS = flags.FLAGS
CODEC = {"architecture": "nlaic-lite", "num_filters": 32,
         "latent_channels": 32, "hyper_filters": 32, "num_blocks": 1,
         "attention_chunk": 256}


class _TwoForwards(losses.Objective):
  """The old stage 3: the trainer's training-mode outputs are discarded."""

  def __init__(self, inner, codec):
    self.inner, self.codec = inner, codec
    self.auxiliary = inner.auxiliary

  def __call__(self, x, outputs, step=None):
    del outputs
    return self.inner(x, self.codec(x, training=False))


def main(argv):
  del argv
  batch = next(iter(data.patch_dataset(stages.sample_photos(), 8, 64, 128,
                                       seed=0)))
  objectives = {}
  for name in ("one forward", "two forwards"):
    codec = codecs.build_codec(CODEC)
    objective = losses.OBJECTIVES["nlaic_gan"](
        codec, distance="none", discriminator_filters=16, lmbda=1e-3)
    objectives[name] = (codec, objective if name == "one forward" else
                        _TwoForwards(objective, codec))
  times = steptime.interleaved_trainers(objectives, batch, FLAGS.rounds)
  base = np.median(times["two forwards"])
  for name, seconds in times.items():
    print(f"{name}: median {1e3 * np.median(seconds):.1f} ms, min "
          f"{1e3 * np.min(seconds):.1f} ms, {np.median(seconds) / base:.2f}x")


if __name__ == "__main__":
  cli.run(main)
