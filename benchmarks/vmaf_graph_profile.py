"""Op-level profile of VMAF in TF ops: where a batch's time goes.

Usage: .venv/bin/python benchmarks/vmaf_graph_profile.py [--steps=4]
         [--top=12] [--batch=8] [--side=128] [--threads=2]

The batch is `vmaf_graph_speed.py`'s (Kodak crops under JPEG quality 20).
VMAF in TF ops in graph mode, forward and forward + backward (the gradient
with respect to the distorted batch), runs `--steps` times under TF's
profiler (`step_profile.profile`); the executed kernels are summed per batch
by the stage they belong to (the name scopes of `vmaf_graph`: luma, VIF and
ADM per scale, SVR) and by op type. Op times add up over both threads, so
their total can exceed the wall time. Prints markdown tables.
"""

import collections

from tfpc import cli  # quiets TensorFlow

import tensorflow as tf
from absl import flags

import harness  # benchmarks/, beside this script
import step_profile
import vmaf_graph_speed
from tfpc.metrics import vmaf_graph

FLAGS = flags.FLAGS  # --steps and --top: step_profile's flags

STAGES = ("luma", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3",
          "adm_scale0", "adm_scale1", "adm_scale2", "adm_scale3", "svr")


def _stage(op_name):
  """(stage, op type) of a trace event named `.../stage/.../name:Type`."""
  path, _, op_type = op_name.rpartition(":")
  parts = path.split("/")
  stage = next((p for p in parts if p in STAGES), "other")
  return stage, op_type


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  refs, dists = vmaf_graph_speed.batch()
  ref_t, dis_t = tf.constant(refs, tf.float32), tf.constant(dists, tf.float32)
  forms = {
      "forward": tf.function(vmaf_graph.vmaf),
      "forward + backward": tf.function(
          vmaf_graph_speed.with_gradient(vmaf_graph.vmaf)),
  }
  for name, fn in forms.items():
    step = lambda fn=fn: tf.nest.map_structure(lambda t: t.numpy(),
                                               fn(ref_t, dis_t))
    for _ in range(3):
      step()
    ops, wall = step_profile.profile(step, FLAGS.steps)
    total = sum(ops.values())
    print(f"\n### {name}: {wall:.1f} ms wall per batch, {total:.1f} ms of ops "
          f"(load average {harness.load():.1f})\n")
    stages, types = collections.Counter(), collections.Counter()
    for op, ms in ops.items():
      stage, op_type = _stage(op)
      stages[stage] += ms
      types[(stage, op_type)] += ms
    print("| stage | ms | share |\n|---|---:|---:|")
    for stage in STAGES + ("other",):
      print(f"| {stage} | {stages[stage]:.2f} | {stages[stage] / total:.0%} |")
    print("\n| stage | op | ms | share |\n|---|---|---:|---:|")
    for (stage, op_type), ms in types.most_common(FLAGS.top):
      print(f"| {stage} | {op_type} | {ms:.2f} | {ms / total:.0%} |")


if __name__ == "__main__":
  cli.run(main)
