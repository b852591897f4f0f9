"""Pre-training a proxy IQA network on distorted patches (ProxIQA, sec. 3).

Patches cut from training photos are distorted by JPEG, JPEG2000, Gaussian
blur, Gaussian noise or a learned codec at random strengths, scored by the
true metric, and the proxy is fitted to those scores. Such a proxy, frozen,
is what the paper shows failing (Fig. 2, 6a); it is also a starting point for
alternating training.
"""

import dataclasses
import io
import json
import os
import sys

import numpy as np
import tensorflow as tf
from PIL import Image
from PIL import ImageFilter
from scipy import stats
from tqdm import tqdm

from tfpc import data
from tfpc import errors
from tfpc.config import setting
from tfpc import losses
from tfpc import metrics

DISTORTIONS = ("jpeg", "jpeg2000", "blur", "noise", "codec")
STATS_FILE = "pretrain.json"
SCATTER_FILE = "true_vs_proxy.png"


def _through_pillow(patch, **save_options):
  buffer = io.BytesIO()
  Image.fromarray(patch).save(buffer, **save_options)
  buffer.seek(0)
  return np.asarray(Image.open(buffer).convert("RGB"))


def distort(patch, kind, strength, codec=None):
  """uint8 patch distorted by `kind` at `strength` in [0, 1] (1: strongest)."""
  if kind == "jpeg":
    return _through_pillow(patch, format="JPEG",
                           quality=int(round(95 - 90 * strength)))
  if kind == "jpeg2000":
    return _through_pillow(patch, format="JPEG2000", quality_mode="rates",
                           quality_layers=[10 + 290 * strength])
  if kind == "blur":
    return np.asarray(Image.fromarray(patch).filter(
        ImageFilter.GaussianBlur(0.3 + 3.7 * strength)))
  if kind == "noise":
    rng = np.random.default_rng(int(strength * 2**31))
    noisy = patch + rng.normal(0, 1 + 29 * strength, patch.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
  if kind == "codec":
    return codec.decode(codec.encode(patch))
  raise ValueError(f"unknown distortion {kind!r}; known: {DISTORTIONS}")


def distorted_pairs(images, metric, num_patches, patch_size, codec=None,
                    seed=0, score_batch=64):
  """(references, distorted, true scores on the 0-100 scale) for training.

  Each pair takes a random patch of a random image and a random distortion
  (the codec one only when `codec` is given) at a uniform random strength.
  """
  rng = np.random.default_rng(seed)
  kinds = DISTORTIONS if codec is not None else DISTORTIONS[:-1]
  usable = [im for im in images if min(im.shape[:2]) >= patch_size]
  if not usable:
    raise errors.ImageReadError(f"no image has a side of {patch_size} px")
  references = np.empty((num_patches, patch_size, patch_size, 3), np.uint8)
  distorted = np.empty_like(references)
  for i in tqdm(range(num_patches), desc="distorting", unit="patch",
                disable=None):
    image = usable[rng.integers(len(usable))]
    top = rng.integers(image.shape[0] - patch_size + 1)
    left = rng.integers(image.shape[1] - patch_size + 1)
    references[i] = image[top:top + patch_size, left:left + patch_size]
    distorted[i] = distort(references[i], kinds[rng.integers(len(kinds))],
                           rng.uniform(), codec)
  scores = np.concatenate([
      metrics.compute(metric, references[i:i + score_batch],
                      distorted[i:i + score_batch])
      for i in tqdm(range(0, num_patches, score_batch), desc=f"{metric}",
                    unit="batch", disable=None)])
  return references, distorted, metrics.to_proxy_scale(
      metric, scores).astype(np.float32)


def _dataset(references, distorted, scores, batch_size, shuffle_seed=None):
  dataset = tf.data.Dataset.from_tensor_slices(
      ((references, distorted), scores))
  if shuffle_seed is not None:
    dataset = dataset.shuffle(len(scores), seed=shuffle_seed)
  return dataset.batch(batch_size).map(
      lambda pair, score: ((tf.cast(pair[0], tf.float32),
                            tf.cast(pair[1], tf.float32)), score))


def agreement(true, predicted):
  """RMSE, Pearson (PLCC) and Spearman (SROCC) of proxy against true."""
  true, predicted = np.asarray(true, float), np.asarray(predicted, float)
  return {"rmse": float(np.sqrt(np.mean((true - predicted) ** 2))),
          "plcc": float(stats.pearsonr(true, predicted)[0]),
          "srocc": float(stats.spearmanr(true, predicted)[0])}


@dataclasses.dataclass
class PretrainConfig:
  """What `tfpc_pretrain_proxy` does; fields are its flags."""
  output_dir: str = setting(None, "Folder for the proxy (proxy.json, "
                                   "proxy.weights.h5), its stats and plot.")
  images: str = setting(None, "Photos: a folder, a glob or 'skimage'.")
  metric: str = setting("vmaf", "Metric the proxy mimics: vmaf, ssim, "
                               "msssim.")
  patch_size: int = setting(128, "Patch side (the training patches').")
  num_patches: int = setting(2048, "Distorted patches to make.")
  validation_fraction: float = setting(0.1, "Held-out share.")
  epochs: int = setting(20, "Passes over the training patches.")
  batch_size: int = setting(32, "Patches per step.")
  learning_rate: float = setting(1e-3, "Adam learning rate.")
  codec_model: str = setting("", "Exported codec whose outputs are "
                                    "one distortion ('' leaves it out).")
  seed: int = setting(0, "Seed of patches, distortions and weights.")


def pretrain(config, codec=None):
  """Makes the patches, fits the proxy, saves it; returns held-out stats."""
  if not config.output_dir or not config.images:
    raise errors.ConfigError("output_dir and images are required")
  if config.codec_model and codec is None:
    from tfpc import zoo  # pylint: disable=g-import-not-at-top
    codec = zoo.load(config.codec_model)
  images = data.training_images(config.images, config.patch_size)
  references, distorted, scores = distorted_pairs(
      images, config.metric, config.num_patches, config.patch_size, codec,
      config.seed)
  held_out = max(1, int(round(config.validation_fraction * len(scores))))
  train, valid = slice(held_out, None), slice(None, held_out)
  tf.keras.utils.set_random_seed(config.seed)
  proxy = losses.ProxyIQANet(config.metric, config.patch_size)
  proxy.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate),
                loss="mse")
  save_each_epoch = tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: losses.save_proxy(
          proxy, config.output_dir, epochs_done=epoch + 1))
  proxy.fit(_dataset(references[train], distorted[train], scores[train],
                     config.batch_size, config.seed),
            epochs=config.epochs, callbacks=[save_each_epoch],
            verbose=1 if sys.stdout.isatty() else 2)
  predicted = proxy.predict(
      _dataset(references[valid], distorted[valid], scores[valid],
               config.batch_size), verbose=0)
  result = {"metric": config.metric, "patches": config.num_patches,
            "held_out": held_out, **agreement(scores[valid], predicted),
            "config": dataclasses.asdict(config)}
  with open(os.path.join(config.output_dir, STATS_FILE), "w") as f:
    json.dump(result, f, indent=2)
  from tfpc.evaluation import plots  # pylint: disable=g-import-not-at-top
  plots.true_vs_proxy(scores[valid], predicted, config.metric,
                      os.path.join(config.output_dir, SCATTER_FILE))
  return result
