"""What the benchmarks share: one timer, one Kodak path, one peak-RSS child,
the peer venv's location.

Scripts import it from beside them (`import harness`). Every speed figure in
docs/ is a ratio of paths timed by `interleaved` in one run, so that load on
the shared machine falls on all of them alike; `load()` is printed with it.
"""

import os
import subprocess
import time

import numpy as np

from tfpc.evaluation import suite

KODAK = suite.KODAK
# Peers (torch, CompressAI, reference implementations) live in their own venv,
# never in tfpc's: create it with `python3.11 -m venv $PEER_VENV`.
PEER_VENV = os.environ.get("TFPC_PEER_VENV", "/work/peers-venv")
PEER_PYTHON = os.path.join(PEER_VENV, "bin", "python")


def interleaved(paths, rounds, warmup=2):
  """Seconds per call of each path, `rounds` times, paths in turn.

  `paths`: {name: function of no arguments that returns when its work is
  done}. Each is called `warmup` times first (tracing). Returns
  {name: [seconds per round]}.
  """
  for function in paths.values():
    for _ in range(warmup):
      function()
  times = {name: [] for name in paths}
  for _ in range(rounds):
    for name, function in paths.items():
      start = time.perf_counter()
      function()
      times[name].append(time.perf_counter() - start)
  return times


def summary(times, unit=1000.0):
  """{name: (min, median)} of `interleaved` output, in ms by default."""
  return {name: (unit * min(values), unit * float(np.median(values)))
          for name, values in times.items()}


def load():
  """The machine's 1-minute load average, to print beside a figure."""
  return os.getloadavg()[0]


def _peak_rss(pid):
  """VmHWM of a running process in bytes (0 once it has exited)."""
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return 0


def peak_rss_child(argv, timeout, env=None):
  """Runs `argv`; returns (stdout, peak RSS in bytes, seconds) or raises
  `subprocess.TimeoutExpired`. The peak is polled every 50 ms, so a child
  under 50 ms may report less than it reached."""
  start = time.perf_counter()
  process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
  peak = 0
  while process.poll() is None:
    peak = max(peak, _peak_rss(process.pid))
    if time.perf_counter() - start > timeout:
      process.kill()
      process.wait()
      raise subprocess.TimeoutExpired(argv, timeout)
    time.sleep(0.05)
  stdout = process.stdout.read()
  if process.returncode:
    raise subprocess.CalledProcessError(process.returncode, argv, stdout)
  return stdout, peak, time.perf_counter() - start
