"""Op-level profile of training steps: where a step's time goes.

Usage: .venv/bin/python benchmarks/step_profile.py [--cases=bls64_mse,...]
       [--steps=4] [--top=12]
Each case's `Trainer.train_step` (AdamW, weight decay 0.01) runs on one fixed
8x128x128 batch of scikit-image's photos: traced and warmed up, then
`--steps` steps under TF's profiler (`tf.profiler.experimental`). The trace's
op events (every executed kernel, with its op name and type) are summed per
step and grouped: backward when the op belongs to the gradient, the layer
scope, the op type. Op times add up over both cores, so their total can
exceed the step's wall time. Prints, per case, the share of each part of the
step and the top ops, as markdown.
"""

import collections
import glob
import re
import tempfile
import time

from tfpc import cli  # quiets TensorFlow

import tensorflow as tf
from absl import flags
from tensorflow.tsl.profiler.protobuf import xplane_pb2

import harness  # benchmarks/, beside this script
import steptime

flags.DEFINE_list("cases", list(steptime.CASES), "Cases to profile: "
                  f"{', '.join(steptime.CASES)}.")
flags.DEFINE_integer("steps", 4, "Profiled steps per case.")
flags.DEFINE_integer("top", 12, "Ops listed per case.")
FLAGS = flags.FLAGS

# Part of the step an op belongs to, by the first pattern its name matches.
PARTS = (
    ("RDFT kernel", r"kernel/(irfft|rfft|transpose)|[Ee]insum"),
    ("GDN/IGDN", r"gdn|/beta/|/gamma/"),
    ("optimizer", r"AdamW|/Assign|cond_\d+/"),
    ("proxy / metric", r"proxy|vmaf|PyFunc"),
    ("entropy model", r"prior|Noisy|entropy|likelihood|latent|Log|Softplus|"
                      r"Sigmoid|Erf"),
    ("convolution", r"Conv2D|conv2d"),
    ("phases, padding", r"Pad|DepthToSpace|SpaceToDepth|Concat|Split|Gather|"
                        r"SegmentSum|Slice|Reverse"),
)


def _part(name):
  for part, pattern in PARTS:
    if re.search(pattern, name):
      return part
  return "other"


def _key(name):
  """(direction, scope, op type) of a trace event named `scope/...:Type`."""
  path, _, op_type = name.rpartition(":")
  backward = path.startswith("gradient_tape/") or "gdn_gradient" in path
  path = path.removeprefix("gradient_tape/")
  scope = "/".join(path.split("/")[:-1][:3]) or path
  return ("backward" if backward else "forward", scope, op_type)


def profile(step, steps):
  """{(direction, scope, op type): ms per step} and wall ms per step."""
  logdir = tempfile.mkdtemp()
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  for _ in range(steps):
    step()
  wall = (time.perf_counter() - start) / steps
  tf.profiler.experimental.stop()
  space = xplane_pb2.XSpace()
  with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0],
            "rb") as f:
    space.ParseFromString(f.read())
  ops = collections.Counter()
  for plane in space.planes:
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if ":" in name and not name.startswith(("ExecutorState", "Memory")):
          ops[name] += event.duration_ps / 1e9 / steps
  return ops, 1000 * wall


def main(argv):
  del argv
  batch = steptime.fixed_batch()
  for name in FLAGS.cases:
    trainer = steptime.trainer(name)
    step = lambda: trainer.train_step(batch)[0]["loss"].numpy()  # pylint: disable=cell-var-from-loop
    for _ in range(3):
      step()
    ops, wall = profile(step, FLAGS.steps)
    total = sum(ops.values())
    print(f"\n### {name}: {wall:.0f} ms/step wall, {total:.0f} ms of ops "
          f"(load average {harness.load():.1f})\n")
    parts = collections.Counter()
    for op, ms in ops.items():
      parts[(_key(op)[0], _part(op))] += ms
    print("| part | forward ms | backward ms | share |\n|---|---:|---:|---:|")
    for part in [p for p, _ in PARTS] + ["other"]:
      forward, backward = parts[("forward", part)], parts[("backward", part)]
      print(f"| {part} | {forward:.1f} | {backward:.1f} | "
            f"{(forward + backward) / total:.0%} |")
    grouped = collections.Counter()
    for op, ms in ops.items():
      grouped[_key(op)] += ms
    print(f"\n| direction | scope | op | ms/step | share |\n"
          f"|---|---|---|---:|---:|")
    for (direction, scope, op_type), ms in grouped.most_common(FLAGS.top):
      print(f"| {direction} | {scope} | {op_type} | {ms:.1f} | "
            f"{ms / total:.0%} |")


if __name__ == "__main__":
  cli.run(main)
