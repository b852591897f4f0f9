"""What the benchmarks share: one timer, one Kodak path, one peak-RSS child,
the peer venv's location.

Scripts import it from beside them (`import harness`). Every speed figure in
docs/ is a ratio of paths timed by `interleaved` in one run, so that load on
the shared machine falls on all of them alike; `load()` is printed with it.
"""

import os
import subprocess
import tempfile
import time

import numpy as np

# Beside the repository, as tfpc.evaluation.suite.KODAK (peer venvs have no
# tfpc to import it from).
KODAK = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(
    __file__)), os.pardir, os.pardir, "shared", "data", "kodak"))
# Peers (torch, CompressAI, reference implementations) live in their own venv,
# never in tfpc's: create it with `python3.11 -m venv $PEER_VENV`.
PEER_VENV = os.environ.get("TFPC_PEER_VENV", "/work/peers-venv")
PEER_PYTHON = os.path.join(PEER_VENV, "bin", "python")


def interleaved(paths, rounds, warmup=2, results=None):
  """Seconds per call of each path, `rounds` times, paths in turn.

  `paths`: {name: function of no arguments that returns when its work is
  done}. Each is called `warmup` times first (tracing). Returns
  {name: [seconds per round]}; `results`, a dict, receives each path's last
  return value.
  """
  for function in paths.values():
    for _ in range(warmup):
      function()
  times = {name: [] for name in paths}
  for _ in range(rounds):
    for name, function in paths.items():
      start = time.perf_counter()
      result = function()
      times[name].append(time.perf_counter() - start)
      if results is not None:
        results[name] = result
  return times


def summary(times, unit=1000.0):
  """{name: (min, median)} of `interleaved` output, in ms by default."""
  return {name: (unit * min(values), unit * float(np.median(values)))
          for name, values in times.items()}


def load():
  """The machine's 1-minute load average, to print beside a figure."""
  return os.getloadavg()[0]


def peak_rss_child(argv, timeout=None, env=None):
  """Runs `argv` (a measuring child: peak RSS is per process) to its end.

  Returns {"stdout", "returncode", "peak_rss" (bytes, the kernel's count for
  the child, also when it was killed), "seconds", "timed_out"}; past
  `timeout` seconds the child is killed.
  """
  start = time.perf_counter()
  with tempfile.TemporaryFile("w+") as stdout:
    process = subprocess.Popen(argv, stdout=stdout, text=True, env=env)
    timed_out = False
    while True:
      pid, status, usage = os.wait4(process.pid, os.WNOHANG)
      if pid:
        break
      if timeout is not None and time.perf_counter() - start > timeout:
        process.kill()
        _, status, usage = os.wait4(process.pid, 0)
        timed_out = True
        break
      time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout.seek(0)
    return {"stdout": stdout.read(), "returncode": process.returncode,
            "peak_rss": usage.ru_maxrss * 1024,
            "seconds": time.perf_counter() - start, "timed_out": timed_out}
