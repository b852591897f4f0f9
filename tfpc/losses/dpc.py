"""DPC's objective (Patel et al. 2019, section 3.3): perceptual distortion
plus a rate clipped at a target, as Mentzer et al. 2018."""

import tensorflow as tf

from tfpc.losses import rd
from tfpc.losses.objective import Objective
from tfpc.losses.objective import register_objective
from tfpc.metrics import fullref
from tfpc.metrics import perceptual


class DeepPerceptualRate(Objective):
  """L = alpha * (DPL + (1 - MS-SSIM)) + max(t, beta * bpp).

  DPL is the batch mean of LPIPS (`distance`, weighted equally with the
  MS-SSIM term as DPC's lambda = 1); `distance` "none" drops it (MS-SSIM
  only, e.g. without ImageNet backbone weights). Reconstructions are clipped
  to [0, 255]. The clipped rate stops pushing once beta * bpp is below t.

  With `quantizer` and `sigma_schedule` = (start, end, steps), each step
  sets `quantizer.sigma` for the next one, linearly from start to end over
  `steps` steps (the first step keeps the sigma the quantizer holds).
  """

  def __init__(self, alpha, beta, target_bpp, distance="lpips",
               weights_dir=None, quantizer=None, sigma_schedule=()):
    self.alpha, self.beta, self.target_bpp = alpha, beta, target_bpp
    self.distance = distance
    # Built now, outside any tf.function.
    self.model = perceptual.build_optional(distance, weights_dir)
    self.quantizer, self.sigma_schedule = quantizer, tuple(sigma_schedule)

  def __call__(self, x, outputs, step=None):
    terms = rd.rate_distortion_terms(x, outputs)
    if self.sigma_schedule and step is not None:
      start, end, steps = self.sigma_schedule
      fraction = tf.minimum(tf.cast(step + 1, tf.float32) / steps, 1.0)
      self.quantizer.sigma.assign(start + (end - start) * fraction)
      terms["sigma"] = self.quantizer.sigma.read_value()
    x_hat = tf.clip_by_value(outputs["x_hat"], 0.0, 255.0)
    terms["msssim"] = tf.reduce_mean(fullref.msssim(x, x_hat))
    distortion = 1.0 - terms["msssim"]
    if self.model is not None:
      terms[self.distance] = tf.reduce_mean(self.model((x, x_hat)))
      distortion += terms[self.distance]
    rate = tf.maximum(self.target_bpp, self.beta * terms["bpp"])
    return {"loss": self.alpha * distortion + rate, **terms}


@register_objective("dpc_rd")
def dpc_rd(codec, alpha, beta, target_bpp, distance="lpips",
           sigma_schedule=()):
  """`DeepPerceptualRate`, annealing the codec's quantizer by
  `sigma_schedule`."""
  return DeepPerceptualRate(alpha, beta, target_bpp, distance,
                            quantizer=codec.quantizer,
                            sigma_schedule=sigma_schedule)
