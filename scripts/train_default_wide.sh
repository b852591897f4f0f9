#!/usr/bin/env bash
# The runs of mbt2018-mean-mse's 192-latent-channel rates and of its 64-channel default
# (docs/results.md, "The default family"), one per name, each resumable: rerun it and it
# resumes from its run folder under the checkout; on a new machine it starts again from the
# committed export.
#   bash scripts/train_default_wide.sh l0.018-d   # from -l0.018 version 3: 6,000 steps at 3e-5 (made version 4)
#   bash scripts/train_default_wide.sh l0.1-b     # from -l0.1 version 2: 20,000 steps, 1e-4 then 3e-5 (stopped at 1,500;
#                                                 its start is at e7b27fc: README, "restore")
#   bash scripts/train_default_wide.sh l0.05      # from -l0.018 version 4: 5,000 steps, 1e-4 then 3e-5 (made -l0.05 version 1)
#   bash scripts/train_default_wide.sh l0.008     # from -l0.018 version 4: 5,000 steps, 1e-4 then 3e-5 (made -l0.008 version 1)
#   bash scripts/train_default_wide.sh l0.008-b   # from -l0.008 version 1: 8,000 steps, 1e-4 then 3e-5 (made -l0.008 version 2)
#   bash scripts/train_default_wide.sh l0.005     # from -l0.008 version 2: 3,500 steps, 1e-4 then 3e-5 (made -l0.005 version 1)
#   bash scripts/train_default_wide.sh l0.012     # from -l0.008 version 2: 3,500 steps, 1e-4 then 3e-5 (made -l0.012 version 1)
#   bash scripts/train_default_wide.sh l0.0035-b  # from -l0.008 version 1: 8,000 steps, 1e-4 then 3e-5 (stopped at 2,500)
#   bash scripts/train_default_wide.sh l0.0035-c  # the default (64 latent channels) from version 2: 6,000 steps, 1e-4 then 3e-5 (not shipped)
# Then export and evaluate: tfpc_export --train_dir=runs/mbt64w-<RUN> --form=codec
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
latents=192
case "$name" in
  l0.018-d) run=(--init_from=mbt2018-mean-mse-l0.018/3 --learning_rate=3e-5
                 --total_steps=6000 --final_steps=0) ;;
  l0.1-b) run=(--init_from=mbt2018-mean-mse-l0.1 --learning_rate=1e-4
               --total_steps=20000 --final_steps=3000) ;;
  l0.05|l0.008) run=(--init_from=mbt2018-mean-mse-l0.018/4 --learning_rate=1e-4
                     --total_steps=5000 --final_steps=1500) ;;
  l0.008-b|l0.0035-b) run=(--init_from=mbt2018-mean-mse-l0.008/1
                           --learning_rate=1e-4 --total_steps=8000
                           --final_steps=3000) ;;
  l0.005|l0.012) run=(--init_from=mbt2018-mean-mse-l0.008/2 --learning_rate=1e-4
                      --total_steps=3500 --final_steps=1500) ;;
  l0.0035-c) latents=64
             run=(--init_from=mbt2018-mean-mse/2 --learning_rate=1e-4
                  --total_steps=6000 --final_steps=2000) ;;
  *) echo "usage: $0 l0.018-d|l0.1-b|l0.05|l0.008|l0.008-b|l0.0035-b|l0.0035-c|l0.005|l0.012 [tfpc_train flags]" >&2
     exit 2 ;;
esac
lmbda=${name#l}
lmbda=${lmbda%-*}
shift
exec .venv/bin/tfpc_train --images=../shared/data/train-photos \
  --architecture=mbt2018-mean --num_filters=64 \
  --codec_options=latent_channels=$latents --objective=mse --lmbda="$lmbda" \
  --final_learning_rate=3e-5 --log_every=100 --checkpoint_every=500 \
  --train_dir="runs/mbt64w-$name" "${run[@]}" "$@"
