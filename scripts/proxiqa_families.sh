#!/usr/bin/env bash
# The ProxIQA model families of saved_models/ (docs/proxiqa.md), resumable:
#   bash scripts/proxiqa_families.sh [starts] [bls] [sweep] [bmshj] [export]
#   (default: all)
# Needs the version-1 BLS MSE models (git checkout 1fb77ba -- saved_models).
# starts: MSE starts at lambdas those models lack (1000 MSE steps from the
#         nearest one, configs/bls64_mse_finetune.flags);
# bls:    BLS2017-64 MSE controls and VMAF_p, SSIM_p, MS-SSIM_p from the
#         starts (the common starts of the equal-budget protocol);
# sweep:  the proxy-weight sweep at lambda 0.0035 (scripts/proxiqa_sweep.sh
#         evaluates it);
# bmshj:  BMSHJ2018-64 MSE starts (configs/bmshj64_base.flags), then MSE
#         controls and VMAF_p;
# export: scripts/proxiqa_export.sh.
# SSIM_p and MS-SSIM_p train against proxies of the metrics in dB
# (ssim_db, msssim_db) at weights 1 and 3 (docs/proxiqa.md).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${*:-starts bls sweep bmshj export}
lmbdas="0.0035 0.0008 0.018 0.1"
ssim_objectives=${SSIM_OBJECTIVES:-"ssim_dbp:1 msssim_dbp:3"}
declare -A nearest=([0.0008]=0.0016 [0.1]=0.018)
start() {  # the MSE start of a lambda
  if [ "$1" = 0.0035 ]; then echo saved_models/bls2017-mse/1
  elif [ -n "${nearest[$1]:-}" ]; then echo "runs/starts/models/bls2017-mse-l$1/1"
  else echo "saved_models/bls2017-mse-l$1/1"; fi
}
points=""; for l in $lmbdas; do points="$points $l:$(start "$l")"; done
protocol="env EXPORT=0 bash scripts/proxiqa_protocol.sh"

for part in $parts; do
  case $part in
    starts)
      for l in "${!nearest[@]}"; do
        run=runs/starts/bls2017-mse-l$l
        from=saved_models/bls2017-mse-l${nearest[$l]}/1
        .venv/bin/tfpc_train --flagfile=configs/bls64_mse_finetune.flags \
            --lmbda="$l" --init_from="$from" --train_dir="$run"
        [ -d "$(start "$l")" ] || .venv/bin/tfpc_export --train_dir="$run" \
            --base_dir=runs/starts/models --name="bls2017-mse-l$l" --version=1 \
            --form=codec --description="BLS2017, 64 filters, MSE, lambda=$l: \
$from fine-tuned 1000 steps (configs/bls64_mse_finetune.flags)"
      done;;
    bls)
      $protocol bls2017 "$points" vmafp
      $protocol bls2017 "$points" "$ssim_objectives";;
    sweep)
      for weight in 1 3 30; do
        PROXY_WEIGHT=$weight $protocol bls2017 "0.0035:$(start 0.0035)" vmafp
      done;;
    bmshj)
      bmshj_points=""
      for l in $lmbdas; do
        base=runs/protocol/bmshj2018-base-l$l
        .venv/bin/tfpc_train --flagfile=configs/bmshj64_base.flags \
            --lmbda="$l" --init_from="$(start "$l")" --train_dir="$base"
        [ -d "$base/model/1" ] || .venv/bin/tfpc_export --train_dir="$base" \
            --base_dir="$base" --name=model --version=1 --form=codec
        bmshj_points="$bmshj_points $l:$base/model/1"
      done
      $protocol bmshj2018 "$bmshj_points" vmafp;;
    export) bash scripts/proxiqa_export.sh;;
    *) echo "unknown part $part (starts, bls, sweep, bmshj, export)" >&2; exit 2;;
  esac
done
