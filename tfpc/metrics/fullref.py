"""Differentiable full-reference metrics in TF, on [N, H, W, 3] in [0, 255].

MS-SSIM on small images: the standard 5 scales need a side of at least
11 * 2**4 = 176 px. Smaller images use as many scales as fit (the side at the
coarsest scale stays >= 11 px) with the standard power factors of those scales
renormalized to sum to 1; below 11 px a single SSIM scale is computed with
the filter shrunk to the image (odd size, sigma = 1.5 * size / 11).
"""

import tensorflow as tf

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
FILTER_SIZE = 11
FILTER_SIGMA = 1.5


def _pair(x, y):
  return tf.cast(x, tf.float32), tf.cast(y, tf.float32)


def psnr(x, y):
  """Peak signal-to-noise ratio in dB per image ([N]); +inf when identical."""
  x, y = _pair(x, y)
  mse = tf.reduce_mean(tf.math.squared_difference(x, y), axis=[1, 2, 3])
  return 10.0 * tf.math.log(255.0**2 / mse) / tf.math.log(10.0)


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


def ssim(x, y):
  """Single-scale SSIM per image ([N]), Gaussian window 11, sigma 1.5."""
  x, y = _pair(x, y)
  size, sigma = _filter_for(_static_min_side(x))
  return tf.image.ssim(x, y, 255.0, filter_size=size, filter_sigma=sigma)


def msssim_scales(side):
  """How many MS-SSIM scales an image with this smaller side gets."""
  scales = len(MSSSIM_WEIGHTS)
  while scales > 1 and side < FILTER_SIZE * 2**(scales - 1):
    scales -= 1
  return scales


def msssim(x, y):
  """MS-SSIM per image ([N]); see the module docstring for small images."""
  x, y = _pair(x, y)
  side = _static_min_side(x)
  scales = msssim_scales(side)
  if side < FILTER_SIZE:
    return ssim(x, y)
  weights = MSSSIM_WEIGHTS[:scales]
  weights = [w / sum(weights) for w in weights]
  return tf.image.ssim_multiscale(x, y, 255.0, power_factors=weights,
                                  filter_size=FILTER_SIZE,
                                  filter_sigma=FILTER_SIGMA)
