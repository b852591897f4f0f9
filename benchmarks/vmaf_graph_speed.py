"""VMAF in TF ops against the libvmaf bridge: time per batch, side by side.

Usage: .venv/bin/python benchmarks/vmaf_graph_speed.py [--rounds=30]
         [--batch=8] [--side=128] [--threads=2] [--baseline=old_vmaf_graph.py]

The batch is ProxIQA's: `batch` crops of side x side from Kodak, JPEG
quality 20. Per round, in turn: the bridge (`libvmaf.vmaf`, ffmpeg), VMAF in
TF ops in graph mode (`vmaf_graph.vmaf` in a tf.function) and compiled by
XLA (`vmaf_graph.vmaf_compiled`), each forward, and the two TF forms forward
+ backward (the gradient with respect to the distorted batch). Medians and
their ratios to the bridge are printed, with the largest score difference.
`--baseline`, another version of `vmaf_graph.py` (an earlier commit's, in a
checkout of it: it reads the model files beside it), is timed in the same
rounds, graph and XLA forward and graph forward + backward.
"""

import glob
import importlib.util
import io
import os
import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from PIL import Image

from tfpc.metrics import libvmaf
from tfpc.metrics import vmaf_graph

flags.DEFINE_integer("rounds", 30, "Timed rounds.")
flags.DEFINE_integer("batch", 8, "Crops per batch.")
flags.DEFINE_integer("side", 128, "Crop side.")
flags.DEFINE_integer("threads", 2, "TF intra-op threads.")
flags.DEFINE_string("kodak", os.path.join(os.path.dirname(__file__), "..", "..",
                                          "shared", "data", "kodak"),
                    "Folder of Kodak PNGs.")
flags.DEFINE_string("baseline", None,
                    "Another vmaf_graph.py to time side by side.")
FLAGS = flags.FLAGS


def jpeg(pixels, quality=20):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def batch():
  paths = sorted(glob.glob(os.path.join(FLAGS.kodak, "*.png")))
  if len(paths) < FLAGS.batch:
    raise SystemExit(f"need {FLAGS.batch} Kodak images in {FLAGS.kodak}")
  side = FLAGS.side
  refs = np.stack([np.asarray(Image.open(p).convert("RGB"))[128:128 + side,
                                                            256:256 + side]
                   for p in paths[:FLAGS.batch]])
  return refs, np.stack([jpeg(r) for r in refs])


def with_gradient(fn):
  def forward_backward(reference, distorted):
    with tf.GradientTape() as tape:
      tape.watch(distorted)
      scores = fn(reference, distorted)
    return scores, tape.gradient(scores, distorted)
  return forward_backward


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  refs, dists = batch()
  ref_t, dis_t = tf.constant(refs, tf.float32), tf.constant(dists, tf.float32)
  graph = tf.function(vmaf_graph.vmaf)
  compiled = vmaf_graph.vmaf_compiled
  cases = {
      "bridge (ffmpeg + libvmaf)": lambda: libvmaf.vmaf(refs, dists),
      "TF graph, forward": lambda: graph(ref_t, dis_t).numpy(),
      "TF XLA, forward": lambda: compiled(ref_t, dis_t).numpy(),
      "TF graph, forward + backward": (
          lambda g=tf.function(with_gradient(vmaf_graph.vmaf)):
          g(ref_t, dis_t)[1].numpy()),
      "TF XLA, forward + backward": (
          lambda g=tf.function(with_gradient(vmaf_graph.vmaf),
                               jit_compile=True):
          g(ref_t, dis_t)[1].numpy()),
  }
  if FLAGS.baseline:
    spec = importlib.util.spec_from_file_location("baseline", FLAGS.baseline)
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    cases.update({
        "baseline graph, forward": (
            lambda g=tf.function(baseline.vmaf): g(ref_t, dis_t).numpy()),
        "baseline XLA, forward": (
            lambda g=tf.function(baseline.vmaf, jit_compile=True):
            g(ref_t, dis_t).numpy()),
        "baseline graph, fwd + bwd": (
            lambda g=tf.function(with_gradient(baseline.vmaf)):
            g(ref_t, dis_t)[1].numpy()),
    })
  reference_scores = libvmaf.vmaf(refs, dists)
  for name in ("TF graph, forward", "TF XLA, forward"):
    diff = np.abs(cases[name]() - reference_scores).max()
    print(f"{name}: max |score - libvmaf| {diff:.4f}")
  times = {name: [] for name in cases}
  for _ in range(FLAGS.rounds):
    for name, run in cases.items():
      start = time.perf_counter()
      run()
      times[name].append(1000 * (time.perf_counter() - start))
  bridge = np.median(times["bridge (ffmpeg + libvmaf)"])
  print(f"{FLAGS.batch}x{FLAGS.side}x{FLAGS.side}, {FLAGS.rounds} rounds, "
        f"{FLAGS.threads} TF threads: median ms (bridge / this)")
  for name, values in times.items():
    median = np.median(values)
    print(f"  {name:30s} {median:7.1f} ms   x{bridge / median:.2f}")


if __name__ == "__main__":
  app.run(main)
