"""The binaries as a user runs them: round trips, bpp, one-line errors."""

import os

import numpy as np
import pytest
from PIL import Image

import tensorflow as tf

from conftest import kodak_image, run_cli
from tfpc import cli
from tfpc import zoo


def assert_clean_failure(result, message):
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, result.stderr
  assert message in lines[0]


def test_kodak_round_trip_with_shipped_model(tmp_path):
  source = kodak_image()
  tfpc_file, output = str(tmp_path / "k.tfpc"), str(tmp_path / "k.png")
  result = run_cli("tfpc_compress", f"--input={source}",
                   f"--output={tfpc_file}", "--verbose")
  assert result.returncode == 0, result.stderr
  size = os.path.getsize(tfpc_file)
  bpp = 8 * size / (768 * 512)
  assert f"{size} bytes, {bpp:.4f} bpp" in result.stdout
  psnr = float(result.stdout.split("PSNR ")[1].split(" dB")[0])
  assert psnr > 26
  result = run_cli("tfpc_decompress", f"--input={tfpc_file}",
                   f"--output={output}")
  assert result.returncode == 0, result.stderr
  with Image.open(output) as img, Image.open(source) as original:
    assert img.size == original.size and img.mode == "RGB"


def test_odd_sizes_and_grayscale_round_trip(tmp_path, photo):
  for name, img in [("tiny.png", Image.fromarray(photo[:1, :1])),
                    ("odd.bmp", Image.fromarray(photo[:17, :31])),
                    ("gray.png", Image.fromarray(photo[:40, :50, 0]))]:
    src = str(tmp_path / name)
    img.save(src)
    out = src + ".tfpc"
    assert run_cli("tfpc_compress", f"--input={src}",
                   f"--output={out}").returncode == 0
    rec = str(tmp_path / (name + ".rec.png"))
    result = run_cli("tfpc_decompress", f"--input={out}", f"--output={rec}",
                     "--verbose")
    assert result.returncode == 0, result.stderr
    with Image.open(rec) as decoded:
      assert decoded.size == img.size
      assert decoded.mode == ("L" if name == "gray.png" else "RGB")


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, photo):
  folder = tmp_path_factory.mktemp("cli")
  src = str(folder / "s.png")
  Image.fromarray(photo[:64, :64]).save(src)
  out = str(folder / "s.tfpc")
  assert run_cli("tfpc_compress", f"--input={src}",
                 f"--output={out}").returncode == 0
  return out


def test_decoder_errors_are_one_line(tmp_path, small_file):
  data = open(small_file, "rb").read()
  cases = {
      "cut.tfpc": (data[:len(data) - 5], "file cut short"),
      "flip.tfpc": (data[:-3] + bytes([data[-3] ^ 1]) + data[-2:],
                    "checksum mismatch"),
      "empty.tfpc": (b"", "empty file"),
      "foreign.tfpc": (b"GIF89a" + bytes(30), "not a .tfpc file"),
      "future.tfpc": (data[:4] + b"\x07" + data[5:], "newer than this reader"),
  }
  for name, (content, message) in cases.items():
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("tfpc_decompress", f"--input={path}",
                     f"--output={tmp_path / 'o.png'}")
    assert_clean_failure(result, message)
    assert f"error: {path}: " in result.stderr
    assert not (tmp_path / "o.png").exists()
  # the wrong model: both are named
  writer, given = (zoo.load(name).name for name in
                   ("mbt2018-mean-mse", "bls2017-mse-l0.0008"))
  result = run_cli("tfpc_decompress", f"--input={small_file}",
                   f"--output={tmp_path / 'o.png'}", f"--model={given}")
  assert_clean_failure(result, f"{small_file}: file was written by {writer}, "
                       f"not by the given model {given}")


def test_encoder_errors_are_one_line(tmp_path, small_file):
  assert_clean_failure(
      run_cli("tfpc_compress", f"--input={small_file}",
              f"--output={tmp_path / 'x.tfpc'}"), "not a readable image")
  assert_clean_failure(
      run_cli("tfpc_compress", "--model=no-such-model",
              f"--input={small_file}", f"--output={tmp_path / 'x.tfpc'}"),
      "no model 'no-such-model'")
  assert_clean_failure(run_cli("tfpc_compress", "--output=x.tfpc"),
                       "--input")
  assert_clean_failure(
      run_cli("tfpc_compress", f"--input={small_file}",
              f"--output={tmp_path / 'x.tfpc'}", "stray"),
      "unexpected argument 'stray' (flags are --name=value)")
  assert not (tmp_path / "x.tfpc").exists()


def test_demo_shows_each_model_and_jpeg_with_vmaf(tmp_path, photo,
                                                  tiny_model_root):
  Image.fromarray(photo[:128, :192]).save(tmp_path / "crop.png")
  models = ",".join(os.path.join(tiny_model_root, f"tiny-{a}", "1")
                    for a in ("bls2017", "bmshj2018"))
  result = run_cli("tfpc_demo", f"--image={tmp_path / 'crop.png'}",
                   f"--models={models}")
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert lines[1].split() == ["codec", "bpp", "PSNR", "dB", "MS-SSIM", "VMAF"]
  rows = [line.split() for line in lines[2:]]
  assert [r[1] for r in rows[:2]] == ["tiny-bls2017/1", "tiny-bmshj2018/1"]
  assert rows[2][:2] == ["JPEG", "4:2:0"]
  vmaf = [float(r[-1]) for r in rows]
  assert all(0.0 <= v <= 100.0 for v in vmaf) and len(rows) == 3


def test_pixel_limit_is_one_line(tmp_path, small_file):
  source = os.path.join(os.path.dirname(small_file), "s.png")
  for program, path in (("tfpc_compress", source),
                        ("tfpc_decompress", small_file)):
    result = run_cli(program, f"--input={path}",
                     f"--output={tmp_path / 'o'}", env={
                         "TFPC_MAX_PIXELS": "100"})
    assert_clean_failure(result, "100 pixel limit")


@pytest.mark.parametrize("error", [
    MemoryError(),
    tf.errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor\nwith shape [1,64,16384]")])
def test_out_of_memory_is_one_line_and_status_2(monkeypatch, capsys, error):
  def main(argv):
    raise error
  monkeypatch.setattr("sys.argv", ["tfpc_decompress"])
  with pytest.raises(SystemExit) as exit_info:
    cli.run(main)
  assert exit_info.value.code == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and "out of memory" in lines[0], lines


def test_help_lists_each_program_s_own_flags():
  # flags defined from a config class or a recipe file belong to the program
  for program, names in (("tfpc_eval", ("--models", "--codecs")),
                         ("tfpc_train", ("--config", "--images", "--lmbda"))):
    result = run_cli(program, "--help")
    listed = {line.split(":")[0].strip() for line in result.stdout.splitlines()
              if line.startswith("  --")}
    assert set(names) <= listed, result.stdout
