"""DPC's objective (Patel et al. 2019, section 3.3): perceptual distortion
plus a rate clipped at a target, as Mentzer et al. 2018."""

import tensorflow as tf

from tfpc.losses import rd
from tfpc.losses import register_objective
from tfpc.metrics import fullref
from tfpc.metrics import perceptual


class DeepPerceptualRate:
  """L = alpha * (DPL + (1 - MS-SSIM)) + max(t, beta * bpp).

  DPL is the batch mean of LPIPS (`distance`, weighted equally with the
  MS-SSIM term as DPC's lambda = 1); `distance=None` drops it (MS-SSIM only,
  e.g. without ImageNet backbone weights). Reconstructions are clipped to
  [0, 255]. The clipped rate stops pushing once beta * bpp is below t.
  """

  def __init__(self, alpha, beta, target_bpp, distance="lpips",
               weights_dir=None):
    self.alpha, self.beta, self.target_bpp = alpha, beta, target_bpp
    self.distance = distance
    # Built now, outside any tf.function.
    self.model = distance and perceptual.build(distance, weights_dir)

  def __call__(self, x, outputs):
    terms = rd.rate_distortion_terms(x, outputs)
    x_hat = tf.clip_by_value(outputs["x_hat"], 0.0, 255.0)
    terms["msssim"] = tf.reduce_mean(fullref.msssim(x, x_hat))
    distortion = 1.0 - terms["msssim"]
    if self.model:
      terms[self.distance] = tf.reduce_mean(self.model((x, x_hat)))
      distortion += terms[self.distance]
    rate = tf.maximum(self.target_bpp, self.beta * terms["bpp"])
    return {"loss": self.alpha * distortion + rate, **terms}


@register_objective("dpc_rd")
def dpc_rd(codec, alpha, beta, target_bpp, distance="lpips"):
  """`DeepPerceptualRate`; the codec is not needed."""
  del codec
  return DeepPerceptualRate(alpha, beta, target_bpp, distance)
