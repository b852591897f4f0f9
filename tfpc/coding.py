"""Images to `.tfpc` bytes and back, with a loaded `zoo.CodecModel`."""

import collections

from tfpc import bitstream
from tfpc import blocks
from tfpc import errors
from tfpc import image as image_lib
from tfpc import zoo

Decoded = collections.namedtuple("Decoded", "pixels grayscale model")


def encode(model, pixels, max_pixels=None, block_shape=None):
  """Compresses uint8 RGB pixels [H, W, 3] to the bytes of a `.tfpc` file.

  Images whose three channels are equal are flagged as grayscale. Images over
  the pixel limit (`bitstream.max_pixels_limit`) are refused. With
  `block_shape` (height, width), blocks are coded independently
  (`tfpc.blocks`)."""
  if pixels.ndim != 3 or pixels.shape[2] != 3 or not all(pixels.shape[:2]):
    raise errors.ImageReadError(f"expected [H, W, 3] pixels, got {pixels.shape}")
  bitstream.check_size(*pixels.shape[:2], max_pixels)
  if block_shape:
    return blocks.encode(model, pixels, block_shape)
  return model.encode(pixels)


def decode(data, model=None, max_side=bitstream.DEFAULT_MAX_SIDE,
           max_pixels=None, post_process=True):
  """Decodes `.tfpc` bytes; without a model, finds the one that wrote them.

  Files of blocks are decoded block by block, their seams post-processed by
  the post filter the model ships (`blocks.load_post_filter`), if any, unless
  `post_process` is False."""
  container = bitstream.unpack(
      data, model.model_id if model is not None else None, max_side,
      max_pixels)
  if model is None:
    path = zoo.find_by_model_id(container.model_id)
    if path is None:
      raise errors.WrongModelError(
          f"file was written by model {container.model_id.hex()}, which is "
          f"not in {zoo.MODEL_ROOT}; pass the model that wrote it")
    model = zoo.CodecModel(path)
  if container.block_shape:
    shipped = post_process and blocks.load_post_filter(
        getattr(model, "path", ""))
    pixels = blocks.decode(model, container, *(shipped or ()))
  else:
    pixels = model.decode(data, max_side, max_pixels)
  return Decoded(pixels, container.grayscale, model)


def parse_block_size(text):
  """"HxW" to (height, width); None for "0" or "" (the whole image)."""
  if text in ("", "0"):
    return None
  try:
    height, width = (int(n) for n in text.lower().split("x"))
  except ValueError:
    height = width = 0
  if height <= 0 or width <= 0:
    raise errors.ConfigError(f"block size {text!r}: expected HxW with "
                             "positive sizes, e.g. 1024x2048, or 0")
  return height, width


def compress_file(input_path, output_path, model, max_pixels=None,
                  block_shape=None):
  """Reads an image, writes its `.tfpc` file; returns (pixels, file bytes)."""
  loaded = image_lib.read_image(input_path, max_pixels=max_pixels)
  data = encode(model, loaded.pixels, max_pixels, block_shape)
  _write_bytes(output_path, data)
  return loaded, data


def decompress_file(input_path, output_path, model=None,
                    max_side=bitstream.DEFAULT_MAX_SIDE, max_pixels=None,
                    post_process=True):
  """Reads a `.tfpc` file, writes the reconstructed image; returns `Decoded`."""
  try:
    with open(input_path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise errors.BitstreamError(f"{input_path}: cannot read ({e.strerror})") from None
  decoded = decode(data, model, max_side, max_pixels, post_process)
  image_lib.write_image(output_path, decoded.pixels, decoded.grayscale)
  return decoded


def _write_bytes(path, data):
  try:
    with open(path, "wb") as f:
      f.write(data)
  except OSError as e:
    raise errors.TfpcError(f"{path}: cannot write ({e.strerror})") from None
