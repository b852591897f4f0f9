"""The `.tfpc` container: a small versioned header, then the range-coded strings.

Layout, all integers big-endian:

  offset  size  field
  0       4     magic b"TFPC"
  4       1     format version (1)
  5       1     flags: bit 0 = the source image was grayscale; others zero
  6       8     model id: the writer's coding id (`export.layout`), which
                changes whenever the weights that fix the files change
  14      4     image height in pixels (>= 1)
  18      4     image width in pixels (>= 1)
  22      1     K, the number of strings (1..MAX_STRINGS)
  23      4*K   byte length of each string
  23+4K   4     Adler-32 of every byte before it and of the payload
  27+4K   ...   payload: the K strings, concatenated

Latent shapes are not stored: the model derives them from the image size.

Version 2 holds an image coded as independent blocks (`tfpc.blocks`): after
the width, 4 bytes block height and 4 bytes block width; then K, the strings
per block, and the lengths of the B * K strings, block after block in raster
order (B = ceil(height / block height) * ceil(width / block width)), the
checksum and the payload. Each block is what a version-1 file of the block's
pixels would hold. Version 2 is written and read in Python only; exported
models read version 1.
`pack_tf` writes files in stock TF ops, so that exported models and the CLI
write the same bytes through one implementation. Two readers check the same
rules: `unpack`, in Python, checks everything before any model is loaded and
raises a specific `tfpc.errors.BitstreamError` subclass; `unpack_tf` runs
inside exported models, where bad input must fail as a TF error.
"""

import collections
import os
import struct
import zlib

import tensorflow as tf

from tfpc import errors

MAGIC = b"TFPC"
FORMAT_VERSION = 1
BLOCKS_VERSION = 2
MAX_STRINGS = 16
DEFAULT_MAX_SIDE = 16384
PILLOW_MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb guard
FLAG_GRAYSCALE = 1
_FIXED = struct.Struct(">4sBB8sIIB")
_FIXED_BLOCKS = struct.Struct(">4sBB8sIIIIB")

Container = collections.namedtuple(
    "Container", "model_id height width strings grayscale block_shape",
    defaults=(None,))
Container.__doc__ = """A parsed file. Version 1: `strings` are the K strings
of the image, `block_shape` is None. Version 2: `strings` holds one list of K
strings per block, `block_shape` is (block height, block width)."""


def num_blocks(height, width, block_shape):
  """How many blocks of `block_shape` (height, width) tile an image."""
  return -(-height // block_shape[0]) * -(-width // block_shape[1])


_BYTES = [bytes([i]) for i in range(256)]
_ADLER_MOD = 65521


def _big_endian(values, width):
  """int64 [M] to uint8 [M * width], most significant byte first."""
  shifts = tf.constant([8 * (width - 1 - i) for i in range(width)], tf.int64)
  return tf.reshape(
      tf.bitwise.right_shift(values[:, None], shifts) & 0xff, [-1])


def _uint32s(octets):
  """uint8 [4 * M] to int64 [M], big-endian."""
  octets = tf.reshape(tf.cast(octets, tf.int64), [-1, 4])
  return tf.reduce_sum(octets * tf.constant([1 << 24, 1 << 16, 1 << 8, 1],
                                            tf.int64), axis=-1)


def _to_string(octets):
  """int [M] byte values to one scalar tf.string."""
  return tf.strings.reduce_join(tf.gather(tf.constant(_BYTES), octets))


def adler32(octets):
  """Adler-32 (as zlib) of uint8 [M] in stock TF ops, as int64."""
  octets = tf.cast(octets, tf.int64)
  count = tf.size(octets, out_type=tf.int64)
  weights = (count - tf.range(count, dtype=tf.int64)) % _ADLER_MOD
  low = (1 + tf.reduce_sum(octets)) % _ADLER_MOD
  high = (count + tf.reduce_sum(weights * octets)) % _ADLER_MOD
  return high * 65536 + low


def pack_tf(model_id, image_shape, strings, grayscale):
  """Serializes a `.tfpc` file in stock TF ops (usable in any SavedModel).

  Args:
    model_id: 8 bytes (Python), the model that wrote the strings.
    image_shape: int [2], height and width.
    strings: tf.string [K], the range-coded strings.
    grayscale: bool scalar, the flag bit.
  Returns:
    A scalar tf.string.
  """
  if len(model_id) != 8:
    raise ValueError("model_id must be 8 bytes")
  count = tf.size(strings, out_type=tf.int64)
  lengths = tf.strings.length(strings)
  header = tf.concat([
      tf.constant(list(MAGIC + bytes([FORMAT_VERSION])), tf.int64),
      tf.cast(grayscale, tf.int64)[None] * FLAG_GRAYSCALE,
      tf.constant(list(model_id), tf.int64),
      _big_endian(tf.cast(image_shape, tf.int64), 4),
      count[None],
      _big_endian(tf.cast(lengths, tf.int64), 4),
  ], 0)
  payload = tf.strings.reduce_join(strings)
  checksum = adler32(tf.concat(
      [tf.cast(header, tf.uint8), tf.io.decode_raw(payload, tf.uint8)], 0))
  return tf.strings.join([
      _to_string(tf.concat([header, _big_endian(checksum[None], 4)], 0)),
      payload])


def pack(model_id, height, width, strings, grayscale=False):
  """Serializes a `.tfpc` file to bytes (eagerly, through `pack_tf`)."""
  if not 1 <= len(strings) <= MAX_STRINGS:
    raise ValueError(f"between 1 and {MAX_STRINGS} strings, not {len(strings)}")
  return pack_tf(bytes(model_id), tf.constant([height, width]),
                 tf.constant(list(strings), tf.string),
                 tf.constant(bool(grayscale))).numpy()


def pack_blocks(model_id, height, width, block_shape, blocks,
                grayscale=False):
  """Serializes a version-2 `.tfpc` file of independently coded blocks.

  `blocks`: per block in raster order, its K strings (K the same for all)."""
  count = len(blocks[0])
  if len(blocks) != num_blocks(height, width, block_shape):
    raise ValueError(f"{len(blocks)} blocks do not tile a {height}x{width} "
                     f"image in blocks of {block_shape}")
  if not 1 <= count <= MAX_STRINGS or any(len(b) != count for b in blocks):
    raise ValueError(f"every block needs the same 1..{MAX_STRINGS} strings")
  strings = [s for block in blocks for s in block]
  header = _FIXED_BLOCKS.pack(
      MAGIC, BLOCKS_VERSION, FLAG_GRAYSCALE if grayscale else 0,
      bytes(model_id), height, width, *block_shape, count) + struct.pack(
          f">{len(strings)}I", *map(len, strings))
  payload = b"".join(strings)
  checksum = zlib.adler32(payload, zlib.adler32(header))
  return header + struct.pack(">I", checksum) + payload


def unpack_tf(data, model_id, max_side=DEFAULT_MAX_SIDE):
  """Parses and validates a `.tfpc` file inside a graph (stock TF ops).

  The same checks as `unpack`, as assertions: a bad file raises
  `tf.errors.InvalidArgumentError` whose message starts with "tfpc:".
  Returns (strings [K], image shape int32 [2], grayscale bool).
  """
  octets = tf.io.decode_raw(data, tf.uint8)
  size = tf.size(octets, out_type=tf.int64)
  # Zero padding lets every field be read before the size checks run.
  padded = tf.concat([octets, tf.zeros([_FIXED.size + 4 * MAX_STRINGS + 4],
                                       tf.uint8)], 0)
  fields = padded[:_FIXED.size]
  height, width = tf.unstack(_uint32s(fields[14:22]), num=2)
  count = tf.cast(fields[22], tf.int64)
  lengths_end = _FIXED.size + 4 * tf.minimum(count, MAX_STRINGS)
  lengths = _uint32s(padded[_FIXED.size:lengths_end])
  payload_start = lengths_end + 4
  checks = [
      (size >= _FIXED.size, "file cut short inside the header"),
      (tf.reduce_all(fields[:4] == tf.constant(list(MAGIC), tf.uint8)),
       "not a .tfpc file (wrong magic bytes)"),
      (fields[4] == FORMAT_VERSION, "unsupported format version"),
      (fields[5] & ~FLAG_GRAYSCALE == 0, "corrupted header (unknown flags)"),
      (tf.reduce_all(fields[6:14] == tf.constant(list(model_id), tf.uint8)),
       "file was written by another model"),
      ((height >= 1) & (width >= 1) & (count >= 1) & (count <= MAX_STRINGS),
       "corrupted header (image size or string count)"),
      ((height <= max_side) & (width <= max_side),
       f"image larger than the {max_side} px limit"),
      (size >= payload_start, "file cut short inside the header"),
      (size == payload_start + tf.reduce_sum(lengths),
       "payload size does not match the header"),
      (adler32(tf.concat([octets[:lengths_end],
                          octets[payload_start:]], 0)) ==
       _uint32s(padded[lengths_end:payload_start])[0],
       "corrupted file (checksum mismatch)"),
  ]
  passed = []
  for condition, message in checks:
    with tf.control_dependencies(passed):
      passed = [tf.debugging.Assert(condition, [f"tfpc: {message}"])]
  with tf.control_dependencies(passed):
    starts = payload_start + tf.math.cumsum(lengths, exclusive=True)
    strings = tf.strings.substr(
        tf.fill(tf.shape(lengths), data), tf.cast(starts, tf.int32),
        tf.cast(lengths, tf.int32))
    image_shape = tf.cast(tf.stack([height, width]), tf.int32)
  return strings, image_shape, tf.cast(fields[5] & FLAG_GRAYSCALE, tf.bool)


def max_pixels_limit(max_pixels=None):
  """The pixel-count limit: `max_pixels`, else $TFPC_MAX_PIXELS, else
  Pillow's decompression-bomb guard."""
  if max_pixels is not None:
    return max_pixels
  value = os.environ.get("TFPC_MAX_PIXELS")
  if not value:
    return PILLOW_MAX_PIXELS
  try:
    return int(value)
  except ValueError:
    raise errors.ConfigError(
        f"TFPC_MAX_PIXELS={value!r} is not an integer") from None


def check_size(height, width, max_pixels=None):
  """Raises `ImageTooLargeError` if height x width is over the pixel limit."""
  limit = max_pixels_limit(max_pixels)
  if height * width > limit:
    raise errors.ImageTooLargeError(
        f"{width}x{height} image ({height * width} pixels) is over the "
        f"{limit} pixel limit (--max_pixels or $TFPC_MAX_PIXELS)")


def unpack(data, expected_model_id=None, max_side=DEFAULT_MAX_SIDE,
           max_pixels=None):
  """Parses and validates a `.tfpc` file, returning a `Container`.

  Images over `max_side` or `max_pixels` (see `max_pixels_limit`) are refused
  from the header, before any decoding work."""
  data = bytes(data)
  if not data:
    raise errors.EmptyFileError("empty file")
  if data[:len(MAGIC)] != MAGIC[:len(data)]:
    raise errors.NotATfpcFileError("not a .tfpc file (wrong magic bytes)")
  if len(data) < len(MAGIC) + 1:
    raise errors.TruncatedFileError("file cut short inside the header")
  version = data[len(MAGIC)]
  if version > BLOCKS_VERSION:
    raise errors.UnsupportedVersionError(
        f"format version {version} is newer than this reader "
        f"(version {BLOCKS_VERSION}); upgrade tfpc")
  if version == 0:
    raise errors.CorruptedFileError("corrupted header (format version 0)")
  fixed = _FIXED_BLOCKS if version == BLOCKS_VERSION else _FIXED
  if len(data) < fixed.size:
    raise errors.TruncatedFileError("file cut short inside the header")
  _, _, flags, model_id, height, width, *block_shape, count = (
      fixed.unpack_from(data))
  if flags & ~FLAG_GRAYSCALE:
    raise errors.CorruptedFileError(f"corrupted header (unknown flags {flags})")
  if (not height or not width or not 1 <= count <= MAX_STRINGS or
      not all(block_shape)):
    raise errors.CorruptedFileError(
        f"corrupted header ({height}x{width} image, {count} strings, blocks "
        f"{block_shape})")
  if height > max_side or width > max_side:
    raise errors.ImageTooLargeError(
        f"header claims a {height}x{width} image, over the {max_side} px "
        "limit")
  check_size(height, width, max_pixels)
  blocks = num_blocks(height, width, block_shape) if block_shape else 1
  lengths_end = fixed.size + 4 * count * blocks
  if len(data) < lengths_end + 4:
    raise errors.TruncatedFileError("file cut short inside the header")
  lengths = struct.unpack_from(f">{count * blocks}I", data, fixed.size)
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
  if block_shape:
    return Container(model_id, height, width,
                     [strings[i:i + count] for i in range(0, len(strings),
                                                          count)],
                     bool(flags & FLAG_GRAYSCALE), tuple(block_shape))
  return Container(model_id, height, width, strings,
                   bool(flags & FLAG_GRAYSCALE))
