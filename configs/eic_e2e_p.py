r"""Staged recipe of EIC-E2E-P (Lee et al.): base codecs, perceptual decoders
that read their files, and the ablations of the paper's Fig. 3.

Stages (`eic-base`: mbt2018-mean + GRDN post-filter, docs/eic.md):

  base          eic_base, MSE (structure-oriented), end to end
  structure     from base: eic_perceptual "structure" (40 / 0.1 / 0.005),
                training only the decoder + GRDN and the pair discriminator
  no_perc       from base: structure without L_perc (Fig. 3 ablation)
  no_adv        from base: structure without L_adv (Fig. 3 ablation)
  base_msssim   eic_base, 1 - MS-SSIM (texture-oriented), end to end
  texture       from base_msssim: eic_perceptual "texture" (30 / 0.1 / 0.005)

Best base: both base stages start from `init_from` = `mbt2018-mean-mse`, the
shipped mean-scale model (by name: its newest version), so the codec has its
size (64 filters, 64 latent channels) and the warm start copies everything
but the GRDN (warm_start.txt: 18 + 8 + 6 + 8 variables of the analysis, hyper
transforms and prior, 18 of the synthesis's 58; the GRDN's 40 left at
initialization, where it is the identity: at step 0 the eic-base decodes as
mbt2018-mean-mse to the bit, docs/eic.md). `base` keeps the family's rate
(lmbda 0.0035); `base_msssim` uses CompressAI's MS-SSIM weight of that
quality (4.58). Learning rate 1e-4: 1e-3 wrecks the warm start in one step
(28 dB to 8 dB on the training batch). The perceptual stages train on 64 x 64
patches; the base stages on the family's 128 x 128.
L_perc uses a **random** VGG19 (He init, seed 0: `vgg19_weights="random"`),
since ImageNet weights cannot be had here; with VGG19 converted by
`tfpc_weights`, pass `--config.stages.structure.options.vgg19_weights=imagenet`
(and texture's).

Budget. Seconds per step, batch 8 (`benchmarks/recipe_step_time.py`): base
0.84 at 128 x 128, structure 1.29 at 64 x 64 with the training chain paused
(idle machine: load 3-4); base 5.2, base_msssim 6.9 while it ran (load
11-15), 44 for structure at 128 x 128. On 2 cores shared with the chain (about
twice the idle time): base 2000 steps (~55 min), structure 400 (~17 min):

  tfpc_train --config=configs/eic_e2e_p.py --config.images=../shared/data/train-photos --config.train_dir=runs/eic_best --config.stages.no_perc.total_steps=0 --config.stages.no_adv.total_steps=0 --config.stages.base_msssim.total_steps=0 --config.stages.texture.total_steps=0

A stage given 0 steps stops at its warm start (a checkpoint at step 0), so
the same command without the overrides, later, trains the ablations (400 steps
each) and the texture pair (base_msssim 2000, texture 400: about 1.5 hours
shared) and skips the finished stages. Export a stage as any run:
`tfpc_export --train_dir=runs/eic_best/structure ...`.
"""

import ml_collections

from tfpc.losses import eic as eic_losses

_DECODER_AND_DISCRIMINATOR = {"codec": {"modules": ("synthesis_transform",)},
                              "discriminator": {}}


def _base(**options):
  """An end-to-end base stage from `init_from`: `lmbda` (MSE) or
  `msssim_weight`."""
  return {"objective": "eic_base", "options": options,
          "total_steps": 2000, "learning_rate": 1e-4,
          "final_learning_rate": 1e-5, "final_steps": 300, "log_every": 50,
          "checkpoint_every": 250}


def _perceptual(start_from, variant, **weights):
  """A decoder-only stage; `weights` override the variant's (0 ablates). All
  three weights are config fields, so a command line can set them."""
  defaults = dict(zip(("rec_weight", "perc_weight", "adv_weight"),
                      eic_losses.VARIANTS[variant][1]))
  return {"start_from": start_from, "objective": "eic_perceptual",
          "options": {"variant": variant, "vgg19_weights": "random",
                      **defaults, **weights},
          "networks": _DECODER_AND_DISCRIMINATOR,
          "data": {"patch_size": 64, "crop_size": 128}, "total_steps": 400,
          "learning_rate": 1e-4, "final_learning_rate": 5e-5,
          "final_steps": 100, "log_every": 25, "checkpoint_every": 100}


def get_config():
  config = ml_collections.ConfigDict()
  config.train_dir = ""
  config.images = ""
  config.init_from = "mbt2018-mean-mse"
  config.codec = {"architecture": "eic-base", "num_filters": 64,
                  "latent_channels": 64}
  config.data = {"batch_size": 8, "patch_size": 128, "crop_size": 256,
                 "seed": 0}
  config.stages = ml_collections.ConfigDict()
  config.stages.base = _base(lmbda=0.0035)
  config.stages.structure = _perceptual("base", "structure")
  config.stages.no_perc = _perceptual("base", "structure", perc_weight=0.0)
  config.stages.no_adv = _perceptual("base", "structure", adv_weight=0.0)
  config.stages.base_msssim = _base(msssim_weight=4.58)
  config.stages.texture = _perceptual("base_msssim", "texture")
  return config
