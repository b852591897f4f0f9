"""Issue 31: report.html of tfpc_eval, checked in headless Chromium."""

import dataclasses
import io
import json
import re
import shlex
import shutil

import numpy as np
import pytest
from PIL import Image

from tfpc import errors
from tfpc import zoo
from tfpc.evaluation import browser
from tfpc.evaluation import conventional
from tfpc.evaluation import report
from tfpc.evaluation import suite

TARGET_BPP = 1.0


def test_crop_spec_and_the_most_detailed_window():
  assert report.parse_crop("64") == (None, None, 64)
  assert report.parse_crop("10,20,32") == (10, 20, 32)
  for bad in ("", "a", "1,2", "0,0,8", "-1,0,32"):
    with pytest.raises(errors.ConfigError, match="--report_crop"):
      report.parse_crop(bad)
  pixels = np.full((120, 200, 3), 128, np.uint8)
  pixels[70:102, 140:172] = np.random.default_rng(0).integers(
      0, 256, (32, 32, 3))
  top, left, side = report.crop_region(pixels, (None, None, 32))
  assert side == 32 and abs(top - 70) <= 4 and abs(left - 140) <= 4
  assert report.crop_region(pixels, (100, 190, 64)) == (56, 136, 64)
  assert report.crop_region(pixels, (None, None, 500))[2] == 120


def test_matched_crops_keep_the_closest_rate_whatever_the_order():
  pixels = np.arange(40 * 40 * 3, dtype=np.uint8).reshape(40, 40, 3)
  offers = [("q1", 0.6, 1), ("q2", 0.35, 2), ("q3", 0.25, 3), ("q4", 0.15, 4)]
  chosen = []
  for order in (offers, offers[::-1]):
    crops = report.MatchedCrops(0.3, "0,0,16")
    crops.add_image("a.png", pixels)
    for setting, bpp, shift in order:
      crops.offer("codec", "a.png", setting, bpp, pixels + shift, "key")
    kept = crops.best[("a.png", "codec")]
    assert kept["pixels"].shape == (16, 16, 3)
    assert kept["pixels"].base is None  # a copy: the decoded image can go
    chosen.append((kept["setting"], int(kept["pixels"][0, 0, 0])))
  # 0.25 and 0.35 are equally close: the lower rate wins, in any order
  assert chosen == [("q3", 3), ("q3", 3)]


_NO_WEBP = """#!/bin/sh
case "$*" in *libwebp*) echo "no libwebp here" >&2; exit 1;; esac
exec {ffmpeg} "$@"
"""


@pytest.fixture(scope="module")
def small_report(tiny_model_root, tmp_path_factory, photo):
  """A run on one 128x128 image: two tiny models, JPEG 4:2:0, and WebP, whose
  encoder is missing; one more image is unreadable."""
  root = tmp_path_factory.mktemp("report")
  Image.fromarray(photo[60:188, 180:308]).save(root / "face.png")
  (root / "unreadable.png").write_bytes(b"no image")
  no_webp = root / "ffmpeg"
  no_webp.write_text(_NO_WEBP.format(ffmpeg=conventional.ffmpeg_path()))
  no_webp.chmod(0o755)
  models = ";".join(f"tiny-{a}=" + zoo.resolve(f"tiny-{a}", tiny_model_root)
                    for a in ("bls2017", "bmshj2018"))
  config = suite.EvalConfig(
      images=str(root / "*.png"), output_dir=str(root / "out"),
      models=models, codecs="jpeg420,webp", anchor="JPEG 4:2:0",
      metrics="psnr,ssim", report_bpp=TARGET_BPP, report_crop="32,40,64")
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("TFPC_FFMPEG", str(no_webp))
    suite.evaluate(config, command="tfpc_eval --the=command")
    output = root / "out"
    with open(output / "rd.json") as f:
      yield output, json.load(f), photo[60:188, 180:308], config


def _crop(output, file):
  return np.asarray(Image.open(output / file).convert("RGB"))


def test_report_data_and_crops_come_from_the_run(small_report, tmp_path):
  output, results, pixels, config = small_report
  assert (output / "report.html").exists()
  assert (output / "crops_face.png").stat().st_size > 10000
  assert results["run"]["command"] == "tfpc_eval --the=command"
  assert results["run"]["jobs"] == {"computed": 2 + 9, "cached": 0}
  assert [m["name"] for m in results["run"]["models"]] == [
      "tiny-bls2017", "tiny-bmshj2018"]
  assert any("unreadable.png" in f["image"] for f in results["failures"])
  assert sum("no libwebp here" in f["error"] for f in results["failures"]) == (
      len(conventional.CODECS["webp"].settings))
  crops = results["crops"]["images"]["face.png"]
  assert crops["region"] == [32, 40, 64]
  np.testing.assert_array_equal(_crop(output, crops["original"]),
                                pixels[32:96, 40:104])
  assert [p["curve"] for p in crops["panels"]] == [
      "tiny-bls2017", "tiny-bmshj2018", "JPEG 4:2:0"]
  jpeg = crops["panels"][2]
  rates = {r["setting"]: r["bpp"] for r in results["records"]
           if r["curve"] == "JPEG 4:2:0"}
  assert jpeg["setting"] == min(rates, key=lambda s: abs(rates[s] -
                                                         TARGET_BPP))
  decoded = conventional.code(conventional.CODECS["jpeg420"],
                              jpeg["setting"], pixels)["decoded"]
  np.testing.assert_array_equal(_crop(output, jpeg["file"]),
                                decoded[32:96, 40:104])

  # A rerun (in a copy) reads every job and crop from the cache.
  again = tmp_path / "again"
  shutil.copytree(output / "cache", again / "cache")
  suite.evaluate(dataclasses.replace(config, output_dir=str(again)))
  with open(again / "rd.json") as f:
    rerun = json.load(f)
  assert rerun["run"]["jobs"] == {"computed": 0, "cached": 11}
  assert shlex.split(rerun["run"]["command"])[:2] == [
      "tfpc_eval", f"--images={config.images}"]
  for panel in crops["panels"]:
    np.testing.assert_array_equal(_crop(again, panel["file"]),
                                  _crop(output, panel["file"]))


@pytest.fixture(scope="module")
def chromium():
  if not browser.find_chromium():
    pytest.skip("Chromium is not installed (Debian: apt-get install "
                "chromium; scripts/test.sh installs it as root)")
  with browser.Chromium(width=1280, height=1000) as page:
    yield page


def _screenshot(page):
  return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))


def _rect(page, selector):
  return page.evaluate(f"(() => {{ const r = document.querySelector("
                       f"{json.dumps(selector)}).getBoundingClientRect(); "
                       "return [r.left, r.top, r.width, r.height]; })()")


def _scroll_to(page, selector):
  page.evaluate(f"document.querySelector({json.dumps(selector)})"
                ".scrollIntoView({block: 'start'})")


def _hex_rgb(color):
  return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])


def test_report_in_chromium(chromium, small_report):
  output, results, _, _ = small_report
  page = chromium
  page.open(str(output / "report.html"))
  page.evaluate("new Promise(r => setTimeout(r, 100))")
  assert page.errors() == []
  assert all(url.startswith("file://") for url in page.requested_urls())

  # What failed is on the page.
  facts = dict(page.evaluate("[...document.querySelectorAll('#facts tr')]"
                             ".map(tr => [tr.cells[0].textContent, "
                             "tr.cells[1].textContent])"))
  assert facts["curves without any result"] == "WebP"
  assert facts["jobs"] == "11 computed, 0 from the cache"
  assert page.evaluate("document.querySelectorAll('#failures tbody tr')"
                       ".length") == len(results["failures"])
  assert page.evaluate("document.getElementById('command').textContent") == (
      "tfpc_eval --the=command")

  # The plots are drawn: every curve's colour is on the screenshot.
  _scroll_to(page, "#rd-plots")
  shot = _screenshot(page)
  left, top, width, height = (int(v) for v in _rect(page, "#rd-plots svg"))
  plot = shot[top:top + height, left:left + width].reshape(-1, 3)
  colors = page.evaluate("LABELS.map(color)")
  assert len(colors) == 3
  for color in colors:
    close = np.all(np.abs(plot.astype(int) - _hex_rgb(color)) <= 8, axis=1)
    assert close.sum() >= 20, f"no {color} curve drawn"

  # Hovering a point shows its codec, where, rate and value, as in the JSON.
  x, y, w, h = _rect(page, '#rd-plots svg circle[data-curve="JPEG 4:2:0"]')
  page.mouse("mouseMoved", x + w / 2, y + h / 2)
  tip = page.evaluate("document.getElementById('tip').textContent")
  first = results["curves"]["JPEG 4:2:0"][0]
  assert tip.splitlines() == [
      "JPEG 4:2:0", "mean of 1 image", f"setting {first['setting']}",
      f"{first['bpp']:.4f} bpp", f"PSNR {first['psnr']:.2f}"]

  # One image's points instead of the means: one dot per record.
  page.evaluate("(() => { const s = document.getElementById('rd-image'); "
                "s.value = 'face.png'; s.dispatchEvent(new Event('change')); "
                "})()")
  assert page.evaluate("document.querySelectorAll('#rd-plots svg')[0]"
                       ".querySelectorAll('circle').length") == len(
                           results["records"])

  # BD-rate cells hold the JSON's values, shown to two decimals.
  for method, cells in results["bd_rate"].items():
    shown = page.evaluate(
        f"[...document.querySelectorAll('table[data-method={method}] tbody "
        "tr')].map(tr => [tr.cells[0].textContent, ...[...tr.cells].slice(1)"
        ".map(td => [td.dataset.value, td.textContent])])")
    assert [row[0] for row in shown] == [
        label for label in results["labels"] if label in results["curves"]]
    for label, *row in shown:
      for metric, (value, text) in zip(results["metrics"], row):
        expected = cells[label][metric]["bd_rate"]
        assert json.loads(value) == expected
        if expected is None:
          assert text.startswith("n/a (")
        else:
          assert re.fullmatch(r"[+-]?\d+\.\d\d", text)
          assert float(text) == pytest.approx(expected, abs=0.005)

  # The per-image table sorts on a click, and shows the records' numbers.
  _scroll_to(page, "#records")
  x, y, w, h = _rect(page, "#records th:nth-child(5)")  # bpp
  page.mouse("mousePressed", x + w / 2, y + h / 2, buttons=1)
  page.mouse("mouseReleased", x + w / 2, y + h / 2)
  rows = page.evaluate("[...document.querySelectorAll('#records tbody tr')]"
                       ".map(tr => [...tr.cells].map(td => td.textContent))")
  records = sorted(results["records"], key=lambda r: r["bpp"])
  assert len(rows) == len(records)
  for row, record in zip(rows, records):
    assert row[:5] == [record["curve"], str(record["setting"]),
                       record["image"], str(record["num_bytes"]),
                       f"{record['bpp']:.4f}"]
    assert float(row[5]) == pytest.approx(record["metrics"]["psnr"],
                                          abs=0.005)
    assert float(row[6]) == pytest.approx(record["metrics"]["ssim"],
                                          abs=5e-5)
  assert page.evaluate("document.querySelector('#records th:nth-child(5)')"
                       ".getAttribute('aria-sort')") == "ascending"


def test_crop_comparison_follows_the_slider_and_the_wheel(chromium,
                                                          small_report):
  output, results, _, _ = small_report
  page = chromium
  page.open(str(output / "report.html"))
  crops = results["crops"]["images"]["face.png"]
  original = _crop(output, crops["original"])
  jpeg = _crop(output, crops["panels"][2]["file"])
  page.evaluate("(() => { const b = document.getElementById('compare-b'); "
                "b.value = 3; b.dispatchEvent(new Event('change')); })()")
  _scroll_to(page, "#crops")
  left, top, size, _ = _rect(page, "#compare")
  scale = size / 64  # the 64-pixel crop fills the viewer

  def shown(column, row):
    shot = _screenshot(page)
    return shot[int(top + (row + 0.5) * scale),
                int(left + (column + 0.5) * scale)].astype(int)

  # A crop pixel at 30% of the width, where original and JPEG differ.
  columns = range(int(0.22 * 64), int(0.45 * 64))
  column, row = max(((c, r) for c in columns for r in range(64)),
                    key=lambda cr: np.abs(original[cr[1], cr[0]].astype(int) -
                                          jpeg[cr[1], cr[0]]).sum())
  difference = original[row, column].astype(int) - jpeg[row, column]
  assert np.abs(difference).sum() > 30
  assert np.abs(shown(column, row) - original[row, column]).max() <= 3

  # Drag the slider to 20%: the pixel now shows JPEG's reconstruction.
  x, y, w, h = _rect(page, "#slider")
  page.mouse("mousePressed", x + w / 2, y + h / 2, buttons=1)
  page.mouse("mouseMoved", x + 0.2 * w, y + h / 2, buttons=1)
  page.mouse("mouseReleased", x + 0.2 * w, y + h / 2)
  assert float(page.evaluate("document.getElementById('slider').value")) < 25
  assert np.abs(shown(column, row) - jpeg[row, column]).max() <= 3

  # Flicker shows A and B in turn over the whole view.
  x, y, w, h = _rect(page, "#flicker")
  page.mouse("mousePressed", x + w / 2, y + h / 2, buttons=1)
  page.mouse("mouseReleased", x + w / 2, y + h / 2)
  states = [page.evaluate("new Promise(r => setTimeout(() => r("
                          "document.querySelector('#compare img.b').style"
                          ".visibility), 500))") for _ in range(2)]
  assert sorted(states) == ["", "hidden"]
  page.mouse("mousePressed", x + w / 2, y + h / 2, buttons=1)
  page.mouse("mouseReleased", x + w / 2, y + h / 2)

  # The wheel zooms every view on the same region.
  page.call("Input.dispatchMouseEvent", type="mouseWheel", x=left + size / 2,
            y=top + size / 2, deltaX=0, deltaY=-100)
  transforms = page.evaluate(
      "[...document.querySelectorAll('#crops .view img')].map(i => "
      "i.style.transform)")
  assert len(transforms) == 2 + 4
  panel_scale = _rect(page, "#panels .view")[2] / 64 * 1.25
  scales = [float(re.search(r"scale\(([\d.]+)\)", t).group(1))
            for t in transforms]
  assert scales == pytest.approx([scale * 1.25] * 2 + [panel_scale] * 4,
                                rel=1e-5)  # CSS keeps 6 digits

  # A drag of 40 screen pixels pans every view by 40 / 10 crop pixels.
  page.mouse("mousePressed", left + size / 2, top + size / 2, buttons=1)
  page.mouse("mouseMoved", left + size / 2 + 40, top + size / 2, buttons=1)
  page.mouse("mouseReleased", left + size / 2 + 40, top + size / 2)
  assert page.evaluate("view.cx") == pytest.approx(32 - 40 / (scale * 1.25))
  panel_size = _rect(page, "#panels .view")[2]
  shift = float(re.search(r"translate\((-?[\d.]+)px", transforms[-1]).group(1))
  moved = page.evaluate("document.querySelector('#panels img').style"
                        ".transform")
  assert float(re.search(r"translate\((-?[\d.]+)px", moved).group(1)) == (
      pytest.approx(shift + 4 * panel_scale, rel=1e-5))
  assert panel_size / 2 - 28 * panel_scale == pytest.approx(
      shift + 4 * panel_scale, rel=1e-5)
  assert page.errors() == []
