"""Warm starts by layer, with a report: in-process and through tfpc_train."""

import os
import re
import runpy

import ml_collections
import numpy as np
import pytest

from conftest import REPO
from conftest import run_cli
from tfpc import codecs
from tfpc import errors
from tfpc import families
from tfpc import zoo
from tfpc.training import recipe
from tfpc.training import run_folder
from tfpc.training import stages
from tfpc.training import warm_start

MBT = {"architecture": "mbt2018-mean", "num_filters": 8,
       "latent_channels": 6, "num_scales": 32}
EIC_OPTIONS = ("latent_channels=6,num_scales=32,grdn_channels=8,"
               "grdn_growth=4,grdn_layers=2,grdn_blocks=1,grdn_groups=1")
DECODER = [f"synthesis_transform/layer_{i}" for i in range(4)]


def _recipe(train_dir, codec, init_from="", total_steps=1):
  config = ml_collections.ConfigDict()
  config.train_dir = str(train_dir)
  config.images = "skimage"
  config.init_from = init_from
  config.codec = codec
  config.data = {"batch_size": 1, "patch_size": 64, "crop_size": 64,
                 "seed": 0}
  config.stages = ml_collections.ConfigDict()
  config.stages.base = {"objective": "rd", "options": {"lmbda": 0.01},
                        "total_steps": total_steps, "log_every": 1}
  return config


@pytest.fixture(scope="module")
def mbt_run(tmp_path_factory):
  """A trained step of a tiny mbt2018-mean: the source of the warm starts."""
  train_dir = tmp_path_factory.mktemp("mbt")
  stages.train(_recipe(train_dir, MBT))
  return str(train_dir / "base")


def _values(codec, prefixes):
  return {path: variable.numpy() for path, variable in
          warm_start.variables_by_path(codec).items()
          if path.startswith(prefixes)}


def _assert_decoder_copied(train_dir, source_dir):
  codec, _ = run_folder.restore_codec(train_dir)
  source, _ = run_folder.restore_codec(source_dir)
  ours, theirs = (_values(c, tuple(DECODER)) for c in (codec, source))
  assert len(ours) >= 4 * 2 and ours.keys() == theirs.keys()
  for path, value in ours.items():
    np.testing.assert_array_equal(value, theirs[path], err_msg=path)
  grdn = _values(codec, "synthesis_transform/layer-5")
  assert grdn and all(not np.any(v) for p, v in grdn.items()
                      if p.endswith("tail/kernel"))  # still its zero init


def test_copies_every_matching_layer_and_says_what_it_left(tiny_model_root,
                                                           monkeypatch):
  monkeypatch.setattr(zoo, "MODEL_ROOT", tiny_model_root)
  source = zoo.load_keras("tiny-bls2017")
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 8})
  report = warm_start.warm_start(codec, "tiny-bls2017")
  assert not report.left and report.lines() == [
      f"warm start {network}: {len(report.copied[network])} of "
      f"{len(report.copied[network])} variables from tiny-bls2017"
      for network in ("analysis_transform", "prior", "synthesis_transform")]
  for a, b in zip(codec.get_weights(), source.get_weights()):
    np.testing.assert_array_equal(a, b)
  # Another architecture: the transforms come across, the hyperprior not.
  bmshj = codecs.build_codec({"architecture": "bmshj2018", "num_filters": 8})
  report = warm_start.warm_start(bmshj, "tiny-bls2017")
  assert set(report.copied) == {"analysis_transform", "synthesis_transform"}
  assert {"hyper_analysis_transform", "hyper_synthesis_transform",
          "hyperprior"} <= set(report.left)
  assert any(line.startswith("warm start hyper_analysis_transform: 0 of ")
             and "left at initialization: layer_0" in line
             for line in report.lines())
  with pytest.raises(errors.ConfigError, match=r"strict.*no match"):
    warm_start.warm_start(bmshj, "tiny-bls2017", strict=True)
  other = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  with pytest.raises(errors.ConfigError,
                     match="shares no layer.*from tiny-bls2017"):
    warm_start.warm_start(other, "tiny-bls2017")


def test_tfpc_train_init_from_fills_the_eic_decoder(mbt_run, tmp_path):
  """mbt2018-mean into eic-base: its synthesis gained a GRDN, and the four
  decoder layers before it must still come across (they did not before)."""
  result = run_cli("tfpc_train", "--images=skimage", "--architecture=eic-base",
                   "--num_filters=8", f"--codec_options={EIC_OPTIONS}",
                   f"--init_from={mbt_run}", f"--train_dir={tmp_path}/eic",
                   "--total_steps=0", "--batch_size=1", "--patch_size=64",
                   "--crop_size=64")
  assert result.returncode == 0, result.stderr[-2000:]
  line = next(line for line in result.stdout.splitlines()
              if line.startswith("warm start synthesis_transform: "))
  assert line.endswith("left at initialization: layer-5"), line
  assert (tmp_path / "eic" / run_folder.WARM_START).read_text().count(
      "warm start ") == 5
  _assert_decoder_copied(str(tmp_path / "eic"), mbt_run)
  strict = run_cli("tfpc_train", "--images=skimage", "--architecture=eic-base",
                   "--num_filters=8", f"--codec_options={EIC_OPTIONS}",
                   f"--init_from={mbt_run}", f"--train_dir={tmp_path}/strict",
                   "--total_steps=0", "--init_strict")
  assert strict.returncode == 2 and len(strict.stderr.splitlines()) == 1
  assert "init_from (strict)" in strict.stderr


def test_a_staged_recipe_starts_the_eic_decoder_from_mbt(mbt_run, tmp_path):
  eic = {"architecture": "eic-base", "num_filters": 8, "latent_channels": 6,
         "num_scales": 32, "grdn_channels": 8, "grdn_growth": 4,
         "grdn_layers": 2, "grdn_blocks": 1, "grdn_groups": 1}
  stages.train(_recipe(tmp_path / "run", eic, mbt_run, total_steps=0))
  _assert_decoder_copied(str(tmp_path / "run" / "base"), mbt_run)


def test_the_eic_recipe_starts_both_bases_from_the_mean_scale_family(
    mbt_run, tmp_path):
  """configs/eic_e2e_p.py: the family's codec plus a GRDN, at the rate of
  the model init_from names; at toy size, both base stages copy everything
  but the GRDN from init_from."""
  config = runpy.run_path(os.path.join(REPO, "configs", "eic_e2e_p.py"))[
      "get_config"]()
  family = families.get("mbt2018-mean-mse")
  shared = {key: value for key, value in
            codecs.build_codec(config.codec).get_config().items()
            if not key.startswith("grdn")}
  assert shared == {**family.codec, "architecture": "eic-base"}
  assert config.init_from == family.model_name(
      config.stages.base.options.lmbda)
  for name in ("structure", "no_perc", "no_adv", "texture"):
    del config.stages[name]
  config.codec = {**MBT, "architecture": "eic-base", "grdn_channels": 8,
                  "grdn_growth": 4, "grdn_layers": 2, "grdn_blocks": 1,
                  "grdn_groups": 1}
  config.init_from, config.images = mbt_run, "skimage"
  config.train_dir = str(tmp_path)
  config.data = {"batch_size": 1, "patch_size": 64, "crop_size": 64}
  for stage in config.stages.values():
    stage.total_steps = 0
  stages.train(config)
  for name in ("base", "base_msssim"):
    lines = (tmp_path / name / run_folder.WARM_START).read_text().splitlines()
    assert [line.split(" variables")[0] for line in lines] == [
        "warm start analysis_transform: 18 of 18",
        "warm start hyper_analysis_transform: 8 of 8",
        "warm start hyper_synthesis_transform: 6 of 6",
        "warm start hyperprior: 8 of 8",
        "warm start synthesis_transform: 18 of 30"]
    assert lines[-1].endswith("left at initialization: layer-5")
    _assert_decoder_copied(str(tmp_path / name), mbt_run)


def test_the_papers_nlaic_lite_takes_the_hyperprior_and_last_layers(mbt_run):
  """Its strided convolutions have mbt2018-mean's names and shapes, but no
  GDN: they are other layers, and only the last of each transform (no GDN
  in either codec) is copied, found by name behind NLAIC's blocks."""
  nlaic = codecs.build_codec({**MBT, "architecture": "nlaic-lite",
                              "hyper_filters": 8, "num_blocks": 1})
  report = warm_start.warm_start(nlaic, mbt_run)
  assert {network: len(paths) for network, paths in report.copied.items()
          } == {"hyper_analysis_transform": 8, "hyperprior": 8,
                "hyper_synthesis_transform": 2, "analysis_transform": 3,
                "synthesis_transform": 3}
  assert {path.split("/")[1] for network in ("analysis_transform",
                                             "synthesis_transform")
          for path in report.copied[network]} == {"layer_3"}


def test_nlaic_lite_on_the_mbt2018_backbone_starts_as_mbt2018(mbt_run):
  """Every variable of mbt2018-mean comes across, each strided layer by its
  name although blocks sit between them, and with the added modules at
  their identity start the codec reconstructs and codes as mbt2018-mean."""
  nlaic = codecs.build_codec({**MBT, "architecture": "nlaic-lite",
                              "hyper_filters": 8, "num_blocks": 1,
                              "backbone": "mbt2018-mean"})
  report = warm_start.warm_start(nlaic, mbt_run)
  source, _ = run_folder.restore_codec(mbt_run)
  theirs = warm_start.variables_by_path(source)
  assert sum(map(len, report.copied.values())) == len(theirs)
  assert any(path.startswith("synthesis_transform/layer_3/") for path in theirs)
  x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(
      np.float32)
  ours, base = nlaic(x), source(x)
  np.testing.assert_allclose(ours["x_hat"], base["x_hat"], rtol=1e-5,
                             atol=1e-3)
  np.testing.assert_allclose(ours["bits"], base["bits"], rtol=1e-5)
  with pytest.raises(errors.ConfigError, match="backbone 'gdn' is not one"):
    codecs.build_codec({**MBT, "architecture": "nlaic-lite",
                        "backbone": "gdn"})


def test_a_description_names_the_step_its_start_was_taken_at(tmp_path):
  """The source run trains on after the warm start: the description of the
  warm-started run still names the step it copied, not the source's latest."""
  stages.train(_recipe(tmp_path / "source", MBT, total_steps=1))
  stages.train(_recipe(tmp_path / "run", MBT, str(tmp_path / "source/base"),
                       total_steps=1))
  assert " at step 1" in (tmp_path / "run/base" /
                          run_folder.WARM_START).read_text()
  stages.train(_recipe(tmp_path / "source", MBT, total_steps=3))
  assert run_folder.trained_steps(str(tmp_path / "source/base")) == 3
  text = recipe.describe(str(tmp_path / "run/base"))
  assert text.count(": 1 steps") == 2 and ": 3 steps" not in text, text


def test_a_run_from_a_model_no_longer_found_is_described_by_its_name(
    tmp_path):
  from tfpc import export  # pylint: disable=g-import-not-at-top
  start = export.export_codec(codecs.build_codec(MBT), str(tmp_path / "m"),
                              "start")
  stages.train(_recipe(tmp_path / "run", MBT, start))
  os.rename(tmp_path / "m", tmp_path / "moved")  # e.g. another model root
  assert recipe.describe(str(tmp_path / "run/base")).endswith(
      f": 1 steps from {start}")


def test_a_staged_run_s_root_as_start_names_its_stages(tmp_path):
  stages.train(_recipe(tmp_path / "source", MBT))
  with pytest.raises(errors.ConfigError, match=re.escape(
      f"{tmp_path}/source is a staged run: start from one of its stages "
      f"({tmp_path}/source/base)")):
    stages.train(_recipe(tmp_path / "run", MBT, str(tmp_path / "source")))
