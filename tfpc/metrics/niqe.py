"""NIQE (Mittal et al. 2013) as the official MATLAB release computes it.

`niqe_release/computequality.m` with its defaults: the luma plane is cropped to
whole 96 x 96 blocks; at two scales (the second from MATLAB's antialiased
bicubic `imresize(im, 0.5)`) each block's mean-subtracted contrast-normalized
coefficients give 18 AGGD features; the 36 features' Gaussian (NaN-free
blocks) is compared with the pristine model `mu_prisparam`, `cov_prisparam`
of the LIVE release. Lower is better (more natural).

The pristine model and the 7 x 7 window ship in
`tfpc/shipped_weights/niqe_pris_params.npz`, taken from basicsr's source
distribution (see `PROVENANCE.md` there).

Luma: NIQE scores the Y of MATLAB's `rgb2ycbcr` on uint8 RGB (BT.601,
studio range 16-235, rounded to an integer), the plane PIRM's perceptual
index scores: `luma`. The whole image is scored (no border crop) unless asked.
"""

import functools
import os

import numpy as np
from scipy import ndimage
from scipy import special

BLOCK = 96
_PARAMS = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       "shipped_weights", "niqe_pris_params.npz")
# The shape parameters that `estimateaggdparam.m` searches: 0.2:0.001:10.
_ALPHAS = np.arange(0.2, 10.001, 0.001)
_RATIOS = (special.gamma(2 / _ALPHAS)**2 /
           (special.gamma(1 / _ALPHAS) * special.gamma(3 / _ALPHAS)))
# circshift offsets of `computefeature.m`: horizontal, vertical, diagonals.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.lru_cache(maxsize=1)
def pristine_model():
  """(mu [36], cov [36, 36], window [7, 7]) of the LIVE release, float64."""
  with np.load(_PARAMS) as params:
    return (params["mu_pris_param"][0], params["cov_pris_param"],
            params["gaussian_window"])


def luma(rgb):
  """Y of MATLAB `rgb2ycbcr` on uint8 RGB [..., 3]: float64 integers 16-235."""
  rgb = np.asarray(rgb, np.float64)
  y = 16.0 + rgb @ np.array([65.481, 128.553, 24.966]) / 255.0
  return np.floor(y + 0.5)  # MATLAB's uint8 cast rounds halves up


def _cubic(x):
  x = np.abs(x)
  return np.where(
      x <= 1, 1.5 * x**3 - 2.5 * x**2 + 1,
      np.where(x <= 2, -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2, 0.0))


def _halving_matrix(length):
  """[ceil(length / 2), length] matrix of MATLAB `imresize(., 0.5)` along an
  axis: antialiased bicubic (kernel widened to 8 taps), symmetric borders."""
  scale, width = 0.5, 4.0 / 0.5
  centers = np.arange(1, int(np.ceil(length * scale)) + 1) / scale + 0.5 * (
      1 - 1 / scale)
  taps = np.floor(centers - width / 2)[:, None] + np.arange(int(width) + 2)
  weights = scale * _cubic(scale * (centers[:, None] - taps))
  weights /= weights.sum(axis=1, keepdims=True)
  mirrored = np.concatenate([np.arange(length), np.arange(length)[::-1]])
  sources = mirrored[(taps.astype(int) - 1) % (2 * length)]
  matrix = np.zeros((len(centers), length))
  np.add.at(matrix, (np.arange(len(centers))[:, None], sources), weights)
  return matrix


def imresize_half(plane):
  """MATLAB `imresize(plane, 0.5)` (bicubic, antialiased) of a 2-D array."""
  rows, cols = (_halving_matrix(n) for n in plane.shape)
  return rows @ plane @ cols.T


def _aggd(values):
  """AGGD fits of `estimateaggdparam.m`, per row of [B, n]: alpha, left and
  right scales, each [B] (the scales NaN where a side has no samples)."""
  with np.errstate(invalid="ignore", divide="ignore"):
    squares = values**2
    left = np.sqrt((squares * (values < 0)).sum(1) / (values < 0).sum(1))
    right = np.sqrt((squares * (values > 0)).sum(1) / (values > 0).sum(1))
    ratio = left / right
    r_hat = np.abs(values).mean(1)**2 / squares.mean(1)
    r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1)**2
    # Like MATLAB's `min`, argmin takes the first alpha when all are NaN.
    alpha = _ALPHAS[np.argmin((_RATIOS[None] - r_norm[:, None])**2, axis=1)]
    spread = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
  return alpha, left * spread, right * spread


def block_features(blocks):
  """The 18 features of `computefeature.m` per block: [B, s, s] -> [B, 18]."""
  alpha, left, right = _aggd(blocks.reshape(len(blocks), -1))
  features = [alpha, (left + right) / 2]
  for shift in _SHIFTS:
    products = blocks * np.roll(blocks, shift, axis=(1, 2))
    alpha, left, right = _aggd(products.reshape(len(blocks), -1))
    with np.errstate(invalid="ignore"):
      mean = (right - left) * special.gamma(2 / alpha) / special.gamma(
          1 / alpha)
    features += [alpha, mean, left, right]
  return np.stack(features, axis=1)


def _blocks(plane, side):
  rows, cols = plane.shape[0] // side, plane.shape[1] // side
  return plane.reshape(rows, side, cols, side).swapaxes(1, 2).reshape(
      -1, side, side)


def niqe(plane, crop_border=0):
  """NIQE of one luma plane (float [H, W] in [0, 255], e.g. `luma(rgb)`).

  Args:
    plane: the plane; at least 96 x 96 after the crop.
    crop_border: pixels dropped on every side first (PIRM crops 4 for 4x SR).

  Returns:
    The score, a float (lower is better).

  Raises:
    ValueError: a plane smaller than one block.
  """
  plane = np.asarray(plane, np.float64)
  if plane.ndim != 2:
    raise ValueError(f"NIQE scores a 2-D luma plane, got shape {plane.shape}")
  if crop_border:
    plane = plane[crop_border:-crop_border, crop_border:-crop_border]
  height, width = (n // BLOCK * BLOCK for n in plane.shape)
  if not height or not width:
    raise ValueError(f"NIQE needs at least {BLOCK}x{BLOCK} pixels, got "
                     f"{plane.shape[0]}x{plane.shape[1]}")
  plane = plane[:height, :width]
  mu_pristine, cov_pristine, window = pristine_model()
  features = []
  for side in (BLOCK, BLOCK // 2):
    mean = ndimage.correlate(plane, window, mode="nearest")
    sigma = np.sqrt(np.abs(
        ndimage.correlate(plane * plane, window, mode="nearest") - mean**2))
    features.append(block_features(_blocks((plane - mean) / (sigma + 1),
                                           side)))
    plane = imresize_half(plane)
  features = np.concatenate(features, axis=1)
  mu = np.nanmean(features, axis=0)
  complete = features[~np.isnan(features).any(axis=1)]
  # MATLAB's nancov normalizes by N - 1, or by N for a single row.
  cov = np.cov(complete, rowvar=False, ddof=int(len(complete) > 1))
  difference = mu_pristine - mu
  return float(np.sqrt(
      difference @ np.linalg.pinv((cov_pristine + cov) / 2) @ difference))


def niqe_rgb(images, crop_border=0):
  """NIQE of the `luma` of uint8 RGB images [N, H, W, 3]: float64 [N]."""
  return np.array([niqe(luma(image), crop_border) for image in images])


def host_score(reference, distorted):
  """`Metric.host_fn`: NIQE of uint8 `distorted` [N, H, W, 3] ([N]); NIQE is
  blind, `reference` is unused."""
  del reference
  return niqe_rgb(distorted)


def niqe_tf(reference, distorted):
  """`Metric.tf_fn`: NIQE of `distorted` (float [N, H, W, 3] in [0, 255],
  rounded and clipped to uint8 as coded images are) as a TF op: float32 [N],
  computed on the host, no gradient. `reference` is unused."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  del reference
  as_uint8 = tf.saturate_cast(tf.round(tf.stop_gradient(distorted)), tf.uint8)
  scores = tf.numpy_function(lambda x: niqe_rgb(x).astype(np.float32),
                             [as_uint8], tf.float32, stateful=False)
  scores.set_shape(distorted.shape[:1])
  return tf.stop_gradient(scores)
