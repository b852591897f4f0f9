"""Issue 6: BD-rates, conventional codecs and the tfpc_eval run."""

import csv
import json
import os
import stat

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from tfpc import errors
from tfpc import zoo
from tfpc.evaluation import bdrate
from tfpc.evaluation import conventional
from tfpc.evaluation import suite

RATES = np.array([0.1, 0.25, 0.5, 0.9, 1.6])
PSNR = np.array([26.0, 29.0, 32.0, 35.0, 38.5])


@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_rate_of_a_curve_against_itself_and_at_nine_tenths(method):
  value, reason = bdrate.bd_rate((RATES, PSNR), (RATES, PSNR), method)
  assert reason is None and value == pytest.approx(0.0, abs=1e-9)
  value, _ = bdrate.bd_rate((RATES, PSNR), (0.9 * RATES, PSNR), method)
  assert value == pytest.approx(-10.0, abs=1e-6)
  value, _ = bdrate.bd_rate((RATES, PSNR), (1.2 * RATES, PSNR), method)
  assert value == pytest.approx(20.0, abs=1e-6)


def test_bd_rate_without_overlap_or_points_is_reported_not_raised():
  value, reason = bdrate.bd_rate((RATES, PSNR), (RATES, PSNR + 20), "pchip")
  assert np.isnan(value) and reason == "no overlap"
  value, reason = bdrate.bd_rate((RATES, PSNR), (RATES[:3], PSNR[:3]), "cubic")
  assert np.isnan(value) and reason == "fewer than 4 points"


def test_points_that_do_not_improve_are_dropped():
  rates, values = bdrate.monotone([0.5, 0.1, 0.3, 0.4], [30, 25, 28, 27.5])
  assert list(rates) == [0.1, 0.3, 0.5] and list(values) == [25, 28, 30]


def test_jpeg_curve_is_monotone_and_rates_are_real_file_sizes(photo):
  pixels = photo[100:196, 150:278]
  codec = conventional.CODECS["jpeg420"]
  points = [conventional.code(codec, q, pixels) for q in codec.settings]
  sizes = [p["num_bytes"] for p in points]
  assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
  errors_ = [np.mean((p["decoded"].astype(float) - pixels) ** 2)
             for p in points]
  assert errors_ == sorted(errors_, reverse=True)
  assert all(p["decoded"].shape == pixels.shape for p in points)


@pytest.mark.parametrize("name", sorted(conventional.CODECS))
def test_every_conventional_codec_codes_and_decodes(name, photo):
  pixels = photo[:48, :64]
  codec = conventional.CODECS[name]
  low = conventional.code(codec, codec.settings[0], pixels)
  high = conventional.code(codec, codec.settings[-1], pixels)
  assert 0 < low["num_bytes"] < high["num_bytes"]
  assert np.mean(np.abs(high["decoded"].astype(float) - pixels)) < 8
  assert len(codec.settings) >= 8


def test_psnr_y_uses_bt601_luma(photo):
  reference = photo[:32, :32]
  distorted = reference.copy()
  distorted[..., 2] ^= 4  # blue only: little luma change
  scores = suite.quality(reference, distorted, ["psnr", "psnr_y"])
  luma_error = 0.114 * (distorted[..., 2].astype(float) - reference[..., 2])
  expected = 10 * np.log10(255 ** 2 / np.mean(luma_error ** 2))
  assert scores["psnr_y"] == pytest.approx(expected, rel=1e-9)
  assert scores["psnr_y"] > scores["psnr"] + 10


_FAILING_WEBP = """#!/bin/sh
echo "$@" >> {log}
case "$*" in *libwebp*) echo "libwebp: broken on purpose" >&2; exit 1;; esac
exec {ffmpeg} "$@"
"""


def test_tfpc_eval_end_to_end_with_cache_and_failures(tiny_model_root,
                                                      tmp_path, photo):
  images = tmp_path / "images"
  images.mkdir()
  Image.fromarray(photo[:64, :96]).save(images / "a.png")
  Image.fromarray(photo[200:264, 300:396]).save(images / "b.png")
  (images / "broken.png").write_bytes(b"not an image")
  log = tmp_path / "ffmpeg.log"
  wrapper = tmp_path / "ffmpeg"
  wrapper.write_text(_FAILING_WEBP.format(
      log=log, ffmpeg=conventional.ffmpeg_path()))
  wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
  models = "+".join(zoo.resolve(f"tiny-{a}", tiny_model_root)
                    for a in ("bls2017", "bmshj2018"))
  output = tmp_path / "out"
  args = [f"--images={images}", f"--output_dir={output}",
          f"--models=tiny={models}", "--codecs=jpeg420,jpeg444,webp",
          "--anchor=JPEG 4:2:0", "--metrics=psnr,msssim,vmaf"]
  env = {"TFPC_FFMPEG": str(wrapper)}
  result = run_cli("tfpc_eval", *args, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  failures = json.loads((output / "failures.json").read_text())
  assert any("broken.png" in f["image"] for f in failures)
  assert sum("libwebp: broken on purpose" in f["error"]
             for f in failures) == 2 * 8

  with open(output / "per_image.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * (2 + 9 + 9)  # images x (models + JPEG settings)
  assert {r["image"] for r in rows} == {"a.png", "b.png"}
  jpeg = sorted((r for r in rows if r["curve"] == "JPEG 4:2:0"
                 and r["image"] == "a.png"), key=lambda r: float(r["bpp"]))
  assert [float(r["psnr"]) for r in jpeg] == sorted(
      float(r["psnr"]) for r in jpeg)
  tfpc_row = next(r for r in rows if r["curve"] == "tiny")
  assert float(tfpc_row["bpp"]) == pytest.approx(
      8 * int(tfpc_row["bytes"]) / (64 * 96), rel=1e-4)

  report = json.loads((output / "rd.json").read_text())
  assert report["anchor"] == "JPEG 4:2:0"
  for method in bdrate.METHODS:
    table = report["bd_rate"][method]
    assert set(table) == {"tiny", "JPEG 4:2:0", "JPEG 4:4:4"}
    for row in table.values():
      assert set(row) == {"psnr", "msssim", "vmaf"}
    assert table["JPEG 4:2:0"]["psnr"]["bd_rate"] == pytest.approx(0.0)
  assert report["bd_rate"]["cubic"]["tiny"]["psnr"]["reason"] == (
      "fewer than 4 points")
  markdown = (output / "bd_rate.md").read_text()
  assert markdown.count("| tiny |") == 2
  for metric in ("psnr", "msssim", "vmaf"):
    assert (output / f"rd_{metric}.png").stat().st_size > 10000
  timing = (output / "timing.md").read_text()
  assert "| JPEG 4:4:4 |" in timing and "| tiny |" in timing
  assert "<script type=\"application/json\" id=\"results\">" in (
      output / "report.html").read_text()

  calls = len(log.read_text().splitlines())
  result = run_cli("tfpc_eval", *args, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  new_calls = log.read_text().splitlines()[calls:]
  coding = [call for call in new_calls if " -i " in call]  # not queries
  assert coding and all("libwebp" in call for call in coding), (
      "a rerun must take every successful job (and crop) from the cache",
      coding)
  with open(output / "per_image.csv") as f:
    assert len(list(csv.DictReader(f))) == len(rows)


def test_eval_config_errors_are_one_line(tmp_path):
  result = run_cli("tfpc_eval", f"--images={tmp_path}", "--codecs=jpeg420",
                   "--models=")
  assert result.returncode == 2
  assert "no images found" in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "x.png")
  result = run_cli("tfpc_eval", f"--images={tmp_path}", "--codecs=mpeg1",
                   "--models=")
  assert result.returncode == 2 and "unknown codecs ['mpeg1']" in result.stderr
  with pytest.raises(errors.ConfigError, match="no codec-form model"):
    suite.learned_curves("x=nothing-like-this*")


def test_a_wrong_anchor_fails_before_any_job(tmp_path, monkeypatch, photo):
  Image.fromarray(photo[:32, :32]).save(tmp_path / "x.png")
  jobs = []
  monkeypatch.setattr(suite.Evaluation, "_job",
                      lambda self, *args: jobs.append(args))
  config = suite.EvalConfig(images=str(tmp_path), output_dir=str(tmp_path),
                            models="", codecs="jpeg420,jpeg444",
                            anchor="JPEG 4:2:O", metrics="psnr")
  with pytest.raises(errors.ConfigError) as error:
    suite.evaluate(config)
  assert str(error.value) == ("anchor 'JPEG 4:2:O' is not one of "
                              "['JPEG 4:2:0', 'JPEG 4:4:4']")
  assert not jobs


def test_a_run_where_every_job_fails_still_writes_failures_json(tmp_path,
                                                                photo):
  images = tmp_path / "images"
  images.mkdir()
  Image.fromarray(photo[:64, :64]).save(images / "small.png")
  output = tmp_path / "out"
  config = suite.EvalConfig(images=str(images), output_dir=str(output),
                            models="", codecs="jpeg420", metrics="niqe")
  with pytest.raises(errors.TfpcError, match="every job failed; see .*"
                     "failures.json"):
    suite.evaluate(config)
  failures = json.loads((output / "failures.json").read_text())
  assert len(failures) == len(conventional.CODECS["jpeg420"].settings)
  assert all("NIQE needs at least 96x96 pixels" in f["error"]
             for f in failures)


def test_missing_prerequisites_fail_before_any_job(tmp_path, monkeypatch,
                                                   photo):
  images = tmp_path / "images"
  images.mkdir()
  Image.fromarray(photo[:64, :64]).save(images / "small.png")
  monkeypatch.setenv("TFPC_WEIGHTS_DIR", str(tmp_path / "no-weights"))
  jobs = []
  monkeypatch.setattr(suite.Evaluation, "_job",
                      lambda self, *args: jobs.append(args))
  config = suite.EvalConfig(images=str(images), output_dir=str(tmp_path),
                            models="", codecs="jpeg420", metrics="psnr,lpips")
  with pytest.raises(errors.WeightsError) as error:
    suite.evaluate(config)
  message = str(error.value)
  assert "\n" not in message and not jobs
  for part in ("alexnet.npz", "alexnet-owt-7be5be79.pth", "tfpc_weights"):
    assert part in message
  # An ffmpeg without the encoder: said before any job, with the codec.
  fake = tmp_path / "ffmpeg"
  fake.write_text("#!/bin/sh\necho ' V....D mjpeg  Motion JPEG'\n")
  fake.chmod(0o755)
  monkeypatch.setenv("TFPC_FFMPEG", str(fake))
  conventional.ffmpeg_components.cache_clear()
  try:
    config.metrics, config.codecs = "psnr", "jpeg420,jpeg2000"
    with pytest.raises(conventional.CodecError,
                       match=r"no encoder libopenjpeg \(for jpeg2000\)"):
      suite.evaluate(config)
  finally:
    conventional.ffmpeg_components.cache_clear()
  assert not jobs
