r"""Staged recipe: DPC (Patel et al. 2019), MSE first, then its perceptual loss.

Stages `mse` and `mse_rate` train the whole `dpc` codec (importance map, 6
centers, 3D context model) on lambda * MSE + max(t, bpp): from scratch,
`dpc_rd` alone stalls (MS-SSIM terms of a bad reconstruction are clipped at 0
and pass no gradient), and with the rate on from step 1 the importance map
switches every latent off in ~25 steps and never back (docs/dpc.md), so
`mse` trains without rate (t = 2, above what 6 centers cost) and `mse_rate`
brings it to t = 0.1. Stage `dpc` starts from that on
`alpha * (1 - MS-SSIM) + max(t, beta * bpp)`. LPIPS is off
(`distance` "none"): no ImageNet backbone weights exist here, and with random
ones the term means little; set `--config.stages.dpc.options.distance=lpips`
where `tfpc_weights` has converted them. `sigma_schedule` (start, end, steps)
anneals the quantizer's soft-assignment sigma linearly (default: constant
1, as the shipped model). Sizes: N = 64, B = 3, K = 32, batch 4 of 128x128.

Best base: `mse_rate` is the base every rate target starts from, so the MSE
stages get the budget: 6,000 + 9,000 steps at about 5 steps/s beside another
run (0.9 CPU hours), then 2,000 `dpc` steps (0.13 CPU hours); they made
`dpc-msssim-demo` version 2, which left `saved_models/`: at this size and
budget DPC loses to JPEG in MS-SSIM (docs/dpc.md). Stop a run (a signal
saves a checkpoint) and rerun the same command to resume.

Each rate target t is an override of the one `dpc` stage, in its own run,
so a run trains only the target asked for; to start the other targets
from the first run's base instead of training an MSE stage each, add
`--config.init_from=runs/dpc-t0.1/mse_rate --config.stages.mse.total_steps=0
--config.stages.mse_rate.total_steps=0` to their commands. Target 0.1 bpp
(the default):

  tfpc_train --config=configs/dpc.py --config.images=../shared/data/train-photos --config.train_dir=runs/dpc-t0.1

Targets 0.2 and 0.4 bpp:

  tfpc_train --config=configs/dpc.py --config.images=../shared/data/train-photos --config.train_dir=runs/dpc-t0.2 --config.stages.dpc.options.target_bpp=0.2
  tfpc_train --config=configs/dpc.py --config.images=../shared/data/train-photos --config.train_dir=runs/dpc-t0.4 --config.stages.dpc.options.target_bpp=0.4

Export the `dpc` stage's codec form (the entropy coding runs in Python with
constriction, so there is no stock-TF codec form of it to serve):

  tfpc_export --train_dir=runs/dpc-t0.1/dpc --name=dpc-msssim-t0.1 --form=codec
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.train_dir = ""
  config.images = ""
  config.init_from = ""
  config.codec = {"architecture": "dpc", "num_filters": 64, "num_blocks": 3,
                  "latent_channels": 32}
  config.data = {"batch_size": 4, "patch_size": 128, "crop_size": 256,
                 "seed": 0}
  config.stages = ml_collections.ConfigDict()
  # Rate off (its target is above what 6 centers can cost): with a rate
  # term from the start, the importance map switches every latent off in
  # ~25 steps, before the decoder has learned anything, and stays there.
  config.stages.mse = {
      "objective": "rd", "options": {"lmbda": 0.01, "target_bpp": 2.0},
      "networks": {"codec": {}},
      "total_steps": 6000, "learning_rate": 1e-3,
      "log_every": 100, "checkpoint_every": 500}
  config.stages.mse_rate = {
      "start_from": "mse", "objective": "rd",
      "options": {"lmbda": 0.01, "target_bpp": 0.1},
      "networks": {"codec": {}},
      "total_steps": 9000, "learning_rate": 1e-4, "final_learning_rate": 1e-5,
      "final_steps": 2000, "log_every": 100, "checkpoint_every": 500}
  config.stages.dpc = {
      "start_from": "mse_rate", "objective": "dpc_rd",
      "options": {"alpha": 10.0, "beta": 1.0, "target_bpp": 0.1,
                  "distance": "none", "sigma_schedule": (1.0, 1.0, 1)},
      "networks": {"codec": {}},
      "total_steps": 2000, "learning_rate": 1e-4, "final_learning_rate": 1e-4,
      "log_every": 100, "checkpoint_every": 500}
  return config
