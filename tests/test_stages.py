"""Staged recipes: ordering, frozen parts, warm starts by name, resumption."""

import json
import os

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, run_cli
from tfpc import errors
from tfpc import losses
from tfpc.training import loop
from tfpc.training import run_folder
from tfpc.training import stages

TINY_CODEC = {"architecture": "mbt2018-mean", "num_filters": 8,
              "latent_channels": 8}
SMALL_DATA = {"batch_size": 1, "patch_size": 64, "crop_size": 64, "seed": 0}


class _Critic(losses.Objective):
  """An objective with an auxiliary network, as a discriminator would be."""

  def __init__(self, codec):
    del codec
    self.critic = tf.keras.Sequential([tf.keras.layers.Conv2D(2, 3),
                                       tf.keras.layers.GlobalAveragePooling2D(),
                                       tf.keras.layers.Dense(1)],
                                      name="critic")
    self.critic.build((None, None, None, 3))
    self.auxiliary = {"critic": ("critic_loss", self.critic)}

  def __call__(self, x, outputs, step=None):
    fake = tf.reduce_mean(self.critic(tf.stop_gradient(outputs["x_hat"])))
    real = tf.reduce_mean(self.critic(x))
    generated = tf.reduce_mean(self.critic(outputs["x_hat"]))
    return {"loss": outputs["bpp"] - 1e-3 * generated,
            "critic_loss": fake - real, "bpp": outputs["bpp"]}


losses.register_objective("test_critic")(_Critic)


def recipe(train_dir, images="skimage", **stage_changes):
  config = ml_collections.ConfigDict()
  config.train_dir = str(train_dir)
  config.images = images
  config.init_from = ""
  config.codec = TINY_CODEC
  config.data = SMALL_DATA
  config.stages = ml_collections.ConfigDict()
  config.stages.base = {"objective": "rd", "options": {"lmbda": 0.01},
                        "total_steps": 3, "learning_rate": 1e-3,
                        "log_every": 1}
  config.stages.critic = {"start_from": "base", "objective": "test_critic",
                          "networks": {"critic": {}}, "total_steps": 2,
                          "learning_rate": 1e-2, "log_every": 1}
  config.stages.decoder = {
      "start_from": "critic", "objective": "test_critic",
      "networks": {"codec": {"modules": ("synthesis_transform",)}},
      "total_steps": 2, "learning_rate": 1e-3, "log_every": 1}
  for name, change in stage_changes.items():
    config.stages[name].update(change)
  return config


def _weights(model):
  return [v.numpy() for v in model.variables]


def _same(a, b):
  return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _critic_weights(train_dir):
  critic = _Critic(None).critic
  tf.train.Checkpoint(critic=critic).read(
      tf.train.latest_checkpoint(train_dir)).expect_partial()
  return _weights(critic)


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
  train_dir = tmp_path_factory.mktemp("staged")
  results = stages.train(recipe(train_dir))
  return train_dir, results


def test_stages_run_parents_first_and_train_only_their_networks(staged_run):
  train_dir, results = staged_run
  assert list(results) == ["base", "critic", "decoder"]
  assert [results[n]["step"] for n in results] == [3, 2, 2]
  base, _ = run_folder.restore_codec(str(train_dir / "base"))
  critic_stage, _ = run_folder.restore_codec(str(train_dir / "critic"))
  decoder, _ = run_folder.restore_codec(str(train_dir / "decoder"))
  # the critic stage leaves the codec as the base stage left it
  assert _same(_weights(critic_stage), _weights(base))
  # the decoder stage changes the synthesis transform only
  assert not _same(_weights(decoder.synthesis_transform),
                   _weights(base.synthesis_transform))
  for part in ("analysis_transform", "hyper_analysis_transform",
               "hyper_synthesis_transform", "hyperprior"):
    assert _same(_weights(getattr(decoder, part)),
                 _weights(getattr(base, part))), part
  # so the decoder-stage model codes an image into the same strings
  image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
  for codec in (base, decoder):
    codec.prepare_for_coding()
  strings = [codec.compress(image)[0].numpy() for codec in (base, decoder)]
  assert list(strings[0]) == list(strings[1])
  assert not np.array_equal(
      decoder.decompress(*decoder.compress(image)).numpy(),
      base.decompress(*base.compress(image)).numpy())


def test_auxiliary_networks_carry_over_between_stages(staged_run):
  train_dir, _ = staged_run
  trained = _critic_weights(str(train_dir / "critic"))
  assert not _same(trained, _weights(_Critic(None).critic))
  # the decoder stage does not train the critic: it carries stage 2's on
  assert _same(_critic_weights(str(train_dir / "decoder")), trained)


def test_rerun_skips_finished_stages_and_refuses_changed_recipes(staged_run):
  train_dir, _ = staged_run
  before = os.path.getmtime(train_dir / "decoder" / "metrics.jsonl")
  assert stages.train(recipe(train_dir)) == {}
  assert os.path.getmtime(train_dir / "decoder" / "metrics.jsonl") == before
  with pytest.raises(errors.ConfigError,
                     match=r"other settings: stages.base.options.lmbda=0.01 "
                     r"\(now 0.02\)"):
    stages.train(recipe(train_dir, base={"options": {"lmbda": 0.02}}))


def test_an_interrupted_stage_resumes_and_later_stages_follow(
    tmp_path, monkeypatch):
  count_nonfinite = loop.Trainer._count_nonfinite  # pylint: disable=protected-access

  def stop_in_critic_stage(self, *args):
    count_nonfinite(self, *args)
    if self.train_dir.endswith("critic"):
      self._stop_requested = True  # as SIGTERM does  # pylint: disable=protected-access

  config = recipe(tmp_path)
  del config.stages["decoder"]
  with monkeypatch.context() as patch:
    patch.setattr(loop.Trainer, "_count_nonfinite", stop_in_critic_stage)
    results = stages.train(config)
  assert {n: r["step"] for n, r in results.items()} == {"base": 3, "critic": 1}
  results = stages.train(config)
  assert {n: r["step"] for n, r in results.items()} == {"critic": 2}
  with open(tmp_path / "critic" / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [1, 2]


def test_a_stage_whose_parent_trained_on_is_flagged(tmp_path, caplog):
  config = recipe(tmp_path)
  del config.stages["decoder"]
  stages.train(config)
  config.stages.base.total_steps = 4  # resumable: base trains on
  with caplog.at_level("WARNING"):
    results = stages.train(config)
  assert {n: r["step"] for n, r in results.items()} == {"base": 4}
  assert (f"{tmp_path}/critic started from {tmp_path}/base at step 3, which "
          "is now at step 4") in caplog.text


@pytest.mark.parametrize("change,message", [
    ({"decoder": {"start_from": "nothing"}}, "start_from must name another"),
    ({"base": {"start_from": "decoder"}}, "without cycles"),
    ({"base": {"objective": "nothing"}}, "objective must be one of"),
    ({"base": {"step_count": 3}}, "unknown settings ['step_count']"),
    ({"critic": {"networks": {"discriminator": {}}}},
     "'discriminator' is neither 'codec' nor a network of objective"),
    ({"decoder": {"networks": {"codec": {"modules": ("decoder",)}}}},
     "has no ['decoder']"),
    ({"base": {"options": {"lambda": 0.01}}},
     "stages.base.options do not fit objective rd"),
    ({"base": {"options": {"lmbda": float("nan")}}},
     "stages.base.options.lmbda must be a finite number, got nan"),
    ({"base": {"options": {"lmbda": -1.0}, "total_steps": -2}},
     "stages.base.total_steps must not be negative, got -2; "
     "stages.base.options.lmbda must not be negative, got -1.0"),
    ({"critic": {"learning_rate": float("inf")}},
     "stages.critic.learning_rate must be a finite number, got inf"),
])
def test_bad_recipes_are_refused_with_the_setting_named(tmp_path, change,
                                                        message):
  with pytest.raises(errors.ConfigError, match=None) as raised:
    stages.train(recipe(tmp_path / "run", **change))
  assert message in str(raised.value)


def test_cli_runs_a_recipe_file_and_explains_misuse(tmp_path):
  config = os.path.join(REPO, "configs", "mbt2018_mean_stages.py")
  overrides = [f"--config.train_dir={tmp_path}/run", "--config.images=skimage",
               "--config.codec.num_filters=8", "--config.codec.latent_channels=8",
               "--config.data.patch_size=64", "--config.data.crop_size=64",
               "--config.data.batch_size=1",
               "--config.stages.rd.total_steps=2",
               "--config.stages.decoder.total_steps=1"]
  result = run_cli("tfpc_train", f"--config={config}", *overrides)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"{tmp_path}/run/rd: step 2 of 2 (done)" in result.stdout
  assert f"{tmp_path}/run/decoder: step 1 of 1 (done)" in result.stdout
  result = run_cli("tfpc_train", f"--config={config}", *overrides,
                   "--total_steps=5")
  assert result.returncode == 2
  assert result.stderr.strip() == (
      "tfpc_train: error: --config replaces the single-run flags "
      "['total_steps']; set them as --config.FIELD=VALUE")
  result = run_cli("tfpc_train", f"--config={tmp_path}/none.py")
  assert result.returncode == 2
  assert result.stderr.startswith(
      f"tfpc_train: error: --config: cannot load {tmp_path}/none.py: ")
  assert len(result.stderr.splitlines()) == 1
  # with an override, the missing file was read while flags were parsed
  result = run_cli("tfpc_train", f"--config={tmp_path}/none.py",
                   f"--config.train_dir={tmp_path}/run")
  assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
  assert f"No such file or directory: '{tmp_path}/none.py'" in result.stderr
  # ml_collections reads --flagfile files while its flag is defined
  result = run_cli("tfpc_train", f"--flagfile={tmp_path}/none.flags")
  assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
  assert f"Unable to open flagfile: [Errno 2] No such file or directory: " \
         f"'{tmp_path}/none.flags'" in result.stderr
  result = run_cli("tfpc_train", f"--config={config}",
                   "--config.stages.rd.totl_steps=3")
  assert result.returncode == 2
  assert result.stderr.strip() == (
      "tfpc_train: error: no such config field 'totl_steps'; "
      'Did you mean "total_steps" instead of "totl_steps"?')
  result = run_cli("tfpc_train", f"--config={config}")
  assert result.returncode == 2
  assert "train_dir is required" in result.stderr
  result = run_cli("tfpc_train", "--config=" + os.path.join(
      REPO, "configs", "nlaic_lite.py:foo"))
  assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
  assert "ValueError: nlaic_lite.py: unknown argument 'foo'" in result.stderr


def test_every_path_trains_with_the_papers_weight_decay(tmp_path,
                                                        monkeypatch):
  """Stages and flat runs share one table of defaults: AdamW's decoupled
  weight decay 0.01 unless a recipe says otherwise (staged runs had 0)."""
  from tfpc.training import recipe as flat  # pylint: disable=g-import-not-at-top
  trainers = []

  def record_trainer(self, dataset):
    del dataset
    trainers.append(self)
    self._restore().close()  # pylint: disable=protected-access
    self.step.assign(self.total_steps)
    self.save()
    return {"step": self.total_steps}

  monkeypatch.setattr(loop.Trainer, "run", record_trainer)
  stages.train(recipe(tmp_path / "staged", base={"weight_decay": 0.005}))
  flat.train(flat.TrainConfig(train_dir=str(tmp_path / "flat"),
                              images="skimage", num_filters=4,
                              patch_size=64, crop_size=64))
  decays = [{name: float(optimizer.weight_decay) for name, optimizer
             in trainer.optimizers.items()} for trainer in trainers]
  assert decays == [{"codec": 0.005}, {"critic": 0.01}, {"codec": 0.01},
                    {"codec": 0.01}]
