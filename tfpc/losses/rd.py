"""The plain rate-distortion objective, and the terms every objective logs."""

import tensorflow as tf

from tfpc.losses.objective import Objective
from tfpc.metrics.fullref import psnr_from_mse


def mse_255(x, x_hat):
  """Mean squared error in [0, 255] units."""
  return tf.reduce_mean(tf.math.squared_difference(x, x_hat))


def rate_distortion_terms(x, outputs):
  """bpp, MSE (on [0, 255]) and PSNR of a training batch."""
  mse = mse_255(x, outputs["x_hat"])
  return {"bpp": outputs["bpp"], "mse": mse, "psnr": psnr_from_mse(mse)}


class RateDistortion(Objective):
  """L = lmbda * MSE + max(target_bpp, bpp), with MSE on [0, 255] (eq. 3-5 of
  ProxIQA): the convention of every objective's `lmbda`.

  `target_bpp` 0 is the plain `lmbda * MSE + bpp`. Above 0 the rate stops
  pushing once below the target, as Mentzer et al. 2018's clipped rate: a
  codec whose rate term can switch its latents off (DPC's importance map)
  otherwise does so before its decoder has learned anything.
  """

  def __init__(self, lmbda, target_bpp=0.0):
    self.lmbda, self.target_bpp = lmbda, target_bpp

  def __call__(self, x, outputs, step=None):
    terms = rate_distortion_terms(x, outputs)
    rate = tf.maximum(float(self.target_bpp), terms["bpp"])
    return {"loss": self.lmbda * terms["mse"] + rate, **terms}
