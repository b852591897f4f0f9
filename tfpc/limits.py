"""What decoding may cost, checked from a file's header before any work.

Each codec architecture states what decoding an image of a given size costs
(`LearnedCodec.decode_cost`: bytes of memory and multiply-adds, roughly).
tfpc refuses a file whose decode would exceed the budget, and, when encoding
with automatic block coding, codes in blocks that fit it (`tfpc.coding`).

The budget: memory, by default half of this machine's physical memory
($TFPC_MAX_MEMORY or --max_memory: bytes, or with a K, M, G suffix); time,
by default 30 minutes of this machine's cores at a nominal rate of
`MACS_PER_CORE_SECOND` ($TFPC_MAX_DECODE_SECONDS).

A decode that was let in also runs under a deadline of CPU time
(`deadline`): past `DEADLINE_FACTOR` times its nominal time on one core, at
least $TFPC_DECODE_DEADLINE_SECONDS, the process ends with one line and
status 2. Python cannot interrupt a TensorFlow op, and
tensorflow-compression 2.14's range decoder loops forever on some crafted
payloads (docs/fuzz.md).
"""

import collections
import contextlib
import os
import sys
import threading
import time

from tfpc import errors

MACS_PER_CORE_SECOND = 1e10  # float32 multiply-adds, one recent x86 core
DEFAULT_SECONDS = 1800
DEADLINE_FACTOR = 20  # estimates within about 2x, a busy machine's slowdown
DEFAULT_DEADLINE_SECONDS = 60  # at least: the first call traces the graph
_DEADLINE_POLL_SECONDS = 0.5
DEADLINE_STATUS = errors.USAGE_ERROR
DEADLINE_PASSED = "did not finish within"  # in the line `deadline` prints
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

Cost = collections.namedtuple("Cost", "memory work")
Cost.__doc__ = """Bytes of memory and multiply-adds of a decode."""


def _parse_bytes(text, name):
  text = text.strip().upper().removesuffix("B").removesuffix("I")
  try:
    value = float(text[:-1] if text[-1:] in _UNITS else text)
    return int(value * _UNITS[text[-1] if text[-1:] in _UNITS else ""])
  except (ValueError, IndexError):
    raise errors.ConfigError(f"{name}={text!r}: expected bytes, e.g. 8G or "
                             "500M") from None


def physical_memory():
  """Bytes of physical memory of this machine."""
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget(max_memory=None):
  """The budget a decode must fit, as a `Cost`.

  Args:
    max_memory: bytes, or text such as "8G"; None: $TFPC_MAX_MEMORY, else
      half the physical memory.
  """
  if max_memory is None:
    max_memory = os.environ.get("TFPC_MAX_MEMORY") or physical_memory() // 2
  if isinstance(max_memory, str):
    max_memory = _parse_bytes(max_memory, "max_memory")
  seconds = _env_seconds("TFPC_MAX_DECODE_SECONDS", DEFAULT_SECONDS)
  return Cost(int(max_memory), seconds * _rate())


def _env_seconds(name, default):
  seconds = os.environ.get(name) or default
  try:
    return float(seconds)
  except ValueError:
    raise errors.ConfigError(f"{name}={seconds!r} is not a number") from None


def fits(cost, allowed):
  return cost.memory <= allowed.memory and cost.work <= allowed.work


def check(cost, allowed, what):
  """Raises `DecodeTooCostlyError` unless `cost` fits the budget `allowed`.

  `what` names the decode, e.g. "a 4000x3000 image with nlaic-lite-demo"."""
  if cost.memory > allowed.memory:
    raise errors.DecodeTooCostlyError(
        f"decoding {what} would take about {_size(cost.memory)}, over the "
        f"{_size(allowed.memory)} budget (--max_memory or $TFPC_MAX_MEMORY)")
  if cost.work > allowed.work:
    raise errors.DecodeTooCostlyError(
        f"decoding {what} would take about {cost.work / _rate():.0f} s, over "
        f"the {allowed.work / _rate():.0f} s budget "
        "($TFPC_MAX_DECODE_SECONDS)")


def deadline_seconds(cost):
  """CPU seconds a decode of `cost` may use: `DEADLINE_FACTOR` times its
  nominal time on one core, at least $TFPC_DECODE_DEADLINE_SECONDS (default
  60). CPU time, not wall time: a busy machine slows a decode, not its work."""
  return max(_env_seconds("TFPC_DECODE_DEADLINE_SECONDS",
                          DEFAULT_DEADLINE_SECONDS),
             DEADLINE_FACTOR * cost.work / MACS_PER_CORE_SECOND)


@contextlib.contextmanager
def deadline(cost, what):
  """Runs the block under `deadline_seconds(cost)` of the process's CPU
  time: past it, the process ends with status 2 and one line on stderr,
  "PROGRAM: error: ...".

  The bound on a decode that never returns: tensorflow-compression 2.14's
  range decoder reads an Elias-gamma prefix with an unbounded loop, inside a
  TF op that Python cannot interrupt (docs/fuzz.md). A watching thread runs
  while the op holds no GIL; ending the process is what it can do.
  """
  seconds = deadline_seconds(cost)
  start = time.process_time()
  done = threading.Event()

  def watch():
    while not done.wait(_DEADLINE_POLL_SECONDS):
      if time.process_time() - start > seconds:
        sys.stderr.write(errors.error_line(
            f"decoding {what} {DEADLINE_PASSED} {round(seconds, 1):g} CPU "
            f"seconds ({DEADLINE_FACTOR} times its estimate, at least "
            "$TFPC_DECODE_DEADLINE_SECONDS): a corrupted or crafted "
            "payload") + "\n")
        sys.stderr.flush()
        os._exit(DEADLINE_STATUS)  # pylint: disable=protected-access

  threading.Thread(target=watch, daemon=True).start()
  try:
    yield
  finally:
    done.set()


def _size(count):
  if count >= 1 << 30:
    return f"{count / 2**30:.1f} GiB"
  return f"{count / 2**20:.1f} MiB"


def _rate():
  """Nominal multiply-adds per second of this machine."""
  return MACS_PER_CORE_SECOND * (os.cpu_count() or 1)
