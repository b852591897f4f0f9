"""JPEG through Pillow/libjpeg, including quality search to a target rate."""

import io

import numpy as np
from PIL import Image

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


def at_bpp(pixels, target_bpp, subsampling="4:2:0"):
  """The JPEG quality (1..100) whose file size is closest to `target_bpp`.

  Returns (quality, bytes, decoded pixels). File size grows with quality, so a
  bisection finds the two qualities that bracket the target.
  """
  low, high = 1, 100
  while high - low > 1:
    middle = (low + high) // 2
    if bpp(encode(pixels, middle, subsampling)[0], pixels) <= target_bpp:
      low = middle
    else:
      high = middle
  candidates = [(q, *encode(pixels, q, subsampling)) for q in (low, high)]
  return min(candidates, key=lambda c: abs(bpp(c[1], pixels) - target_bpp))
