"""A training run's folder: the one module that knows its files.

  recipe.json     the settings the run was started with (a flat `TrainConfig`
                  or a staged recipe; a staged recipe's stages run in
                  sub-folders named after them)
  config.json     the codec config, so the run can be restored and exported
  ckpt-*          tf.train checkpoints (networks, optimizers, step counter)
  metrics.jsonl   one JSON line per logged step
  tensorboard/    TensorBoard events
  warm_start.txt  what the warm start copied, one line per network
"""

import json
import os
import re

import tensorflow as tf

from tfpc import codecs
from tfpc import errors
from tfpc import files

RECIPE = "recipe.json"
CODEC_CONFIG = "config.json"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
WARM_START = "warm_start.txt"


def _write_atomically(path, text):
  with files.replacing(path) as temporary, open(temporary, "w") as f:
    f.write(text)


def flatten(settings, prefix=""):
  """Nested settings as {dotted.name: value} (tuples as lists, as in JSON)."""
  flat = {}
  for key, value in settings.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
  return flat


def stage_runs(train_dir):
  """The training runs in train_dir's folders (a staged run's stages)."""
  return [entry.path for entry in sorted(os.scandir(train_dir),
                                         key=lambda entry: entry.name)
          if entry.is_dir() and is_training_run(entry.path)]


def _trained(train_dir):
  """Whether train_dir or a stage's folder in it holds a checkpoint."""
  return bool(tf.train.latest_checkpoint(train_dir) or stage_runs(train_dir))


def record_settings(train_dir, settings, resumable, defaults=None):
  """Writes train_dir/recipe.json; on resume, refuses settings that change
  the run, naming them. Settings recorded before the first checkpoint (a
  run that failed to start) are replaced: nothing was trained under them.

  Args:
    train_dir: the run folder.
    settings: the run's settings, nested dicts allowed (compared by dotted
      name).
    resumable: names (last component) that may change between runs.
    defaults: values of settings an older recipe.json lacks.
  """
  path = os.path.join(train_dir, RECIPE)
  if os.path.exists(path) and _trained(train_dir):
    previous = flatten({**(defaults or {}), **read_settings(train_dir)})
    now = flatten(settings)
    changed = sorted(key for key in set(previous) | set(now)
                     if key.rsplit(".", 1)[-1] not in resumable and
                     previous.get(key) != now.get(key))
    if changed:
      raise errors.ConfigError(
          f"{train_dir} was started with other settings: " +
          ", ".join(f"{k}={previous.get(k)!r} (now {now.get(k)!r})"
                    for k in changed) + "; use a new train_dir")
  try:
    os.makedirs(train_dir, exist_ok=True)
  except OSError as e:
    raise errors.ConfigError(f"{train_dir}: cannot make the run folder "
                             f"({e.strerror})") from None
  _write_atomically(path, json.dumps(settings, indent=2))


def read_settings(train_dir):
  """The settings recorded in train_dir/recipe.json."""
  try:
    with open(os.path.join(train_dir, RECIPE)) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise errors.ModelError(f"{train_dir}: no readable {RECIPE} ({e})") \
        from None


def checkpoint_step(path):
  """The step a checkpoint path (prefix `.../ckpt-STEP`) was saved at."""
  return int(os.path.basename(path).rsplit("-", 1)[-1])


def trained_steps(train_dir):
  """Steps of the run's latest checkpoint (0 without one)."""
  path = tf.train.latest_checkpoint(train_dir)
  return checkpoint_step(path) if path else 0


def finished(train_dir, total_steps):
  """True when the run has a checkpoint at `total_steps` or later."""
  path = tf.train.latest_checkpoint(train_dir)
  return bool(path) and checkpoint_step(path) >= total_steps


def is_training_run(path):
  """True for a folder with a training checkpoint and its codec config."""
  return bool(os.path.isfile(os.path.join(path, CODEC_CONFIG)) and
              tf.train.latest_checkpoint(path))


def check_codec_config(train_dir, config):
  """Records the run's codec config; refuses a folder of another codec."""
  os.makedirs(train_dir, exist_ok=True)
  path = os.path.join(train_dir, CODEC_CONFIG)
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    if previous != config:
      raise errors.ModelError(
          f"{train_dir} holds a run of another codec ({previous}, this one is "
          f"{config}); use a new train_dir")
  _write_atomically(path, json.dumps(config, indent=2))


def open_log(train_dir, step):
  """Opens metrics.jsonl for appending, dropping lines past `step` (the
  checkpoint resumed from) and lines cut short by a kill."""
  path = os.path.join(train_dir, METRICS)
  if os.path.exists(path):
    kept = []
    for record in read_log(train_dir):
      if record.get("step", 0) <= step:
        kept.append(json.dumps(record) + "\n")
    _write_atomically(path, "".join(kept))
  return open(path, "a", buffering=1)


def read_log(train_dir):
  """The run's log records (lines that do not parse are skipped)."""
  records = []
  with open(os.path.join(train_dir, METRICS)) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        continue  # a line cut short by a kill
  return records


def at_step(source, step):
  """How a warm start names a training run source: at the step it took."""
  return f"{source} at step {step}"


def warm_start_step(train_dir):
  """The step of the training run the run warm-started from (None when it
  started from a model, from scratch, or before steps were recorded)."""
  try:
    with open(os.path.join(train_dir, WARM_START)) as f:
      found = re.search(r" at step (\d+)", f.read())
  except OSError:
    return None
  return int(found.group(1)) if found else None


def cpu_seconds(train_dir, step):
  """CPU seconds the run's processes spent training up to `step`, as its
  log records them (0 without such a record)."""
  try:
    records = read_log(train_dir)
  except OSError:
    return 0.0
  return max((r["cpu_seconds"] for r in records
              if "cpu_seconds" in r and r.get("step", 0) <= step), default=0.0)


def write_warm_start(train_dir, lines):
  os.makedirs(train_dir, exist_ok=True)
  _write_atomically(os.path.join(train_dir, WARM_START),
                    "".join(f"{line}\n" for line in lines))


def restore_codec(train_dir):
  """(codec with the weights of the run's latest checkpoint, its step)."""
  try:
    with open(os.path.join(train_dir, CODEC_CONFIG)) as f:
      config = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.ModelError(f"{train_dir}: not a training run ({e})") from None
  path = tf.train.latest_checkpoint(train_dir)
  if path is None:
    raise errors.ModelError(f"{train_dir}: no checkpoint yet")
  codec = codecs.build_codec(config)
  tf.train.Checkpoint(codec=codec).read(path).expect_partial()
  return codec, checkpoint_step(path)
