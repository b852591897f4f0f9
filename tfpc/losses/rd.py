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
  """L = lmbda * MSE + bpp, with MSE on [0, 255] (eq. 3-5 of ProxIQA): the
  convention of every objective's `lmbda`."""

  def __init__(self, lmbda):
    self.lmbda = lmbda

  def __call__(self, x, outputs, step=None):
    terms = rate_distortion_terms(x, outputs)
    return {"loss": self.lmbda * terms["mse"] + terms["bpp"], **terms}
