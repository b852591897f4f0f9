"""`report.html`: one offline page per `tfpc_eval` run, from its results.

The page is built from the results dictionary that `rd.json` holds (the same
data the CSV, Markdown tables and PNG plots come from) and from the crops in
`report_files/`: RD curves of every metric, BD-rate tables, sortable
per-image and per-rate-point tables, the crops of every codec at the rate
closest to a target (`MatchedCrops`, kept while the run codes), timing,
command, versions, models and failures. Its script and style are
`report/report.js` and `report/report.css`, inlined: the page loads nothing
from the network.
"""

import html
import json
import os
import threading

import numpy as np
from PIL import Image

from tfpc import errors

FILES = "report_files"
_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report")


def parse_crop(spec):
  """--report_crop: 'SIDE' (placed on the most detailed region) or
  'TOP,LEFT,SIDE'; returns (top, left, side) with None for an automatic
  place."""
  try:
    values = [int(v) for v in spec.split(",")]
  except ValueError:
    values = []
  if len(values) not in (1, 3) or min(values) < 0 or values[-1] < 16:
    raise errors.ConfigError(f"--report_crop={spec!r}: want SIDE or "
                             "TOP,LEFT,SIDE in pixels, SIDE at least 16")
  return (None, None, values[0]) if len(values) == 1 else tuple(values)


def crop_region(pixels, spec):
  """The (top, left, side) window of `pixels` for `spec` (`parse_crop`).

  An automatic window is the one of most luma gradient energy, on a grid of
  an eighth of its side; a given one is moved inside the image if needed.
  """
  top, left, side = spec
  height, width = pixels.shape[:2]
  side = min(side, height, width)
  if top is None:
    luma = pixels.astype(np.float64) @ [0.299, 0.587, 0.114]
    energy = np.zeros_like(luma)
    energy[1:, 1:] = (np.diff(luma, axis=0)[:, 1:] ** 2 +
                      np.diff(luma, axis=1)[1:, :] ** 2)
    table = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 8)
    tops = np.arange(0, height - side + 1, step)
    lefts = np.arange(0, width - side + 1, step)
    sums = (table[tops[:, None] + side, lefts[None] + side] -
            table[tops[:, None], lefts[None] + side] -
            table[tops[:, None] + side, lefts[None]] +
            table[tops[:, None], lefts[None]])
    row, column = np.unravel_index(np.argmax(sums), sums.shape)
    return int(tops[row]), int(lefts[column]), side
  return min(top, height - side), min(left, width - side), side


class MatchedCrops:
  """Per image and curve, the crop of the decoded image closest in rate to
  `target_bpp`, kept while the jobs run (thread-safe).

  Memory: one crop per (image, curve), whatever the number of settings; a
  job's decoded image is cropped and dropped as soon as it is offered. A job
  read from the cache offers no pixels; `complete` then fills its crop from
  the crop cache or by coding it again.
  """

  def __init__(self, target_bpp, crop_spec):
    self.target_bpp = target_bpp
    self._spec = parse_crop(crop_spec)
    self.regions = {}
    self.originals = {}
    self.best = {}
    self._lock = threading.Lock()

  def add_image(self, image, pixels):
    region = crop_region(pixels, self._spec)
    self.regions[image] = region
    self.originals[image] = _cut(pixels, region)

  def offer(self, curve, image, setting, bpp, decoded, job_key):
    """Keeps this job's crop when its rate is the closest yet (ties: the
    lower rate), so that the choice does not depend on job order."""
    rank = (abs(bpp - self.target_bpp), bpp)
    with self._lock:
      kept = self.best.get((image, curve))
      if kept is not None and kept["rank"] <= rank:
        return
      self.best[(image, curve)] = {
          "rank": rank, "setting": setting, "job_key": job_key,
          "pixels": None if decoded is None else _cut(decoded,
                                                      self.regions[image])}

  def complete(self, cache_dir, decode):
    """Fills the crops of cached jobs: from `cache_dir` or `decode(curve,
    setting, image)`; stores every chosen crop there for the next run."""
    for (image, curve), kept in self.best.items():
      region = self.regions[image]
      path = os.path.join(cache_dir, "{}-crop{}_{}_{}.png".format(
          kept["job_key"], *region))
      if kept["pixels"] is None and os.path.exists(path):
        kept["pixels"] = np.asarray(Image.open(path).convert("RGB"))
      if kept["pixels"] is None:
        kept["pixels"] = _cut(decode(curve, kept["setting"], image), region)
      if not os.path.exists(path):
        os.makedirs(cache_dir, exist_ok=True)
        Image.fromarray(kept["pixels"]).save(path)

  def write(self, output_dir, curve_labels, setting_name):
    """PNGs into output_dir/report_files; returns the results' `crops`."""
    images = {}
    for number, image in enumerate(sorted(self.regions)):
      folder = os.path.join(FILES, f"{number:03d}")
      os.makedirs(os.path.join(output_dir, folder), exist_ok=True)
      original = os.path.join(folder, "original.png")
      Image.fromarray(self.originals[image]).save(
          os.path.join(output_dir, original))
      panels = []
      for index, curve in enumerate(curve_labels):
        kept = self.best.get((image, curve))
        if kept is None:
          continue  # every job of this curve failed on this image
        file = os.path.join(folder, f"{index:02d}.png")
        Image.fromarray(kept["pixels"]).save(os.path.join(output_dir, file))
        panels.append({"curve": curve, "file": file,
                       "setting": setting_name(kept["setting"])})
      images[image] = {"region": list(self.regions[image]),
                       "original": original, "panels": panels}
    return {"target_bpp": self.target_bpp, "images": images}


def _cut(pixels, region):
  top, left, side = region
  return np.ascontiguousarray(pixels[top:top + side, left:left + side])


def find_record(results, curve, setting, image):
  """The per-image record of one crop panel."""
  return next(r for r in results["records"] if r["curve"] == curve and
              r["setting"] == setting and r["image"] == image)


def json_safe(value):
  """`value` with every NaN or infinity (a lossless PSNR) made None, so that
  it is strict JSON for the page."""
  if isinstance(value, float):
    return value if np.isfinite(value) else None
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  return value


def _asset(name):
  with open(os.path.join(_ASSETS, name)) as f:
    return f.read()


def render(results):
  """The page's HTML for a results dictionary (as rd.json holds it)."""
  data = json.dumps(results, allow_nan=False).replace("</", "<\\/")
  title = html.escape(f"tfpc_eval: {len(results['images'])} images, "
                      f"{len(results['curves'])} curves")
  return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          f"<title>{title}</title>\n<style>\n{_asset('report.css')}</style>\n"
          f"</head><body>\n<script type=\"application/json\" id=\"results\">"
          f"{data}</script>\n<script>\n{_asset('report.js')}</script>\n"
          "</body></html>\n")


def write(results, output_dir):
  """output_dir/report.html; returns its path."""
  path = os.path.join(output_dir, "report.html")
  with open(path, "w") as f:
    f.write(render(results))
  return path
