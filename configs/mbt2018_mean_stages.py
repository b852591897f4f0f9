r"""Staged recipe: mbt2018-mean trained on MSE, then its decoder alone.

Stage `rd` trains the whole mean-scale hyperprior codec (eq. 3, MSE on
[0, 255]); stage `decoder` starts from it and fine-tunes only the synthesis
transform at a higher lambda, so the encoder and entropy models stay frozen
and the stage-2 model decodes the stage-1 model's files. A few minutes on 2
CPU cores:

  tfpc_train --config=configs/mbt2018_mean_stages.py --config.images=skimage --config.train_dir=runs/mbt2018_mean_stages

Export a stage as any run: `tfpc_export --train_dir=runs/mbt2018_mean_stages/decoder ...`.
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.train_dir = ""
  config.images = ""
  config.init_from = ""
  config.codec = {"architecture": "mbt2018-mean", "num_filters": 32,
                  "latent_channels": 32}
  config.data = {"batch_size": 8, "patch_size": 64, "crop_size": 128,
                 "seed": 0}
  config.stages = ml_collections.ConfigDict()
  config.stages.rd = {
      "objective": "rd", "options": {"lmbda": 0.01},
      "networks": {"codec": {}},
      "total_steps": 400, "learning_rate": 1e-3, "log_every": 20,
      "checkpoint_every": 100}
  config.stages.decoder = {
      "start_from": "rd", "objective": "rd", "options": {"lmbda": 0.02},
      "networks": {"codec": {"modules": ("synthesis_transform",)}},
      "total_steps": 200, "learning_rate": 1e-4, "log_every": 20,
      "checkpoint_every": 100}
  return config
