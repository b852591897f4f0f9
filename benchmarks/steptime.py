"""Training-step times of several objectives, measured side by side."""

import tempfile
import time

from tfpc import codecs
from tfpc import training


def interleaved(objectives, batch, architecture, num_filters, rounds):
  """Seconds per `train_step` of a fresh codec on each objective.

  Each objective gets its own codec and trainer, traced and warmed up twice;
  then the rounds interleave the objectives, so that load on the machine
  falls on all of them alike. Returns {name: [seconds per round]}.
  """
  return interleaved_trainers(
      {name: (codecs.build_codec({"architecture": architecture,
                                  "num_filters": num_filters}), objective)
       for name, objective in objectives.items()}, batch, rounds)


def interleaved_trainers(runs, batch, rounds):
  """`interleaved` for runs given as {name: (codec, objective)}."""
  trainers = {name: training.Trainer(codec, objective, tempfile.mkdtemp())
              for name, (codec, objective) in runs.items()}
  for name in trainers:
    for _ in range(2):  # trace and warm up
      trainers[name].train_step(batch)[0]["loss"].numpy()
  times = {name: [] for name in trainers}
  for _ in range(rounds):
    for name, trainer in trainers.items():
      start = time.perf_counter()
      trainer.train_step(batch)[0]["loss"].numpy()
      times[name].append(time.perf_counter() - start)
  return times
