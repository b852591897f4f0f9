"""The training loop: logging, kill and resume, non-finite losses, export."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc import training

RUN_SCRIPT = """
import sys
from tfpc import codecs, data, losses, training
from skimage import data as samples
images = [samples.astronaut(), samples.coffee(), samples.chelsea()]
codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 8})
trainer = training.Trainer(codec, losses.RateDistortion(0.01), sys.argv[1],
                           learning_rate=1e-3, total_steps=int(sys.argv[2]),
                           log_every=1, checkpoint_every=5)
trainer.run(data.patch_dataset(images, batch_size=2, patch_size=64,
                               crop_size=128, seed=0))
"""


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


def test_killed_run_resumes_with_same_step_counter(tmp_path):
  train_dir = str(tmp_path / "run")
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
  process = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, train_dir,
                              "1000"], env=env, stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while time.time() < deadline:
    if (os.path.exists(os.path.join(train_dir, "metrics.jsonl")) and
        len(read_log(train_dir)) >= 12):
      break
    time.sleep(0.5)
  process.send_signal(signal.SIGKILL)
  process.wait()
  checkpoint = tf.train.latest_checkpoint(train_dir)
  assert checkpoint is not None
  saved_step = int(checkpoint.rsplit("-", 1)[1])
  assert saved_step >= 5 and saved_step % 5 == 0
  assert read_log(train_dir)[-1]["step"] > saved_step  # lines past the ckpt
  subprocess.run([sys.executable, "-c", RUN_SCRIPT, train_dir,
                  str(saved_step + 3)], env=env, check=True,
                 stderr=subprocess.DEVNULL, timeout=240)
  steps = [record["step"] for record in read_log(train_dir)]
  assert steps == list(range(1, saved_step + 4))
  codec, step = training.restore_codec(train_dir)
  assert step == saved_step + 3
  assert codec.num_filters == 8


class _NanAfter:
  """An objective that turns NaN from the given step on."""

  def __init__(self, step, trainer_box):
    self.step, self.box = step, trainer_box
    self.inner = losses.RateDistortion(0.01)

  def __call__(self, x, outputs):
    terms = self.inner(x, outputs)
    poison = tf.where(self.box[0].step >= self.step, np.nan, 0.0)
    return {**terms, "loss": terms["loss"] + poison}


def test_non_finite_steps_are_skipped_then_reported(tmp_path, photo):
  box = []
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  trainer = training.Trainer(codec, _NanAfter(3, box), str(tmp_path),
                             total_steps=50, log_every=1,
                             max_nonfinite_steps=4)
  box.append(trainer)
  with pytest.raises(training.TrainingDivergedError, match="4 consecutive"):
    trainer.run(data.patch_dataset([photo], batch_size=1, patch_size=32,
                                   crop_size=64, seed=0))
  assert int(trainer.step) == 3
  assert all(np.isfinite(v.numpy()).all() for v in codec.variables)
  assert [r["step"] for r in read_log(str(tmp_path))] == [1, 2, 3]
