"""What-if BD-rates: a family's PSNR curve with some of its models moved up.

Reads an evaluation's per_image.csv (tfpc_eval --output_dir), shifts the PSNR
of the named models by the same amount on every image (same bpp), and prints
the BD-rate (pchip, per image then averaged, as tfpc_eval) against the anchor
curve for each shift: which rate point the next training budget should go to.

  .venv/bin/python benchmarks/bd_whatif.py --results=eval_family/per_image.csv \
      --curve=mbt2018-mean-mse --anchor='JPEG 4:2:0' \
      --models=mbt2018-mean-mse,mbt2018-mean-mse-l0.018,mbt2018-mean-mse-l0.1 \
      --shifts=0.3,0.5,1.0
"""

import csv

from absl import app
from absl import flags
import numpy as np

from tfpc.evaluation import bdrate

flags.DEFINE_string("results", None, "per_image.csv of a tfpc_eval run.")
flags.DEFINE_string("curve", None, "The family's curve label.")
flags.DEFINE_string("anchor", "JPEG 4:2:0", "The anchor curve's label.")
flags.DEFINE_list("models", [], "Settings (model names) of the curve to move, "
                  "one at a time.")
flags.DEFINE_list("shifts", ["0.3", "0.5", "1.0"], "PSNR shifts in dB.")
flags.mark_flags_as_required(["results", "curve"])
FLAGS = flags.FLAGS


def bd_rate(points, anchor, shift):
  """Mean per-image BD-rate of `points` {image: [(setting, bpp, psnr)]}
  against `anchor` {image: [(bpp, psnr)]}, with `shift` {setting: dB}."""
  values = []
  for image, own in points.items():
    test = ([b for _, b, _ in own], [q + shift.get(s, 0.0) for s, _, q in own])
    value, reason = bdrate.bd_rate(tuple(zip(*anchor[image])), test, "pchip")
    if reason is None:
      values.append(value)
  return float(np.mean(values)), len(values)


def main(argv):
  del argv
  points, anchor = {}, {}
  with open(FLAGS.results) as f:
    for row in csv.DictReader(f):
      bpp, psnr = float(row["bpp"]), float(row["psnr"])
      if row["curve"] == FLAGS.curve:
        points.setdefault(row["image"], []).append((row["setting"], bpp, psnr))
      elif row["curve"] == FLAGS.anchor:
        anchor.setdefault(row["image"], []).append((bpp, psnr))
  value, images = bd_rate(points, anchor, {})
  print(f"{FLAGS.curve} against {FLAGS.anchor}, PSNR BD-rate (pchip, "
        f"{images} images): {value:+.1f}% as measured")
  for model in FLAGS.models:
    shifted = ", ".join(
        f"+{float(s):g} dB {bd_rate(points, anchor, {model: float(s)})[0]:+.1f}%"
        for s in FLAGS.shifts)
    print(f"  {model} moved up: {shifted}")


if __name__ == "__main__":
  app.run(main)
