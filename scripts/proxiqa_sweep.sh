#!/usr/bin/env bash
# Proxy-weight sweep of eq. 7 at lambda 0.0035 (docs/proxiqa.md), resumable:
#   bash scripts/proxiqa_sweep.sh            # WEIGHTS="1 3 10 30" by default
# Each weight: the VMAF_p stage of configs/proxiqa.py (equal-budget protocol,
# from the MSE family's model at 0.0035) at that proxy weight, exported to
# runs/sweep_models, all evaluated on Kodak (real bits); the table and plot go
# to docs/proxiqa/sweep.md and sweep.png.
# Uses models that left saved_models/ (README, "Shipped models": run it with
# TFPC_MODEL_DIR=../tfpc-84bccbf/saved_models, a worktree of 84bccbf).
set -euo pipefail
cd "$(dirname "$0")/.."
weights=${WEIGHTS:-"1 3 10 30"}
models=runs/sweep_models
runs=""
specs="mse=$models/mse"
for w in $weights; do
  .venv/bin/tfpc_train --config=configs/proxiqa.py:bls2017-mse,only=vmafp,proxies=runs/proxies \
      --config.images=../shared/data/train-photos \
      --config.train_dir="runs/sweep/w$w" \
      --config.stages.vmafp.options.proxy_weight="$w"
  runs="$runs w$w=runs/sweep/w$w/vmafp"
  specs="$specs;w$w=$models/w$w"
done
runs="mse=runs/sweep/w${weights%% *}/mse$runs"
for item in $runs; do
  label=${item%%=*}; dir=${item#*=}
  [ -d "$models/$label/1" ] || .venv/bin/tfpc_export --train_dir="$dir" \
      --base_dir="$models" --name="$label" --version=1 --form=codec
done
.venv/bin/tfpc_eval --models="$specs" --codecs= --anchor=mse \
    --metrics=psnr,msssim,vmaf,vmaf_neg --output_dir=runs/eval_sweep
.venv/bin/python benchmarks/proxiqa_sweep.py --eval_dir=runs/eval_sweep \
    --runs="$runs" --output_dir=docs/proxiqa
