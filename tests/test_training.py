"""The training loop: data pipeline and non-finite losses.

Killing and resuming a real run is tested on tfpc_train in test_proxiqa.py.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_cli
from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc import training


def read_log(train_dir):
  with open(os.path.join(train_dir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_patch_pipeline_shapes_and_range(photo):
  batch = next(iter(data.patch_dataset([photo], batch_size=3, patch_size=32,
                                       crop_size=64, seed=1)))
  assert batch.shape == (3, 32, 32, 3) and batch.dtype == tf.float32
  values = batch.numpy()
  assert values.min() >= 0 and values.max() <= 255
  assert np.all(values == np.round(values))


def test_unreadable_training_images_are_skipped(tmp_path, photo):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  Image.fromarray(photo).save(tmp_path / "good.png")
  (tmp_path / "bad.png").write_bytes(b"garbage")
  Image.fromarray(photo[:50, :50]).save(tmp_path / "small.png")
  images, skipped = data.load_images(data.list_images(str(tmp_path)), 128)
  assert len(images) == 1 and skipped == 2


def test_training_uses_only_images_a_crop_fits_in(tmp_path, photo):
  # patch_dataset never scales up: a 40x48 image cannot give a 64 crop
  from PIL import Image  # pylint: disable=g-import-not-at-top
  Image.fromarray(photo[:40, :48]).save(tmp_path / "small.png")
  Image.fromarray(photo[:64, :80]).save(tmp_path / "fits.png")
  images = data.training_images(str(tmp_path), 64)
  assert [image.shape for image in images] == [(64, 80, 3)]
  batch = next(iter(data.patch_dataset(images, batch_size=2, patch_size=32,
                                       crop_size=64, seed=0)))
  assert batch.shape == (2, 32, 32, 3)
  assert all(min(image.shape[:2]) >= 400
             for image in data.training_images("skimage", 400))
  # a run whose crops fit no image says so (it crashed on a 40x48 image)
  (tmp_path / "fits.png").unlink()
  result = run_cli("tfpc_train", f"--images={tmp_path}", "--num_filters=4",
                   "--patch_size=32", "--crop_size=64", "--batch_size=2",
                   "--total_steps=1", f"--train_dir={tmp_path / 'run'}")
  assert result.returncode == 2
  assert result.stderr.splitlines()[-1] == (
      "tfpc_train: error: no usable training images")


class _NanAfter(losses.Objective):
  """An objective that turns NaN from the given step on."""

  def __init__(self, nan_from):
    self.nan_from = nan_from
    self.inner = losses.RateDistortion(0.01)

  def __call__(self, x, outputs, step):
    terms = self.inner(x, outputs)
    poison = tf.where(step >= self.nan_from, np.nan, 0.0)
    return {**terms, "loss": terms["loss"] + poison}


def test_non_finite_steps_are_skipped_then_reported(tmp_path, photo):
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  trainer = training.Trainer(codec, _NanAfter(3), str(tmp_path),
                             total_steps=50, log_every=1,
                             max_nonfinite_steps=4)
  with pytest.raises(training.TrainingDivergedError, match="4 consecutive"):
    trainer.run(data.patch_dataset([photo], batch_size=1, patch_size=32,
                                   crop_size=64, seed=0))
  assert int(trainer.step) == 3
  assert all(np.isfinite(v.numpy()).all() for v in codec.variables)
  assert [r["step"] for r in read_log(str(tmp_path))] == [1, 2, 3]


def test_patch_window_is_the_whole_resize_cropped():
  """The pipeline resizes only what a patch reads: the same samples as
  resizing the whole crop, then cropping."""
  rng = np.random.default_rng(0)
  for size in (64, 90, 128):
    crop = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    whole = tf.image.resize(crop, (64, 64), antialias=True).numpy()
    for offset in rng.integers(0, 64 - 24 + 1, size=(3, 2)):
      (top, bottom, scale, row_shift), (left, right, _, col_shift) = (
          data.patch_window(size, 64, 24, o) for o in offset)
      assert (bottom - top) * (right - left) < size * size
      patch = tf.raw_ops.ScaleAndTranslate(
          images=crop[None, top:bottom, left:right], size=[24, 24],
          scale=[scale, scale], translation=[row_shift, col_shift],
          kernel_type="triangle", antialias=True)[0].numpy()
      np.testing.assert_allclose(
          patch, whole[offset[0]:offset[0] + 24, offset[1]:offset[1] + 24],
          rtol=0, atol=1e-3)


@pytest.mark.parametrize("total, final, rates", [
    (4, 1, [1.0, 1.0, 1.0, 0.5]), (3, 0, [1.0, 1.0, 1.0]),
    (2, 2, [0.5, 0.5])])
def test_final_learning_rate_covers_exactly_the_last_steps(total, final,
                                                           rates):
  schedule = training.loop.learning_rate_schedule(total, final, 1.0, 0.5)
  # The optimizer asks for step k's rate after k - 1 iterations.
  assert [float(schedule(i)) for i in range(total)] == rates
