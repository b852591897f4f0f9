"""Training-step time of code trees against the FLOP floor, side by side.

  git worktree add /tmp/tfpc_old <commit>
  .venv/bin/python benchmarks/train_speed.py --trees=before=/tmp/tfpc_old,after=.

Each round runs a fresh process per tree and case (PYTHONPATH=tree), trees
alternating, so that load on the shared machine falls on all alike. A process
builds the case's Trainer (steptime.py: AdamW, weight decay 0.01) and times,
interleaved (harness.interleaved), `--steps` steps as `Trainer.run` takes
them (the input pipeline on `--images`, values pulled after the last), the
same steps on one fixed batch (with `--tfc_layers`, also as they were before
issue 27), and the reference convolution that measures
the machine's FLOP/s. The floor of a step is its FLOPs (steptime.flop_floor)
at the best reference throughput of that process; a ratio divides the
fastest step by it (min), or the median step by the floor at the median
throughput.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags

import harness  # benchmarks/, beside this script

flags.DEFINE_string("trees", ".", "name=path,... of tfpc source trees.")
flags.DEFINE_list("cases", ["bls64_mse", "bmshj192_mse", "mbt2018_mean"],
                  "steptime.CASES to time.")
flags.DEFINE_string("images", None, "Training photos (default: "
                    "../shared/data/train-photos, else scikit-image's).")
flags.DEFINE_integer("steps", 8, "Steps per timed call.")
flags.DEFINE_integer("rounds", 3, "Timed calls per path in a process.")
flags.DEFINE_integer("processes", 2, "Processes per tree and case.")
flags.DEFINE_bool("tfc_layers", False, "Also time, in the same processes, "
                  "the step with tfpc's layers computing as tfc's "
                  "(steptime.tfc_arithmetic: the step before issue 27).")
flags.DEFINE_list("private_threadpools", [], "Also time the pipeline with "
                  "tf.data's private thread pool of each of these sizes "
                  "(pipeline path `pipeline, pool N`; default: TF's own).")
flags.DEFINE_string("inner", None, "Case to time in this process (internal).")
FLAGS = flags.FLAGS
TRAIN_PHOTOS = os.path.join(os.path.dirname(harness.KODAK), "train-photos")


def _images():
  from tfpc import data  # pylint: disable=g-import-not-at-top
  from skimage import data as samples  # pylint: disable=g-import-not-at-top
  source = FLAGS.images or (TRAIN_PHOTOS if os.path.isdir(TRAIN_PHOTOS)
                            else None)
  if source is None:
    return [samples.astronaut(), samples.coffee(), samples.chelsea()]
  return data.load_images(data.list_images(source), 256)[0]


def time_case(case):
  """{path: (min, median) ms per step, ...} of one case in this process."""
  import steptime  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfpc import data  # pylint: disable=g-import-not-at-top
  trainer = steptime.trainer(case)
  images = _images()
  iterator = iter(data.patch_dataset(images, 8, 128, 256, seed=0))
  batch = steptime.fixed_batch()

  def steps(next_batch):
    def run():
      for _ in range(FLAGS.steps):
        outputs = trainer.train_step(next_batch())
      outputs[0]["loss"].numpy()
    return run

  convolve, convolution_flops = steptime.reference_convolution()
  paths = {"pipeline": steps(lambda: next(iterator)),
           "fixed batch": steps(lambda: batch), "convolution": convolve}
  for size in FLAGS.private_threadpools:
    options = tf.data.Options()
    options.threading.private_threadpool_size = int(size)
    pooled = iter(data.patch_dataset(images, 8, 128, 256, seed=0)
                  .with_options(options))
    paths[f"pipeline, pool {size}"] = steps(
        (lambda i: lambda: next(i))(pooled))
  if FLAGS.tfc_layers:
    reference = steptime.trainer(case)
    with steptime.tfc_arithmetic():  # traced now, called later
      reference.train_step(batch)[0]["loss"].numpy()
    paths["fixed batch, tfc's layers"] = lambda: [
        reference.train_step(batch) for _ in range(FLAGS.steps)][-1][0][
            "loss"].numpy()
  times = harness.interleaved(paths, FLAGS.rounds, warmup=1)
  result = harness.summary(
      {name: [t / (FLAGS.steps if name != "convolution" else 1)
              for t in values] for name, values in times.items()})
  return {**result, "floor_flops": steptime.flop_floor(
      trainer.codec, batch.shape), "convolution_flops": convolution_flops,
          "load": harness.load()}


def main(argv):
  del argv
  if FLAGS.inner:
    print("result=" + json.dumps(time_case(FLAGS.inner)))
    return
  trees = dict(item.split("=", 1) if "=" in item else (item, item)
               for item in FLAGS.trees.split(","))
  results = {}
  for _ in range(FLAGS.processes):
    for case in FLAGS.cases:
      for name, tree in trees.items():
        output = subprocess.run(
            [sys.executable, os.path.abspath(__file__), f"--inner={case}",
             f"--steps={FLAGS.steps}", f"--rounds={FLAGS.rounds}",
             f"--tfc_layers={FLAGS.tfc_layers}",
             f"--private_threadpools={','.join(FLAGS.private_threadpools)}"] +
            ([f"--images={FLAGS.images}"] if FLAGS.images else []),
            env={**os.environ, "PYTHONPATH": os.path.abspath(tree)},
            capture_output=True, text=True, check=True).stdout
        line = [l for l in output.splitlines() if l.startswith("result=")][-1]
        results.setdefault((case, name), []).append(json.loads(line[7:]))
        print(case, name, line[7:], flush=True)
  print("\n| case | tree | pipeline ms/step min / median | fixed batch "
        "ms/step | floor ms (best conv) | pipeline / floor (min, median) | "
        "fixed / floor (min) | tfc's layers, fixed: ms/step, / floor | load |"
        "\n|---|---|---|---|---:|---|---:|---|---|")
  for (case, name), runs in results.items():
    best = min(runs, key=lambda r: r["pipeline"][0])
    floor = [best["floor_flops"] / best["convolution_flops"] * ms
             for ms in best["convolution"]]
    print(f"| {case} | {name} | {best['pipeline'][0]:.0f} / "
          f"{best['pipeline'][1]:.0f} | {best['fixed batch'][0]:.0f} / "
          f"{best['fixed batch'][1]:.0f} | {floor[0]:.0f} | "
          f"{best['pipeline'][0] / floor[0]:.2f}, "
          f"{best['pipeline'][1] / floor[1]:.2f} | "
          f"{best['fixed batch'][0] / floor[0]:.2f} | {_reference(best, floor)}"
          f" | {', '.join(format(r['load'], '.1f') for r in runs)} |")
    for path in [p for p in best if p.startswith("pipeline, pool")]:
      print(f"| {case} | {name}: {path} | {best[path][0]:.0f} / "
            f"{best[path][1]:.0f} | | | {best[path][0] / floor[0]:.2f}, "
            f"{best[path][1] / floor[1]:.2f} | | | |")


def _reference(result, floor):
  """The tfc-layers path's min / median ms and min ratio to the floor."""
  if "fixed batch, tfc's layers" not in result:
    return ""
  low, median = result["fixed batch, tfc's layers"]
  return f"{low:.0f} / {median:.0f}, {low / floor[0]:.2f}"


if __name__ == "__main__":
  app.run(main)
