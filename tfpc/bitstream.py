"""The `.tfpc` container: a small versioned header, then the range-coded strings.

Layout, all integers big-endian:

  offset  size  field
  0       4     magic b"TFPC"
  4       1     format version (1)
  5       1     flags: bit 0 = the source image was grayscale; others zero
  6       8     model id (changes whenever the model's weights change)
  14      4     image height in pixels (>= 1)
  18      4     image width in pixels (>= 1)
  22      1     K, the number of strings (1..MAX_STRINGS)
  23      4*K   byte length of each string
  23+4K   4     Adler-32 of every byte before it and of the payload
  27+4K   ...   payload: the K strings, concatenated

Latent shapes are not stored: the model derives them from the image size.
`unpack` checks everything it can before anything is allocated for decoding,
and raises a specific `tfpc.errors.BitstreamError` subclass.
"""

import collections
import struct
import zlib

from tfpc import errors

MAGIC = b"TFPC"
FORMAT_VERSION = 1
MAX_STRINGS = 16
DEFAULT_MAX_SIDE = 16384
FLAG_GRAYSCALE = 1
_FIXED = struct.Struct(">4sBB8sIIB")

Container = collections.namedtuple(
    "Container", "model_id height width strings grayscale")


def pack(model_id, height, width, strings, grayscale=False):
  """Serializes a `.tfpc` file; `model_id` is 8 bytes, `strings` a list."""
  if len(model_id) != 8:
    raise ValueError("model_id must be 8 bytes")
  if not 1 <= len(strings) <= MAX_STRINGS:
    raise ValueError(f"between 1 and {MAX_STRINGS} strings, not {len(strings)}")
  header = _FIXED.pack(MAGIC, FORMAT_VERSION,
                       FLAG_GRAYSCALE if grayscale else 0, bytes(model_id),
                       height, width, len(strings))
  header += struct.pack(f">{len(strings)}I", *(len(s) for s in strings))
  payload = b"".join(strings)
  checksum = zlib.adler32(payload, zlib.adler32(header))
  return header + struct.pack(">I", checksum) + payload


def unpack(data, expected_model_id=None, max_side=DEFAULT_MAX_SIDE):
  """Parses and validates a `.tfpc` file, returning a `Container`."""
  data = bytes(data)
  if not data:
    raise errors.EmptyFileError("empty file")
  if data[:len(MAGIC)] != MAGIC[:len(data)]:
    raise errors.NotATfpcFileError("not a .tfpc file (wrong magic bytes)")
  if len(data) < len(MAGIC) + 1:
    raise errors.TruncatedFileError("file cut short inside the header")
  version = data[len(MAGIC)]
  if version > FORMAT_VERSION:
    raise errors.UnsupportedVersionError(
        f"format version {version} is newer than this reader "
        f"(version {FORMAT_VERSION}); upgrade tfpc")
  if version == 0:
    raise errors.CorruptedFileError("corrupted header (format version 0)")
  if len(data) < _FIXED.size:
    raise errors.TruncatedFileError("file cut short inside the header")
  _, _, flags, model_id, height, width, count = _FIXED.unpack_from(data)
  if flags & ~FLAG_GRAYSCALE:
    raise errors.CorruptedFileError(f"corrupted header (unknown flags {flags})")
  if not height or not width or not 1 <= count <= MAX_STRINGS:
    raise errors.CorruptedFileError(
        f"corrupted header ({height}x{width} image, {count} strings)")
  if height > max_side or width > max_side:
    raise errors.ImageTooLargeError(
        f"header claims a {height}x{width} image, over the {max_side} px "
        "limit")
  lengths_end = _FIXED.size + 4 * count
  if len(data) < lengths_end + 4:
    raise errors.TruncatedFileError("file cut short inside the header")
  lengths = struct.unpack_from(f">{count}I", data, _FIXED.size)
  (checksum,) = struct.unpack_from(">I", data, lengths_end)
  payload = memoryview(data)[lengths_end + 4:]
  if len(payload) < sum(lengths):
    raise errors.TruncatedFileError(
        f"file cut short: {len(payload)} of {sum(lengths)} payload bytes")
  if len(payload) > sum(lengths):
    raise errors.CorruptedFileError(
        f"{len(payload) - sum(lengths)} unexpected bytes after the payload")
  if zlib.adler32(payload, zlib.adler32(data[:lengths_end])) != checksum:
    raise errors.CorruptedFileError("corrupted file (checksum mismatch)")
  if expected_model_id is not None and model_id != bytes(expected_model_id):
    raise errors.WrongModelError(
        f"file was written by model {model_id.hex()}, not by the given model "
        f"{bytes(expected_model_id).hex()}")
  strings, offset = [], 0
  for length in lengths:
    strings.append(bytes(payload[offset:offset + length]))
    offset += length
  return Container(model_id, height, width, strings,
                   bool(flags & FLAG_GRAYSCALE))


def peek_model_id(data):
  """The model id of a `.tfpc` file after full validation (any model)."""
  return unpack(data).model_id
