"""The three training stages of NLAIC-lite (Wang, Chen, Ma, CVPR-W 2021).

Stage 1, `nlaic_rd` (eq. 1-4): the paper's L = lambda * (w1 * MSE_01 +
DISTS) + bpp, written in tfpc's convention as L = lmbda * MSE +
distance_weight * DISTS + bpp with MSE on [0, 255] (lmbda = lambda * w1 /
255^2, distance_weight = lambda; the paper's w1 = 100 makes the two
distortions comparable). bpp is r(y) + r(z) per pixel.

Stages 2 and 3, `nlaic_gan`: a conditional discriminator D(x, y_hat) (the
image and its quantized latents, Fig. 2(b)) learns eq. 5,
  L_D = -E[log2(1 - D(x_hat, y_hat))] - E[log2 D(x, y_hat)],
and the main decoder eq. 6,
  L_Dd = -w2 * E[log2 D(x_hat, y_hat)] + DISTS(x, x_hat) [+ lmbda * MSE].
Stage 2 trains D alone (networks {"discriminator": {"loss":
"discriminator_loss"}}); stage 3 the codec's `synthesis_transform` on `loss`
and D on `discriminator_loss`: D keeps learning while the decoder learns to
fool it, as in GAN training (Mentzer et al. 2020), because a frozen D is a
fixed target the decoder learns to exploit (as a frozen ProxIQA proxy is).
The paper trains the decoder "just like the generator of a GAN" and does not
say D is frozen. Encoder and entropy models stay frozen, so stage-3 models
decode stage-1 files.

The GAN objective asks the trainer for the codec's inference-mode outputs
(`forward = "inference"`): the decoder learns on the rounded latents it will
decode, not the noisy ones of training mode.

The partial post-processing network (`tfpc.blocks.PostFilter`) trains with
`nlaic_post` as the paper's section 3.1: each patch is cut into 2x2 blocks
coded independently (inference mode, codec frozen), spliced back, partially
post-processed, and the filter minimizes 1 - MS-SSIM (networks
{"post_filter": {"loss": "post_loss"}}; 256x256 patches give the paper's
128x128 blocks).

Without DISTS weights (the VGG16 backbone is not shipped), `distance="none"`
drops the DISTS terms.
"""

import math

import tensorflow as tf

from tfpc import blocks
from tfpc.losses import rd
from tfpc.losses.objective import Objective
from tfpc.losses.objective import register_objective
from tfpc.metrics import fullref
from tfpc.metrics import perceptual


def _distance(model, x, x_hat):
  """{name: mean perceptual distance of a batch}, {} without a model."""
  if model is None:
    return {}
  x_hat = tf.clip_by_value(x_hat, 0.0, 255.0)
  return {model.name: tf.reduce_mean(model((x, x_hat)))}


class NLAICRateDistortion(Objective):
  """Eq. 1-4: lmbda * MSE + distance_weight * DISTS + bpp (stage 1)."""

  def __init__(self, lmbda, distance_weight, distance="dists",
               weights_dir=None):
    self.lmbda, self.distance_weight = lmbda, distance_weight
    self.model = perceptual.build_optional(distance, weights_dir)

  def __call__(self, x, outputs, step=None):
    terms = rd.rate_distortion_terms(x, outputs)
    distance = _distance(self.model, x, outputs["x_hat"])
    loss = (self.lmbda * terms["mse"] +
            self.distance_weight * sum(distance.values()) + terms["bpp"])
    return {"loss": loss, **terms, **distance}


class ConditionalDiscriminator(tf.keras.Model):
  """D(x, y_hat): logits of "x is an original" on a grid of patches.

  As HiFiC's: y_hat is mapped to 12 channels (1x1 convolution, leaky ReLU),
  upsampled (nearest) to the image size and concatenated to the image on
  [0, 1]; then four 4x4 convolutions (three of stride 2, `filters` doubling)
  with leaky ReLUs and a 1x1 convolution to one logit per patch. Built for
  latents of `latent_channels`.
  """

  def __init__(self, latent_channels, filters=64, **kwargs):
    super().__init__(name="discriminator", **kwargs)
    leaky = lambda: tf.keras.layers.LeakyReLU(0.2)
    self.condition = tf.keras.layers.Conv2D(12, 1, activation=leaky())
    self.stack = tf.keras.Sequential(
        [tf.keras.layers.Conv2D(filters * 2**i, 4, strides=2, padding="same",
                                activation=leaky()) for i in range(3)] +
        [tf.keras.layers.Conv2D(filters * 8, 4, padding="same",
                                activation=leaky()),
         tf.keras.layers.Conv2D(1, 1)])
    self((tf.zeros((1, 16, 16, 3)), tf.zeros((1, 1, 1, latent_channels))))

  def call(self, inputs):
    """Logits [N, H/8, W/8, 1] of (images in [0, 255], y_hat)."""
    x, y_hat = inputs
    condition = tf.image.resize(self.condition(y_hat), tf.shape(x)[1:3],
                                method="nearest")
    return self.stack(tf.concat([x / 255.0, condition], -1))


def _minus_log2(logits, real):
  """-log2 D (real) or -log2(1 - D) (not real), D = sigmoid(logits)."""
  labels = tf.ones_like(logits) if real else tf.zeros_like(logits)
  return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels, logits)) / math.log(2.0)


class NLAICAdversarial(Objective):
  """Eq. 5 (`discriminator_loss`) and eq. 6 (`loss`; stages 2 and 3).

  `loss` = w2 * -E[log2 D(x_hat, y_hat)] + DISTS + lmbda * MSE (on
  [0, 255]).
  """

  forward = "inference"

  def __init__(self, discriminator, w2=1.0, lmbda=0.0, distance="dists",
               weights_dir=None):
    self.discriminator = discriminator
    self.w2, self.lmbda = w2, lmbda
    self.model = perceptual.build_optional(distance, weights_dir)
    self.auxiliary = {"discriminator": ("discriminator_loss", discriminator)}

  def __call__(self, x, outputs, step=None):
    terms = rd.rate_distortion_terms(x, outputs)
    y_hat = tf.stop_gradient(outputs["y_hat"])
    x_hat = outputs["x_hat"]
    fake = self.discriminator((tf.stop_gradient(x_hat), y_hat))
    real = self.discriminator((x, y_hat))
    discriminator_loss = _minus_log2(fake, False) + _minus_log2(real, True)
    adversarial = _minus_log2(self.discriminator((x_hat, y_hat)), True)
    distance = _distance(self.model, x, x_hat)
    loss = (self.w2 * adversarial + sum(distance.values()) +
            self.lmbda * terms["mse"])
    return {"loss": loss, "discriminator_loss": discriminator_loss,
            "adversarial_loss": adversarial, **distance, **terms}


class PartialPostProcessing(Objective):
  """`post_loss` = 1 - MS-SSIM of 2x2 independently coded blocks, spliced and
  partially post-processed by `post_filter` (seam strips of `width`)."""

  forward = None  # the blocks are coded here

  def __init__(self, codec, post_filter, width=blocks.DEFAULT_WIDTH,
               sigma=None):
    self.codec = codec
    self.post_filter = post_filter
    self.width, self.sigma = width, sigma
    self.auxiliary = {"post_filter": ("post_loss", post_filter)}

  def __call__(self, x, outputs, step=None):
    height, width = x.shape[1] // 2, x.shape[2] // 2
    rows = tf.split(x, 2, axis=1)
    quadrants = tf.concat([q for row in rows for q in tf.split(row, 2, 2)], 0)
    decoded = tf.stop_gradient(tf.round(tf.clip_by_value(
        self.codec(quadrants, training=False)["x_hat"], 0.0, 255.0)))
    top_left, top_right, bottom_left, bottom_right = tf.split(decoded, 4)
    spliced = tf.concat([tf.concat([top_left, top_right], 2),
                         tf.concat([bottom_left, bottom_right], 2)], 1)
    processed = tf.clip_by_value(blocks.post_process(
        spliced, (height, width), self.post_filter, self.width, self.sigma),
                                 0.0, 255.0)
    before = tf.reduce_mean(fullref.msssim(x, spliced))
    after = tf.reduce_mean(fullref.msssim(x, processed))
    return {"post_loss": 1.0 - after, "msssim_spliced": before,
            "msssim_processed": after}


@register_objective("nlaic_rd")
def nlaic_rd(codec, lmbda, distance_weight, distance="dists",
             weights_dir=None):
  del codec
  return NLAICRateDistortion(lmbda, distance_weight, distance, weights_dir)


@register_objective("nlaic_gan")
def nlaic_gan(codec, w2=1.0, lmbda=0.0, distance="dists",
              discriminator_filters=64, weights_dir=None):
  latent_channels = codec.latent_codec.symbols[0].channels
  return NLAICAdversarial(ConditionalDiscriminator(
      latent_channels, discriminator_filters), w2, lmbda, distance,
                          weights_dir)


@register_objective("nlaic_post")
def nlaic_post(codec, width=blocks.DEFAULT_WIDTH, sigma=None, filters=32,
               layers=4):
  return PartialPostProcessing(codec, blocks.PostFilter(filters, layers),
                               width, sigma)
