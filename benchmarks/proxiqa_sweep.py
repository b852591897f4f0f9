#!/usr/bin/env python3
"""Table and plot of the proxy-weight sweep (run by scripts/proxiqa_sweep.sh).

Reads tfpc_eval's rd.json (one rate point per label, Kodak, real bits) and
each run's metrics.jsonl, and writes sweep.md (bpp, PSNR, VMAF, VMAF NEG,
MS-SSIM, the proxy-vs-true gap, changes against the MSE control) and
sweep.png (VMAF gain against PSNR change).
"""

import json
import os

from absl import app
from absl import flags
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from tfpc import metrics
from tfpc.evaluation import plots

flags.DEFINE_string("eval_dir", "runs/eval_sweep", "tfpc_eval output folder.")
flags.DEFINE_string("runs", None, "'label=train_dir ...'; the first label is "
                    "the control.", required=True)
flags.DEFINE_string("output_dir", "docs/proxiqa", "Where sweep.md/png go.")
FLAGS = flags.FLAGS


def proxy_gap(train_dir):
  """Mean |proxy - true| of the batch means over the run's log, or None."""
  gaps = [r["proxy_gap"] for r in plots.read_metrics_log(train_dir)
          if "proxy_gap" in r]
  return sum(gaps) / len(gaps) if gaps else None


def main(argv):
  del argv
  with open(os.path.join(FLAGS.eval_dir, "rd.json")) as f:
    curves = json.load(f)["curves"]
  runs = dict(item.split("=", 1) for item in FLAGS.runs.split())
  control = curves[next(iter(runs))][0]
  rows = ["| run | bpp | PSNR (dB) | MS-SSIM | VMAF | VMAF NEG | proxy gap "
          "| Δbpp | ΔPSNR | ΔVMAF | ΔVMAF NEG |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  points = {}
  for label, train_dir in runs.items():
    p = curves[label][0]
    gap = proxy_gap(train_dir)
    delta = {m: p[m] - control[m] for m in ("psnr", "vmaf", "vmaf_neg")}
    points[label] = delta
    rows.append(
        f"| {label} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['msssim']:.4f} | "
        f"{p['vmaf']:.2f} | {p['vmaf_neg']:.2f} | "
        f"{'-' if gap is None else f'{gap:.1f}'} | "
        f"{100 * (p['bpp'] / control['bpp'] - 1):+.1f}% | "
        f"{delta['psnr']:+.2f} | {delta['vmaf']:+.2f} | "
        f"{delta['vmaf_neg']:+.2f} |")
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  with open(os.path.join(FLAGS.output_dir, "sweep.md"), "w") as f:
    f.write("\n".join(rows) + "\n")
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for label, delta in points.items():
    for metric, marker in (("vmaf", "o"), ("vmaf_neg", "s")):
      ax.scatter(delta["psnr"], delta[metric], marker=marker,
                 color="C0" if metric == "vmaf" else "C1",
                 label=metrics.get(metric).label if label == "mse" else None)
      ax.annotate(label, (delta["psnr"], delta[metric]), fontsize=8,
                  xytext=(4, 2), textcoords="offset points")
  ax.axhline(0, color="gray", lw=0.8)
  ax.axvline(0, color="gray", lw=0.8)
  ax.set_xlabel("PSNR change against the MSE control (dB)")
  ax.set_ylabel("score change against the MSE control")
  ax.set_title("Proxy-weight sweep, BLS2017-64, lambda 0.0035, Kodak")
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(os.path.join(FLAGS.output_dir, "sweep.png"), dpi=120)
  print("\n".join(rows))


if __name__ == "__main__":
  app.run(main)
