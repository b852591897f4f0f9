"""Time and memory of the perceptual distances, and what they add to a step.

Usage: .venv/bin/python benchmarks/perceptual_cost.py [--weights_dir=DIR]
       [--rounds=3] [--num_filters=192]
For LPIPS-Alex, LPIPS-VGG, DISTS and the VGG19 relu5_4 feature loss: the
median time of a forward pass and of a forward + backward pass (gradient with
respect to the distorted batch) on an 8x128x128 batch pair and on one Kodak
image pair (768x512), each in a tf.function, and the peak memory of TF's
allocator during the calls, above the weights and inputs. Then the median
time of a training step of a BLS2017 codec with each distance in the
objective (`PerceptualRateDistortion`, weight 0.5) against the plain MSE
step, timed round-robin. The cost does not depend on the weights' values: any converted
backbones do (e.g. the random ones of perceptual_parity.py).
"""

import os

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image
from skimage import data as samples

from tfpc import data
from tfpc import losses

from tfpc.metrics import perceptual

import harness  # benchmarks/, beside this script
import steptime

flags.DEFINE_string("weights_dir", None, "Converted backbones; default: "
                    "$TFPC_WEIGHTS_DIR, else ~/.cache/tfpc/weights.")
flags.DEFINE_integer("rounds", 3, "Timed calls per case.")
flags.DEFINE_integer("num_filters", 192, "Codec filters (paper: 192).")
FLAGS = flags.FLAGS
DISTANCES = ("lpips", "lpips_vgg", "dists", "vgg19_relu5_4")


def _time(function, rounds):
  """(median seconds of `rounds` calls after a warm-up, peak MB it adds).

  The memory is the peak of TF's CPU allocator over the timed calls, above
  what was allocated before them (the network's weights, the inputs).
  """
  function()
  tf.config.experimental.reset_memory_stats("CPU:0")
  before = tf.config.experimental.get_memory_info("CPU:0")["current"]
  (_, median), = harness.summary(harness.interleaved(
      {"call": function}, rounds, warmup=0), unit=1.0).values()
  peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
  return median, (peak - before) / 2**20


def _cases(model, x, y):
  forward = tf.function(lambda: model((x, y)))

  @tf.function
  def backward():
    with tf.GradientTape() as tape:
      tape.watch(y)
      distance = tf.reduce_sum(model((x, y)))
    return tape.gradient(distance, y)

  return {"forward": lambda: forward().numpy(),
          "forward+backward": lambda: backward().numpy()}


def main(argv):
  del argv
  batch = next(iter(data.patch_dataset(
      [samples.astronaut(), samples.coffee(), samples.chelsea()], 8, 128,
      seed=0)))
  noisy = tf.clip_by_value(batch + tf.random.normal(batch.shape, 0, 8, seed=0),
                           0, 255)
  kodak = np.asarray(Image.open(os.path.join(harness.KODAK, "kodim23.png"))
                     .convert("RGB"), np.float32)[None]
  kodak_noisy = np.clip(kodak + np.random.default_rng(0).normal(
      0, 8, kodak.shape), 0, 255).astype(np.float32)
  print(f"{'distance':<15}{'input':<14}{'pass':<18}{'ms':>9}{'peak MB':>9}")
  for name in DISTANCES:
    model = perceptual.build(name, FLAGS.weights_dir)
    for label, (x, y) in (("8x128x128", (batch, noisy)),
                          ("kodim23", (tf.constant(kodak),
                                       tf.constant(kodak_noisy)))):
      for kind, function in _cases(model, x, y).items():
        seconds, megabytes = _time(function, FLAGS.rounds)
        print(f"{name:<15}{label:<14}{kind:<18}{1000 * seconds:>9.0f}"
              f"{megabytes:>9.0f}")
  objectives = {"mse": losses.RateDistortion(0.01)}
  for name in DISTANCES:
    objectives[name] = losses.PerceptualRateDistortion(name, 0.01, 0.5,
                                                       FLAGS.weights_dir)
  times = steptime.interleaved(objectives, batch, "bls2017",
                               FLAGS.num_filters, FLAGS.rounds)
  base = np.median(times["mse"])
  print(f"\nBLS2017 {FLAGS.num_filters} filters, batch 8x128x128, "
        f"{FLAGS.rounds} rounds (median ms per step)")
  print(f"{'objective':<15}{'ms/step':>10}{'added ms':>10}{'ratio':>8}")
  for name, values in times.items():
    median = np.median(values)
    print(f"{name:<15}{1000 * median:>10.0f}{1000 * (median - base):>10.0f}"
          f"{median / base:>8.2f}")


if __name__ == "__main__":
  cli.run(main)
