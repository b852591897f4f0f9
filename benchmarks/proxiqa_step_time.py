"""Time per ProxIQA training step against an MSE-only step, side by side.

Usage: .venv/bin/python benchmarks/proxiqa_step_time.py [--num_filters=192]
       [--rounds=10]
Same codec architecture and size, same batch (8 x 128x128 by default) for
every objective: `mse` (eq. 3), `vmafp` (alternating eq. 7 + 8 with the true
VMAF from libvmaf), `proxy_only` (the same step with the true metric replaced
by a constant: the cost of the proxy network alone) and `ssimp` (SSIM_p, the
true SSIM computed in TF). Steps are
timed round-robin (one step of each objective per round) so that machine
load drifts affect all of them alike.
"""


from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import flags
from skimage import data as samples

from tfpc import data
from tfpc import losses

import steptime  # benchmarks/, beside this script

flags.DEFINE_string("architecture", "bls2017", "Codec architecture.")
flags.DEFINE_integer("num_filters", 192, "Codec filters (paper: 192).")
flags.DEFINE_integer("batch_size", 8, "Patches per batch.")
flags.DEFINE_integer("patch_size", 128, "Patch side.")
flags.DEFINE_integer("rounds", 10, "Timed steps per objective.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  batch = next(iter(data.patch_dataset(
      [samples.astronaut(), samples.coffee(), samples.chelsea()],
      FLAGS.batch_size, FLAGS.patch_size, seed=0)))
  objectives = {
      "mse": lambda: losses.RateDistortion(0.01),
      "vmafp": lambda: losses.ProxIQA(
          losses.ProxyIQANet("vmaf", FLAGS.patch_size), 0.01),
      "proxy_only": lambda: losses.ProxIQA(
          losses.ProxyIQANet("vmaf", FLAGS.patch_size), 0.01,
          true_metric=lambda x, x_hat: tf.fill(tf.shape(x)[:1], 80.0)),
      "ssimp": lambda: losses.ProxIQA(
          losses.ProxyIQANet("ssim", FLAGS.patch_size), 0.01),
  }
  times = steptime.interleaved(
      {name: make() for name, make in objectives.items()}, batch,
      FLAGS.architecture, FLAGS.num_filters, FLAGS.rounds)
  base = np.median(times["mse"])
  print(f"{FLAGS.architecture} {FLAGS.num_filters} filters, batch "
        f"{FLAGS.batch_size}x{FLAGS.patch_size}x{FLAGS.patch_size}, "
        f"{FLAGS.rounds} rounds (median ms per step)")
  print(f"{'objective':<10}{'ms/step':>10}{'ratio to mse':>14}")
  for name, values in times.items():
    median = np.median(values)
    print(f"{name:<10}{1000 * median:>10.1f}{median / base:>14.3f}")


if __name__ == "__main__":
  cli.run(main)
