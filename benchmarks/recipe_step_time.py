"""Seconds per training step of staged recipes' stages, in one process.

Usage: .venv/bin/python benchmarks/recipe_step_time.py RECIPE:STAGE...
       [--steps=5] [--warmup=2]
e.g. `configs/dpc.py:mse configs/eic_e2e_p.py:base`. Each stage's Trainer
(its codec from scratch: a warm start changes values, not the work; its
objective, networks and batch size) takes `--warmup` steps (tracing), then
`--steps` timed steps on one batch of its patch size from scikit-image's
photos; prints the median and fastest seconds per step and the load.
"""

import os
import runpy
import tempfile
import time

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import flags
from skimage import data as samples

from tfpc import codecs
from tfpc import data
from tfpc import errors
from tfpc.training import loop
from tfpc.training import stages

flags.DEFINE_integer("steps", 5, "Timed steps per stage.")
flags.DEFINE_integer("warmup", 2, "Untimed steps first (tracing).")
FLAGS = flags.FLAGS


def stage_trainer(recipe, name):
  """(Trainer, batch) of stage `name` of the recipe file `recipe`."""
  config = runpy.run_path(recipe)["get_config"]()
  settings = dict(stages.stage_settings(config))
  if name not in settings:
    raise errors.ConfigError(f"{recipe} has no stage {name!r}")
  stage = settings[name]
  size = {**stages.DATA_DEFAULTS, **stages.plain(config.data),
          **stage["data"]}
  codec = codecs.build_codec(stages.plain(config.codec))
  objective = stages.build_objective(name, stage, codec)
  trainer = loop.Trainer(
      codec, objective, tempfile.mkdtemp(),
      networks=stages._networks(name, stage, codec, objective),  # pylint: disable=protected-access
      **{key: stage[key] for key in loop.SCHEDULE_DEFAULTS})
  batch = next(iter(data.patch_dataset(
      [samples.astronaut(), samples.coffee(), samples.chelsea()],
      size["batch_size"], size["patch_size"], size["patch_size"], seed=0)))
  return trainer, batch, size


def main(argv):
  if len(argv) < 2:
    raise errors.ConfigError("give at least one RECIPE:STAGE")
  for item in argv[1:]:
    recipe, _, name = item.rpartition(":")
    trainer, batch, size = stage_trainer(recipe, name)
    for _ in range(FLAGS.warmup):
      tf.nest.map_structure(np.asarray, trainer.train_step(batch)[0])
    times = []
    for _ in range(FLAGS.steps):
      start = time.perf_counter()
      tf.nest.map_structure(np.asarray, trainer.train_step(batch)[0])
      times.append(time.perf_counter() - start)
    print(f"{item}: batch {size['batch_size']} of {size['patch_size']}^2: "
          f"median {np.median(times):.2f} s/step, fastest {min(times):.2f} "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
  cli.run(main)
