"""Training data: the ProxIQA / BLS2017 patch pipeline over a folder of photos.

Each sample: pick a photo, pick a down-sampling factor s, crop a (256/s)-sided
square, add uniform noise U(-0.5, 0.5), resize to 256x256 (antialiased), round,
then crop a 128x128 patch (paper, section 4.1). Batches of 8 by default.
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


def patch_dataset(images, batch_size=8, patch_size=128, crop_size=256,
                  min_scale=0.5, seed=None):
  """Infinite tf.data pipeline of float32 [batch, patch, patch, 3] in [0, 255]."""
  if not images:
    raise errors.ImageReadError("no usable training images")
  rng = np.random.default_rng(seed)

  def crops():
    while True:
      pixels = images[rng.integers(len(images))]
      side = min(pixels.shape[:2])
      scale = rng.uniform(max(min_scale, crop_size / side), 1.0)
      size = min(side, int(round(crop_size / scale)))
      top = rng.integers(pixels.shape[0] - size + 1)
      left = rng.integers(pixels.shape[1] - size + 1)
      yield pixels[top:top + size, left:left + size]

  def augment(crop):
    x = tf.cast(crop, tf.float32)
    x += tf.random.uniform(tf.shape(x), -0.5, 0.5)
    x = tf.image.resize(x, (crop_size, crop_size), antialias=True)
    x = tf.clip_by_value(tf.round(x), 0, 255)
    return tf.image.random_crop(x, (patch_size, patch_size, 3))

  dataset = tf.data.Dataset.from_generator(
      crops, output_signature=tf.TensorSpec((None, None, 3), tf.uint8))
  dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.batch(batch_size, drop_remainder=True).prefetch(
      tf.data.AUTOTUNE)
