"""Mutation fuzzing of every kind of file tfpc reads.

Kinds (`KINDS`): `.tfpc` version-1 files of a 32x32 photo crop from each
shipped architecture, a version-2 file of blocks, PyTorch weight files in both
layouts, PNG and JPEG images. Each case is a mutant of the kind's seed file:
bit flips, byte changes, truncation, insertion, deletion, header fields set to
edge values, sizes nudged or made huge; half of the mutants then get their
checksums recomputed (the `.tfpc` Adler-32, a zip entry's or a PNG chunk's
CRC-32), so that the reader must catch them by something else.

Cases run in a worker process that loads the models once (`_Worker`). The
parent watches each case: over `timeout` seconds of CPU time (or ten times
that of wall time) it is a hang, over `memory`
bytes of resident memory it is over memory; either way, and when the worker
dies, the worker is killed and restarted. Outcomes per kind:

  decoded  the reader returned data (for `.tfpc` files: a uint8 image of the
           header's size)
  clean    a `tfpc.errors.TfpcError` of one line
  stopped  the decode ran past its deadline (`tfpc.limits.deadline`), which
           ended the worker with one line and status 2, twice
  crash    any other exception, a multi-line message, or the worker dying
  hang     over the time limit, twice (a case over it, or stopped, is run
           once more in a fresh worker: on a busy machine a case can be
           starved)
  memory   over the memory limit, or a MemoryError

The worker runs with a small decode budget ($TFPC_MAX_MEMORY,
$TFPC_MAX_DECODE_SECONDS): a header that claims a large image must be refused
from the header, not decoded. Its decode deadline is at least 10 CPU
seconds and at most 20 times the budget's work (40 CPU seconds per core),
under the parent's timeout.

  python -m tfpc.fuzz --cases=1000 [--kinds=tfpc-dpc,pth-zip] [--seed=0]
"""

import argparse
import collections
import io
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

import numpy as np

from tfpc import bitstream
from tfpc import limits

# A shipped model of each architecture, or an untrained stand-in of the
# configuration its first demo had: a decoder's robustness does not depend on
# its training. NLAIC-lite keeps its stand-in (N = 32), on which docs/fuzz.md
# was measured, although nlaic-lite-demo/2 (N = 64) ships again; no DPC
# model ships (docs/dpc.md), so DPC's stand-in has its demo's sizes.
NLAIC_STAND_IN = {"architecture": "nlaic-lite", "num_filters": 32,
                  "latent_channels": 32, "hyper_filters": 32,
                  "num_blocks": 1, "attention_chunk": 256}
DPC_STAND_IN = {"architecture": "dpc", "num_filters": 64, "num_blocks": 3,
                "latent_channels": 32}
ARCHITECTURES = {"bls2017": "bls2017-mse-l0.0008",
                 "bmshj2018": "bmshj2018-vmafp-l0.0008",
                 "eic-base": "eic-base-demo", "dpc": DPC_STAND_IN,
                 "nlaic-lite": NLAIC_STAND_IN}
KINDS = (*(f"tfpc-{a}" for a in ARCHITECTURES), "tfpc-blocks", "pth-zip",
         "pth-legacy", "image-png", "image-jpeg")
OUTCOMES = ("decoded", "clean", "stopped", "crash", "hang", "memory")
BLOCKS_ARCHITECTURE = "bls2017"  # codes the file of blocks
WORKER_ENV = {"TFPC_MAX_MEMORY": "1G", "TFPC_MAX_DECODE_SECONDS": "2",
              "TFPC_DECODE_DEADLINE_SECONDS": "10",
              "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
STAND_IN_ROOT = "TFPC_FUZZ_STAND_INS"  # the workers' folder of stand-ins
WALL_FACTOR = 10  # a case's wall-time limit, in CPU-time limits
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_EDGE_VALUES = (0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4001,
                0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff)


def stand_in(config, root):
  """The untrained model of codec `config` (weights seeded: the same in every
  process), exported to `root` on first use; a `CodecModel`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfpc import codecs  # pylint: disable=g-import-not-at-top
  from tfpc import export  # pylint: disable=g-import-not-at-top
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  name = f"untrained-{config['architecture']}"
  if not os.path.isdir(os.path.join(root, name)):
    tf.keras.utils.set_random_seed(0)
    export.export_codec(codecs.build_codec(config), root, name)
  return zoo.load(name, root)


def load_models(stand_in_root):
  """{architecture: CodecModel} of `ARCHITECTURES`."""
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  return {a: zoo.load(m) if isinstance(m, str) else stand_in(m, stand_in_root)
          for a, m in ARCHITECTURES.items()}


# Seeds: one valid file per kind.

def _pickle_state_dict(arrays, legacy):
  """The pickle torch.save writes for a state dict of float32 arrays
  (protocol 2), written opcode by opcode: tfpc has no torch to call."""
  p = pickle

  def text(value):
    return p.BINUNICODE + struct.pack("<I", len(value)) + value.encode()

  def number(value):
    return p.BININT + struct.pack("<i", value)

  def global_(module, name):
    return p.GLOBAL + f"{module}\n{name}\n".encode()

  out = (p.PROTO + b"\x02" + global_("collections", "OrderedDict") +
         p.EMPTY_TUPLE + p.REDUCE)
  for key, (name, array) in enumerate(arrays.items()):
    pid = [text("storage"), global_("torch", "FloatStorage"), text(str(key)),
           text("cpu"), number(array.size)] + ([p.NONE] if legacy else [])
    strides = np.array(array.strides) // array.itemsize
    out += (text(name) + global_("torch._utils", "_rebuild_tensor_v2") +
            p.MARK + p.MARK + b"".join(pid) + p.TUPLE + p.BINPERSID +
            number(0) + p.MARK + b"".join(map(number, array.shape)) +
            p.TUPLE + p.MARK + b"".join(map(number, strides)) + p.TUPLE +
            p.NEWFALSE + global_("collections", "OrderedDict") +
            p.EMPTY_TUPLE + p.REDUCE + p.TUPLE + p.REDUCE + p.SETITEM)
  return out + p.STOP


def torch_file(arrays, legacy):
  """Bytes of a torch.save'd state dict of float32 arrays, either layout."""
  arrays = {k: np.ascontiguousarray(v, "<f4") for k, v in arrays.items()}
  if legacy:
    out = b"".join(pickle.dumps(header, protocol=2) for header in (
        0x1950a86a20f9469cfc6c, 1001,
        {"protocol_version": 1001, "little_endian": True}))
    out += _pickle_state_dict(arrays, legacy=True)
    out += pickle.dumps([str(k) for k in range(len(arrays))], protocol=2)
    for array in arrays.values():
      out += struct.pack("<q", array.size) + array.tobytes()
    return out
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr("archive/data.pkl", _pickle_state_dict(arrays, False))
    archive.writestr("archive/byteorder", "little")
    for key, array in enumerate(arrays.values()):
      archive.writestr(f"archive/data/{key}", array.tobytes())
  return buffer.getvalue()


def make_seeds(models, photo):
  """{kind: valid file bytes}; `models`: {architecture: CodecModel}."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from tfpc import coding  # pylint: disable=g-import-not-at-top
  from tfpc import weights  # pylint: disable=g-import-not-at-top
  crop = np.ascontiguousarray(photo[:32, :32])
  seeds = {f"tfpc-{a}": coding.encode(m, crop, block_shape=None)
           for a, m in models.items()}
  seeds["tfpc-blocks"] = coding.encode(
      models[BLOCKS_ARCHITECTURE], np.ascontiguousarray(photo[:48, :80]),
      block_shape=(32, 32))
  heads = weights.load("lpips_alex")
  seeds["pth-zip"] = torch_file(heads, legacy=False)
  seeds["pth-legacy"] = torch_file(heads, legacy=True)
  for kind, format_ in (("image-png", "PNG"), ("image-jpeg", "JPEG")):
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format_)
    seeds[kind] = buffer.getvalue()
  return seeds


# Mutations.

def _tfpc_header_fields(data):
  """[(offset, size)] of a .tfpc header's fields (as far as present)."""
  fields = [(4, 1), (5, 1), (6, 8), (14, 4), (18, 4)]
  version = data[4] if len(data) > 4 else 1
  if version == bitstream.BLOCKS_VERSION:
    fields += [(22, 4), (26, 4), (30, 1)]
  else:
    fields += [(22, 1)]
  end = fields[-1][0] + 1
  count = data[end - 1] if len(data) >= end else 1
  blocks = 1
  if version == bitstream.BLOCKS_VERSION and len(data) >= 30:
    height, width, block_h, block_w = struct.unpack_from(">IIII", data, 14)
    if block_h and block_w:
      blocks = min(bitstream.num_blocks(height, width, (block_h, block_w)),
                   1024)
  fields += [(end + 4 * i, 4) for i in range(count * blocks)]
  return [(o, s) for o, s in fields if o + s <= len(data)]


def fix_tfpc_checksum(data):
  """`data` with its Adler-32 recomputed where its header puts it."""
  fields = _tfpc_header_fields(data)
  lengths_end = fields[-1][0] + fields[-1][1] if fields else 0
  if lengths_end < 23 or len(data) < lengths_end + 4:
    return data
  checksum = zlib.adler32(data[lengths_end + 4:],
                          zlib.adler32(data[:lengths_end]))
  return (data[:lengths_end] + struct.pack(">I", checksum) +
          data[lengths_end + 4:])


def _set_field(data, offset, size, value):
  value &= (1 << (8 * size)) - 1
  return data[:offset] + value.to_bytes(size, "big") + data[offset + size:]


def _field_mutation(data, rng, fields):
  """A header field set to an edge value, nudged, or made huge."""
  offset, size = fields[rng.integers(len(fields))]
  value = int.from_bytes(data[offset:offset + size], "big")
  choice = rng.integers(3)
  if choice == 0:
    value = int(rng.choice(_EDGE_VALUES))
  elif choice == 1:
    value += int(rng.integers(-16, 17))
  else:
    value = int(rng.integers(1 << 14, 1 << 32))
  return _set_field(data, offset, size, value)


def _raw_mutation(data, rng):
  """Bit flips, byte changes, truncation, insertion or deletion."""
  data = bytearray(data)
  choice = rng.integers(5)
  if choice == 0 or not data:
    for _ in range(rng.integers(1, 5)):
      if data:
        data[rng.integers(len(data))] ^= 1 << rng.integers(8)
  elif choice == 1:
    for _ in range(rng.integers(1, 5)):
      data[rng.integers(len(data))] = rng.integers(256)
  elif choice == 2:
    del data[rng.integers(len(data)):]
  elif choice == 3:
    at = rng.integers(len(data) + 1)
    data[at:at] = rng.integers(0, 256, rng.integers(1, 64)).astype(
        np.uint8).tobytes()
  else:
    at = rng.integers(len(data))
    del data[at:at + rng.integers(1, 64)]
  return bytes(data)


def _mutate_zip_entry(data, rng):
  """A zip with one entry's bytes mutated and its CRC-32 recomputed."""
  try:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
      entries = [(info, archive.read(info)) for info in archive.infolist()]
  except (zipfile.BadZipFile, ValueError, OSError, EOFError,
          zlib.error, NotImplementedError):
    return data
  index = rng.integers(len(entries))
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as archive:
    for i, (info, content) in enumerate(entries):
      archive.writestr(info.filename, _raw_mutation(content, rng)
                       if i == index else content)
  return buffer.getvalue()


def _png_chunks(data):
  """[(offset, length)] of a PNG's chunks (their data), as far as intact."""
  chunks, offset = [], 8
  while offset + 12 <= len(data):
    (length,) = struct.unpack_from(">I", data, offset)
    if offset + 12 + length > len(data):
      break
    chunks.append((offset, length))
    offset += 12 + length
  return chunks


def _fix_png_crcs(data):
  for offset, length in _png_chunks(data):
    crc = zlib.crc32(data[offset + 4:offset + 8 + length])
    data = data[:offset + 8 + length] + struct.pack(">I", crc) + data[
        offset + 12 + length:]
  return data


def mutate(kind, seed, rng):
  """(mutant bytes, whether its checksums were recomputed)."""
  fixed = bool(rng.integers(2))
  if kind.startswith("tfpc-"):
    fields = _tfpc_header_fields(seed)
    data = (_field_mutation(seed, rng, fields) if rng.integers(2)
            else _raw_mutation(seed, rng))
    return (fix_tfpc_checksum(data) if fixed else data), fixed
  if kind == "pth-zip" and fixed:
    return _mutate_zip_entry(seed, rng), fixed
  if kind == "image-png":
    chunks = _png_chunks(seed)
    if rng.integers(2) and chunks:
      offset, _ = chunks[rng.integers(len(chunks))]
      seed = _field_mutation(seed, rng, [(offset, 4), (offset + 8, 4),
                                         (offset + 12, 4)])
    data = _raw_mutation(seed, rng)
    return (_fix_png_crcs(data) if fixed else data), fixed
  return _raw_mutation(seed, rng), False


# The worker: decodes cases read from stdin, one JSON line per result.

def _read_case(stream):
  header = stream.read(8)
  if len(header) < 8:
    return None
  kind_size, data_size = struct.unpack("<II", header)
  kind = stream.read(kind_size).decode()
  return kind, stream.read(data_size)


def _decode(kind, data, models, folder):
  """What the reader of `kind` makes of `data` (raises as it raises)."""
  from tfpc import coding  # pylint: disable=g-import-not-at-top
  from tfpc import image as image_lib  # pylint: disable=g-import-not-at-top
  from tfpc import weights  # pylint: disable=g-import-not-at-top
  if kind.startswith("tfpc-"):
    model = models[BLOCKS_ARCHITECTURE if kind == "tfpc-blocks" else kind[5:]]
    decoded = coding.decode(data, model).pixels
    header = bitstream.unpack(data)
    assert decoded.shape == (header.height, header.width, 3), decoded.shape
    assert decoded.dtype == np.uint8
    return
  path = os.path.join(folder, "case" + (".pth" if kind.startswith("pth")
                                        else ""))
  with open(path, "wb") as f:
    f.write(data)
  if kind.startswith("pth"):
    weights.read_torch(path)
  else:
    image_lib.read_image(path)


def _worker():
  """Loads the models, says "ready", answers "seeds", then decodes cases
  until EOF."""
  from tfpc import errors  # pylint: disable=g-import-not-at-top
  models = load_models(os.environ[STAND_IN_ROOT])
  folder = tempfile.mkdtemp(prefix="tfpc-fuzz-")
  stdin, stdout = sys.stdin.buffer, sys.stdout
  stdout.write("ready\n")
  stdout.flush()
  while True:
    case = _read_case(stdin)
    if case is None:
      break
    kind, data = case
    if kind == "seeds":
      from skimage import data as samples  # pylint: disable=g-import-not-at-top
      seeds = make_seeds(models, samples.astronaut())
      result = {k: v.hex() for k, v in seeds.items()}
    else:
      try:
        _decode(kind, data, models, folder)
        result = {"outcome": "decoded"}
      except errors.TfpcError as e:
        one_line = "\n" not in str(e) and str(e)
        result = {"outcome": "clean" if one_line else "crash",
                  "detail": f"{type(e).__name__}: {e}"[:300]}
      except MemoryError as e:
        result = {"outcome": "memory", "detail": "MemoryError"}
      except Exception as e:  # pylint: disable=broad-except
        result = {"outcome": "crash",
                  "detail": f"{type(e).__name__}: {e}"[:300]}
    stdout.write(json.dumps(result) + "\n")
    stdout.flush()


class _Worker:
  """The worker process, watched: time and resident memory per case."""

  def __init__(self, timeout, memory, stand_in_root):
    self.timeout, self.memory = timeout, memory
    self.stand_in_root = stand_in_root
    self.process = self.stderr = None
    self.restarts = -1

  def _start(self):
    """Starts the worker and waits until its models are loaded: the time
    limit of a case does not count the start."""
    self.restarts += 1
    self.stderr = tempfile.TemporaryFile()
    self.process = subprocess.Popen(
        [sys.executable, "-m", "tfpc.fuzz", "--worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=self.stderr, env={
            **os.environ, **WORKER_ENV, STAND_IN_ROOT: self.stand_in_root,
            "PYTHONPATH": os.pathsep.join(
                [_ROOT, os.environ.get("PYTHONPATH", "")])})
    if self.process.stdout.readline() != b"ready\n":
      raise RuntimeError("the fuzz worker did not start")

  def _rss(self):
    try:
      with open(f"/proc/{self.process.pid}/status") as f:
        for line in f:
          if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    except OSError:
      pass
    return 0

  def _cpu_seconds(self):
    """User and system CPU time of the worker so far."""
    try:
      with open(f"/proc/{self.process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
      return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
      return 0.0

  def _death(self, status):
    """The outcome of the worker's ending with `status` by itself."""
    self.stderr.seek(0)
    lines = self.stderr.read().decode(errors="replace").splitlines() or [""]
    if (status == limits.DEADLINE_STATUS and
        limits.DEADLINE_PASSED in lines[-1]):
      return {"outcome": "stopped", "detail": lines[-1][:300]}
    return {"outcome": "crash", "detail": f"worker died ({status})"}

  def stop(self):
    if self.process is not None and self.process.poll() is None:
      self.process.kill()
      self.process.wait()
    if self.stderr is not None:
      self.stderr.close()
    self.process = self.stderr = None

  def run(self, kind, data, timeout=None):
    """The worker's JSON answer, or {"outcome": "hang"/"memory"/"crash"}:
    a hang is over `timeout` seconds of the worker's CPU time (a busy machine
    slows a case, not its work) or over WALL_FACTOR times that of wall time."""
    if self.process is None:
      self._start()
    payload = kind.encode()
    try:
      self.process.stdin.write(struct.pack("<II", len(payload), len(data)) +
                               payload + data)
      self.process.stdin.flush()
    except BrokenPipeError:
      self.stop()
      return {"outcome": "crash", "detail": "worker died"}
    timeout = timeout or self.timeout
    start_cpu, start = self._cpu_seconds(), time.monotonic()
    stdout = self.process.stdout
    while True:
      ready, _, _ = select.select([stdout], [], [], 0.02)
      if ready:
        line = stdout.readline()
        if line:
          return json.loads(line)
        result = self._death(self.process.wait())
        self.stop()
        return result
      if self._rss() > self.memory:
        self.stop()
        return {"outcome": "memory", "detail": "over the RSS bound"}
      if (self._cpu_seconds() - start_cpu > timeout or
          time.monotonic() - start > WALL_FACTOR * timeout):
        self.stop()
        return {"outcome": "hang"}


def run(kinds=KINDS, cases=1000, seed=0, timeout=120.0, memory=3 << 30,
        log=None, report_path=None):
  """Fuzzes `cases` mutants of each kind; returns a report dict.

  Report: per kind, outcome counts, counts of "decoded" among mutants with
  recomputed checksums, seconds, examples of crashes; plus worker restarts.
  It is also written to `report_path` after each kind, if given.
  """
  stand_ins = tempfile.TemporaryDirectory(prefix="tfpc-fuzz-models-")
  worker = _Worker(timeout, memory, stand_ins.name)
  try:
    seeds = worker.run("seeds", b"", timeout=max(timeout, 600))
    if "outcome" in seeds:
      raise RuntimeError(f"the worker could not make the seeds: {seeds}")
    seeds = {k: bytes.fromhex(v) for k, v in seeds.items()}
    rng = np.random.default_rng(seed)
    report = {"cases_per_kind": cases, "seed": seed, "kinds": {},
              "worker_restarts": 0}
    for kind in kinds:
      counts = collections.Counter({o: 0 for o in OUTCOMES})
      fixed_decoded = fixed_total = retried = 0
      examples = []
      start = time.monotonic()
      for _ in range(cases):
        data, fixed = mutate(kind, seeds[kind], rng)
        result = worker.run(kind, data)
        if result["outcome"] in ("hang", "stopped"):
          # Once more in a fresh worker: a case that was only starved of
          # CPU on a busy machine finishes then.
          retried += 1
          result = worker.run(kind, data)
        counts[result["outcome"]] += 1
        fixed_total += fixed
        fixed_decoded += fixed and result["outcome"] == "decoded"
        if result["outcome"] in ("stopped", "crash", "hang", "memory"):
          if log:
            log(f"{kind}: {result} on {data.hex()[:120]}")
          if len(examples) < 5:
            examples.append({**result, "mutant": data.hex()[:400]})
      report["kinds"][kind] = {
          **counts, "checksum_fixed": fixed_total,
          "checksum_fixed_decoded": fixed_decoded, "retried": retried,
          "seconds": round(time.monotonic() - start, 1),
          "examples": examples}
      report["worker_restarts"] = worker.restarts
      if log:
        log(f"{kind}: {dict(counts)}, {fixed_decoded}/{fixed_total} "
            f"checksum-fixed mutants decoded, "
            f"{report['kinds'][kind]['seconds']} s")
      if report_path:
        with open(report_path, "w") as f:
          json.dump(report, f, indent=1)
    return report
  finally:
    worker.stop()
    stand_ins.cleanup()


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--kinds", default=",".join(KINDS))
  parser.add_argument("--cases", type=int, default=1000,
                      help="mutants per kind")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--timeout", type=float, default=120.0,
                      help="CPU seconds per case before it counts as a hang "
                      "(over the worker's decode deadline: 40 per core)")
  parser.add_argument("--memory", type=float, default=3.0,
                      help="GiB of resident memory per case")
  parser.add_argument("--report", help="JSON file for the report")
  args = parser.parse_args(argv)
  if args.worker:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _worker()
    return
  kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
  unknown = set(kinds) - set(KINDS)
  if unknown:
    parser.error(f"unknown kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
  run(kinds, args.cases, args.seed, args.timeout, int(args.memory * 2**30),
      log=lambda line: print(line, flush=True), report_path=args.report)


if __name__ == "__main__":
  main()
