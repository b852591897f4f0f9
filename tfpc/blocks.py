"""Block-based coding and partial post-processing (Wang, Chen, Ma 2021, 2.2).

An image is cut into non-overlapping blocks (default 2048 wide, 1024 high,
as the paper), each coded independently by a codec-form model into one
version-2 `.tfpc` file (`bitstream.pack_blocks`), and decoded block after
block: the networks' memory is bounded by one block, not by the image (the
decoded pixels themselves are the only image-sized buffer; post-processing
works on them strip by strip, in place).

Independent blocks leave seams. Partial post-processing runs a small network
(`PostFilter`) only on strips of `width` pixels centred on the block
boundaries (first the vertical seams, then the horizontal ones) and blends
its output Y with its input X by eq. 7-8:

  Y'(x) = Y(x) W_p(x) + X(x) (1 - W_p(x)),  W_p(x) = exp(-(x - w/2)^2 / 2s^2)

with x the distance across the strip, taken at pixel centres (x = i + 1/2 for
column i) so that the weights are symmetric about the seam; s defaults to
w / 6 (weight 1.1% at the strip edges).

An exported model ships its post filter in `POST_FILTER_DIR` of its version
folder (`save_post_filter`): TF Serving ignores `assets.extra`, and the model
id, a hash of the SavedModel's variables, does not change.
"""

import json
import os

import numpy as np
import tensorflow as tf

from tfpc import bitstream
from tfpc import errors

DEFAULT_BLOCK_SHAPE = (1024, 2048)  # height, width
DEFAULT_WIDTH = 128
POST_FILTER_DIR = os.path.join("assets.extra", "post_filter")


def block_grid(height, width, block_shape=DEFAULT_BLOCK_SHAPE):
  """(top, left, bottom, right) of each block, in raster order."""
  return [(top, left, min(top + block_shape[0], height),
           min(left + block_shape[1], width))
          for top in range(0, height, block_shape[0])
          for left in range(0, width, block_shape[1])]


def encode(model, pixels, block_shape=DEFAULT_BLOCK_SHAPE):
  """uint8 pixels [H, W, 3] to a version-2 `.tfpc` file, block by block.

  `model`: a codec-form model (`zoo.CodecModel`)."""
  height, width = pixels.shape[:2]
  blocks = [bitstream.unpack(model.encode(pixels[t:b, l:r])).strings
            for t, l, b, r in block_grid(height, width, block_shape)]
  gray = bool(np.all(pixels == pixels[..., :1]))
  return bitstream.pack_blocks(model.model_id, height, width, block_shape,
                               blocks, gray)


def decode(model, container, post_filter=None, width=DEFAULT_WIDTH,
           sigma=None):
  """A version-2 `Container` to uint8 pixels, decoding block after block.

  With a `PostFilter`, the seams are partially post-processed."""
  pixels = np.empty((container.height, container.width, 3), np.uint8)
  grid = block_grid(container.height, container.width, container.block_shape)
  for (top, left, bottom, right), strings in zip(grid, container.strings):
    pixels[top:bottom, left:right] = model.decode_strings(
        strings, bottom - top, right - left)
  if post_filter is not None:
    post_process_in_place(pixels, container.block_shape, post_filter, width,
                          sigma)
  return pixels


def seam_weights(width=DEFAULT_WIDTH, sigma=None):
  """W_p of eq. 8 at the `width` pixel centres of a strip (float32)."""
  sigma = sigma or width / 6
  x = np.arange(width) + 0.5
  return np.exp(-(x - width / 2)**2 / (2 * sigma**2)).astype(np.float32)


def _slice(x, axis, start, stop):
  return x[(slice(None),) * axis + (slice(start, stop),)]


def _seams(shape, block_shape):
  """(axis, position) of the seams of a [N, H, W, 3] batch of blocks: the
  vertical ones (axis 2) first."""
  return [(axis, seam) for axis, block in ((2, block_shape[1]),
                                           (1, block_shape[0]))
          for seam in range(block, shape[axis], block)]


def _blended_strip(x, seam, axis, post_filter, width, sigma):
  """(start, stop, the strip [start, stop) of x [N, H, W, 3] around `seam`
  on axis 1 or 2, blended by eq. 7 as float32). Reads the strip and the
  filter's context only."""
  size = x.shape[axis]
  start, stop = max(seam - width // 2, 0), min(seam + width // 2, size)
  context = (max(start - post_filter.margin, 0),
             min(stop + post_filter.margin, size))
  filtered = _slice(post_filter(tf.cast(_slice(x, axis, *context),
                                        tf.float32)),
                    axis, start - context[0], stop - context[0])
  shape = [1, 1, 1, 1]
  shape[axis] = stop - start
  offset = seam - width // 2
  weight = tf.reshape(seam_weights(width, sigma)[start - offset:stop - offset],
                      shape)
  original = tf.cast(_slice(x, axis, start, stop), tf.float32)
  return start, stop, filtered * weight + original * (1 - weight)


def post_process(x, block_shape, post_filter, width=DEFAULT_WIDTH,
                 sigma=None):
  """Partial post-processing of a float batch [N, H, W, 3] (static sizes)
  made of blocks of `block_shape`: only strips around the seams change."""
  for axis, seam in _seams(x.shape, block_shape):
    start, stop, blended = _blended_strip(x, seam, axis, post_filter, width,
                                          sigma)
    x = tf.concat([_slice(x, axis, 0, start), blended,
                   _slice(x, axis, stop, x.shape[axis])], axis)
  return x


def post_process_in_place(pixels, block_shape, post_filter,
                          width=DEFAULT_WIDTH, sigma=None):
  """`post_process` of uint8 pixels [H, W, 3], strip by strip in place:
  each blended strip is rounded into `pixels` (the horizontal strips read
  the vertical ones' rounded output where they cross)."""
  batch = pixels[None]
  for axis, seam in _seams(batch.shape, block_shape):
    start, stop, blended = _blended_strip(batch, seam, axis, post_filter,
                                          width, sigma)
    _slice(batch, axis, start, stop)[...] = tf.saturate_cast(
        tf.round(blended), tf.uint8).numpy()


class PostFilter(tf.keras.Model):
  """The post-processing network: x + residual of `layers` 3x3 convolutions
  (`filters` wide, ReLU) on images in [0, 255]. The last convolution starts
  at zero, so an untrained filter changes nothing."""

  def __init__(self, filters=32, layers=4, **kwargs):
    super().__init__(name="post_filter", **kwargs)
    self.filters, self.layers_count = filters, layers
    self.stack = tf.keras.Sequential(
        [tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu")
         for _ in range(layers - 1)] +
        [tf.keras.layers.Conv2D(3, 3, padding="same",
                                kernel_initializer="zeros")])
    self.margin = layers  # pixels of context each side: the receptive radius
    self(tf.zeros((1, 8, 8, 3)))

  def get_config(self):
    return {"filters": self.filters, "layers": self.layers_count}

  def call(self, x):
    return x + 255.0 * self.stack(x / 255.0)


def save_post_filter(post_filter, model_path, width=DEFAULT_WIDTH,
                     sigma=None):
  """Ships `post_filter` (strips of `width`, eq. 8's `sigma`) with the
  exported model in `model_path`."""
  folder = os.path.join(model_path, POST_FILTER_DIR)
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump({**post_filter.get_config(), "width": width, "sigma": sigma}, f)
  post_filter.save_weights(os.path.join(folder, "weights.h5"))


def load_post_filter(model_path):
  """(PostFilter, width, sigma) shipped with the exported model in
  `model_path`, or None if it ships none."""
  folder = os.path.join(model_path, POST_FILTER_DIR)
  if not os.path.exists(os.path.join(folder, "config.json")):
    return None
  try:
    with open(os.path.join(folder, "config.json")) as f:
      config = json.load(f)
    post_filter = PostFilter(config["filters"], config["layers"])
    post_filter.load_weights(os.path.join(folder, "weights.h5"))
    return post_filter, config["width"], config["sigma"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise errors.ModelError(f"{folder}: cannot load the post filter ({e})"
                            ) from None
