"""A resumable training loop around one custom `tf.function` step.

A run owns a `train_dir` (`run_folder` knows its files). Killed at any moment and restarted with the same arguments, a run continues
from its last checkpoint with the same step counter; log lines written after
that checkpoint are dropped so that the log and the weights agree.
"""

import dataclasses
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
from tfpc.training import run_folder

# The one table of schedule and optimizer defaults (the paper's AdamW weight
# decay): the Trainer's, a staged recipe's stages' and tfpc_train's flags'.
SCHEDULE_DEFAULTS = {"total_steps": 1000, "learning_rate": 1e-4,
                     "final_learning_rate": 1e-5, "final_steps": 0,
                     "weight_decay": 0.01, "log_every": 100,
                     "checkpoint_every": 1000, "max_nonfinite_steps": 20}


def learning_rate_schedule(total_steps, final_steps, learning_rate,
                           final_learning_rate):
  """The rate of the step after `iterations` steps: `learning_rate`, then
  `final_learning_rate` for the last `final_steps` of `total_steps`."""
  return tf.keras.optimizers.schedules.PiecewiseConstantDecay(
      [total_steps - final_steps - 1], [learning_rate, final_learning_rate])


class TrainingDivergedError(errors.TfpcError):
  """Losses or gradients stayed NaN/Inf for too many consecutive steps."""


def _finite(tensors):
  return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


@dataclasses.dataclass
class Network:
  """One network the trainer updates, with its own optimizer.

  Attributes:
    loss: key of the objective's terms that it minimizes.
    model: the Keras model (the codec, a proxy, a discriminator, ...).
    modules: names of the model's sub-modules to train (e.g.
      ("synthesis_transform",): the rest stays frozen); default: all.
    learning_rate: a float or a Keras schedule of the step; default: the
      trainer's schedule.
    update_every: applies its update every this many steps.
  """
  loss: str
  model: tf.Module
  modules: tuple = ()
  learning_rate: object = None
  update_every: int = 1

  @property
  def variables(self):
    if not self.modules:
      return self.model.trainable_variables
    return [v for name in self.modules
            for v in getattr(self.model, name).trainable_variables]


class Trainer:
  """Trains `codec` on `objective` from an infinite `dataset` of batches.

  Each step is one `tf.function`: a single forward pass of the codec (as
  `objective.forward` asks) and the objective under one tape, then one
  update per `Network`: by default the codec on `objective`'s `loss`, and
  each network in `objective.auxiliary` on its own loss; `networks`
  replaces them (name -> `Network`: a part of the codec, another schedule,
  an update ratio, or only some of the networks). The step counter counts
  the updates of the first network; the objective receives it. Gradients are averaged over the replicas
  of `strategy` (default: no distribution; build the codec and the
  objective's networks under `strategy.scope()`). A network's update is
  skipped, and reported, when its loss or gradients are not finite.

  Every network follows the codec's learning-rate schedule (`learning_rate`,
  then `final_learning_rate` for the last `final_steps`) unless its
  `Network.learning_rate` or `learning_rates` (by name) gives it its own.
  After each log record is made, `objective.on_log(record)` may add to it. Checkpoints hold the codec and every auxiliary network, trained
  or not.
  """

  def __init__(self, codec, objective, train_dir, strategy=None,
               networks=None, learning_rates=None, **schedule):
    unknown = set(schedule) - set(SCHEDULE_DEFAULTS)
    if unknown:
      raise TypeError(f"Trainer: unknown settings {sorted(unknown)}")
    schedule = {**SCHEDULE_DEFAULTS, **schedule}
    total_steps, final_steps = schedule["total_steps"], schedule["final_steps"]
    self.codec = codec
    self.objective = objective
    self.train_dir = train_dir
    self.strategy = strategy or tf.distribute.get_strategy()
    self.total_steps = total_steps
    self.log_every = schedule["log_every"]
    self.checkpoint_every = schedule["checkpoint_every"]
    self.max_nonfinite_steps = schedule["max_nonfinite_steps"]
    self.networks = networks or {
        name: Network(loss, model) for name, (loss, model) in
        {"codec": ("loss", codec), **objective.auxiliary}.items()}
    self._lead = next(iter(self.networks))
    self.schedule = learning_rate_schedule(
        total_steps, final_steps, schedule["learning_rate"],
        schedule["final_learning_rate"])
    self.optimizers = {}
    with self.strategy.scope():
      for name, network in self.networks.items():
        rate = network.learning_rate or (learning_rates or {}).get(
            name, self.schedule)
        self.optimizers[name] = tf.keras.optimizers.AdamW(
            learning_rate=rate, weight_decay=schedule["weight_decay"],
            beta_1=0.9,
            beta_2=0.999)
        self.optimizers[name].build(network.variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    # Every network of the run is saved, trained in this run or not: the
    # next stage of a recipe starts from all of them.
    models = {"codec": codec,
              **{name: model for name, (_, model) in
                 objective.auxiliary.items()},
              **{name: network.model for name, network
                 in self.networks.items()}}
    checkpoint = tf.train.Checkpoint(
        step=self.step, **models,
        **{f"{name}_optimizer": optimizer
           for name, optimizer in self.optimizers.items()})
    self.manager = tf.train.CheckpointManager(checkpoint, train_dir,
                                              max_to_keep=3)
    self._with_gradient = {}
    self._stop_requested = False

  def _replica_step(self, x):
    forward = self.objective.forward
    with tf.GradientTape(persistent=True) as tape:
      outputs = (None if forward is None else
                 self.codec(x, training=forward == "training"))
      terms = self.objective(x, outputs, self.step.read_value())
    grads = {}
    for name, network in self.networks.items():
      all_grads = tape.gradient(terms[network.loss], network.variables)
      self._with_gradient[name] = [
          i for i, g in enumerate(all_grads) if g is not None]
      grads[name] = [all_grads[i] for i in self._with_gradient[name]]
    return terms, grads

  @tf.function
  def train_step(self, x):
    """One step on a (distributed) batch: (mean terms, {network: applied})."""
    terms, grads = self.strategy.run(self._replica_step, (x,))
    mean = tf.distribute.ReduceOp.MEAN
    terms = {k: self.strategy.reduce(mean, v, axis=None)
             for k, v in terms.items()}
    applied = {}
    for name, network in self.networks.items():
      variables = [network.variables[i] for i in self._with_gradient[name]]
      reduced = self.strategy.extended.batch_reduce_to(
          mean, list(zip(grads[name], variables)))
      applied[name] = _finite(
          [terms[network.loss]] +
          [self.strategy.experimental_local_results(g)[0] for g in reduced])
      if applied[name] and self.step % network.update_every == 0:
        self.optimizers[name].apply_gradients(
            zip(reduced, variables), skip_gradients_aggregation=True)
    if applied[self._lead]:
      self.step.assign_add(1)
    return terms, applied

  def _restore(self):
    """Resumes from the latest checkpoint of the same codec, if any."""
    run_folder.check_codec_config(self.train_dir, self.codec.get_config())
    try:
      path = self.manager.restore_or_initialize()
    except (tf.errors.OpError, ValueError, AssertionError) as e:
      raise errors.ModelError(
          f"{self.train_dir}: checkpoint does not fit this run ({e})") from None
    if path:
      logging.info("resumed from %s at step %d", path, int(self.step.numpy()))
    return run_folder.open_log(self.train_dir, int(self.step.numpy()))

  def _request_stop(self, signum, frame):
    del frame
    logging.warning("signal %d: saving a checkpoint and stopping", signum)
    self._stop_requested = True

  def save(self):
    return self.manager.save(checkpoint_number=int(self.step.numpy()))

  def _count_nonfinite(self, applied, streaks, step):
    """Reports skipped updates of `step`; raises when one network keeps
    failing."""
    for name, ok in applied.items():
      if bool(ok):
        streaks[name] = 0
        continue
      streaks[name] += 1
      logging.warning("non-finite %s loss or gradient at step %d: %s update "
                      "skipped (%d in a row)", self.networks[name].loss,
                      step, name, streaks[name])
      if streaks[name] >= self.max_nonfinite_steps:
        raise TrainingDivergedError(
            f"{streaks[name]} consecutive non-finite {name} updates at step "
            f"{step}; last checkpoint kept in {self.train_dir}")

  def _is_log_step(self, step):
    """Every `log_every` steps, the last step, and powers of two before the
    first `log_every` (a run shows signs of life within seconds)."""
    return (step % self.log_every == 0 or step == self.total_steps or
            (step < self.log_every and step & (step - 1) == 0))

  def _next_boundary(self, step):
    """The next step that is logged or checkpointed (or the last one)."""
    following = step + 1
    while not (self._is_log_step(following) or
               following % self.checkpoint_every == 0):
      following += 1
    return min(following, self.total_steps)

  def _record(self, step, sums, counts, skipped, start_step, start_time,
              start_cpu):
    record = {"step": step,
              **{k: v / counts[k] for k, v in sums.items()},
              **{f"{k}_skipped": v for k, v in skipped.items()},
              "learning_rate": float(self.schedule(step - 1)),
              "replicas": self.strategy.num_replicas_in_sync,
              "steps_per_second": (step - start_step) /
                                  max(time.time() - start_time, 1e-9),
              "time": time.time(),
              "cpu_seconds": start_cpu + time.process_time()}
    self.objective.on_log(record)
    return record

  def run(self, dataset):
    """Trains until `total_steps` or a stop signal; returns the last record
    (just `step` if nothing was logged since the last one).

    Steps run back to back between log and checkpoint steps; their values
    reach the host only there, in one pull. Logged values are means over the
    steps since the previous record, of finite values only;
    `<network>_skipped` counts updates skipped meanwhile.
    """
    log = self._restore()
    writer = tf.summary.create_file_writer(
        os.path.join(self.train_dir, run_folder.TENSORBOARD))
    previous = {s: signal.signal(s, self._request_stop)
                for s in (signal.SIGTERM, signal.SIGINT)}
    streaks = dict.fromkeys(self.networks, 0)
    sums, counts, skipped, record = {}, {}, dict.fromkeys(self.networks, 0), None
    step = start_step = int(self.step.numpy())
    start_time = time.time()
    # The run's CPU time so far (its log up to the resumed step), minus this
    # process's CPU time before the first step.
    start_cpu = (run_folder.cpu_seconds(self.train_dir, start_step) -
                 time.process_time())
    bar = tqdm(total=self.total_steps, initial=start_step, unit="step",
               mininterval=1 if sys.stderr.isatty() else 30,
               disable=None, dynamic_ncols=True)
    try:
      iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
      while step < self.total_steps and not self._stop_requested:
        pending = []
        for _ in range(self._next_boundary(step) - step):
          pending.append(self.train_step(next(iterator)))
          if self._stop_requested:
            break
        for terms, applied in tf.nest.map_structure(
            lambda t: t.numpy(), pending):
          self._count_nonfinite(applied, streaks, step + 1)
          for name, ok in applied.items():
            skipped[name] += not ok
          if not applied[self._lead]:
            continue
          step += 1
          for name, value in terms.items():
            if np.isfinite(value):
              sums[name] = sums.get(name, 0.0) + float(value)
              counts[name] = counts.get(name, 0) + 1
        bar.update(step - bar.n)
        if self._is_log_step(step) and counts:
          record = self._record(step, sums, counts, skipped, start_step,
                                start_time, start_cpu)
          log.write(json.dumps(record) + "\n")
          with writer.as_default(step=step):
            for name, value in record.items():
              if name not in ("step", "time"):
                tf.summary.scalar(name, float(value))
          bar.set_postfix({k: f"{record[k]:.4g}" for k in
                           self.objective.summary if k in record})
          sums, counts = {}, {}
          skipped = dict.fromkeys(self.networks, 0)
        if step % self.checkpoint_every == 0:
          self.save()
      self.save()
      if record is None or record["step"] != step:
        record = {"step": step}
    finally:
      bar.close()
      log.close()
      writer.close()
      for s, handler in previous.items():
        signal.signal(s, handler)
    return record

