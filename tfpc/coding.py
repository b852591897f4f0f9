"""Images to `.tfpc` bytes and back, with a loaded `zoo.CodecModel`."""

import collections
import os

from tfpc import bitstream
from tfpc import blocks
from tfpc import errors
from tfpc import files
from tfpc import image as image_lib
from tfpc import limits
from tfpc import zoo

Decoded = collections.namedtuple("Decoded", "pixels grayscale model")


AUTO = "auto"


def encode(model, pixels, max_pixels=None, block_shape=AUTO, allowed=None):
  """Compresses uint8 RGB pixels [H, W, 3] to the bytes of a `.tfpc` file.

  Images whose three channels are equal are flagged as grayscale. Images over
  the pixel limit (`bitstream.max_pixels_limit`) are refused. With
  `block_shape` (height, width), blocks are coded independently
  (`tfpc.blocks`); with AUTO, when the architecture or the decode budget
  `allowed` (default `limits.budget()`) asks for it (`auto_block_shape`);
  with None, never. A file whose decode would not fit the budget is refused
  before any work."""
  pixels = image_lib.check_pixels(pixels)
  height, width = pixels.shape[:2]
  bitstream.check_size(height, width, max_pixels)
  allowed = allowed or limits.budget()
  if block_shape == AUTO:
    block_shape = auto_block_shape(model, height, width, allowed)
  model.check_cost(height, width, block_shape, allowed)
  if block_shape:
    return blocks.encode(model, pixels, block_shape)
  return model.encode(pixels)


def auto_block_shape(model, height, width, allowed):
  """None (code the whole image) when the architecture codes an image of
  this size whole (`LearnedCodec.whole_image_pixels`) and its decode fits
  `allowed`; else the largest block, at most `blocks.DEFAULT_BLOCK_SHAPE`
  and halved on its longer side until a decode in such blocks fits."""
  from tfpc import codecs  # pylint: disable=g-import-not-at-top
  codec = codecs.CODECS[model.metadata["config"]["architecture"]]
  whole = codec.whole_image_pixels
  if ((whole is None or height * width <= whole) and
      limits.fits(model.decode_cost(height, width), allowed)):
    return None
  stride = model.metadata["stride"]
  shape = list(blocks.DEFAULT_BLOCK_SHAPE)
  while (not limits.fits(model.decode_cost(height, width, shape), allowed)
         and max(shape) > stride):
    longer = int(shape[1] > shape[0])
    shape[longer] = max(shape[longer] // 2 // stride * stride, stride)
  if shape[0] >= height and shape[1] >= width:
    return None  # one block: the whole image
  return tuple(shape)


def decode(data, model=None, max_side=bitstream.DEFAULT_MAX_SIDE,
           max_pixels=None, post_process=True, allowed=None):
  """Decodes `.tfpc` bytes; without a model, finds the one that wrote them.

  Files of blocks are decoded block by block, their seams post-processed by
  the post filter the model ships (`blocks.load_post_filter`), if any, unless
  `post_process` is False. A file whose decode would exceed the budget
  `allowed` (default `limits.budget()`) is refused before decoding; the
  others decode under the deadline their cost implies: past it the process
  ends with one line and status 2 (`limits.deadline`)."""
  container = bitstream.unpack(data, None, max_side, max_pixels)
  if model is None or container.model_id != model.model_id:
    path = zoo.find_by_model_id(container.model_id)
    writer = (os.path.relpath(path, zoo.MODEL_ROOT) if path else
              f"model {container.model_id.hex()}, which is not in "
              f"{zoo.MODEL_ROOT}")
    if model is not None:
      raise errors.WrongModelError(f"file was written by {writer}, not by "
                                   f"the given model {model.name}")
    if path is None:
      raise errors.WrongModelError(f"file was written by {writer}; pass the "
                                   "model that wrote it")
    model = zoo.CodecModel(path)
  with model.bounded_decode(container.height, container.width,
                            container.block_shape, allowed):
    if container.block_shape:
      shipped = post_process and blocks.load_post_filter(
          getattr(model, "path", ""))
      pixels = blocks.decode(model, container, *(shipped or ()))
    else:
      pixels = model.decode_strings(container.strings, container.height,
                                    container.width)
  return Decoded(pixels, container.grayscale, model)


def parse_block_size(text):
  """"HxW" to (height, width); None for "0" (the whole image), AUTO for
  "auto" or "" (`encode`)."""
  if text in ("", AUTO):
    return AUTO
  if text == "0":
    return None
  try:
    height, width = (int(n) for n in text.lower().split("x"))
  except ValueError:
    height = width = 0
  if height <= 0 or width <= 0:
    raise errors.ConfigError(f"block size {text!r}: expected HxW with "
                             "positive sizes, e.g. 1024x2048, 0 or auto")
  return height, width


def compress_file(input_path, output_path, model, max_pixels=None,
                  block_shape=AUTO, allowed=None):
  """Reads an image, writes its `.tfpc` file; returns (pixels, file bytes)."""
  loaded = image_lib.read_image(input_path, max_pixels=max_pixels)
  data = encode(model, loaded.pixels, max_pixels, block_shape, allowed)
  try:
    with files.replacing(output_path) as temporary:
      with open(temporary, "wb") as f:
        f.write(data)
  except OSError as e:
    raise errors.TfpcError(f"{output_path}: cannot write ({e.strerror})"
                           ) from None
  return loaded, data


def decompress_file(input_path, output_path, model=None,
                    max_side=bitstream.DEFAULT_MAX_SIDE, max_pixels=None,
                    post_process=True, allowed=None):
  """Reads a `.tfpc` file, writes the reconstructed image; returns `Decoded`."""
  try:
    with open(input_path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise errors.BitstreamError(f"{input_path}: cannot read ({e.strerror})") from None
  try:
    decoded = decode(data, model, max_side, max_pixels, post_process, allowed)
  except errors.BitstreamError as e:
    raise type(e)(f"{input_path}: {e}") from None
  image_lib.write_image(output_path, decoded.pixels, decoded.grayscale)
  return decoded
