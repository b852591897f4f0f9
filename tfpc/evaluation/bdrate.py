"""Bjøntegaard-delta rates with the `bjontegaard` library (per image, averaged).

As in the ProxIQA paper, a curve's BD-rate against the anchor is computed on
each image's own RD points and then averaged over the images. Two
interpolations, both from the library: `cubic` (the cubic polynomial fit of
VCEG-M33) and `pchip` (piecewise cubic Hermite, as VCEG-AL22 / JVET-style
tools). Rates are in bpp, log-scaled by the library; quality is the metric
itself (negated for lower-is-better metrics). Points whose quality does not rise with rate are dropped first (an
interpolation over quality needs it strictly increasing). Curves whose quality
ranges do not overlap get NaN from the library: such images are counted as
`no_overlap`, not averaged, and a cell with no image left reads n/a.
"""

import warnings

import numpy as np
import bjontegaard

from tfpc import metrics

METHODS = ("pchip", "cubic")
MIN_POINTS = {"pchip": 2, "cubic": 4}


def monotone(rates, qualities):
  """The points sorted by rate whose quality beats every cheaper point's."""
  kept_rates, kept_qualities = [], []
  for rate, value in sorted(zip(rates, qualities)):
    if np.isfinite(value) and (not kept_qualities or value > kept_qualities[-1]):
      kept_rates.append(rate)
      kept_qualities.append(value)
  return np.array(kept_rates), np.array(kept_qualities)


def bd_rate(anchor, test, method):
  """BD-rate in percent of `test` against `anchor`, each (rates, qualities).

  Returns (value, reason): value is NaN with a reason when undefined.
  """
  anchor, test = monotone(*anchor), monotone(*test)
  if min(len(anchor[0]), len(test[0])) < MIN_POINTS[method]:
    return float("nan"), f"fewer than {MIN_POINTS[method]} points"
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    value = bjontegaard.bd_rate(anchor[0], anchor[1], test[0], test[1],
                                method=method, require_matching_points=False,
                                min_overlap=0)
  if not np.isfinite(value):
    return float("nan"), "no overlap"
  return float(value), None


def table(records, anchor, metric_names, method):
  """{curve: {metric: {bd_rate, images, no_overlap, reason}}}, per image."""
  by_curve = {}
  for r in records:
    by_curve.setdefault(r["curve"], {}).setdefault(r["image"], []).append(r)
  cells = {}
  for label, images in by_curve.items():
    row = {}
    for metric in metric_names:
      values, reasons = [], []
      for image, points in images.items():
        anchor_points = by_curve.get(anchor, {}).get(image)
        if not anchor_points:
          reasons.append("no anchor points")
          continue
        value, reason = bd_rate(_curve(anchor_points, metric),
                                _curve(points, metric), method)
        (values.append(value) if reason is None else reasons.append(reason))
      row[metric] = {
          "bd_rate": float(np.mean(values)) if values else None,
          "images": len(values), "no_overlap": reasons.count("no overlap"),
          "reason": None if values else (reasons[0] if reasons else
                                         "no points")}
    cells[label] = row
  return cells


def _curve(points, metric):
  """(rates, qualities), qualities negated for lower-is-better metrics (the
  BD-rate, an average over the quality range, does not change)."""
  sign = 1.0 if metrics.get(metric).higher_is_better else -1.0
  return ([p["bpp"] for p in points],
          [sign * p["metrics"][metric] for p in points])


def markdown(tables, anchor, metric_names):
  """Table 1 form: rows are curves, columns metrics, one table per method."""
  parts = []
  for method, cells in tables.items():
    parts += [f"BD-rate (%) against {anchor}, {method} interpolation, per "
              "image then averaged (negative: fewer bits for the same "
              "quality); [k/n]: images with a value when not all.", "",
              "| | " + " | ".join(metric_names) + " |",
              "|---|" + "---:|" * len(metric_names)]
    most = max((c["images"] for row in cells.values() for c in row.values()),
               default=0)
    for label, row in cells.items():
      shown = []
      for metric in metric_names:
        cell = row[metric]
        if cell["bd_rate"] is None:
          shown.append(f"n/a ({cell['reason']})")
        else:
          count = "" if cell["images"] == most else f" [{cell['images']}/{most}]"
          shown.append(f"{cell['bd_rate']:+.1f}{count}")
      parts.append(f"| {label} | " + " | ".join(shown) + " |")
    parts.append("")
  return "\n".join(parts)
