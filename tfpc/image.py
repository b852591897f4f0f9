"""Reading any common image as 8-bit RGB, and writing reconstructions.

Conversion rule (documented in README, "Input images"):
  * Formats: whatever Pillow reads (PNG, JPEG, BMP, PPM/PGM, TIFF, WebP, GIF...).
    Multi-frame files: the first frame, with a warning. EXIF orientation applied.
  * RGB stays RGB. CMYK, YCbCr, LAB, HSV, P (palette) convert to RGB by Pillow.
  * Alpha (RGBA, LA, PA, palette transparency) is dropped with a warning: the
    colour channels are coded as they are, not composited.
  * Grayscale (1, L, LA, I, I;16) is replicated to three channels. Images
    whose three channels are equal everywhere are flagged as grayscale in the
    `.tfpc` file, and the decoder writes them back as 8-bit grayscale.
  * 16-bit samples keep their high byte (v // 256), as Pillow itself does for
    16-bit RGB PNGs; 32-bit integer images are read as 16-bit (clipped).
  * 32-bit float images are refused (their range is not defined).
  * Images wider or taller than `max_side`, or with more pixels than
    `max_pixels` (`bitstream.max_pixels_limit`), are refused before decoding.
"""

import collections
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
import tensorflow as tf

from tfpc import bitstream
from tfpc import errors
from tfpc import files

DEFAULT_MAX_SIDE = 16384

LoadedImage = collections.namedtuple("LoadedImage", "pixels grayscale mode")


class ImageConversionWarning(UserWarning):
  """Information was lost while converting an input image to 8-bit RGB."""


_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def to_rgb8(img, name="image"):
  """Converts a Pillow image to (uint8 [H, W, 3], grayscale flag)."""
  mode = img.mode
  if mode == "F":
    raise errors.ImageReadError(
        f"{name}: 32-bit float images are not supported (undefined range)")
  if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
    warnings.warn(f"{name}: alpha channel dropped", ImageConversionWarning)
  grayscale = mode in _GRAY_MODES
  if mode.startswith("I"):
    gray = np.asarray(img).astype(np.int64)
    gray = (np.clip(gray, 0, 65535) >> 8).astype(np.uint8)
  elif grayscale:
    gray = np.asarray(img.convert("L"))
  else:
    return np.asarray(img.convert("RGB")), False
  return np.repeat(gray[..., None], 3, axis=-1), grayscale


def read_image(path, max_side=DEFAULT_MAX_SIDE, max_pixels=None):
  """Reads an image file as a `LoadedImage` (uint8 RGB pixels, flags)."""
  try:
    with Image.open(path) as img:
      if max(img.size) > max_side:
        raise errors.ImageReadError(
            f"{path}: {img.size[0]}x{img.size[1]} exceeds the {max_side} px "
            "limit")
      try:
        bitstream.check_size(img.size[1], img.size[0], max_pixels)
      except errors.ImageTooLargeError as e:
        raise errors.ImageReadError(f"{path}: {e}") from None
      if getattr(img, "n_frames", 1) > 1:
        warnings.warn(f"{path}: {img.n_frames} frames, coding the first",
                      ImageConversionWarning)
      img.load()
      mode = img.mode
      img = ImageOps.exif_transpose(img)
      pixels, grayscale = to_rgb8(img, path)
  except errors.ImageReadError:
    raise
  except FileNotFoundError:
    raise errors.ImageReadError(f"{path}: no such file") from None
  except IsADirectoryError:
    raise errors.ImageReadError(f"{path}: is a directory") from None
  except (UnidentifiedImageError, Image.DecompressionBombError, OSError,
          ValueError, SyntaxError) as e:
    raise errors.ImageReadError(f"{path}: not a readable image ({e})") from None
  return LoadedImage(np.ascontiguousarray(pixels), grayscale, mode)


def check_pixels(pixels):
  """`pixels` as a uint8 [H, W, 3] array with H, W >= 1; ImageReadError
  otherwise (a float image in [0, 1] would code as black)."""
  array = np.asarray(pixels)
  if array.dtype != np.uint8:
    raise errors.ImageReadError(
        f"expected uint8 pixels, got {array.dtype} (scale to 0-255 and cast)")
  if array.ndim != 3 or array.shape[2] != 3 or not all(array.shape[:2]):
    raise errors.ImageReadError(f"expected [H, W, 3] pixels, got {array.shape}")
  return array


def write_image(path, pixels, grayscale=False):
  """Writes uint8 RGB pixels (as 8-bit gray if `grayscale`); format by suffix."""
  img = Image.fromarray(np.asarray(pixels, np.uint8))
  if grayscale:
    img = img.convert("L")
  suffix = os.path.splitext(path)[1].lower()
  try:
    with files.replacing(path) as temporary:
      img.save(temporary, format=None if suffix else "PNG")
  except (OSError, ValueError, KeyError) as e:
    reason = getattr(e, "strerror", None) or e
    raise errors.ImageReadError(f"{path}: cannot write image ({reason})"
                                ) from None


# The same conversions inside TF graphs (exported models), stock ops only.

def decode_image_tf(image_bytes):
  """Encoded PNG/JPEG/BMP/GIF bytes to uint8 [H, W, 3] (gray replicated,
  alpha dropped, first GIF frame). EXIF orientation is not applied."""
  return tf.io.decode_image(image_bytes, channels=3, expand_animations=False)


def is_gray_tf(pixels):
  """True when every pixel of uint8 [..., 3] has three equal channels."""
  return tf.reduce_all(pixels == pixels[..., :1])


def luma_tf(pixels):
  """uint8 [..., 3] to [..., 1] as Pillow's RGB->L (ITU-R 601-2, rounded)."""
  weighted = tf.cast(pixels, tf.int32) * tf.constant([19595, 38470, 7471])
  luma = (tf.reduce_sum(weighted, -1, keepdims=True) + 0x8000) // 65536
  return tf.cast(luma, tf.uint8)


def encode_png_tf(pixels, grayscale=False):
  """uint8 [H, W, 3] to PNG bytes; 8-bit gray (as `write_image`) if asked."""
  return tf.cond(tf.convert_to_tensor(grayscale),
                 lambda: tf.image.encode_png(luma_tf(pixels)),
                 lambda: tf.image.encode_png(pixels))
