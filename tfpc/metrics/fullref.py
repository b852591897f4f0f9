"""Differentiable full-reference metrics in TF, on [N, H, W, 3] in [0, 255].

MS-SSIM on small images: the standard 5 scales need a side of at least
11 * 2**4 = 176 px. Smaller images use as many scales as fit (the side at the
coarsest scale stays >= 11 px) with the standard power factors of those scales
renormalized to sum to 1; below 11 px a single SSIM scale is computed with
the filter shrunk to the image (odd size, sigma = 1.5 * size / 11).
"""

import math

import tensorflow as tf

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
FILTER_SIZE = 11
FILTER_SIGMA = 1.5


def _pair(x, y):
  return tf.cast(x, tf.float32), tf.cast(y, tf.float32)


def psnr_from_mse(mse):
  """PSNR in dB of an MSE on [0, 255]; +inf for 0."""
  return 10.0 * tf.math.log(255.0**2 / mse) / math.log(10.0)


def psnr(x, y):
  """Peak signal-to-noise ratio in dB per image ([N]); +inf when identical."""
  x, y = _pair(x, y)
  return psnr_from_mse(
      tf.reduce_mean(tf.math.squared_difference(x, y), axis=[1, 2, 3]))


LUMA_BT601 = (0.299, 0.587, 0.114)


def psnr_y(x, y):
  """PSNR in dB of the BT.601 luma (Y, not rounded) per image ([N]), in
  float64."""
  luma = lambda z: tf.tensordot(tf.cast(z, tf.float64),
                                tf.constant(LUMA_BT601, tf.float64), [[3], [0]])
  return psnr_from_mse(
      tf.reduce_mean(tf.math.squared_difference(luma(x), luma(y)),
                     axis=[1, 2]))


def _filter_for(side):
  if side >= FILTER_SIZE:
    return FILTER_SIZE, FILTER_SIGMA
  size = side if side % 2 else side - 1
  return max(size, 1), FILTER_SIGMA * max(size, 1) / FILTER_SIZE


def _static_min_side(x):
  side = min(x.shape[1], x.shape[2])
  if side is None:
    raise ValueError("SSIM/MS-SSIM need static image sizes")
  return side


def _blur(x, size, sigma):
  """tf.image.ssim's Gaussian window, applied separably ('VALID')."""
  coords = tf.range(size, dtype=tf.float32) - (size - 1) / 2
  taps = tf.nn.softmax(-0.5 * coords**2 / sigma**2)
  channels = x.shape[-1]
  for shape in ([size, 1, 1, 1], [1, size, 1, 1]):
    kernel = tf.tile(tf.reshape(taps, shape), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")
  return x


def _ssim_terms(x, y, size, sigma):
  """Mean SSIM and mean contrast-structure per image and channel ([N, C]).

  The same formula and constants as tf.image.ssim (K1 = 0.01, K2 = 0.03),
  with the 2-D Gaussian split into two 1-D passes: 2 * size instead of
  size**2 multiplies per pixel, equal results up to float rounding.
  """
  c1, c2 = (0.01 * 255.0)**2, (0.03 * 255.0)**2
  means = _blur(tf.concat([x, y, x * y, x * x + y * y], -1), size, sigma)
  mean_x, mean_y, mean_xy, mean_squares = tf.split(means, 4, axis=-1)
  num0 = 2.0 * mean_x * mean_y
  den0 = mean_x**2 + mean_y**2
  luminance = (num0 + c1) / (den0 + c1)
  cs = (2.0 * mean_xy - num0 + c2) / (mean_squares - den0 + c2)
  return (tf.reduce_mean(luminance * cs, axis=[1, 2]),
          tf.reduce_mean(cs, axis=[1, 2]))


def ssim(x, y):
  """Single-scale SSIM per image ([N]), Gaussian window 11, sigma 1.5."""
  x, y = _pair(x, y)
  size, sigma = _filter_for(_static_min_side(x))
  return tf.reduce_mean(_ssim_terms(x, y, size, sigma)[0], axis=-1)


def msssim_scales(side):
  """How many MS-SSIM scales an image with this smaller side gets."""
  scales = len(MSSSIM_WEIGHTS)
  while scales > 1 and side < FILTER_SIZE * 2**(scales - 1):
    scales -= 1
  return scales


def _halve(x):
  """2x2 average pooling; odd sides padded by mirroring, as tf.image does."""
  pad_rows, pad_cols = tf.shape(x)[1] % 2, tf.shape(x)[2] % 2
  x = tf.pad(x, [[0, 0], [0, pad_rows], [0, pad_cols], [0, 0]],
             mode="SYMMETRIC")
  return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def msssim(x, y):
  """MS-SSIM per image ([N]); see the module docstring for small images.

  Matches tf.image.ssim_multiscale (same down-sampling, ReLU on the terms).
  """
  x, y = _pair(x, y)
  side = _static_min_side(x)
  if side < FILTER_SIZE:
    return ssim(x, y)
  weights = MSSSIM_WEIGHTS[:msssim_scales(side)]
  weights = tf.constant([w / sum(weights) for w in weights])
  terms = []
  for scale in range(len(weights)):
    if scale:
      x, y = _halve(x), _halve(y)
    similarity, cs = _ssim_terms(x, y, FILTER_SIZE, FILTER_SIGMA)
    terms.append(tf.nn.relu(cs))
  terms[-1] = tf.nn.relu(similarity)
  terms = tf.stack(terms, -1)
  # 0 ** w (w < 1) has an infinite derivative, which makes the gradient NaN:
  # zero terms (clipped by the ReLU) pass no gradient instead.
  positive = terms > 0
  powers = tf.where(positive, tf.where(positive, terms, 1.0) ** weights, 0.0)
  values = tf.reduce_prod(powers, axis=-1)
  return tf.reduce_mean(values, axis=-1)


def decibels(similarity):
  """A similarity in [0, 1] as -10 log10(1 - similarity) (MS-SSIM in dB, as
  learned-compression papers plot it): spreads the crowded high end."""
  return -10.0 * tf.math.log(tf.maximum(1.0 - similarity, 1e-10)) / tf.math.log(
      10.0)


def ssim_db(x, y):
  """SSIM in dB per image ([N])."""
  return decibels(ssim(x, y))


def msssim_db(x, y):
  """MS-SSIM in dB per image ([N])."""
  return decibels(msssim(x, y))
