"""JPEG through Pillow/libjpeg, including quality search to a target rate."""

import io

import numpy as np
from PIL import Image

from tfpc.evaluation import matched

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def encode(pixels, quality, subsampling="4:2:0"):
  """uint8 RGB -> (JFIF bytes, decoded uint8 RGB). Rate counts the whole file."""
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=int(quality),
                               subsampling=SUBSAMPLING[subsampling])
  data = buffer.getvalue()
  with Image.open(io.BytesIO(data)) as img:
    return data, np.asarray(img.convert("RGB"))


def bpp(data, pixels):
  return 8.0 * len(data) / (pixels.shape[0] * pixels.shape[1])


def _bracket(pixels, target_bpp, subsampling):
  """Qualities (low, high), high = low + 1, whose rates bracket the target
  (1 and 2, or 99 and 100, when it is beyond their range)."""
  low, _ = matched.bracket(
      lambda q: bpp(encode(pixels, q, subsampling)[0], pixels), target_bpp,
      range(1, 101))
  low = min(max(low or 1, 1), 99)
  return low, low + 1


def at_bpp(pixels, target_bpp, subsampling="4:2:0"):
  """The JPEG quality (1..100) whose file size is closest to `target_bpp`.

  Returns (quality, bytes, decoded pixels). File size grows with quality, so a
  bisection finds the two qualities that bracket the target.
  """
  low, high = _bracket(pixels, target_bpp, subsampling)
  candidates = [(q, *encode(pixels, q, subsampling)) for q in (low, high)]
  return min(candidates, key=lambda c: abs(bpp(c[1], pixels) - target_bpp))


def psnr_at_bpp(pixels, target_bpp, subsampling="4:2:0"):
  """JPEG's PSNR at exactly `target_bpp`, interpolated linearly in bpp between
  the two bracketing qualities (clamped at quality 1 and 100)."""
  from tfpc import metrics  # pylint: disable=g-import-not-at-top
  points = []
  for quality in _bracket(pixels, target_bpp, subsampling):
    data, decoded = encode(pixels, quality, subsampling)
    points.append((bpp(data, pixels),
                   float(metrics.compute("psnr", pixels, decoded))))
  return matched.interpolate(target_bpp, *points)
