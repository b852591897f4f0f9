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

The perceptual stages keep the encoder and entropy models frozen, so each
decodes its base's files (same coding id). Demo size: 32-filter codec, the
default GRDN (99k parameters), 64 x 64 patches (the paper's 96 is not a
multiple of the codec's stride, 64), batch 8, 1000 base steps and 300 per
perceptual stage instead of the paper's hundreds of thousands: about 2
hours on 2 shared CPU cores (measured at load 6-10: ~1.7 base steps/s,
0.16-0.3 perceptual steps/s; docs/eic.md has a shorter run's numbers). L_perc uses a **random** VGG19 (He init, seed 0:
`vgg19_weights="random"`), since ImageNet weights cannot be had here; with
VGG19 converted by `tfpc_weights`, pass
`--config.stages.structure.options.vgg19_weights=imagenet` (and texture's).

  tfpc_train --config=configs/eic_e2e_p.py --config.images=../shared/data/train-photos --config.train_dir=runs/eic_e2e_p

Export a stage as any run: `tfpc_export --train_dir=runs/eic_e2e_p/structure ...`.
"""

import ml_collections

_DECODER_AND_DISCRIMINATOR = {"codec": {"modules": ("synthesis_transform",)},
                              "discriminator": {}}


def _base(**options):
  """An end-to-end base stage: `lmbda` (MSE) or `msssim_weight`."""
  return {"objective": "eic_base", "options": options,
          "total_steps": 1000, "learning_rate": 1e-3,
          "final_learning_rate": 1e-4, "final_steps": 200, "log_every": 50,
          "checkpoint_every": 250}


def _perceptual(start_from, variant, **weights):
  """A decoder-only stage; `weights` override the variant's (0 ablates)."""
  return {"start_from": start_from, "objective": "eic_perceptual",
          "options": {"variant": variant, "vgg19_weights": "random",
                      **weights},
          "networks": _DECODER_AND_DISCRIMINATOR, "total_steps": 300,
          "learning_rate": 1e-4, "final_learning_rate": 5e-5,
          "final_steps": 100, "log_every": 25, "checkpoint_every": 100}


def get_config():
  config = ml_collections.ConfigDict()
  config.train_dir = ""
  config.images = ""
  config.init_from = ""
  config.codec = {"architecture": "eic-base", "num_filters": 32,
                  "latent_channels": 32}
  config.data = {"batch_size": 8, "patch_size": 64, "crop_size": 128,
                 "seed": 0}
  config.stages = ml_collections.ConfigDict()
  config.stages.base = _base(lmbda=0.01)
  config.stages.structure = _perceptual("base", "structure")
  config.stages.no_perc = _perceptual("base", "structure", perc_weight=0.0)
  config.stages.no_adv = _perceptual("base", "structure", adv_weight=0.0)
  config.stages.base_msssim = _base(msssim_weight=30.0)
  config.stages.texture = _perceptual("base_msssim", "texture")
  return config
