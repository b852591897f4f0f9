r"""Staged recipe: NLAIC-lite's three stages and its post filter (issue 14).

Stage `rd` trains the whole codec on eq. 1-4 (`nlaic_rd`); `discriminator`
starts from it and trains the conditional discriminator alone on eq. 5;
`decoder` starts from that and fine-tunes only the synthesis transform on
eq. 6 while the discriminator keeps learning (`nlaic_gan`), so the encoder and
entropy models stay frozen and `decoder` models decode `rd` files; `post`
starts from `rd` and trains the partial post-processing filter
(`nlaic_post`, 1 - MS-SSIM of 2x2 independently coded blocks; set
`--config.stages.post.start_from=decoder` for the fine-tuned decoder).

`rd` uses the paper's lambda = 8 and w1 = 100 in tfpc's convention (`lmbda`
weighs the MSE of images on [0, 255]: lambda * w1 / 255^2; `distance_weight`
= lambda). DISTS is off by default (`distance` "none": its VGG16 backbone
weights are not shipped, see docs/perceptual.md), so `rd` minimizes lmbda *
MSE + bpp and the GAN stages -w2 log2 D. Without DISTS nothing but the
discriminator would tie the stage-3 decoder to the image, so `decoder` adds
lmbda * MSE (100 / 255^2: stage 1's w1 on [0, 1] images) to eq. 6. With the
weights installed, add `--config.stages.rd.options.distance=dists` (and the
same for `discriminator` and `decoder`;
`--config.stages.decoder.options.lmbda=0` gives the paper's eq. 6). Demo
size (N = M = 32, 64x64 patches), a few minutes on 2 CPU cores:

  tfpc_train --config=configs/nlaic_lite.py --config.images=skimage --config.train_dir=runs/nlaic_lite

The paper's sizes: `--config.codec.num_filters=192`,
`--config.codec.latent_channels=192`, `--config.codec.hyper_filters=128`,
`--config.codec.num_blocks=3`, 256x256 patches.

Best base (issue 28), the argument `mbt2018-mean-mse`: the codec on
mbt2018-mean's backbone at the default model's sizes (N = M = hyper = 64, one
residual block), warm-started from it, so step 0 is that model; `rd` at its
lambda (0.0035) and a learning rate that keeps the start (1e-4), 128x128
patches. A 2-core budget (`runs/` folder of docs/nlaic.md):

  tfpc_train --config=configs/nlaic_lite.py:mbt2018-mean-mse --config.images=../shared/data/train-photos --config.train_dir=runs/nlaic-mbt
"""

import ml_collections


def get_config(arg=None):
  config = _demo()
  if arg == "mbt2018-mean-mse":
    _from_mbt2018(config)
  elif arg:
    raise ValueError(f"nlaic_lite.py: unknown argument {arg!r} (choices: "
                     "none, mbt2018-mean-mse)")
  return config


def _from_mbt2018(config):
  """The best-base variant of the docstring, in place."""
  config.init_from = "mbt2018-mean-mse"
  config.codec = {"architecture": "nlaic-lite", "num_filters": 64,
                  "latent_channels": 64, "hyper_filters": 64,
                  "num_blocks": 1, "attention_chunk": 1024,
                  "backbone": "mbt2018-mean"}
  config.data.update({"patch_size": 128, "crop_size": 256})
  config.stages.rd.options.lmbda = 0.0035
  config.stages.rd.update({"total_steps": 1500, "learning_rate": 1e-4,
                           "checkpoint_every": 250, "log_every": 50})
  config.stages.discriminator.update({"total_steps": 200, "log_every": 50})
  config.stages.decoder.update({"total_steps": 300, "log_every": 50})


def _demo():
  config = ml_collections.ConfigDict()
  config.train_dir = ""
  config.images = ""
  config.init_from = ""
  config.codec = {"architecture": "nlaic-lite", "num_filters": 32,
                  "latent_channels": 32, "hyper_filters": 32,
                  "num_blocks": 1, "attention_chunk": 256}
  config.data = {"batch_size": 8, "patch_size": 64, "crop_size": 128,
                 "seed": 0}
  config.stages = ml_collections.ConfigDict()
  config.stages.rd = {
      "objective": "nlaic_rd",
      "options": {"lmbda": 8.0 * 100.0 / 255.0**2, "distance_weight": 8.0,
                  "distance": "none"},
      "networks": {"codec": {}},
      "total_steps": 400, "learning_rate": 1e-3, "log_every": 20,
      "checkpoint_every": 100}
  config.stages.discriminator = {
      "start_from": "rd", "objective": "nlaic_gan",
      "options": {"w2": 1.0, "distance": "none", "discriminator_filters": 16},
      "networks": {"discriminator": {"loss": "discriminator_loss"}},
      "total_steps": 100, "learning_rate": 1e-4, "log_every": 20,
      "checkpoint_every": 100}
  config.stages.decoder = {
      "start_from": "discriminator", "objective": "nlaic_gan",
      "options": {"w2": 1.0, "distance": "none", "discriminator_filters": 16,
                  "lmbda": 100.0 / 255.0**2},
      "networks": {"codec": {"loss": "loss",
                             "modules": ("synthesis_transform",)},
                   "discriminator": {"loss": "discriminator_loss"}},
      "total_steps": 100, "learning_rate": 1e-5, "log_every": 20,
      "checkpoint_every": 100}
  config.stages.post = {
      "start_from": "rd", "objective": "nlaic_post",
      "options": {"width": 32, "filters": 16, "layers": 4},
      "networks": {"post_filter": {"loss": "post_loss"}},
      "data": {"patch_size": 128, "crop_size": 128},
      "total_steps": 100, "learning_rate": 1e-3, "log_every": 20,
      "checkpoint_every": 100}
  return config
