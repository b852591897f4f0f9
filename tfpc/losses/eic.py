"""EIC-E2E-P objectives (Lee et al. 2020): the base codec's rate-distortion
loss, and the perceptual fine-tuning of its decoder.

`eic_base`: L = lmbda * MSE + bpp (MSE on [0, 255], as `rd`) or
msssim_weight * (1 - MS-SSIM) + bpp, trained end to end.

`eic_perceptual` (eq. 1, 2), for a stage that trains only the codec's
`synthesis_transform` (decoder and GRDN) and the discriminator:

  L_G = l_rec * L_rec + l_perc * L_perc + l_adv * L_adv_G   ("loss")
  L_D = L_adv_D                                   ("discriminator_loss")

L_rec is the MSE of images scaled to [0, 1] ("mse", structure-oriented) or
1 - MS-SSIM ("msssim", texture-oriented); L_perc the MSE of VGG19 conv5_4
features (`vgg19_feature_distance`, ImageNet-normalized inputs as ESRGAN's;
with l_perc = 0 no VGG19 runs and none is needed; `vgg19_weights="random"`
uses a fixed random VGG19 for demos where ImageNet weights are missing);
L_adv the relativistic average GAN of ESRGAN, whose discriminator sees pairs:
(x, x_base) real and (x_hat, x_base) fake, x_base being the base model's
reconstruction of the same latents. The rate is not a term: the encoder and
entropy models are frozen, so it cannot change.

Where x_base comes from: the discriminator network (`PairDiscriminator`,
`auxiliary["discriminator"]`) holds a frozen copy of the base synthesis,
taken from the codec in the stage's first step, before any update, i.e.
from the warm-started base weights whenever the stage starts after the warm
start, and then saved in the stage's checkpoints with the discriminator, so
a resumed stage keeps the base copy rather than the partly tuned decoder.
The copy's variables are not trainable: the discriminator's update leaves it
as it is. (Codec outputs carrying x_base would need a second synthesis
inside the codec and its exports; holding it in the objective object alone
would lose it on resumption.)
"""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from tfpc import weights as weights_lib
from tfpc.codecs import base
from tfpc.losses import rd
from tfpc.losses.objective import Objective
from tfpc.losses.objective import register_objective
from tfpc.losses.perceptual import vgg19_feature_distance
from tfpc.metrics import fullref
from tfpc.metrics import perceptual

# Paper weights (l_rec, l_perc, l_adv) and L_rec of each perceptual variant.
VARIANTS = {"structure": ("mse", (40.0, 0.1, 0.005)),
            "texture": ("msssim", (30.0, 0.1, 0.005))}


RECONSTRUCTIONS = ("mse", "msssim")
VGG19_WEIGHTS = ("imagenet", "random")


def _check_reconstruction(kind):
  if kind not in RECONSTRUCTIONS:
    raise ValueError(f"reconstruction loss must be mse or msssim, got "
                     f"{kind!r}")
  return kind


def reconstruction_loss(kind, x, x_hat):
  """L_rec of batches in [0, 255]: "mse" (of images in [0, 1]) or "msssim"
  (1 - MS-SSIM, of `x_hat` clipped to [0, 255])."""
  if _check_reconstruction(kind) == "mse":
    return rd.mse_255(x, x_hat) / 255.0**2
  clipped = tf.clip_by_value(x_hat, 0.0, 255.0)
  return 1.0 - tf.reduce_mean(fullref.msssim(x, clipped))


def random_vgg19_arrays(seed=0):
  """VGG19 arrays in torchvision's shapes, He-initialized from `seed` (biases
  N(0, 0.01^2)): a stand-in where ImageNet weights cannot be had, not a
  perceptual feature space."""
  rng = np.random.default_rng(seed)
  return {key: (np.sqrt(2.0 / np.prod(shape[1:])) if len(shape) > 1
                else 0.01) * rng.standard_normal(shape, np.float32)
          for key, shape in weights_lib.NETWORKS["vgg19"].shapes.items()}


def vgg19_conv5_4_distance(source):
  """The L_perc distance fn(x, x_hat) -> [N] of VGG19 with `source` weights:
  "imagenet" (converted by `tfpc_weights`; fails now if missing) or "random"
  (`random_vgg19_arrays()`)."""
  if source not in VGG19_WEIGHTS:
    raise ValueError(f"vgg19_weights must be one of {VGG19_WEIGHTS}, got "
                     f"{source!r}")
  if source == "imagenet":
    perceptual.model("vgg19_conv5_4")
    return lambda x, x_hat: vgg19_feature_distance(x, x_hat, "conv5_4")
  folder = tempfile.mkdtemp(prefix="tfpc-random-vgg19-")
  try:
    np.savez(os.path.join(folder, "vgg19.npz"), **random_vgg19_arrays())
    model = perceptual.build("vgg19_conv5_4", folder)
  finally:
    shutil.rmtree(folder)
  return lambda x, x_hat: model((x, x_hat))


class EICBaseObjective(Objective):
  """L = lmbda * MSE + bpp (MSE on [0, 255], as `rd`; structure-oriented)
  or msssim_weight * (1 - MS-SSIM) + bpp (texture-oriented): give one."""

  def __init__(self, lmbda=None, msssim_weight=None):
    if (lmbda is None) == (msssim_weight is None):
      raise ValueError("give exactly one of lmbda (MSE on [0, 255]) and "
                       "msssim_weight")
    self.reconstruction = "msssim" if lmbda is None else "mse"
    # L_rec of "mse" is the MSE of images on [0, 1].
    self.weight = msssim_weight if lmbda is None else lmbda * 255.0**2

  def __call__(self, x, outputs, step=None):
    rec = reconstruction_loss(self.reconstruction, x, outputs["x_hat"])
    return {"loss": self.weight * rec + outputs["bpp"], "rec": rec,
            **rd.rate_distortion_terms(x, outputs)}


class PairDiscriminator(tf.keras.Model):
  """Logits [N] of (image, base reconstruction) pairs, ESRGAN-like: per
  stage a 3x3 and a strided 4x4 convolution with leaky ReLU (no batch norm),
  global average pooling, a dense layer.

  Attributes:
    base_synthesis: frozen copy of the base model's synthesis transform
      (see the module docstring); `has_base` tells whether it holds it.
  """

  def __init__(self, base_synthesis, filters=(16, 32, 64, 64)):
    super().__init__(name="pair_discriminator")
    self.base_synthesis = base_synthesis
    self.base_synthesis.trainable = False
    self.has_base = tf.Variable(False, trainable=False, name="has_base")
    leaky = tf.keras.layers.LeakyReLU(0.2)
    self.features = tf.keras.Sequential([
        layer for i, f in enumerate(filters) for layer in (
            tf.keras.layers.Conv2D(f, 3, padding="same", activation=leaky,
                                   name=f"conv_{i}"),
            tf.keras.layers.Conv2D(f, 4, 2, padding="same", activation=leaky,
                                   name=f"down_{i}"))] + [
                tf.keras.layers.GlobalAveragePooling2D(),
                tf.keras.layers.Dense(1, name="logit")], name="features")
    self.features.build((None, None, None, 6))

  def call(self, inputs):
    """(image, context), both [N, H, W, 3] in [0, 255], to logits [N]."""
    pair = tf.concat(inputs, axis=-1) / 127.5 - 1.0
    return self.features(pair)[:, 0]


def relativistic_losses(real_logits, fake_logits):
  """(L_adv_G, L_adv_D) of the relativistic average GAN (ESRGAN)."""
  bce = lambda labels, logits: tf.reduce_mean(
      tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))
  real = real_logits - tf.reduce_mean(fake_logits)
  fake = fake_logits - tf.reduce_mean(real_logits)
  ones, zeros = tf.ones_like(real), tf.zeros_like(real)
  return ((bce(zeros, real) + bce(ones, fake)) / 2,
          (bce(ones, real) + bce(zeros, fake)) / 2)


class EICPerceptualObjective(Objective):
  """L_G and L_D of eq. 1 and 2 (module docstring) for `codec`'s decoder.

  Attributes:
    discriminator: the `PairDiscriminator`, `auxiliary["discriminator"]`.
  """

  def __init__(self, codec, reconstruction="mse", rec_weight=40.0,
               perc_weight=0.1, adv_weight=0.005,
               discriminator_filters=(16, 32, 64, 64),
               vgg19_weights="imagenet"):
    self.reconstruction = _check_reconstruction(reconstruction)
    self.perceptual_distance = (vgg19_conv5_4_distance(vgg19_weights)
                                if perc_weight else None)
    self.codec = codec
    self.weights = (rec_weight, perc_weight, adv_weight)
    base_synthesis = base.build_codec(codec.get_config()).synthesis_transform
    self.discriminator = PairDiscriminator(base_synthesis,
                                           discriminator_filters)
    self.auxiliary = {"discriminator": ("discriminator_loss",
                                        self.discriminator)}

  def _take_base(self):
    """Copies the codec's synthesis into the discriminator's base copy."""
    for target, source in zip(self.discriminator.base_synthesis.variables,
                              self.codec.synthesis_transform.variables):
      target.assign(source)
    return self.discriminator.has_base.assign(True)

  def base_reconstruction(self, y_hat):
    """x_base: the base synthesis of the latents the codec decoded."""
    tf.cond(self.discriminator.has_base,
            self.discriminator.has_base.read_value, self._take_base)
    return self.discriminator.base_synthesis(tf.stop_gradient(y_hat))

  def __call__(self, x, outputs, step=None):
    x_hat = outputs["x_hat"]
    x_base = self.base_reconstruction(outputs["y_hat"])
    rec = reconstruction_loss(self.reconstruction, x, x_hat)
    rec_weight, perc_weight, adv_weight = self.weights
    perc = 0.0
    if perc_weight:
      perc = tf.reduce_mean(self.perceptual_distance(
          x, tf.clip_by_value(x_hat, 0.0, 255.0)))
    adv_g, adv_d = relativistic_losses(self.discriminator((x, x_base)),
                                       self.discriminator((x_hat, x_base)))
    return {"loss": rec_weight * rec + perc_weight * perc + adv_weight * adv_g,
            "discriminator_loss": adv_d, "rec": rec, "perc": perc,
            "adv_g": adv_g, **rd.rate_distortion_terms(x, outputs),
            "base_psnr": fullref.psnr_from_mse(rd.mse_255(x, x_base))}


@register_objective("eic_base")
def eic_base(codec, lmbda=None, msssim_weight=None):
  """The base codec's objective (`EICBaseObjective`)."""
  del codec  # trains end to end on the codec's own outputs
  return EICBaseObjective(lmbda, msssim_weight)


@register_objective("eic_perceptual")
def eic_perceptual(codec, variant="structure", rec_weight=None,
                   perc_weight=None, adv_weight=None,
                   discriminator_filters=(16, 32, 64, 64),
                   vgg19_weights="imagenet"):
  """`EICPerceptualObjective` of a paper variant ("structure": MSE, weights
  40 / 0.1 / 0.005; "texture": 1 - MS-SSIM, 30 / 0.1 / 0.005); a weight
  given overrides the variant's (0 for the ablations without a term).
  `vgg19_weights`: "imagenet", or "random" for demos without them
  (`vgg19_conv5_4_distance`)."""
  if variant not in VARIANTS:
    raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got "
                     f"{variant!r}")
  reconstruction, defaults = VARIANTS[variant]
  weights = [default if weight is None else weight for weight, default in
             zip((rec_weight, perc_weight, adv_weight), defaults)]
  return EICPerceptualObjective(codec, reconstruction, *weights,
                                discriminator_filters=discriminator_filters,
                                vgg19_weights=vgg19_weights)
