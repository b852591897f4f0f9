#!/usr/bin/env bash
# Exports ProxIQA protocol runs (scripts/proxiqa_protocol.sh) as codec-form
# models, each with a description that names its objective and start:
#   bash scripts/proxiqa_export.sh RUN NAME      # one run, next free version
#   bash scripts/proxiqa_export.sh               # the families of saved_models/
# The second form replaces the version given for each family:
# ARCH:FAMILY:OBJECTIVE[:wWEIGHT]:VERSION, the run
# runs/protocol/ARCH-OBJECTIVE-lLMBDA[-wWEIGHT] becoming ARCH-FAMILY[-lLMBDA]
# (0.0035 drops the suffix) at each lambda. The BLS MSE controls are version 2
# of their names (version 1: the common starts, not shipped).
set -euo pipefail
cd "$(dirname "$0")/.."

export_run() {  # RUN NAME [VERSION]
  local description
  description=$(.venv/bin/python - "$1" <<'PY'
import json, os, sys
run = sys.argv[1]
recipe = json.load(open(os.path.join(run, "recipe.json")))
what = ("MSE control" if recipe["objective"] == "mse" else
        f"ProxIQA {recipe['objective'][:-1]} (proxy weight {recipe['proxy_weight']:g})")
start = recipe["init_from"]
text = (f"{recipe['architecture']}, {recipe['num_filters']} filters, {what}, "
        f"lambda={recipe['lmbda']:g}: {start} fine-tuned "
        f"{recipe['total_steps']} steps (scripts/proxiqa_protocol.sh, "
        "configs/proxiqa_finetune.flags)")
start_info = os.path.join(start, "assets.extra", "tfpc.json")
if not start.startswith("saved_models") and os.path.exists(start_info):
  start_text = json.load(open(start_info)).get("description")
  start_run = os.path.join(os.path.dirname(os.path.dirname(start)), "recipe.json")
  if not start_text and os.path.exists(start_run):  # a base trained in place
    base = json.load(open(start_run))
    start_text = (f"{base['architecture']} MSE, {base['init_from']} trained "
                  f"{base['total_steps']} steps")
  if start_text:
    text += f"; the start: {start_text}"
print(text)
PY
)
  .venv/bin/tfpc_export --train_dir="$1" --name="$2" --form=codec \
      ${3:+--version="$3" --overwrite} --description="$description"
}

if [ $# -ge 2 ]; then export_run "$@"; exit; fi
lmbdas=${LMBDAS:-"0.0008 0.0035 0.018 0.1"}
models=${MODELS:-"bls2017:mse:mse:2 bls2017:vmafp:vmafp:w10:1
  bls2017:ssimp:ssim_dbp:w1:1 bls2017:msssimp:msssim_dbp:w3:1
  bmshj2018:mse:mse:1 bmshj2018:vmafp:vmafp:w10:1"}
for model in $models; do
  IFS=: read -r arch family objective weight version <<< "$model"
  if [ -z "$version" ]; then version=$weight; weight=""; fi
  for lmbda in $lmbdas; do
    export_run "runs/protocol/$arch-$objective-l$lmbda${weight:+-$weight}" \
        "$arch-$family$([ "$lmbda" = 0.0035 ] || echo "-l$lmbda")" "$version"
  done
done
