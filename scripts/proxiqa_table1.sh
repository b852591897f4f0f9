#!/usr/bin/env bash
# Table 1 of ProxIQA at reduced scale (docs/proxiqa.md): the model families
# of saved_models/ and conventional codecs on Kodak (real file sizes), BD-rates
# against BLS-MSE (and BMSHJ-VMAF_p against BMSHJ-MSE), RD plots (Fig. 4), the
# family table and the Fig. 5 crops (about 0.1 bpp): all views of one run's
# results, runs/eval_table1/rd.json, shown whole in its report.html. Cached in
# runs/eval_table1: a rerun computes only what is new. Copies the tables and
# figures into docs/proxiqa/.
# Uses models that left saved_models/ (README, "Shipped models": run it with
# TFPC_MODEL_DIR=../tfpc-84bccbf/saved_models, a worktree of 84bccbf).
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/eval_table1
# SSIM_p and MS-SSIM_p are no longer shipped (docs/proxiqa.md): for their rows,
# restore them first (git checkout c3d979b -- 'saved_models/bls2017-*ssimp*') and
# add "BLS-SSIM_p=bls2017-ssimp*;BLS-MS-SSIM_p=bls2017-msssimp*" to the models.
models="BLS-MSE=bls2017-mse*;BLS-VMAF_p=bls2017-vmafp*;BMSHJ-MSE=bmshj2018-mse*"
models="$models;BMSHJ-VMAF_p=bmshj2018-vmafp*"
metrics=psnr,ssim,msssim,vmaf,vmaf_neg
for anchor in BLS-MSE BMSHJ-MSE; do
  .venv/bin/tfpc_eval --models="$models" \
      --codecs=jpeg444,jpeg2000,hevc444,hevc420 --anchor="$anchor" \
      --metrics=$metrics --report_bpp=0.1 --report_crop=120,230,256 \
      --output_dir=$out
  cp $out/bd_rate.md "docs/proxiqa/bd_rate_vs_$anchor.md"
done
cp $out/rd_vmaf.png docs/proxiqa/fig4_vmaf.png
cp $out/rd_vmaf_neg.png docs/proxiqa/fig4_vmaf_neg.png
cp $out/rd_psnr.png docs/proxiqa/rd_psnr.png
cp $out/timing.md docs/proxiqa/timing.md
cp $out/crops_kodim23.png docs/proxiqa/fig5_crops.png
