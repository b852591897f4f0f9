"""A resumable training loop around one custom `tf.function` step.

A run owns a `train_dir` holding:
  ckpt-*             tf.train checkpoints (codec, optimizer, step counter)
  metrics.jsonl      one JSON line per logged step, flushed as it is written
  tensorboard/       TensorBoard events
  config.json        the codec config, so the run can be exported later

Killed at any moment and restarted with the same arguments, a run continues
from its last checkpoint with the same step counter; log lines written after
that checkpoint are dropped so that the log and the weights agree.
"""

import json
import os
import signal
import sys
import time

import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from tfpc import errors


class TrainingDivergedError(errors.TfpcError):
  """Losses or gradients stayed NaN/Inf for too many consecutive steps."""


def _finite(tensors):
  return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


class Trainer:
  """Trains `codec` on `objective` from an infinite `dataset` of batches."""

  def __init__(self, codec, objective, train_dir, learning_rate=1e-4,
               final_learning_rate=1e-5, final_steps=0, total_steps=1000,
               weight_decay=0.0, log_every=10, checkpoint_every=200,
               max_nonfinite_steps=20):
    self.codec = codec
    self.objective = objective
    self.train_dir = train_dir
    self.total_steps = total_steps
    self.log_every = log_every
    self.checkpoint_every = checkpoint_every
    self.max_nonfinite_steps = max_nonfinite_steps
    schedule = tf.keras.optimizers.schedules.PiecewiseConstantDecay(
        [max(total_steps - final_steps, 0)],
        [learning_rate, final_learning_rate])
    self.optimizer = tf.keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=weight_decay, beta_1=0.9,
        beta_2=0.999)
    self.optimizer.build(codec.trainable_variables)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(
        codec=codec, optimizer=self.optimizer, step=self.step)
    self.manager = tf.train.CheckpointManager(checkpoint, train_dir,
                                              max_to_keep=3)
    self._stop_requested = False

  @tf.function
  def train_step(self, x):
    """One update; skipped (and reported by `applied`) when not finite."""
    variables = self.codec.trainable_variables
    with tf.GradientTape() as tape:
      terms = self.objective(x, self.codec(x, training=True))
    grads = tape.gradient(terms["loss"], variables)
    applied = _finite([terms["loss"]] + [g for g in grads if g is not None])
    if applied:
      self.optimizer.apply_gradients(zip(grads, variables))
      self.step.assign_add(1)
    return terms, applied

  def _restore(self):
    os.makedirs(self.train_dir, exist_ok=True)
    path = self.manager.restore_or_initialize()
    if path:
      logging.info("resumed from %s at step %d", path, int(self.step))
    with open(os.path.join(self.train_dir, "config.json"), "w") as f:
      json.dump(self.codec.get_config(), f, indent=2)
    return self._open_log()

  def _open_log(self):
    """Opens metrics.jsonl for appending, dropping lines past the checkpoint."""
    path = os.path.join(self.train_dir, "metrics.jsonl")
    kept = []
    if os.path.exists(path):
      with open(path) as f:
        for line in f:
          try:
            record = json.loads(line)
          except json.JSONDecodeError:
            continue  # a line cut short by a kill
          if record.get("step", 0) <= int(self.step):
            kept.append(line if line.endswith("\n") else line + "\n")
      with open(path + ".tmp", "w") as f:
        f.writelines(kept)
      os.replace(path + ".tmp", path)
    return open(path, "a", buffering=1)

  def _request_stop(self, signum, frame):
    del frame
    logging.warning("signal %d: saving a checkpoint and stopping", signum)
    self._stop_requested = True

  def save(self):
    return self.manager.save(checkpoint_number=int(self.step))

  def run(self, dataset):
    """Trains until `total_steps`; returns the last logged record."""
    log = self._restore()
    writer = tf.summary.create_file_writer(
        os.path.join(self.train_dir, "tensorboard"))
    previous = {s: signal.signal(s, self._request_stop)
                for s in (signal.SIGTERM, signal.SIGINT)}
    sums, count, nonfinite, record = {}, 0, 0, None
    start_step, start_time = int(self.step), time.time()
    bar = tqdm(total=self.total_steps, initial=start_step, unit="step",
               mininterval=1 if sys.stderr.isatty() else 30,
               disable=None, dynamic_ncols=True)
    try:
      iterator = iter(dataset)
      while int(self.step) < self.total_steps and not self._stop_requested:
        terms, applied = self.train_step(next(iterator))
        if not bool(applied):
          nonfinite += 1
          logging.warning("non-finite loss or gradient at step %d: update "
                          "skipped (%d in a row)", int(self.step), nonfinite)
          if nonfinite >= self.max_nonfinite_steps:
            raise TrainingDivergedError(
                f"{nonfinite} consecutive non-finite steps at step "
                f"{int(self.step)}; last checkpoint kept in {self.train_dir}")
          continue
        nonfinite = 0
        bar.update(1)
        for name, value in terms.items():
          sums[name] = sums.get(name, 0.0) + float(value)
        count += 1
        step = int(self.step)
        if step % self.log_every == 0 or step == self.total_steps:
          record = {"step": step, **{k: v / count for k, v in sums.items()},
                    "learning_rate": float(self.optimizer.learning_rate),
                    "steps_per_second": (step - start_step) /
                                        max(time.time() - start_time, 1e-9),
                    "time": time.time()}
          log.write(json.dumps(record) + "\n")
          with writer.as_default(step=step):
            for name, value in record.items():
              if name not in ("step", "time"):
                tf.summary.scalar(name, value)
          bar.set_postfix({k: f"{record[k]:.4g}" for k in
                           ("loss", "bpp", "psnr") if k in record})
          sums, count = {}, 0
        if step % self.checkpoint_every == 0:
          self.save()
      self.save()
    finally:
      bar.close()
      log.close()
      writer.close()
      for s, handler in previous.items():
        signal.signal(s, handler)
    return record


def restore_codec(train_dir):
  """The codec of a training run, with the weights of its latest checkpoint."""
  from tfpc import codecs  # pylint: disable=g-import-not-at-top
  try:
    with open(os.path.join(train_dir, "config.json")) as f:
      config = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.ModelError(f"{train_dir}: not a training run ({e})") from None
  path = tf.train.latest_checkpoint(train_dir)
  if path is None:
    raise errors.ModelError(f"{train_dir}: no checkpoint yet")
  codec = codecs.build_codec(config)
  tf.train.Checkpoint(codec=codec).read(path).expect_partial()
  step = int(os.path.basename(path).rsplit("-", 1)[-1])
  return codec, step
