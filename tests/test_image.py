"""Input images: every mode and format to 8-bit RGB by the documented rule."""

import warnings

import numpy as np
import pytest
from PIL import Image

from tfpc import errors
from tfpc import image as image_lib


@pytest.fixture
def rgb(photo):
  return np.ascontiguousarray(photo[:20, :30])


def save(tmp_path, img, name):
  path = str(tmp_path / name)
  img.save(path)
  return path


@pytest.mark.parametrize("suffix", ["png", "bmp", "ppm", "tif", "webp"])
def test_lossless_formats_read_exactly(tmp_path, rgb, suffix):
  params = {"lossless": True} if suffix == "webp" else {}
  path = str(tmp_path / f"x.{suffix}")
  Image.fromarray(rgb).save(path, **params)
  loaded = image_lib.read_image(path)
  np.testing.assert_array_equal(loaded.pixels, rgb)
  assert not loaded.grayscale


def test_jpeg_reads_as_rgb(tmp_path, rgb):
  loaded = image_lib.read_image(save(tmp_path, Image.fromarray(rgb), "x.jpg"))
  assert loaded.pixels.shape == rgb.shape and loaded.pixels.dtype == np.uint8
  assert np.abs(loaded.pixels.astype(int) - rgb).mean() < 12


def test_grayscale_is_replicated_and_flagged(tmp_path, rgb):
  gray = np.asarray(Image.fromarray(rgb).convert("L"))
  loaded = image_lib.read_image(save(tmp_path, Image.fromarray(gray), "g.png"))
  assert loaded.grayscale
  for channel in range(3):
    np.testing.assert_array_equal(loaded.pixels[..., channel], gray)


def test_sixteen_bit_gray_keeps_high_byte(tmp_path):
  values = np.array([[0, 255, 256, 65535, 40000]], np.uint16)
  loaded = image_lib.read_image(
      save(tmp_path, Image.fromarray(values), "g16.png"))
  assert loaded.grayscale and loaded.mode.startswith("I")
  np.testing.assert_array_equal(loaded.pixels[0, :, 0], values[0] >> 8)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_alpha_is_dropped_with_a_warning(tmp_path, rgb, mode):
  img = Image.fromarray(rgb).convert(mode)
  path = str(tmp_path / "a.png")
  img.save(path, **({"transparency": 0} if mode == "P" else {}))
  with pytest.warns(image_lib.ImageConversionWarning, match="alpha"):
    loaded = image_lib.read_image(path)
  assert loaded.pixels.shape == rgb.shape
  assert loaded.grayscale == (mode == "LA")


def test_palette_and_bilevel_and_cmyk(tmp_path, rgb):
  for img, name, gray in [
      (Image.fromarray(rgb).convert("P"), "p.png", False),
      (Image.fromarray(rgb).convert("1"), "b.png", True),
      (Image.fromarray(rgb).convert("CMYK"), "c.jpg", False),
  ]:
    with warnings.catch_warnings():
      warnings.simplefilter("error")
      loaded = image_lib.read_image(save(tmp_path, img, name))
    assert loaded.pixels.shape == rgb.shape and loaded.grayscale == gray
  bilevel = image_lib.read_image(str(tmp_path / "b.png")).pixels
  assert set(np.unique(bilevel)) <= {0, 255}


def test_float_images_are_refused(tmp_path):
  img = Image.fromarray(np.zeros((4, 4), np.float32))
  with pytest.raises(errors.ImageReadError, match="float"):
    image_lib.read_image(save(tmp_path, img, "f.tif"))


def test_oversized_image_refused_before_decoding(tmp_path):
  path = save(tmp_path, Image.new("RGB", (300, 20)), "wide.png")
  with pytest.raises(errors.ImageReadError, match="exceeds the 256 px"):
    image_lib.read_image(path, max_side=256)


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n"
                                     + b"\x00" * 40])
def test_unreadable_files(tmp_path, content):
  path = tmp_path / "bad.png"
  path.write_bytes(content)
  with pytest.raises(errors.ImageReadError, match="not a readable image"):
    image_lib.read_image(str(path))


def test_truncated_png(tmp_path, photo):
  path = save(tmp_path, Image.fromarray(photo), "full.png")
  data = open(path, "rb").read()
  (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
  with pytest.raises(errors.ImageReadError):
    image_lib.read_image(str(tmp_path / "cut.png"))


def test_missing_file_and_directory(tmp_path):
  with pytest.raises(errors.ImageReadError, match="no such file"):
    image_lib.read_image(str(tmp_path / "nope.png"))
  with pytest.raises(errors.ImageReadError, match="directory"):
    image_lib.read_image(str(tmp_path))


def test_write_grayscale(tmp_path, rgb):
  gray = np.repeat(rgb[..., :1], 3, axis=-1)
  path = str(tmp_path / "out.png")
  image_lib.write_image(path, gray, grayscale=True)
  with Image.open(path) as img:
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), gray[..., 0])
