"""Rate-distortion objectives on learned perceptual distances.

The distances are those of `tfpc.metrics.perceptual` (LPIPS, DISTS, VGG19
conv5_4 features), differentiable, on images in [0, 255].
"""

import tensorflow as tf

from tfpc.losses import rd
from tfpc.losses.objective import Objective
from tfpc.metrics import perceptual


def vgg19_feature_distance(x, x_hat, layer="relu5_4"):
  """Mean squared difference [N] of VGG19 features, as EIC-E2E-P's loss.

  `layer` is relu5_4 (after the ReLU) or conv5_4 (before it); images in
  [0, 255] are normalized as torchvision's ImageNet models expect.
  """
  return perceptual.distance(f"vgg19_{layer}", x, x_hat)


class PerceptualRateDistortion(Objective):
  """L = lmbda * 255^2 * [weight * D + (1 - weight) * MSE] + bpp.

  D is the batch mean of `distance` (one of `perceptual.DISTANCES`) between
  the patches and their reconstructions clipped to [0, 255], and MSE that of
  images scaled to [0, 1]: with weight = 0 this is `RateDistortion(lmbda)`.
  D is logged under the distance's name. The network's weights come from
  `weights_dir` (default: `tfpc.weights.weights_dir()`).
  """

  def __init__(self, distance, lmbda, weight, weights_dir=None):
    self.distance = distance
    # Built now, outside any tf.function.
    self.model = perceptual.build(distance, weights_dir)
    self.lmbda = lmbda
    self.weight = weight

  def __call__(self, x, outputs, step=None):
    terms = rd.rate_distortion_terms(x, outputs)
    x_hat = tf.clip_by_value(outputs["x_hat"], 0.0, 255.0)
    distance = tf.reduce_mean(self.model((x, x_hat)))
    loss = self.lmbda * (self.weight * 255.0**2 * distance +
                         (1.0 - self.weight) * terms["mse"]) + terms["bpp"]
    return {"loss": loss, **terms, self.distance: distance}
