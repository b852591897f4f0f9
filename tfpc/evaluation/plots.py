"""PNG figures (matplotlib, no display needed)."""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from PIL import Image

from tfpc import errors
from tfpc import metrics
from tfpc.evaluation import report


def _proxy_label(metric):
  return metrics.get(metric).proxy_label


def read_metrics_log(train_dir):
  """The records of a run's metrics.jsonl (lines cut short are skipped)."""
  path = os.path.join(train_dir, "metrics.jsonl")
  try:
    with open(path) as f:
      lines = f.readlines()
  except OSError as e:
    raise errors.ConfigError(f"{train_dir}: no training log ({e})") from None
  records = []
  for line in lines:
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      continue
  return records


def scores_over_training(runs, output, metric="vmaf"):
  """ProxIQA Fig. 6: true and proxy scores of the training reconstructions.

  `runs` is a list of (title, records); each gets a panel with the mean of
  both scores (lines) and one standard deviation (bands) against the step.
  """
  fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 4),
                           squeeze=False)
  for ax, (title, records) in zip(axes[0], runs):
    records = [r for r in records if "metric_true_mean" in r]
    if not records:
      raise errors.ConfigError(f"{title}: the log has no proxy scores "
                               "(not a ProxIQA run?)")
    steps = np.array([r["step"] for r in records])
    for key, label, color in (("true", "true", "tab:blue"),
                              ("proxy", "proxy", "tab:orange")):
      mean = np.array([r.get(f"metric_{key}_mean", np.nan) for r in records])
      std = np.array([r.get(f"metric_{key}_std", np.nan) for r in records])
      ax.plot(steps, mean, color=color, label=f"{label} {_proxy_label(metric)}")
      ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.25)
    ax.set_title(title)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
  axes[0][0].set_ylabel(f"{_proxy_label(metric)} of reconstructed patches")
  fig.tight_layout()
  fig.savefig(output, dpi=120)
  plt.close(fig)


def true_vs_proxy(true, predicted, metric, output):
  """Scatter of proxy against true scores, with the identity line."""
  true, predicted = np.ravel(true), np.ravel(predicted)
  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  ax.scatter(true, predicted, s=6, alpha=0.5)
  low = min(true.min(), predicted.min())
  high = max(true.max(), predicted.max())
  ax.plot([low, high], [low, high], color="gray", linewidth=1)
  ax.set_xlabel(f"true {_proxy_label(metric)}")
  ax.set_ylabel(f"proxy {_proxy_label(metric)}")
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(output, dpi=120)
  plt.close(fig)


def rd_curves(curves, metric, output):
  """ProxIQA Fig. 4: mean quality against mean bpp, one line per curve.

  `curves` maps a label to points with `bpp` and the metric, as
  `suite.rd_points` returns them.
  """
  fig, ax = plt.subplots(figsize=(6.5, 4.8))
  for label, points in curves.items():
    ax.plot([p["bpp"] for p in points], [p[metric] for p in points],
            marker="o", markersize=3.5, linewidth=1.3, label=label)
  ax.set_xlabel("bits per pixel")
  ax.set_ylabel(metrics.get(metric).label)
  ax.set_xlim(left=0)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc="lower right")
  fig.tight_layout()
  fig.savefig(output, dpi=120)
  plt.close(fig)


def matched_crops(results, image, results_dir, output):
  """ProxIQA Fig. 5: the crops of one image at matched rate, side by side.

  From a run's results (rd.json) and its crops (in `results_dir`): the
  original, then every curve at its rate closest to the target, each with
  its rate and the whole image's scores.
  """
  crops = results["crops"]["images"][image]
  panels = [("original", crops["original"], "")]
  for panel in crops["panels"]:
    record = report.find_record(results, panel["curve"], panel["setting"],
                                image)
    scores = [f"{record['bpp']:.3f} bpp"] + [
        f"{metrics.get(m).label.split(' (')[0]} {record['metrics'][m]:.4g}"
        for m in results["metrics"]]
    panels.append((f"{panel['curve']}\n{panel['setting']}", panel["file"],
                   "\n".join(", ".join(scores[i:i + 2])
                             for i in range(0, len(scores), 2))))
  columns = min(len(panels), 6)
  rows = -(-len(panels) // columns)
  fig, axes = plt.subplots(rows, columns, squeeze=False,
                           figsize=(2.5 * columns, 3.3 * rows + 0.3))
  for ax in axes.flat[len(panels):]:
    ax.set_axis_off()
  for ax, (title, file, scores) in zip(axes.flat, panels):
    ax.imshow(Image.open(os.path.join(results_dir, file)))
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(scores, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
  top, left, side = crops["region"]
  fig.suptitle(f"{image}: {side}x{side} crop at ({top}, {left}), rate "
               f"closest to {results['crops']['target_bpp']:g} bpp",
               fontsize=10)
  fig.tight_layout()
  fig.savefig(output, dpi=110)
  plt.close(fig)
