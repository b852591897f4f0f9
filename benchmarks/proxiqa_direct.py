"""Proxy against direct VMAF training: per-seed BD-rates, the in-graph VMAF
against libvmaf on each model's outputs, and crops (docs/proxiqa.md).

  .venv/bin/python benchmarks/proxiqa_direct.py --results=runs/eval_direct_kodak/rd.json

Reads `tfpc_eval` runs whose curves are labelled `<arm> s<seed>` (the MSE
control `MSE s<seed>` among them) and whose metrics include vmaf, vmaf_neg,
vmaf_graph and vmaf_neg_graph. Prints, per seed, the BD-rates (pchip, per
image then averaged) of every arm against that seed's MSE control, and per
curve and model the means over the images, and per curve the difference
vmaf_graph - vmaf (and NEG) over all its images and
rates: mean, mean |.|, max |.|. A codec that games the TF VMAF but not
libvmaf would show a positive mean difference here.

With --crops_output, also writes the run's report crops of --crops_image as
one PNG at native resolution: top row the original and each curve's crop,
bottom row each crop minus the original, times 4 around grey (texture a
codec adds on a flat area shows there as a pattern).
"""

from tfpc import cli  # quiets TensorFlow

import json
import os

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from tfpc.evaluation import bdrate

flags.DEFINE_list("results", None, "rd.json files of tfpc_eval runs.",
                  required=True)
flags.DEFINE_string("crops_image", None, "Image whose report crops to "
                    "compose (from the first results file).")
flags.DEFINE_string("crops_output", None, "PNG of the composed crops.")
flags.DEFINE_list("crops_window", None, "TOP,LEFT,SIDE inside the report "
                  "crop (default: all of it).")
flags.DEFINE_integer("difference_gain", 4, "Gain of the difference row.")
FLAGS = flags.FLAGS

TABLE_METRICS = ("psnr", "ssim", "msssim", "vmaf", "vmaf_neg")
GRAPH_PAIRS = (("vmaf_graph", "vmaf"), ("vmaf_neg_graph", "vmaf_neg"))


def seed_tables(records):
  """Markdown BD-rate tables, one per seed, against that seed's control."""
  tables = []
  for seed in sorted({r["curve"].rpartition(" ")[2] for r in records}):
    mine = [r for r in records if r["curve"].endswith(f" {seed}")]
    cells = bdrate.table(mine, f"MSE {seed}", TABLE_METRICS, "pchip")
    tables.append(bdrate.markdown({"pchip": cells}, f"MSE {seed}",
                                  TABLE_METRICS))
  return tables


def rate_points(records):
  """Markdown table: per curve and model, means over the images."""
  lines = ["| curve | model | images | bpp | " + " | ".join(TABLE_METRICS) +
           " |", "|---|---|---:|---:|" + "---:|" * len(TABLE_METRICS)]
  for curve, setting in sorted({(r["curve"], r["setting"]) for r in records}):
    mine = [r for r in records
            if (r["curve"], r["setting"]) == (curve, setting)]
    means = [np.mean([r["metrics"][m] for r in mine]) for m in TABLE_METRICS]
    lines.append(f"| {curve} | {setting} | {len(mine)} | "
                 f"{np.mean([r['bpp'] for r in mine]):.3f} | " +
                 " | ".join(f"{v:.4g}" for v in means) + " |")
  return "\n".join(lines)


def graph_differences(records):
  """Markdown table: per curve, TF VMAF minus libvmaf over its records."""
  lines = ["| curve | records | " + " | ".join(
      f"{g} - {v}: mean / mean abs / max abs" for g, v in GRAPH_PAIRS) + " |",
           "|---|---:|" + "---:|" * len(GRAPH_PAIRS)]
  for curve in sorted({r["curve"] for r in records}) + [None]:
    mine = [r["metrics"] for r in records if curve in (None, r["curve"])]
    cells = []
    for graph, reference in GRAPH_PAIRS:
      diff = np.array([m[graph] - m[reference] for m in mine])
      cells.append(f"{diff.mean():+.4f} / {np.abs(diff).mean():.4f} / "
                   f"{np.abs(diff).max():.4f}")
    lines.append(f"| {curve or 'all'} | {len(mine)} | " + " | ".join(cells) +
                 " |")
  return "\n".join(lines)


def compose_crops(results, results_dir, image, gain, window=None):
  """(uint8 picture, panel labels): crops (their `window`, (top, left,
  side)) above, gained differences below."""
  crops = results["crops"]["images"][image]
  top, left, side = window or (0, 0, crops["region"][2])
  read = lambda file: np.asarray(Image.open(os.path.join(results_dir, file)))[
      top:top + side, left:left + side]
  original = read(crops["original"])
  labels, tops, bottoms = ["original"], [original], [np.full_like(original,
                                                                  128)]
  for panel in crops["panels"]:
    pixels = read(panel["file"])
    difference = gain * (pixels.astype(np.int32) - original) + 128
    labels.append(f"{panel['curve']} ({panel['setting']})")
    tops.append(pixels)
    bottoms.append(np.clip(difference, 0, 255).astype(np.uint8))
  gap = np.full((original.shape[0], 4, 3), 255, np.uint8)
  upper, lower = (np.concatenate(
      [p for panel in panels for p in (panel, gap)][:-1], axis=1)
                  for panels in (tops, bottoms))
  return np.concatenate([upper, np.full((4,) + upper.shape[1:], 255,
                                        np.uint8), lower]), labels


def main(argv):
  del argv
  for path in FLAGS.results:
    with open(path) as f:
      records = json.load(f)["records"]
    print(f"## {path}\n")
    print("\n".join(seed_tables(records)))
    print(rate_points(records), "\n")
    print(graph_differences(records), "\n")
  if FLAGS.crops_output:
    path = FLAGS.results[0]
    with open(path) as f:
      results = json.load(f)
    window = [int(v) for v in FLAGS.crops_window or ()] or None
    picture, labels = compose_crops(results, os.path.dirname(path),
                                    FLAGS.crops_image, FLAGS.difference_gain,
                                    window)
    Image.fromarray(picture).save(FLAGS.crops_output, optimize=True)
    print(f"{FLAGS.crops_output}: left to right: " + "; ".join(labels))


if __name__ == "__main__":
  app.run(main)
