#!/usr/bin/env bash
# Equal-budget ProxIQA protocol (docs/proxiqa.md), resumable: rerun to continue.
#
#   bash scripts/proxiqa_protocol.sh ARCH "LMBDA:START ..." "OBJECTIVE[:WEIGHT[:NAME]] ..."
#   bash scripts/proxiqa_protocol.sh bls2017 "0.0035:bls2017-mse" "vmafp msssim_dbp:3:msssimp"
#
# For each LMBDA, every objective in OBJECTIVES (METRICp: vmafp, ssimp,
# msssim_dbp, ...; WEIGHT, default $PROXY_WEIGHT or the recipe's 10, is its
# --proxy_weight) and an MSE control start from the same model START (an
# exported model name or path) and train the same steps
# (configs/proxiqa_finetune.flags; extra flags in FLAGS="..." apply to every
# run, e.g. --total_steps or a GPU-scale --flagfile). Each run is exported
# (codec form, next free version) as ARCH-NAME-l<LMBDA> (NAME: default
# OBJECTIVE), the control as the next version of ARCH-mse-l<LMBDA>;
# NAME_LMBDA (0.0035) drops the suffix (ARCH-mse is the shipped default).
# EXPORT=0 skips export.
# Proxies are pre-trained once per metric into $PROXIES/<metric> (default
# runs/proxies).
# Run folders are tagged with the proxy weight: runs/protocol/ARCH-OBJ-lL-wW.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$1; points=$2; objectives=${3:-vmafp}
bin=.venv/bin
root=${RUNS:-runs/protocol}
default_weight=${PROXY_WEIGHT:-10}

name_of() {  # ARCH-OBJ[-lLMBDA]
  if [ "$2" = "${NAME_LMBDA:-0.0035}" ]; then echo "$arch-$1"
  else echo "$arch-$1-l$2"; fi
}

for point in $points; do
  lmbda=${point%%:*}; start=${point#*:}
  for item in mse $objectives; do
    IFS=: read -r objective weight family <<< "$item"
    weight=${weight:-$default_weight}; family=${family:-$objective}
    dir=$root/$arch-$objective-l$lmbda
    extra=()
    if [ "$objective" != mse ]; then
      dir=$dir-w$weight
      metric=${objective%p}  # vmafp -> vmaf, msssim_dbp -> msssim_db
      proxy=${PROXIES:-runs/proxies}/$metric
      if [ ! -f "$proxy/pretrain.json" ]; then
        $bin/tfpc_pretrain_proxy --images=../shared/data/train-photos \
            --metric="$metric" --codec_model=bls2017-mse \
            --output_dir="$proxy"
      fi
      extra=(--proxy_init="$proxy" --proxy_weight="$weight")
    fi
    $bin/tfpc_train --flagfile=configs/proxiqa_finetune.flags \
        --architecture="$arch" --objective="$objective" --lmbda="$lmbda" \
        --init_from="$start" --train_dir="$dir" "${extra[@]}" ${FLAGS:-}
    if [ "${EXPORT:-1}" = 1 ] && [ ! -f "$dir/exported" ]; then
      bash scripts/proxiqa_export.sh "$dir" "$(name_of "$family" "$lmbda")" \
          | tee "$dir/exported"
    fi
  done
done
