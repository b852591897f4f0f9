#!/usr/bin/env bash
# Continues mbt2018-mean-mse at lambda 0.1 (192 latent channels; docs/results.md,
# "The default family"), resumable: rerun it and it resumes from runs/mbt64w-l0.1-b;
# on a new machine it starts again from the committed export mbt2018-mean-mse-l0.1
# (version 2, 5,000 steps). Then export and evaluate:
#   tfpc_export --train_dir=runs/mbt64w-l0.1-b --form=codec
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/tfpc_train --images=../shared/data/train-photos \
  --architecture=mbt2018-mean --num_filters=64 \
  --codec_options=latent_channels=192 --objective=mse --lmbda=0.1 \
  --init_from=mbt2018-mean-mse-l0.1 --learning_rate=1e-4 \
  --final_learning_rate=3e-5 --total_steps=20000 --final_steps=3000 \
  --log_every=100 --checkpoint_every=500 --train_dir=runs/mbt64w-l0.1-b "$@"
