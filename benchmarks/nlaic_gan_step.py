"""NLAIC-lite stage-3 step: one forward pass (the trainer's, in inference
mode) against the two it took before (the trainer's training-mode pass,
discarded, then the objective's own), side by side in one run.

  .venv/bin/python benchmarks/nlaic_gan_step.py [--rounds=20]
"""

from tfpc import cli  # quiets TensorFlow

import tempfile

import numpy as np
from absl import flags

import harness  # benchmarks/, beside this script
import steptime  # benchmarks/, beside this script
from tfpc import codecs
from tfpc import losses
from tfpc import training

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
  batch = steptime.fixed_batch(patch_size=64)
  steps = {}
  for name in ("one forward", "two forwards"):
    codec = codecs.build_codec(CODEC)
    objective = losses.OBJECTIVES["nlaic_gan"](
        codec, distance="none", discriminator_filters=16, lmbda=1e-3)
    if name == "two forwards":
      objective = _TwoForwards(objective, codec)
    trainer = training.Trainer(codec, objective, tempfile.mkdtemp())
    steps[name] = (lambda t: lambda: t.train_step(batch)[0]["loss"].numpy())(
        trainer)
  times = harness.interleaved(steps, FLAGS.rounds)
  base = np.median(times["two forwards"])
  for name, seconds in times.items():
    print(f"{name}: median {1e3 * np.median(seconds):.1f} ms, min "
          f"{1e3 * np.min(seconds):.1f} ms, {np.median(seconds) / base:.2f}x")


if __name__ == "__main__":
  cli.run(main)
