"""Issue 29: every input bounded and clean. Decode budgets checked from the
header, automatic block coding, atomic outputs, and a slice of the fuzzer."""

import errno
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from tfpc import bitstream
from tfpc import coding
from tfpc import errors
from tfpc import fuzz
from tfpc import limits
from tfpc import zoo

UNLIMITED = float("inf")


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
  """The folder of the fuzzer's untrained stand-ins."""
  return str(tmp_path_factory.mktemp("m"))


@pytest.fixture(scope="module")
def nlaic(stand_ins):
  """NLAIC-lite as its first demo was, untrained."""
  return fuzz.stand_in(fuzz.NLAIC_STAND_IN, stand_ins)


@pytest.fixture(scope="module")
def dpc(stand_ins):
  """DPC as its demo was (none ships: docs/dpc.md), untrained."""
  return fuzz.stand_in(fuzz.DPC_STAND_IN, stand_ins)


def _claiming(model, height, width):
  """A version-1 file of `model` whose header claims height x width, with a
  valid checksum and payload strings of four zero bytes."""
  return bitstream.pack(model.model_id, height, width,
                        [bytes(4)] * model.num_strings)


def test_costs_grow_with_the_image_and_attention_is_quadratic(nlaic):
  small, large = nlaic.decode_cost(1024, 2048), nlaic.decode_cost(2048, 4096)
  assert large.memory >= 4 * small.memory
  # Four times the pixels: more than four times the work (attention).
  assert large.work > 6 * small.work
  blocks = nlaic.decode_cost(2048, 4096, (1024, 2048))
  assert blocks.work == pytest.approx(4 * small.work)
  assert blocks.memory == small.memory + 3 * 2048 * 4096


def test_nlaic_codes_a_4k_image_in_blocks_by_itself(nlaic):
  budget = limits.Cost(16 << 30, UNLIMITED)
  assert coding.auto_block_shape(nlaic, 2160, 3840, budget) == (1024, 2048)
  assert coding.auto_block_shape(nlaic, 512, 768, budget) is None
  # A smaller budget: smaller blocks, each of which fits it.
  budget = limits.Cost(nlaic.decode_cost(2160, 3840, (512, 1024)).memory,
                       UNLIMITED)
  shape = coding.auto_block_shape(nlaic, 2160, 3840, budget)
  assert shape[0] * shape[1] <= 512 * 1024
  assert limits.fits(nlaic.decode_cost(2160, 3840, shape), budget)


def test_auto_blocks_follow_the_budget_and_the_file_decodes(nlaic, photo):
  pixels = np.ascontiguousarray(photo[:128, :192])
  budget = limits.Cost(nlaic.decode_cost(128, 192, (128, 128)).memory,
                       UNLIMITED)
  data = coding.encode(nlaic, pixels, allowed=budget)
  container = bitstream.unpack(data)
  assert container.block_shape == (128, 128)
  assert coding.decode(data, nlaic, allowed=budget).pixels.shape == (
      128, 192, 3)
  whole = coding.encode(nlaic, pixels, block_shape=None,
                        allowed=limits.Cost(1 << 40, UNLIMITED))
  assert bitstream.unpack(whole).block_shape is None
  with pytest.raises(errors.DecodeTooCostlyError, match="over the"):
    coding.decode(whole, nlaic, allowed=budget)
  with pytest.raises(errors.DecodeTooCostlyError):  # refused, not written
    coding.encode(nlaic, pixels, block_shape=None, allowed=budget)


def test_a_small_file_claiming_a_huge_image_is_refused_before_work(dpc,
                                                                   nlaic):
  for model in (dpc, nlaic):
    data = _claiming(model, 9000, 9000)
    with pytest.raises(errors.DecodeTooCostlyError) as error:
      coding.decode(data, model, allowed=limits.Cost(8 << 30, UNLIMITED))
    assert "GiB" in str(error.value) and "\n" not in str(error.value)
  # Time: attention over a whole 4K image, within any memory.
  with pytest.raises(errors.DecodeTooCostlyError, match=r" s budget"):
    coding.decode(_claiming(nlaic, 2160, 3840), nlaic,
                  allowed=limits.Cost(1 << 40, 60 * limits._rate()))  # pylint: disable=protected-access


def test_the_budget_is_one_line_with_status_2_from_the_cli(dpc, stand_ins,
                                                           tmp_path):
  path = tmp_path / "claims.tfpc"
  path.write_bytes(_claiming(dpc, 4000, 3000))
  line = _refused(tmp_path, path, env={"TFPC_MAX_MEMORY": "256M",
                                       "TFPC_MODEL_DIR": stand_ins})
  assert "3000x4000 image with untrained-dpc" in line
  assert "over the 256.0 MiB budget" in line


def _refused(tmp_path, path, *flags, **kwargs):
  """The one line on stderr of `tfpc_decompress` on `path`, which must end
  with status 2 and write nothing."""
  result = run_cli("tfpc_decompress", *flags, f"--input={path}",
                   f"--output={tmp_path}/out.png", **kwargs)
  assert result.returncode == 2
  assert result.stderr.count("\n") == 1
  assert not (tmp_path / "out.png").exists()
  return result.stderr


# A bls2017-mse-l0.0008 payload (a 32x32 crop's, bits flipped) that makes
# tfc's range decoder loop forever on its Elias-gamma prefix when the header
# claims 32x80 (docs/fuzz.md; found by benchmarks/range_decoder_trace.py
# --mutants=20000 --seed=1 on the fuzzer's seed). Its length cannot give it
# away: valid 32x80 files of flat images have payloads of 20 to 66 bytes; it
# has 22.
LOOPING_PAYLOAD = bytes.fromhex("c1f5b6014f062691d977879d2da8f367d4687af0c532")
LOOPING_MODEL = "bls2017-mse-l0.0008"


def test_a_payload_that_loops_the_range_decoder_ends_at_its_deadline(
    tmp_path):
  metadata = zoo.read_metadata(zoo.resolve(LOOPING_MODEL))
  path = tmp_path / "loops.tfpc"
  path.write_bytes(bitstream.pack(bytes.fromhex(metadata["model_id"]), 80, 32,
                                  [LOOPING_PAYLOAD]))
  # Before the deadline, this never returned (killed by the timeout).
  line = _refused(tmp_path, path, f"--model={LOOPING_MODEL}", timeout=90,
                  env={"TFPC_DECODE_DEADLINE_SECONDS": "3"})
  assert f"decoding a 32x80 image with {LOOPING_MODEL}" in line
  assert "did not finish within 3 CPU seconds" in line


def _python(code, **env):
  return subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, env={**os.environ, **env}, timeout=180,
                        check=False)


def test_the_deadline_counts_cpu_time_and_ends_with_the_block():
  # Spinning past 0.5 CPU seconds ends the process; sleeping does not count,
  # and after the block nothing counts.
  code = ("import time\nfrom tfpc import limits\n"
          "with limits.deadline(limits.Cost(0, 0), 'a test'):\n"
          "  time.sleep(1)\n  end = time.process_time() + {}\n"
          "  while time.process_time() < end: pass\n"
          "end = time.process_time() + 0.5\n"
          "while time.process_time() < end: pass\nprint('alive')")
  stopped = _python(code.format(30), TFPC_DECODE_DEADLINE_SECONDS="0.3")
  assert stopped.returncode == 2 and stopped.stdout == ""
  assert stopped.stderr.count("\n") == 1
  assert ("error: decoding a test did not finish within 0.3 CPU seconds"
          in stopped.stderr)
  finished = _python(code.format(0.1), TFPC_DECODE_DEADLINE_SECONDS="0.3")
  assert (finished.returncode, finished.stdout) == (0, "alive\n")


def test_the_deadline_grows_with_the_work(monkeypatch):
  monkeypatch.delenv("TFPC_DECODE_DEADLINE_SECONDS", raising=False)
  assert limits.deadline_seconds(limits.Cost(0, 0)) == (
      limits.DEFAULT_DEADLINE_SECONDS)
  hour = limits.Cost(0, 3600 * limits.MACS_PER_CORE_SECOND)
  assert limits.deadline_seconds(hour) == pytest.approx(
      3600 * limits.DEADLINE_FACTOR)
  monkeypatch.setenv("TFPC_DECODE_DEADLINE_SECONDS", "5")
  assert limits.deadline_seconds(limits.Cost(0, 0)) == 5
  monkeypatch.setenv("TFPC_DECODE_DEADLINE_SECONDS", "soon")
  with pytest.raises(errors.ConfigError, match="not a number"):
    limits.deadline_seconds(limits.Cost(0, 0))


def test_budget_from_the_environment(monkeypatch):
  monkeypatch.setenv("TFPC_MAX_MEMORY", "1.5G")
  monkeypatch.setenv("TFPC_MAX_DECODE_SECONDS", "10")
  budget = limits.budget()
  assert budget.memory == 3 << 29
  assert budget.work == pytest.approx(10 * limits._rate())  # pylint: disable=protected-access
  assert limits.budget("300M").memory == 300 << 20
  monkeypatch.setenv("TFPC_MAX_MEMORY", "lots")
  with pytest.raises(errors.ConfigError, match="expected bytes"):
    limits.budget()
  monkeypatch.delenv("TFPC_MAX_MEMORY")
  assert limits.budget().memory == limits.physical_memory() // 2


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
  def half_written(image, fp, *args, **kwargs):
    del image, args, kwargs
    with open(fp, "wb") as f:
      f.write(b"\x89PNG half")
    raise OSError("disk full")

  monkeypatch.setattr(Image.Image, "save", half_written)
  from tfpc import image as image_lib  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.ImageReadError, match="disk full"):
    image_lib.write_image(str(tmp_path / "out.png"),
                          np.zeros((8, 8, 3), np.uint8))
  assert os.listdir(tmp_path) == []


def test_a_write_error_names_the_output_not_its_temporary(tmp_path):
  from tfpc import image as image_lib  # pylint: disable=g-import-not-at-top
  for path, reason in ((tmp_path / "none" / "out.png", errno.ENOENT),
                       (tmp_path, errno.EISDIR)):
    with pytest.raises(errors.ImageReadError) as error:
      image_lib.write_image(str(path), np.zeros((8, 8, 3), np.uint8))
    assert str(error.value) == (
        f"{path}: cannot write image ({os.strerror(reason)})")
  assert os.listdir(tmp_path) == []


def test_checksum_fixing_mutants_pass_the_container_checks():
  data = bitstream.pack(bytes(8), 32, 32, [b"abcd", b"efgh"])
  mutant = data[:-1] + b"X"
  with pytest.raises(errors.CorruptedFileError, match="checksum"):
    bitstream.unpack(mutant)
  assert bitstream.unpack(fuzz.fix_tfpc_checksum(mutant)).strings == [
      b"abcd", b"efgX"]
  header = struct.unpack_from(">4sBB8sIIB", fuzz.fix_tfpc_checksum(mutant))
  assert header[4:] == (32, 32, 2)


def test_fuzz_slice_finds_no_crash_hang_or_memory_blow_up():
  # 250 mutants of each of the 10 kinds, about a minute; the full run and
  # its figures: docs/fuzz.md.
  report = fuzz.run(cases=250, seed=2026)
  for kind, counts in report["kinds"].items():
    assert counts["crash"] == counts["hang"] == counts["memory"] == 0, (
        kind, counts["examples"])
    assert counts["decoded"] + counts["clean"] + counts["stopped"] == 250
    assert counts["clean"] > 0, kind  # the mutants do reach the checks
  assert report["worker_restarts"] == 0
