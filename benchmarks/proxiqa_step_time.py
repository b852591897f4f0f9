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

from absl import flags

import harness  # benchmarks/, beside this script
import steptime

flags.DEFINE_string("architecture", "bls2017", "Codec architecture.")
flags.DEFINE_integer("num_filters", 192, "Codec filters (paper: 192).")
flags.DEFINE_integer("batch_size", 8, "Patches per batch.")
flags.DEFINE_integer("patch_size", 128, "Patch side.")
flags.DEFINE_integer("rounds", 10, "Timed steps per objective.")
flags.DEFINE_list("objectives", ["mse", "vmafp", "proxy_only", "ssimp"],
                  "Objectives to time (steptime.objective); the first is the "
                  "baseline.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  batch = steptime.fixed_batch(FLAGS.batch_size, FLAGS.patch_size)
  objectives = {name: steptime.objective(name, FLAGS.patch_size)
                for name in FLAGS.objectives}
  times = harness.summary(steptime.interleaved(
      objectives, batch, FLAGS.architecture, FLAGS.num_filters,
      FLAGS.rounds))
  base = times[FLAGS.objectives[0]]
  print(f"{FLAGS.architecture} {FLAGS.num_filters} filters, batch "
        f"{FLAGS.batch_size}x{FLAGS.patch_size}x{FLAGS.patch_size}, "
        f"{FLAGS.rounds} rounds, load average {harness.load():.1f}")
  print(f"| objective | ms/step min / median | ratio to {FLAGS.objectives[0]} "
        "(min, median) |\n"
        "|---|---|---|")
  for name, (low, median) in times.items():
    print(f"| {name} | {low:.0f} / {median:.0f} | {low / base[0]:.3f}, "
          f"{median / base[1]:.3f} |")


if __name__ == "__main__":
  cli.run(main)
