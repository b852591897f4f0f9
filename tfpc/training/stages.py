"""Staged recipes: one config, several stages, each training some networks.

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
    objective        a name in `tfpc.losses.OBJECTIVES`; `options` are its
                     builder's keyword arguments
    networks         what the stage trains: name -> {loss, modules,
                     learning_rate, update_every} (see `loop.Network`);
                     "codec" is the codec, other names are networks of the
                     objective's `auxiliary`. `modules` limits training to
                     those sub-networks: the rest stays frozen.
    total_steps, learning_rate, final_learning_rate, final_steps,
    weight_decay, log_every, checkpoint_every, max_nonfinite_steps

Stage NAME runs in `train_dir/NAME` as a resumable `loop.Trainer` run. A
stage starts from its `start_from` stage's last checkpoint: the codec's
sub-networks and every network that stage saved, by name (`warm_start`). Rerunning the command skips finished stages and resumes the
interrupted one; changing the recipe of a started run is refused, except for
the settings named in `RESUMABLE_CHANGES`.
"""

import json
import os

import tensorflow as tf

from tfpc import codecs
from tfpc import data
from tfpc import errors
from tfpc import losses
from tfpc.training import loop
from tfpc.training import recipe
from tfpc.training import warm_start

DATA_DEFAULTS = {"batch_size": 8, "patch_size": 128, "crop_size": 256,
                 "seed": 0}
STAGE_DEFAULTS = {"start_from": "", "objective": "rd", "options": {}, "networks": {"codec": {}},
                  "data": {}, "total_steps": 1000, "learning_rate": 1e-4,
                  "final_learning_rate": 1e-5, "final_steps": 0,
                  "weight_decay": 0.0, "log_every": 100,
                  "checkpoint_every": 1000, "max_nonfinite_steps": 20}
NETWORK_DEFAULTS = {"loss": None, "modules": (), "learning_rate": None,
                    "update_every": 1}
TOP_LEVEL = ("train_dir", "images", "init_from", "codec", "data", "stages",
             "strategy", "cpu_devices")
# Settings (last component of the dotted name) a resumed run may change.
RESUMABLE_CHANGES = ("train_dir", "images", "log_every", "checkpoint_every",
                     "max_nonfinite_steps", "strategy", "cpu_devices")


def _plain(value):
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
  pending = {name: {**STAGE_DEFAULTS, **_plain(stage)}
             for name, stage in _plain(config.get("stages") or {}).items()}
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


def check(config):
  """Raises ConfigError for a recipe that cannot run, naming every problem."""
  problems = []
  _unknown(_plain(config), TOP_LEVEL, "recipe", problems)
  for required in ("train_dir", "images"):
    if not config.get(required):
      problems.append(f"{required} is required (--config.{required}=...)")
  architecture = _plain(config.get("codec") or {}).get("architecture")
  if architecture not in codecs.CODECS:
    problems.append(f"codec.architecture must be one of "
                    f"{sorted(codecs.CODECS)}")
  _unknown(_plain(config.get("data") or {}), DATA_DEFAULTS, "data", problems)
  if not stage_settings(config):
    problems.append("stages: a recipe needs at least one stage")
  for name, stage in stage_settings(config):
    _unknown(stage, STAGE_DEFAULTS, f"stages.{name}", problems)
    _unknown(stage["data"], DATA_DEFAULTS, f"stages.{name}.data", problems)
    if stage["objective"] not in losses.OBJECTIVES:
      problems.append(f"stages.{name}.objective must be one of "
                      f"{sorted(losses.OBJECTIVES)}")
    if not stage["networks"]:
      problems.append(f"stages.{name}.networks: a stage trains something")
    for network, spec in _plain(stage["networks"]).items():
      _unknown(spec, NETWORK_DEFAULTS, f"stages.{name}.networks.{network}",
               problems)
  if problems:
    raise errors.ConfigError("; ".join(problems))


def _networks(name, stage, codec, objective):
  """The stage's `loop.Network`s, checked against the codec and objective."""
  auxiliary = getattr(objective, "auxiliary", {})
  networks = {}
  for network, spec in _plain(stage["networks"]).items():
    spec = {**NETWORK_DEFAULTS, **spec}
    if network == "codec":
      loss, model = "loss", codec
    elif network in auxiliary:
      loss, model = auxiliary[network]
    else:
      raise errors.ConfigError(
          f"stages.{name}.networks: {network!r} is neither 'codec' nor a "
          f"network of objective {stage['objective']} ({sorted(auxiliary)})")
    missing = [m for m in spec["modules"] if not hasattr(model, m)]
    if missing:
      raise errors.ConfigError(
          f"stages.{name}.networks.{network}.modules: {model.name} has no "
          f"{missing}")
    networks[network] = loop.Network(
        spec["loss"] or loss, model, tuple(spec["modules"]),
        spec["learning_rate"], spec["update_every"])
  return networks


def _build_objective(name, stage, codec):
  try:
    return losses.OBJECTIVES[stage["objective"]](codec, **stage["options"])
  except TypeError as e:
    raise errors.ConfigError(
        f"stages.{name}.options do not fit objective {stage['objective']}: "
        f"{e}") from None


def _finished(train_dir, total_steps):
  path = tf.train.latest_checkpoint(train_dir)
  return bool(path) and int(path.rsplit("-", 1)[-1]) >= total_steps


def train(config):
  """Runs (or resumes) a staged recipe; returns {stage: last log record}.

  Stops after a stage that was interrupted (its record's step is short of
  its total_steps); rerun to resume.
  """
  check(config)
  recipe.record_settings(config.train_dir, _plain(config), RESUMABLE_CHANGES)
  strategy = recipe.make_strategy(config.get("strategy") or "default",
                                  config.get("cpu_devices") or 0)
  stages = stage_settings(config)
  sizes = [{**DATA_DEFAULTS, **_plain(config.get("data") or {}),
            **stage["data"]} for _, stage in stages]
  images = recipe.training_images(
      config.images, max(size["crop_size"] for size in sizes) // 2)
  results = {}
  for (name, stage), size in zip(stages, sizes):
    train_dir = os.path.join(config.train_dir, name)
    if _finished(train_dir, stage["total_steps"]):
      continue
    previous = (os.path.join(config.train_dir, stage["start_from"])
                if stage["start_from"] else config.get("init_from"))
    if size["batch_size"] % strategy.num_replicas_in_sync:
      raise errors.ConfigError(
          f"stages.{name}: batch_size {size['batch_size']} does not split "
          f"over {strategy.num_replicas_in_sync} replicas")
    tf.keras.utils.set_random_seed(size["seed"])
    with strategy.scope():
      codec = codecs.build_codec(_plain(config.codec))
      if size["patch_size"] % codec.stride:
        raise errors.ConfigError(
            f"stages.{name}: patch_size {size['patch_size']} is not a "
            f"multiple of the codec's stride {codec.stride}")
      objective = _build_objective(name, stage, codec)
      networks = _networks(name, stage, codec, objective)
      if previous and not tf.train.latest_checkpoint(train_dir):
        warm_start.warm_start(codec, previous, {
            network: model for network, (_, model) in
            getattr(objective, "auxiliary", {}).items()})
    trainer = loop.Trainer(
        codec, objective, train_dir, strategy=strategy, networks=networks,
        learning_rate=stage["learning_rate"],
        final_learning_rate=stage["final_learning_rate"],
        final_steps=stage["final_steps"], total_steps=stage["total_steps"],
        weight_decay=stage["weight_decay"], log_every=stage["log_every"],
        checkpoint_every=stage["checkpoint_every"],
        max_nonfinite_steps=stage["max_nonfinite_steps"])
    results[name] = trainer.run(data.patch_dataset(
        images, size["batch_size"], size["patch_size"], size["crop_size"],
        seed=size["seed"]))
    if results[name]["step"] < stage["total_steps"]:
      break
  return results


def restore_objective(stage_dir, network):
  """The objective of a stage of a staged recipe (its settings from the
  recipe's record), with its auxiliary `network` (e.g. "post_filter")
  restored from the stage's latest checkpoint."""
  parent, name = os.path.split(os.path.normpath(stage_dir))
  try:
    with open(os.path.join(parent, recipe.RECIPE_FILE)) as f:
      config = json.load(f)
    stage = dict(stage_settings(config))[name]
  except (OSError, ValueError, KeyError) as e:
    raise errors.ModelError(
        f"{stage_dir}: not a stage of a staged recipe ({e})") from None
  path = tf.train.latest_checkpoint(stage_dir)
  if path is None:
    raise errors.ModelError(f"{stage_dir}: no checkpoint yet")
  objective = _build_objective(name, stage, codecs.build_codec(config["codec"]))
  auxiliary = getattr(objective, "auxiliary", {})
  if network not in auxiliary:
    raise errors.ModelError(
        f"{stage_dir}: objective {stage['objective']} has no {network}")
  tf.train.Checkpoint(**{network: auxiliary[network][1]}).read(
      path).expect_partial()
  return objective
