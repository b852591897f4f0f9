"""Staged recipes: one config, several stages, each training some networks.

Every training run is a stage: a staged recipe's stages, and a flat run of
`tfpc_train`'s flags (`recipe.py`), which is one stage in its own folder.

A staged recipe is a Python file in configs/ whose `get_config()` returns an
`ml_collections.ConfigDict` (`tfpc_train --config=FILE`, any field
overridable as `--config.stages.NAME.total_steps=...`):

  train_dir, images  run folder and training images (set them on the command
                     line)
  init_from          optional: exported model or training run the first stage
                     starts from
  codec              the codec config: `architecture` and constructor
                     arguments
  data               batch_size, patch_size, crop_size, seed; a stage's own
                     `data` overrides them
  stages             name -> stage:
    start_from       the stage it starts from ("" for the first: from
                     `init_from`, or from scratch). Stages run parent first,
                     so one base may feed several variants.
    strict_start     fail unless the warm start copies every codec variable
    objective        a name in `tfpc.losses.OBJECTIVES`; `options` are its
                     builder's keyword arguments
    networks         what the stage trains: name -> {loss, modules,
                     learning_rate, update_every} (see `loop.Network`);
                     "codec" is the codec, other names are networks of the
                     objective's `auxiliary`. `modules` limits training to
                     those sub-networks: the rest stays frozen. Default: the
                     codec and every auxiliary network.
    total_steps, learning_rate, final_learning_rate, final_steps,
    weight_decay, log_every, checkpoint_every, max_nonfinite_steps
                     (defaults: `loop.SCHEDULE_DEFAULTS`)

Stage NAME runs in `train_dir/NAME` as a resumable `loop.Trainer` run. A
stage starts from its `start_from` stage's last checkpoint by layer
(`warm_start`: the codec's variables by path and shape, every other network
that stage saved by name) and reports what it copied. Rerunning the command
skips finished stages and resumes the interrupted one; changing the recipe of
a started run is refused, except for the settings named in
`RESUMABLE_CHANGES`.
"""

import math
import os

from absl import logging
import tensorflow as tf

from tfpc import codecs
from tfpc import data
from tfpc import errors
from tfpc import losses
from tfpc.training import loop
from tfpc.training import run_folder
from tfpc.training import warm_start

DATA_DEFAULTS = {"batch_size": 8, "patch_size": 128, "crop_size": 256,
                 "seed": 0}
STAGE_DEFAULTS = {"start_from": "", "strict_start": False, "objective": "rd",
                  "options": {}, "networks": {}, "data": {},
                  **loop.SCHEDULE_DEFAULTS}
NETWORK_DEFAULTS = {"loss": None, "modules": (), "learning_rate": None,
                    "update_every": 1}
TOP_LEVEL = ("train_dir", "images", "init_from", "codec", "data", "stages",
             "strategy", "cpu_devices")
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")
# Settings (last component of the dotted name) a resumed run may change.
RESUMABLE_CHANGES = ("train_dir", "images", "total_steps", "log_every",
                     "checkpoint_every", "max_nonfinite_steps", "strategy",
                     "cpu_devices")


def plain(value):
  """A ConfigDict (or dict) as nested plain dicts."""
  return value.to_dict() if hasattr(value, "to_dict") else dict(value)


def _unknown(given, known, where, problems):
  extra = sorted(set(given) - set(known))
  if extra:
    problems.append(f"{where}: unknown settings {extra}; known: "
                    f"{sorted(known)}")


def stage_settings(config):
  """[(name, stage dict with defaults filled in)], parents first (raises
  ConfigError for a `start_from` that names no stage, or a cycle)."""
  pending = {name: {**STAGE_DEFAULTS, **plain(stage)}
             for name, stage in plain(config.get("stages") or {}).items()}
  ordered = []
  while pending:
    ready = [name for name, stage in pending.items()
             if stage["start_from"] in ("", *(n for n, _ in ordered))]
    if not ready:
      raise errors.ConfigError(
          "stages: start_from must name another stage, without cycles: " +
          ", ".join(f"{n}.start_from={s['start_from']!r}"
                    for n, s in sorted(pending.items())))
    ordered += [(name, pending.pop(name)) for name in sorted(ready)]
  return ordered


def number_problems(stage, prefix="", option_prefix="options."):
  """Problems of a stage's numbers that no training can use: one not
  finite, or a negative step count, rate, decay or lambda (`prefix` and
  `option_prefix` name them as the user set them)."""
  named = {f"{prefix}{key}": (stage[key], True)
           for key in loop.SCHEDULE_DEFAULTS}
  named.update({f"{option_prefix}{key}": (value, key == "lmbda")
                for key, value in stage["options"].items()})
  problems = []
  for name, (value, non_negative) in named.items():
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      continue
    if not math.isfinite(value):
      problems.append(f"{name} must be a finite number, got {value}")
    elif non_negative and value < 0:
      problems.append(f"{name} must not be negative, got {value}")
  return problems


def check(config):
  """Raises ConfigError for a recipe that cannot run, naming every problem."""
  problems = []
  _unknown(plain(config), TOP_LEVEL, "recipe", problems)
  for required in ("train_dir", "images"):
    if not config.get(required):
      problems.append(f"{required} is required (--config.{required}=...)")
  architecture = plain(config.get("codec") or {}).get("architecture")
  if architecture not in codecs.CODECS:
    problems.append(f"codec.architecture must be one of "
                    f"{sorted(codecs.CODECS)}")
  if (config.get("strategy") or "default") not in STRATEGIES:
    problems.append(f"strategy must be one of {STRATEGIES}")
  _unknown(plain(config.get("data") or {}), DATA_DEFAULTS, "data", problems)
  if not stage_settings(config):
    problems.append("stages: a recipe needs at least one stage")
  for name, stage in stage_settings(config):
    _unknown(stage, STAGE_DEFAULTS, f"stages.{name}", problems)
    _unknown(stage["data"], DATA_DEFAULTS, f"stages.{name}.data", problems)
    if stage["objective"] not in losses.OBJECTIVES:
      problems.append(f"stages.{name}.objective must be one of "
                      f"{sorted(losses.OBJECTIVES)}")
    problems += number_problems(stage, f"stages.{name}.",
                                f"stages.{name}.options.")
    for network, spec in plain(stage["networks"]).items():
      _unknown(spec, NETWORK_DEFAULTS, f"stages.{name}.networks.{network}",
               problems)
  if problems:
    raise errors.ConfigError("; ".join(problems))


def _networks(name, stage, codec, objective):
  """The stage's `loop.Network`s (None: the trainer's default), checked
  against the codec and objective."""
  if not stage["networks"]:
    return None
  networks = {}
  for network, spec in plain(stage["networks"]).items():
    spec = {**NETWORK_DEFAULTS, **spec}
    if network == "codec":
      loss, model = "loss", codec
    elif network in objective.auxiliary:
      loss, model = objective.auxiliary[network]
    else:
      raise errors.ConfigError(
          f"stages.{name}.networks: {network!r} is neither 'codec' nor a "
          f"network of objective {stage['objective']} "
          f"({sorted(objective.auxiliary)})")
    missing = [m for m in spec["modules"] if not hasattr(model, m)]
    if missing:
      raise errors.ConfigError(
          f"stages.{name}.networks.{network}.modules: {model.name} has no "
          f"{missing}")
    networks[network] = loop.Network(
        spec["loss"] or loss, model, tuple(spec["modules"]),
        spec["learning_rate"], spec["update_every"])
  return networks


def _where(name, setting=""):
  """How errors name a setting of stage `name` (None: a flat run)."""
  if name is None:
    return setting or "settings"
  return f"stages.{name}" + (f".{setting}" if setting else "")


def build_objective(name, stage, codec):
  """The stage's objective (ConfigError when its options do not fit)."""
  try:
    return losses.OBJECTIVES[stage["objective"]](codec, **stage["options"])
  except (TypeError, ValueError) as e:
    raise errors.ConfigError(
        f"{_where(name, 'options')} do not fit objective "
        f"{stage['objective']}: {e}") from None


def make_strategy(name, cpu_devices=0):
  """The tf.distribute strategy `name`, optionally over logical CPUs."""
  if cpu_devices:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "multi_worker_mirrored":
    return tf.distribute.MultiWorkerMirroredStrategy()
  devices = None
  if cpu_devices and not tf.config.list_logical_devices("GPU"):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
  return tf.distribute.MirroredStrategy(devices)


def progress_line(train_dir, record, total_steps, keys):
  """`train_dir: step S of T (done|stopped; ...)  key=value ...`."""
  state = ("done" if record["step"] >= total_steps else
           "stopped; rerun the same command to resume")
  values = "  ".join(f"{k}={record[k]:.4g}" for k in keys if k in record)
  return (f"{train_dir}: step {record['step']} of {total_steps} ({state})  "
          f"{values}").rstrip()


def run_stage(name, stage, codec_config, size, train_dir, previous, strategy,
              images):
  """Runs (or resumes) stage `name` (None: a flat run) in `train_dir`,
  starting from `previous` (a run folder or exported model; "" for
  scratch); prints its warm start and final progress lines and returns its
  last log record."""
  if size["batch_size"] % strategy.num_replicas_in_sync:
    raise errors.ConfigError(
        f"{_where(name)}: batch_size {size['batch_size']} does not split "
        f"over {strategy.num_replicas_in_sync} replicas")
  tf.keras.utils.set_random_seed(size["seed"])
  with strategy.scope():
    codec = codecs.build_codec(codec_config)
    if size["patch_size"] % codec.stride:
      raise errors.ConfigError(
          f"{_where(name)}: patch_size {size['patch_size']} is not a "
          f"multiple of the codec's stride {codec.stride}")
    objective = build_objective(name, stage, codec)
    objective.check_data(size)
    networks = _networks(name, stage, codec, objective)
    if previous and not tf.train.latest_checkpoint(train_dir):
      report = warm_start.warm_start(
          codec, previous,
          {network: model for network, (_, model) in
           objective.auxiliary.items()}, strict=stage["strict_start"])
      run_folder.write_warm_start(train_dir, report.lines())
      print("\n".join(report.lines()))
  schedule = {key: stage[key] for key in loop.SCHEDULE_DEFAULTS}
  trainer = loop.Trainer(codec, objective, train_dir, strategy=strategy,
                         networks=networks, **schedule)
  record = trainer.run(data.patch_dataset(
      images, size["batch_size"], size["patch_size"], size["crop_size"],
      seed=size["seed"]))
  print(progress_line(train_dir, record, stage["total_steps"],
                      objective.summary))
  return record


def _warn_if_its_start_moved(train_dir, start):
  """Warns when the run `start` (a parent stage) trained on after
  `train_dir` warm-started from it: its result no longer follows from it."""
  taken = run_folder.warm_start_step(train_dir)
  if taken is None or not run_folder.is_training_run(start or ""):
    return
  now = run_folder.trained_steps(start)
  if now > taken:
    logging.warning("%s started from %s at step %d, which is now at step %d: "
                    "to start it from there, train in a new train_dir",
                    train_dir, start, taken, now)


def finished(config):
  """Whether every stage of the recipe has trained all its steps."""
  return all(run_folder.finished(os.path.join(config.train_dir, name),
                                 stage["total_steps"])
             for name, stage in stage_settings(config))


def train(config):
  """Runs (or resumes) a staged recipe; returns {stage: last log record} of
  the stages it ran.

  Stops after a stage that was interrupted (its record's step is short of
  its total_steps); rerun to resume.
  """
  check(config)
  run_folder.record_settings(config.train_dir, plain(config),
                             RESUMABLE_CHANGES)
  strategy = make_strategy(config.get("strategy") or "default",
                           config.get("cpu_devices") or 0)
  stages = stage_settings(config)
  sizes = [{**DATA_DEFAULTS, **plain(config.get("data") or {}),
            **stage["data"]} for _, stage in stages]
  images = data.training_images(
      config.images, max(size["crop_size"] for size in sizes))
  results = {}
  for (name, stage), size in zip(stages, sizes):
    train_dir = os.path.join(config.train_dir, name)
    previous = (os.path.join(config.train_dir, stage["start_from"])
                if stage["start_from"] else config.get("init_from"))
    _warn_if_its_start_moved(train_dir, previous)
    if run_folder.finished(train_dir, stage["total_steps"]):
      continue
    results[name] = run_stage(name, stage, plain(config.codec), size,
                              train_dir, previous, strategy, images)
    if results[name]["step"] < stage["total_steps"]:
      break
  return results


def restore_objective(stage_dir, network):
  """The objective of a stage of a staged recipe (its settings from the
  recipe's record), with its auxiliary `network` (e.g. "post_filter")
  restored from the stage's latest checkpoint."""
  parent, name = os.path.split(os.path.normpath(stage_dir))
  try:
    config = run_folder.read_settings(parent)
    stage = dict(stage_settings(config))[name]
  except (errors.TfpcError, KeyError) as e:
    raise errors.ModelError(
        f"{stage_dir}: not a stage of a staged recipe ({e})") from None
  path = tf.train.latest_checkpoint(stage_dir)
  if path is None:
    raise errors.ModelError(f"{stage_dir}: no checkpoint yet")
  objective = build_objective(name, stage, codecs.build_codec(config["codec"]))
  if network not in objective.auxiliary:
    raise errors.ModelError(
        f"{stage_dir}: objective {stage['objective']} has no {network}")
  tf.train.Checkpoint(**{network: objective.auxiliary[network][1]}).read(
      path).expect_partial()
  return objective
