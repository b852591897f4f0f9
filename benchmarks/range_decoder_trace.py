"""Replays tfc 2.14.1's range decoder on a bls2017 `.tfpc` file, in Python.

A transcription of `RangeDecoder` (tensorflow_compression/cc/lib/
range_coder.h) and `OverflowDecode` (cc/kernels/range_coder_kernels.cc) at
tag v2.14.1, for files of a codec whose one string is coded by channel
(bls2017: `tfc.ContinuousBatchedEntropyModel`, `entropy_decode_channel`).
It says how far past the end of its string the decoder reads, and where the
Elias-gamma loop of an overflow value would never end: there, the binary
decisions see d = value - base = 0, which decodes 0 forever while the bytes
read past the end are zero (docs/fuzz.md).

  PYTHONPATH=. python benchmarks/range_decoder_trace.py FILE.tfpc \
      [--model=bls2017-mse-l0.0008] [--mutants=20000 --seed=1]

With --mutants: that many mutants of FILE's payload (1-4 bit flips) under
headers claiming 48, 64, 80 or 96 rows; counts those that loop forever and
prints the first one's rows and payload (hex), a test's fixture.
"""

import argparse

import numpy as np
import tensorflow as tf
import tensorflow_compression  # noqa: F401  pylint: disable=unused-import

from tfpc import bitstream
from tfpc import zoo
from tfpc.export import layout

_MASK = 0xFFFFFFFF
_BINARY = (0, 1, 2)  # OverflowDecode's binary_uniform_cdf, precision 1


class RangeDecoder:
  """tfc's RangeDecoder: 32-bit base, size - 1 and value; 16 bits at a time."""

  def __init__(self, source):
    self.source, self.position, self.past_end = source, 0, 0
    self.base, self.size_minus1, self.value = 0, _MASK, 0
    self._read16()
    self._read16()

  def _read16(self):
    for _ in range(2):
      self.value = (self.value << 8) & _MASK
      if self.position < len(self.source):
        self.value |= self.source[self.position]
        self.position += 1
      else:
        self.past_end += 1  # the byte read is 0

  def stuck(self):
    """Whether every binary decision from here on is 0: d = value - base
    is 0 and the bytes left to read are zeros (or none)."""
    return self.value == self.base and not any(self.source[self.position:])

  def decode(self, cdf, precision):
    size = self.size_minus1 + 1
    bound = (((self.value - self.base) & _MASK) + 1) << precision
    k = 1
    while k < len(cdf) - 1 and bound > size * cdf[k]:
      k += 1
    low = (size * cdf[k - 1]) >> precision
    high = ((size * cdf[k]) >> precision) - 1
    self.base = (self.base + low) & _MASK
    self.size_minus1 = high - low
    if self.size_minus1 >> 16 == 0:
      self.base = (self.base << 16) & _MASK
      self.size_minus1 = (self.size_minus1 << 16) | 0xFFFF
      self._read16()
    return k - 1


def overflow_decode(decoder, row):
  """OverflowDecode; None where its Elias-gamma prefix never ends."""
  escape = len(row) - 3
  value = decoder.decode(row[1:], -row[0])
  if value != escape:
    return value
  n = 0
  while decoder.decode(_BINARY, 1) == 0:
    n += 1
    if decoder.stuck():
      return None
  value = 1 << n
  for bit in reversed(range(n)):
    value |= decoder.decode(_BINARY, 1) << bit
  return -value if decoder.decode(_BINARY, 1) else value + escape - 1


def tables(cdf):
  """The CDF rows of tfc's flat `cdf` vector (as ScanCDF reads them)."""
  starts = [*np.flatnonzero(cdf < 0), len(cdf)]
  rows = []
  for start, end in zip(starts, starts[1:]):
    row = [int(v) for v in cdf[start:end]]
    while row[-1] == row[-2]:  # padding after 1 << precision
      row.pop()
    rows.append(row)
  return rows


def trace(string, rows, count):
  """(elements decoded, bytes read past the end, loops forever)."""
  decoder = RangeDecoder(string)
  for element in range(count):
    if overflow_decode(decoder, rows[element % len(rows)]) is None:
      return element, decoder.past_end, True
  return count, decoder.past_end, False


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("file")
  parser.add_argument("--model", default="bls2017-mse-l0.0008")
  parser.add_argument("--mutants", type=int, default=0)
  parser.add_argument("--seed", type=int, default=1)
  args = parser.parse_args()
  path = zoo.resolve(args.model)
  cdf = next(v for v in layout.saved_variables(tf.saved_model.load(path))
             if v.name.endswith("/cdf:0")).numpy()
  rows = tables(cdf)
  stride = zoo.read_metadata(path)["stride"]
  with open(args.file, "rb") as f:
    container = bitstream.unpack(f.read())
  string = container.strings[0]

  def count(height, width):
    return -(-height // stride) * -(-width // stride) * len(rows)

  total = count(container.height, container.width)
  decoded, past_end, forever = trace(string, rows, total)
  print(f"{args.file}: {container.width}x{container.height}, {total} "
        f"elements, string of {len(string)} bytes: " + (
            f"loops forever at element {decoded}, {past_end} bytes past the "
            "end" if forever else f"decoded, {past_end} bytes read past the "
            "end"))
  if args.mutants:
    rng = np.random.default_rng(args.seed)
    looping = 0
    for _ in range(args.mutants):
      mutant = bytearray(string)
      for _ in range(rng.integers(1, 5)):
        mutant[rng.integers(len(mutant))] ^= 1 << rng.integers(8)
      height = int(rng.choice([48, 64, 80, 96]))
      if trace(bytes(mutant), rows, count(height, container.width))[2]:
        if not looping:
          print(f"first: {container.width}x{height}, {bytes(mutant).hex()}")
        looping += 1
    print(f"{args.mutants} mutants claiming 48 to 96 rows: {looping} loop "
          "forever")


if __name__ == "__main__":
  main()
