#!/bin/bash
# Fine-tunes the shipped BLS2017 model to more lambdas and exports each
# (saved_models/bls2017-mse-l<lambda>), the learned RD curve of tfpc_eval.
set -euo pipefail
cd "$(dirname "$0")/.."
for lmbda in "$@"; do
  .venv/bin/tfpc_train --flagfile=configs/bls64_mse_finetune.flags \
      --lmbda="$lmbda" --train_dir="runs/bls2017-mse-l$lmbda"
  .venv/bin/tfpc_export --train_dir="runs/bls2017-mse-l$lmbda" \
      --name="bls2017-mse-l$lmbda" --form=codec \
      --description="BLS2017, 64 filters, MSE, lambda=$lmbda: bls2017-mse fine-tuned 1000 steps (configs/bls64_mse_finetune.flags)"
done
