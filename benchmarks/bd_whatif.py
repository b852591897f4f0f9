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

from tfpc.evaluation import bdrate

flags.DEFINE_string("results", None, "per_image.csv of a tfpc_eval run.")
flags.DEFINE_string("curve", None, "The family's curve label.")
flags.DEFINE_string("anchor", "JPEG 4:2:0", "The anchor curve's label.")
flags.DEFINE_list("models", [], "Settings (model names) of the curve to move, "
                  "one at a time.")
flags.DEFINE_list("shifts", ["0.3", "0.5", "1.0"], "PSNR shifts in dB.")
flags.mark_flags_as_required(["results", "curve"])
FLAGS = flags.FLAGS


def bd_rate(rows, shift):
  """(BD-rate, images) of the curve against the anchor, as tfpc_eval's
  table, with the curve's PSNR moved by `shift` {setting: dB}."""
  records = [{"curve": r["curve"], "image": r["image"], "bpp": float(r["bpp"]),
              "metrics": {"psnr": float(r["psnr"]) + (
                  shift.get(r["setting"], 0.0) if r["curve"] == FLAGS.curve
                  else 0.0)}} for r in rows]
  cell = bdrate.table(records, FLAGS.anchor, ["psnr"], "pchip")[
      FLAGS.curve]["psnr"]
  return cell["bd_rate"], cell["images"]


def main(argv):
  del argv
  with open(FLAGS.results) as f:
    rows = [r for r in csv.DictReader(f)
            if r["curve"] in (FLAGS.curve, FLAGS.anchor)]
  value, images = bd_rate(rows, {})
  print(f"{FLAGS.curve} against {FLAGS.anchor}, PSNR BD-rate (pchip, "
        f"{images} images): {value:+.1f}% as measured")
  for model in FLAGS.models:
    shifted = ", ".join(
        f"+{float(s):g} dB {bd_rate(rows, {model: float(s)})[0]:+.1f}%"
        for s in FLAGS.shifts)
    print(f"  {model} moved up: {shifted}")


if __name__ == "__main__":
  app.run(main)
