#!/usr/bin/env bash
# Proxy-weight sweep of eq. 7 at lambda 0.0035 (docs/proxiqa.md), resumable:
#   bash scripts/proxiqa_sweep.sh            # WEIGHTS="1 3 10 30" by default
# Each weight: a VMAF_p run from saved_models/bls2017-mse/1 under the
# equal-budget protocol (its MSE control is the protocol's), exported to
# runs/sweep_models, all evaluated on Kodak (real bits); the table and plot go
# to docs/proxiqa/sweep.md and sweep.png.
set -euo pipefail
cd "$(dirname "$0")/.."
weights=${WEIGHTS:-"1 3 10 30"}
start=saved_models/bls2017-mse/1
models=runs/sweep_models
runs=""
specs="mse=$models/mse"
for w in $weights; do
  PROXY_WEIGHT=$w EXPORT=0 bash scripts/proxiqa_protocol.sh bls2017 \
      "0.0035:$start" vmafp
  runs="$runs w$w=runs/protocol/bls2017-vmafp-l0.0035-w$w"
  specs="$specs;w$w=$models/w$w"
done
runs="mse=runs/protocol/bls2017-mse-l0.0035$runs"
for item in $runs; do
  label=${item%%=*}; dir=${item#*=}
  [ -d "$models/$label/1" ] || .venv/bin/tfpc_export --train_dir="$dir" \
      --base_dir="$models" --name="$label" --version=1 --form=codec
done
.venv/bin/tfpc_eval --models="$specs" --codecs= --anchor=mse \
    --metrics=psnr,msssim,vmaf,vmaf_neg --output_dir=runs/eval_sweep
.venv/bin/python benchmarks/proxiqa_sweep.py --eval_dir=runs/eval_sweep \
    --runs="$runs" --output_dir=docs/proxiqa
