"""Issue 28's floors: which metric a model must beat JPEG in, read from what
it records, decided on its records; the table end to end on a toy model."""

import json
import os
import shutil

import numpy as np
import pytest

from tfpc import errors
from tfpc import export
from tfpc import families
from tfpc import zoo
from tfpc.evaluation import floors
from tfpc.evaluation import matched
from tfpc.evaluation import suite

NAMES = ("psnr", "msssim", "vmaf", "vmaf_neg", "niqe")


def test_bracket_finds_neighbours_and_says_when_beyond_the_range():
  rates = {s: 0.1 * s for s in range(1, 11)}  # rises with the setting
  calls = []

  def rate_of(setting):
    calls.append(setting)
    return rates[setting]

  settings = list(range(1, 11))
  assert matched.bracket(rate_of, 0.45, settings) == (4, 5)
  assert len(calls) <= 4
  assert matched.bracket(rate_of, 0.05, settings) == (None, 1)
  assert matched.bracket(rate_of, 2.0, settings) == (10, None)
  assert matched.interpolate(0.45, (0.4, 30.0), (0.5, 32.0)) == (
      pytest.approx(31.0))
  assert matched.interpolate(0.05, None, (0.1, 20.0)) == 20.0
  assert matched.interpolate(0.9, (0.4, 30.0), (0.5, 32.0)) == 32.0


@pytest.mark.parametrize("objective,options,metrics,mse_only,base", [
    ("rd", {"lmbda": 0.01}, ("psnr",), True, False),
    ("vmafp", {"proxy_weight": 10.0}, ("vmaf",), False, False),
    ("msssim_dbp", {}, ("msssim_db",), False, False),
    ("eic_base", {"lmbda": 0.01}, ("psnr",), True, False),
    ("eic_base", {"msssim_weight": 30.0}, ("msssim",), False, False),
    ("eic_perceptual", {"variant": "structure"}, ("niqe",), False, True),
    ("dpc_rd", {"distance": "none"}, ("msssim",), False, False),
    ("nlaic_rd", {"distance": "none"}, ("msssim", "psnr"), True, False),
    ("nlaic_rd", {"distance": "dists"}, ("msssim", "psnr"), False, False),
    ("nlaic_gan", {"distance": "none"}, ("msssim", "psnr"), False, False),
])
def test_each_objective_has_the_floor_of_issue_28(objective, options,
                                                   metrics, mse_only, base):
  floor = floors.floor_of(objective, options)
  assert floor.metrics == metrics
  assert (floor.trade is None) == mse_only
  assert floor.base_psnr == base


def test_nlaic_floors_name_what_each_stage_trades_psnr_for():
  trade = lambda objective, distance: floors.floor_of(
      objective, {"distance": distance}).trade
  assert trade("nlaic_gan", "none") == "realism (GAN)"
  assert trade("nlaic_gan", "dists") == "DISTS and realism (GAN)"
  assert trade("nlaic_rd", "dists") == "DISTS"


def test_a_model_reads_its_objective_from_its_metadata_then_its_family():
  recorded = {"name": "x", "objective": {"name": "dpc_rd", "options": {}}}
  assert floors.objective_of(recorded) == ("dpc_rd", {})
  assert floors.objective_of({"name": "bls2017-vmafp-l0.1"}) == (
      "vmafp", {"proxy_weight": 10.0})
  assert floors.objective_of({"name": "a-demo"}) is None
  assert floors.floor_of("no_such_objective", {}) is None


def _records(psnr, bpp=(0.2, 0.3), **others):
  return [{"image": f"{i}.png", "bpp": rate,
           "metrics": {"psnr": psnr + i, "msssim": 0.9, "vmaf": 50.0,
                       "vmaf_neg": 50.0, "niqe": 5.0, **others}}
          for i, rate in enumerate(bpp)]


def _model(name, objective, options=None, metadata=None):
  return floors.Model(name, "/nowhere", {"name": name, **(metadata or {})},
                      families.of_model(name), (objective, options or {}),
                      floors.floor_of(objective, options or {}))


def _jpeg(psnr, niqe=6.0, clamped=None):
  """JPEG at the model's rate on images 0 and 1 (image 1 at psnr + 1);
  `clamped`: where it could not reach the rate on image 1."""
  return {f"{i}.png": ({"bpp": 0.2, "psnr": psnr + i, "msssim": 0.8,
                        "vmaf": 40.0, "vmaf_neg": 40.0, "niqe": niqe},
                       clamped if i else None)
          for i in range(2)}


def _family(psnr):
  """MSE family records at 0.1 and 0.5 bpp on both images: at the rates of
  `_records` it interpolates to psnr + 0.5 and psnr + 2 (mean psnr + 1.25)."""
  return [{"image": f"{i}.png", "bpp": rate,
           "metrics": {"psnr": psnr + i + offset}}
          for i in range(2) for rate, offset in ((0.1, 0.0), (0.5, 2.0))]


def test_worse_than_jpeg_fails_better_passes():
  model = _model("bls2017-mse", "rd")
  worse = floors.row(model, _records(25.0), _jpeg(26.0), _family(24.0), None,
                     NAMES)
  assert worse["meets"] is False
  assert worse["checks"][0]["check"] == "PSNR > JPEG"
  assert worse["checks"][0]["images_won"] == 0
  better = floors.row(model, _records(27.0), _jpeg(26.0), _family(26.0), None,
                      NAMES)
  assert better["meets"] is True
  assert better["checks"][0]["images_won"] == 2
  assert better["jpeg"]["psnr"] == pytest.approx(26.5)


def test_jpeg_beyond_its_range_decides_only_what_it_can():
  model = _model("bls2017-mse", "rd")
  for psnr, clamped, meets in ((25.0, floors.MORE_BITS, None),
                               (27.0, floors.MORE_BITS, True),
                               (25.0, floors.FEWER_BITS, False),
                               (27.0, floors.FEWER_BITS, None)):
    result = floors.row(model, _records(psnr), _jpeg(26.0, clamped=clamped),
                        _family(psnr - 1.0), None, NAMES)
    assert result["meets"] is meets, (psnr, clamped)
    assert result["jpeg_clamped"][clamped] == 1
  table = {"images": ["0.png", "1.png"], "mse_family": "bls2017-mse",
           "metrics": list(NAMES), "rows": [result], "families": [],
           "skipped": []}
  assert "undecided: needs PSNR > JPEG, has 27.50 vs 26.50 with fewer bits" in (
      floors.markdown(table))


def test_psnr_must_stay_within_one_db_of_the_mse_family_unless_traded():
  model = _model("bmshj2018-mse", "rd")
  near = floors.row(model, _records(26.5), _jpeg(20.0), _family(26.4), None,
                    NAMES)
  assert near["mse_family_psnr"] == pytest.approx(27.65)
  assert near["meets"] is True  # mean 27.0 against 27.65: 0.65 dB down
  far = floors.row(model, _records(26.5), _jpeg(20.0), _family(26.9), None,
                   NAMES)
  assert far["meets"] is False  # 1.15 dB down
  assert far["checks"][-1]["check"] == "PSNR >= MSE family - 1 dB"
  traded = floors.row(_model("bls2017-vmafp", "vmafp", {"proxy_weight": 10.0}),
                      _records(26.5), _jpeg(20.0), _family(27.6), None, NAMES)
  assert traded["meets"] is True  # VMAF 50 over JPEG's 40; PSNR traded
  assert [c["check"] for c in traded["checks"]] == ["VMAF > JPEG"]
  assert "trades PSNR for VMAF" in traded["floor"]


def test_a_perceptual_decoder_needs_lower_niqe_and_its_base_psnr():
  model = _model("eic-p", "eic_perceptual", {"variant": "structure"},
                 {"base_model": "eic-base/1"})
  base = _records(27.0)
  sharper = floors.row(model, _records(27.0, niqe=4.0), _jpeg(20.0),
                       _family(20.0), base, NAMES)
  assert sharper["meets"] is True
  blurrier = floors.row(model, _records(27.0, niqe=7.0), _jpeg(20.0),
                        _family(20.0), base, NAMES)
  assert blurrier["meets"] is False  # NIQE is lower-is-better
  lossy = floors.row(model, _records(26.0, niqe=4.0), _jpeg(20.0),
                     _family(20.0), base, NAMES)
  assert [(c["check"], c["met"]) for c in lossy["checks"]] == [
      ("NIQE < JPEG", True), ("PSNR >= base", False)]


def test_a_model_without_a_known_objective_gets_no_verdict():
  model = floors.Model("a-demo", "/nowhere", {"name": "a-demo"}, None, None,
                       None)
  result = floors.row(model, _records(27.0), _jpeg(20.0), _family(20.0), None,
                      NAMES)
  assert result["meets"] is None and "no objective" in result["floor"]
  assert "| a-demo |" in floors.markdown({
      "images": ["0.png", "1.png"], "mse_family": "bls2017-mse",
      "metrics": list(NAMES), "rows": [result], "families": [],
      "skipped": []})


def test_an_unshipped_family_says_so_in_one_line(tmp_path):
  with pytest.raises(errors.ConfigError, match="not shipped") as error:
    suite.learned_curves("x=bls2017-ssimp", root=str(tmp_path))
  assert "\n" not in str(error.value)
  assert not families.get("bls2017-ssimp").shipped
  assert families.get("bls2017-mse").shipped


def _as_model(source, root, name, **metadata):
  """A copy of the model at `source` in `root` as `name`, its metadata
  updated (weights, and so loading, unchanged)."""
  path = os.path.join(root, name, "1")
  shutil.copytree(source, path)
  with open(os.path.join(path, export.METADATA_PATH)) as f:
    info = json.load(f)
  with open(os.path.join(path, export.METADATA_PATH), "w") as f:
    json.dump({**info, "name": name, **metadata}, f)


def test_table_of_a_toy_root_end_to_end_and_cached(tmp_path, photo,
                                                    monkeypatch,
                                                    tiny_model_root):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / "models")
  source = zoo.resolve("tiny-bls2017", tiny_model_root)
  _as_model(source, root, "bls2017-mse",
            objective={"name": "rd", "options": {"lmbda": 0.0035}})
  _as_model(source, root, "bls2017-mse-serving", form="serving")
  monkeypatch.setattr(zoo, "MODEL_ROOT", root)
  images = tmp_path / "images"
  images.mkdir()
  Image.fromarray(photo[100:196, 100:196]).save(images / "a.png")
  config = floors.FloorsConfig(images=str(images),
                               output_dir=str(tmp_path / "out"),
                               table=str(tmp_path / "models.md"))
  table = floors.evaluate(config)
  [row] = table["rows"]
  assert row["model"] == "bls2017-mse" and row["family"] == "bls2017-mse"
  assert row["floor"].startswith("beats JPEG in PSNR;")
  # Untrained: far below JPEG at its rate (undecided if JPEG needed more
  # bits than it on the image).
  assert row["jpeg"]["psnr"] > row["metrics"]["psnr"] + 5
  more_bits = row["jpeg_clamped"][floors.MORE_BITS]
  assert row["checks"][0]["met"] is (None if more_bits else False)
  if not any(row["jpeg_clamped"].values()):
    assert row["jpeg"]["bpp"] == pytest.approx(row["bpp"])
  assert table["skipped"][0]["model"] == "bls2017-mse-serving"
  assert "its codec form stands for it" in table["skipped"][0]["reason"]
  with open(tmp_path / "models.json") as f:
    assert json.load(f)["rows"][0]["model"] == "bls2017-mse"
  assert "| bls2017-mse |" in (tmp_path / "models.md").read_text()
  with open(tmp_path / "out" / "rd.json") as f:
    results = json.load(f)
  assert {r["curve"] for r in results["records"]} == {"bls2017-mse",
                                                        "JPEG 4:2:0"}
  again = floors.evaluate(config)
  assert again["run"]["jobs"]["computed"] == 0
  assert np.isclose(again["rows"][0]["jpeg"]["psnr"], row["jpeg"]["psnr"])
