#!/usr/bin/env bash
# The ProxIQA model families of saved_models/ (docs/proxiqa.md), resumable:
#   bash scripts/proxiqa_families.sh [bls] [sweep] [bmshj]   (default: all)
# bls:   BLS2017-64 MSE controls and VMAF_p, SSIM_p, MS-SSIM_p from the four
#        MSE models (version 1 of bls2017-mse*, the common starts);
# sweep: the proxy-weight sweep at lambda 0.0035 (scripts/proxiqa_sweep.sh
#        evaluates it);
# bmshj: BMSHJ2018-64 MSE starts (configs/bmshj64_base.flags), then MSE
#        controls and VMAF_p.
# SSIM_p and MS-SSIM_p use the proxy weights that give their proxy the share
# of the codec's gradient VMAF_p has at 10 (benchmarks/proxy_gradient_scale.py).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${*:-bls sweep bmshj}
lmbdas="0.0035 0.0016 0.008 0.018"
ssim_weights=${SSIM_WEIGHTS:-"ssimp:10 msssimp:10"}
start() {  # the version-1 MSE model of a lambda: the common start
  if [ "$1" = 0.0035 ]; then echo saved_models/bls2017-mse/1
  else echo "saved_models/bls2017-mse-l$1/1"; fi
}
points=""; for l in $lmbdas; do points="$points $l:$(start "$l")"; done
protocol=scripts/proxiqa_protocol.sh

for part in $parts; do
  case $part in
    bls)
      bash $protocol bls2017 "$points" vmafp
      bash $protocol bls2017 "$points" "$ssim_weights";;
    sweep)
      for weight in 1 3 30; do
        PROXY_WEIGHT=$weight EXPORT=0 bash $protocol bls2017 \
            "0.0035:$(start 0.0035)" vmafp
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
      bash $protocol bmshj2018 "$bmshj_points" vmafp;;
    *) echo "unknown part $part (bls, sweep, bmshj)" >&2; exit 2;;
  esac
done
