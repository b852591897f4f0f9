"""The .tfpc container: round trip, every refusal, and fuzzing."""

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfpc import bitstream
from tfpc import errors

MODEL_ID = bytes(range(8))


def make(strings=(b"abc", b"\x00\xffde"), height=17, width=31, gray=False):
  return bitstream.pack(MODEL_ID, height, width, list(strings), gray)


def test_round_trip_fields():
  c = bitstream.unpack(make(gray=True), MODEL_ID)
  assert (c.model_id, c.height, c.width) == (MODEL_ID, 17, 31)
  assert c.strings == [b"abc", b"\x00\xffde"] and c.grayscale


def test_header_overhead_is_27_plus_4_per_string():
  assert len(make()) == 27 + 4 * 2 + 3 + 4


@pytest.mark.parametrize("data,error", [
    (b"", errors.EmptyFileError),
    (b"\x89PNG\r\n\x1a\n", errors.NotATfpcFileError),
    (b"TF", errors.TruncatedFileError),
    (b"TFPC", errors.TruncatedFileError),
    (b"TFPC\x09" + bytes(40), errors.UnsupportedVersionError),
    (b"TFPC\x00" + bytes(40), errors.CorruptedFileError),
])
def test_specific_errors(data, error):
  with pytest.raises(error):
    bitstream.unpack(data)


def test_wrong_model():
  with pytest.raises(errors.WrongModelError, match="written by model 0001"):
    bitstream.unpack(make(), b"\xff" * 8)


def test_absurd_size_refused_before_decoding():
  data = bitstream.pack(MODEL_ID, 100000, 20, [b"x"])
  with pytest.raises(errors.ImageTooLargeError, match="100000x20"):
    bitstream.unpack(data)
  assert bitstream.unpack(data, max_side=100000).height == 100000


def test_trailing_bytes_are_corruption():
  with pytest.raises(errors.CorruptedFileError, match="unexpected bytes"):
    bitstream.unpack(make() + b"\x00")


def test_unknown_flag_is_corruption():
  data = bytearray(make())
  data[5] = 0x80
  with pytest.raises(errors.CorruptedFileError, match="flags"):
    bitstream.unpack(bytes(data))


@pytest.mark.parametrize("length", range(0, 42))
def test_every_truncation_is_reported(length):
  data = make()
  with pytest.raises((errors.TruncatedFileError, errors.EmptyFileError)):
    bitstream.unpack(data[:length])


def test_every_single_byte_flip_is_detected():
  data = make()
  for position in range(len(data)):
    for mask in (0x01, 0x80, 0xff):
      mutated = bytearray(data)
      mutated[position] ^= mask
      with pytest.raises(errors.BitstreamError):
        bitstream.unpack(bytes(mutated), MODEL_ID)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_raise_only_bitstream_errors(data):
  try:
    bitstream.unpack(data)
  except errors.BitstreamError:
    pass


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=30), min_size=1, max_size=4),
       st.integers(1, 5000), st.integers(1, 5000), st.data())
def test_fuzz_mutated_valid_files(strings, height, width, data):
  valid = bitstream.pack(MODEL_ID, height, width, strings)
  assert bitstream.unpack(valid).strings == strings
  position = data.draw(st.integers(0, len(valid) - 1))
  replacement = data.draw(st.integers(0, 255).filter(
      lambda b: b != valid[position]))
  mutated = valid[:position] + bytes([replacement]) + valid[position + 1:]
  with pytest.raises(errors.BitstreamError):
    bitstream.unpack(mutated, MODEL_ID)


def test_checksum_is_zlib_adler32_over_header_and_payload():
  data = make()
  (checksum,) = struct.unpack_from(">I", data, 31)
  assert checksum == zlib.adler32(data[:31] + data[35:])


def _unpack_tf(data, model_id=MODEL_ID, max_side=bitstream.DEFAULT_MAX_SIDE):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  strings, shape, gray = bitstream.unpack_tf(tf.constant(data), model_id,
                                             max_side)
  return list(strings.numpy()), list(shape.numpy()), bool(gray)


def test_graph_reader_agrees_with_the_python_reader():
  assert _unpack_tf(make(gray=True)) == ([b"abc", b"\x00\xffde"], [17, 31],
                                         True)
  data = bitstream.pack(MODEL_ID, 3, 70000, [b"x"])
  assert _unpack_tf(data, max_side=70000)[1] == [3, 70000]
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  refused = [make()[:n] for n in range(len(make()))] + [make() + b"\x00"]
  for position in range(len(make())):
    mutated = bytearray(make())
    mutated[position] ^= 0x01
    refused.append(bytes(mutated))
  refused.append(data)  # over the default size limit
  for bad in refused:
    with pytest.raises(tf.errors.InvalidArgumentError, match="tfpc: "):
      _unpack_tf(bad)
    with pytest.raises(errors.BitstreamError):
      bitstream.unpack(bad, MODEL_ID)


def test_pixel_limit_refuses_from_the_header(monkeypatch):
  data = make(height=3000, width=4000)
  assert bitstream.unpack(data).height == 3000
  with pytest.raises(errors.ImageTooLargeError, match="pixel limit"):
    bitstream.unpack(data, max_pixels=12_000_000 - 1)
  monkeypatch.setenv("TFPC_MAX_PIXELS", "1000")
  with pytest.raises(errors.ImageTooLargeError, match="1000 pixel limit"):
    bitstream.unpack(data)
  monkeypatch.setenv("TFPC_MAX_PIXELS", "many")
  with pytest.raises(errors.ConfigError):
    bitstream.unpack(data)


def test_default_pixel_limit_is_pillows():
  from PIL import Image  # pylint: disable=g-import-not-at-top
  assert bitstream.PILLOW_MAX_PIXELS == Image.MAX_IMAGE_PIXELS
