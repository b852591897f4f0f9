"""Op-level profile of VMAF in TF ops: where a batch's time goes.

Usage: .venv/bin/python benchmarks/vmaf_graph_profile.py [--steps=4]
         [--top=12] [--batch=8] [--side=128] [--threads=2] [--static]

The batch is `vmaf_graph_speed.py`'s (Kodak crops under JPEG quality 20).
VMAF in TF ops in graph mode, forward and forward + backward (the gradient
with respect to the distorted batch), runs `--steps` times under TF's
profiler (`step_profile.profile`); the executed kernels are summed per batch
by the stage they belong to (the name scopes of `vmaf_graph`: luma, VIF and
ADM per scale, SVR) and by op type. Op times add up over both threads, so
their total can exceed the wall time. Prints markdown tables.

`--static` counts instead of timing (no run, so no load dependence): per
stage of the forward graph, its ops, the elements that element-wise and
data-movement ops write, and the multiply-adds of matrix products.
"""

import collections

from tfpc import cli  # quiets TensorFlow

import tensorflow as tf
from absl import flags

import harness  # benchmarks/, beside this script
import step_profile
import vmaf_graph_speed
from tfpc.metrics import vmaf_graph

flags.DEFINE_bool("static", False, "Count the forward graph's work instead.")
FLAGS = flags.FLAGS  # --steps and --top: step_profile's flags

STAGES = ("luma", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3",
          "adm_scale0", "adm_scale1", "adm_scale2", "adm_scale3", "svr")


def _stage(op_name):
  """(stage, op type) of a trace event named `.../stage/.../name:Type`."""
  path, _, op_type = op_name.rpartition(":")
  parts = path.split("/")
  stage = next((p for p in parts if p in STAGES), "other")
  return stage, op_type


# Ops that write no data (views, markers) or only constants.
_FREE = {"Const", "Placeholder", "Identity", "IdentityN", "StopGradient",
         "Reshape", "NoOp"}


def _multiply_adds(op):
  """Multiply-adds of a matrix product op (MatMul or Einsum), else 0."""
  if op.type == "MatMul":
    a = op.inputs[0].shape
    depth = a[0] if op.get_attr("transpose_a") else a[1]
    return op.outputs[0].shape.num_elements() * depth
  if op.type == "Einsum":
    terms, out = op.get_attr("equation").decode().split("->")
    sizes = {}
    for term, tensor in zip(terms.split(","), op.inputs):
      labels = term.replace("...", "")
      dims = tensor.shape[-len(labels):] if term.startswith("...") else (
          tensor.shape[:len(labels)])
      sizes.update(zip(labels, dims))
    depth = 1
    for label, size in sizes.items():
      depth *= 1 if label in out else size
    return op.outputs[0].shape.num_elements() * depth
  return 0


def static_counts(ref_t, dis_t):
  """Prints per stage: ops, elements written, matrix multiply-adds."""
  graph = tf.function(vmaf_graph.vmaf).get_concrete_function(
      ref_t, dis_t).graph
  ops, elements, products = (collections.Counter() for _ in range(3))
  for op in graph.get_operations():
    if op.type in _FREE:
      continue
    stage = _stage(f"{op.name}:{op.type}")[0]
    ops[stage] += 1
    if _multiply_adds(op):
      products[stage] += _multiply_adds(op)
    else:
      elements[stage] += sum(t.shape.num_elements() or 0 for t in op.outputs)
  print("| stage | ops | elements written (M) | matrix multiply-adds (M) |\n"
        "|---|---:|---:|---:|")
  for stage in STAGES + ("other",):
    print(f"| {stage} | {ops[stage]} | {elements[stage] / 1e6:.1f} | "
          f"{products[stage] / 1e6:.1f} |")
  print(f"| total | {sum(ops.values())} | {sum(elements.values()) / 1e6:.1f} "
        f"| {sum(products.values()) / 1e6:.1f} |")


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  refs, dists = vmaf_graph_speed.batch()
  ref_t, dis_t = tf.constant(refs, tf.float32), tf.constant(dists, tf.float32)
  if FLAGS.static:
    static_counts(ref_t, dis_t)
    return
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
