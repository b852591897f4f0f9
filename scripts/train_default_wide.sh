#!/usr/bin/env bash
# Continues a 192-latent-channel rate of mbt2018-mean-mse (docs/results.md, "The
# default family"), resumable: rerun it and it resumes from its run folder under the
# checkout; on a new machine it starts again from the committed export.
#   bash scripts/train_default_wide.sh 0.018  # from -l0.018 version 3: 6,000 steps at 3e-5 (made version 4)
#   bash scripts/train_default_wide.sh 0.1    # from -l0.1 version 2: 20,000 steps, 1e-4 then 3e-5
#   bash scripts/train_default_wide.sh 0.05   # from -l0.018 version 4: 5,000 steps, 1e-4 then 3e-5
#   bash scripts/train_default_wide.sh 0.008  # from -l0.018 version 4: 5,000 steps, 1e-4 then 3e-5
# Then export and evaluate: tfpc_export --train_dir=runs/mbt64w-l<LAMBDA>-<d|b> --form=codec
set -euo pipefail
cd "$(dirname "$0")/.."
lmbda=${1:-}
case "$lmbda" in
  0.018) run=(--init_from=mbt2018-mean-mse-l0.018/3 --learning_rate=3e-5
              --total_steps=6000 --final_steps=0 --train_dir=runs/mbt64w-l0.018-d) ;;
  0.1) run=(--init_from=mbt2018-mean-mse-l0.1 --learning_rate=1e-4
            --total_steps=20000 --final_steps=3000 --train_dir=runs/mbt64w-l0.1-b) ;;
  0.05|0.008) run=(--init_from=mbt2018-mean-mse-l0.018/4 --learning_rate=1e-4
                   --total_steps=5000 --final_steps=1500
                   --train_dir=runs/mbt64w-l$lmbda) ;;
  *) echo "usage: $0 0.018|0.1|0.05|0.008 [tfpc_train flags]" >&2; exit 2 ;;
esac
shift
exec .venv/bin/tfpc_train --images=../shared/data/train-photos \
  --architecture=mbt2018-mean --num_filters=64 \
  --codec_options=latent_channels=192 --objective=mse --lmbda="$lmbda" \
  --final_learning_rate=3e-5 --log_every=100 --checkpoint_every=500 \
  "${run[@]}" "$@"
