#!/usr/bin/env bash
# ProxIQA Fig. 6 analogue (docs/proxiqa.md), resumable: true vs proxy VMAF
# while training BLS2017-32 with VMAF_p from scratch at the recipe default
# proxy weight, (a) with a pre-trained proxy kept fixed, (b) alternating.
# Same seed, data, initial codec and initial proxy; only --proxy_mode differs.
# Uses models that left saved_models/ (README, "Shipped models": run it with
# TFPC_MODEL_DIR=../tfpc-84bccbf/saved_models, a worktree of 84bccbf).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-400}
proxy=runs/fig6/proxy_vmaf64
[ -f $proxy/pretrain.json ] || .venv/bin/tfpc_pretrain_proxy \
    --images=../shared/data/train-photos --metric=vmaf --patch_size=64 \
    --num_patches=2048 --epochs=15 --codec_model=bls2017-mse \
    --output_dir=$proxy
for mode in pretrained_fixed alternating; do
  .venv/bin/tfpc_train --images=../shared/data/train-photos \
      --architecture=bls2017 --num_filters=32 --objective=vmafp \
      --patch_size=64 --crop_size=128 --batch_size=8 --lmbda=0.01 \
      --proxy_weight=10 --learning_rate=1e-3 --final_steps=0 \
      --total_steps=$steps --log_every=10 --seed=0 --proxy_init=$proxy \
      --proxy_mode=$mode --train_dir=runs/fig6/$mode
done
.venv/bin/tfpc_plot_scores --train_dirs=runs/fig6/pretrained_fixed,runs/fig6/alternating \
    --labels="(a) pre-trained proxy (fixed),(b) alternating (ProxIQA)" \
    --output=docs/proxiqa/fig6_vmafp_bls32.png
