"""Training step of BLS2017 (MSE) with and without XLA (`jit_compile`), side by side.

Usage: .venv/bin/python benchmarks/train_xla.py [--num_filters=64] [--rounds=8]
The step is the Trainer's in essence (forward in training mode, gradient of
the rate-distortion loss, AdamW update) on one fixed 8x128x128 batch; the
forward and gradient run as one `tf.function`, with `jit_compile` False or
True; rounds alternate between the two, so machine load falls on both alike.
"""

import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import flags

from tfpc import codecs
from tfpc.losses import rd

flags.DEFINE_integer("num_filters", 64, "Codec filters.")
flags.DEFINE_integer("rounds", 8, "Timed steps per setting.")
FLAGS = flags.FLAGS


def make_step(batch, jit_compile):
  codec = codecs.build_codec({"architecture": "bls2017",
                              "num_filters": FLAGS.num_filters})
  objective = rd.RateDistortion(0.01)
  optimizer = tf.keras.optimizers.AdamW(1e-4)
  optimizer.build(codec.trainable_variables)

  @tf.function(jit_compile=jit_compile)
  def gradients(x):
    with tf.GradientTape() as tape:
      loss = objective(x, codec(x, training=True))["loss"]
    return loss, tape.gradient(loss, codec.trainable_variables)

  def step():
    loss, grads = gradients(batch)
    optimizer.apply_gradients(zip(grads, codec.trainable_variables))
    return float(loss)

  return step


def main(argv):
  del argv
  tf.keras.utils.set_random_seed(0)
  batch = tf.random.uniform((8, 128, 128, 3), 0, 255)
  steps = {"default": make_step(batch, False), "xla": make_step(batch, True)}
  for step in steps.values():  # trace, compile, warm up
    step()
    step()
  times = {name: [] for name in steps}
  for _ in range(FLAGS.rounds):
    for name, step in steps.items():
      start = time.perf_counter()
      step()
      times[name].append(time.perf_counter() - start)
  medians = {name: float(np.median(t)) for name, t in times.items()}
  print(f"BLS2017-{FLAGS.num_filters}, 8x128x128: " +
        ", ".join(f"{name} {m:.3f} s/step" for name, m in medians.items()) +
        f"; xla / default {medians['xla'] / medians['default']:.2f}")


if __name__ == "__main__":
  cli.run(main)
