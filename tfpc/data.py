"""Training data: the ProxIQA / BLS2017 patch pipeline over a folder of photos.

Each sample: pick a photo, pick a down-sampling factor s, crop a (256/s)-sided
square, add uniform noise U(-0.5, 0.5), resize to 256x256 (antialiased), round,
then crop a 128x128 patch (paper, section 4.1). Batches of 8 by default.
Only the part of the crop that the patch reads is noised and resized.
"""

import glob
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfpc import errors
from tfpc import image as image_lib

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif",
                  ".tiff", ".webp")


def list_images(source):
  """Image paths in a folder or matching a glob, sorted; raises if none."""
  if os.path.isdir(source):
    paths = [os.path.join(source, name) for name in os.listdir(source)]
  else:
    paths = glob.glob(source)
  paths = sorted(p for p in paths if p.lower().endswith(IMAGE_SUFFIXES))
  if not paths:
    raise errors.ImageReadError(f"no images found at {source!r}")
  return paths


def load_images(paths, min_side=0):
  """Reads images as uint8 RGB; unreadable or too small ones are skipped.

  Returns (images, number skipped). Each skip is logged with its reason.
  """
  images, skipped = [], 0
  for path in paths:
    try:
      array = image_lib.read_image(path).pixels
    except errors.ImageReadError as e:
      logging.warning("skipping training image: %s", e)
      skipped += 1
      continue
    if min(array.shape[:2]) < min_side:
      logging.warning("skipping training image %s: smaller than %d px",
                      path, min_side)
      skipped += 1
      continue
    images.append(array)
  return images, skipped


def patch_window(size, crop_size, patch_size, offset):
  """Where a patch of a resized crop reads the crop, along one axis.

  Resizing a `size`-sided crop to `crop_size` (antialiased, triangle kernel)
  and taking `patch_size` samples from `offset` reads the crop only on
  [first, last); the same samples are the resize of that part alone, with
  `translation` (`tf.raw_ops.ScaleAndTranslate`'s, in output pixels).
  Returns (first, last, scale, translation).
  """
  scale = np.float32(crop_size) / np.float32(size)  # as tf.image.resize
  reach = max(1 / scale, 1.0) + 2  # kernel radius in crop pixels, a margin
  first = max(int(np.floor((offset + 0.5) / scale - 0.5 - reach)), 0)
  last = min(int(np.ceil((offset + patch_size - 0.5) / scale - 0.5 + reach)),
             size)
  return first, last, scale, scale * first - offset


def patch_dataset(images, batch_size=8, patch_size=128, crop_size=256,
                  min_scale=0.5, seed=None, parallel_calls=2):
  """Infinite tf.data pipeline of float32 [batch, patch, patch, 3] in [0, 255].

  The host picks each sample's crop, scale and patch; the pipeline then
  noises, resizes and rounds only the part of the crop the patch reads (the
  same values as resizing the whole crop and cropping the patch), in
  `parallel_calls` threads, a batch ahead of the step. The images stay
  decoded, as uint8.
  """
  if not images:
    raise errors.ImageReadError("no usable training images")
  rng = np.random.default_rng(seed)

  def windows():
    while True:
      pixels = images[rng.integers(len(images))]
      side = min(pixels.shape[:2])
      scale = rng.uniform(max(min_scale, crop_size / side), 1.0)
      size = min(side, int(round(crop_size / scale)))
      corner = [rng.integers(pixels.shape[0] - size + 1),
                rng.integers(pixels.shape[1] - size + 1)]
      offsets = rng.integers(crop_size - patch_size + 1, size=2)
      (top, bottom, resize, row_shift), (left, right, _, col_shift) = (
          patch_window(size, crop_size, patch_size, offset)
          for offset in offsets)
      yield (pixels[corner[0] + top:corner[0] + bottom,
                    corner[1] + left:corner[1] + right],
             np.float32([resize, resize]), np.float32([row_shift, col_shift]))

  def augment(window, resize, translation):
    x = tf.cast(window, tf.float32)
    x += tf.random.uniform(tf.shape(x), -0.5, 0.5)
    x = tf.raw_ops.ScaleAndTranslate(
        images=x[None], size=[patch_size, patch_size], scale=resize,
        translation=translation, kernel_type="triangle", antialias=True)[0]
    return tf.clip_by_value(tf.round(x), 0, 255)

  dataset = tf.data.Dataset.from_generator(windows, output_signature=(
      tf.TensorSpec((None, None, 3), tf.uint8),
      tf.TensorSpec((2,), tf.float32), tf.TensorSpec((2,), tf.float32)))
  dataset = dataset.map(augment, num_parallel_calls=parallel_calls)
  dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(1)
  options = tf.data.Options()
  # Sized for the two cores the step also runs on: the pipeline's ops run
  # single-threaded, and it keeps one batch ready.
  options.threading.max_intra_op_parallelism = 1
  options.autotune.enabled = False
  return dataset.with_options(options)


def sample_photos():
  """scikit-image's bundled colour photos (no download needed)."""
  from skimage import data as samples  # pylint: disable=g-import-not-at-top
  return [samples.astronaut(), samples.coffee(), samples.chelsea(),
          samples.rocket(), samples.hubble_deep_field(),
          samples.immunohistochemistry()]


def training_images(source, min_side):
  """uint8 images of a folder, glob or 'skimage'; skips are logged. Images
  whose shorter side is under `min_side` (a crop's: `patch_dataset` never
  scales up) are skipped."""
  if source == "skimage":
    return [image for image in sample_photos()
            if min(image.shape[:2]) >= min_side]
  images, _ = load_images(list_images(source), min_side)
  return images
