"""Finding and loading exported models.

A model is named by a path to a version directory (`saved_models/x/3`), a path
to a model directory (its highest version), or a bare name looked up in the
model root (`$TFPC_MODEL_DIR`, else the repository's `saved_models/`).
"""

import contextlib
import json
import os

import tensorflow as tf

from tfpc import bitstream
from tfpc import errors
from tfpc import image as image_lib
from tfpc import limits
from tfpc.export import layout

MODEL_ROOT = os.environ.get("TFPC_MODEL_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "saved_models")
DEFAULT_MODEL = "mbt2018-mean-mse"


def resolve(spec=None, root=None):
  """Path of the version directory that `spec` names."""
  spec = spec or DEFAULT_MODEL
  root = root or MODEL_ROOT
  path = spec if os.path.isdir(spec) else os.path.join(root, spec)
  if not os.path.isdir(path):
    raise errors.ModelError(f"no model {spec!r} (looked in {root})")
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    versions = layout.versions(path)
    if not versions:
      raise errors.ModelError(f"{path} holds no SavedModel nor versions")
    path = os.path.join(path, str(versions[-1]))
  for needed in ("saved_model.pb", layout.METADATA_PATH):
    if not os.path.exists(os.path.join(path, needed)):
      raise errors.ModelError(f"{path} is not a tfpc model (no {needed})")
  return path


def read_metadata(path):
  try:
    with open(os.path.join(path, layout.METADATA_PATH)) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.ModelError(f"{path}: unreadable tfpc metadata ({e})") from None


def read_form_metadata(path, form):
  """The metadata of the `form` ("codec" or "serving") model at `path`;
  ModelError when it is the other form."""
  metadata = read_metadata(path)
  if metadata.get("form") != form:
    raise errors.ModelError(f"{path} is not a {form}-form model")
  return metadata


def find_by_model_id(model_id, root=None):
  """The codec-form version directory under `root` whose files carry this id,
  or None.

  A base model and the decoders tuned from it share their coding id: the
  base, i.e. a model without `base_model` in its metadata, is preferred; then
  the first by name and version.
  """
  root = root or MODEL_ROOT
  if not os.path.isdir(root):
    return None
  found = []
  for name in sorted(os.listdir(root)):
    for version in layout.versions(os.path.join(root, name)):
      path = os.path.join(root, name, str(version))
      try:
        metadata = read_metadata(path)
      except errors.ModelError:
        continue
      if (metadata.get("form") == "codec" and
          metadata.get("model_id") == model_id.hex()):
        found.append(("base_model" in metadata, path))
  return min(found, key=lambda item: item[0])[1] if found else None


class CodecModel:
  """An exported codec form, loaded for coding: `encode` pixels to `.tfpc`
  bytes, `decode` them back."""

  def __init__(self, path):
    import tensorflow_compression  # noqa: F401  pylint: disable=unused-import,g-import-not-at-top
    self.path = path
    self.metadata = read_form_metadata(path, "codec")
    try:
      self._module = tf.saved_model.load(path)
    except Exception as e:  # pylint: disable=broad-except
      raise errors.ModelError(f"{path}: cannot load SavedModel ({e})") from None
    self.model_id = bytes.fromhex(self.metadata["model_id"])
    # Exports older than the coding/weights split hold only `model_id`.
    weights_id = self.metadata.get("weights_id", self.metadata["model_id"])
    if layout.model_id(layout.saved_variables(self._module)).hex() != weights_id:
      raise errors.ModelError(
          f"{path}: weights do not match the weights id in its metadata")
    self.num_strings = self.metadata["num_strings"]
    self._signatures = self._module.signatures
    if self.metadata.get("host_coder"):
      # Its entropy coding runs in Python (tf.numpy_function), which a
      # SavedModel does not keep: code with the rebuilt Keras codec.
      from tfpc.export import codec_form  # pylint: disable=g-import-not-at-top
      self._module = load_keras(path)
      self._module.prepare_for_coding()
      self._signatures = codec_form.signatures(self._module, self.model_id)
    if (not {"compress", "decompress"} <= set(self._signatures) or
        not hasattr(self._module, "decompress")):
      raise errors.ModelError(
          f"{path} was exported by an older tfpc; export it again")

  @property
  def name(self):
    return f"{self.metadata['name']}/{self.metadata['version']}"

  def decode_cost(self, height, width, block_shape=None):
    """`limits.Cost` of decoding a height x width image, whole or in blocks
    of `block_shape` (one block at a time, into the image's pixels)."""
    from tfpc import codecs  # pylint: disable=g-import-not-at-top
    config = self.metadata["config"]
    codec = codecs.CODECS[config["architecture"]]
    if not block_shape:
      return codec.decode_cost(config, height, width)
    block = codec.decode_cost(config, min(block_shape[0], height),
                              min(block_shape[1], width))
    return limits.Cost(
        block.memory + 3 * height * width,
        block.work * bitstream.num_blocks(height, width, block_shape))

  def _describe(self, height, width, block_shape):
    blocks = f" in blocks of {block_shape[1]}x{block_shape[0]}" if (
        block_shape) else ""
    return f"a {width}x{height} image{blocks} with {self.name}"

  def check_cost(self, height, width, block_shape=None, allowed=None):
    """Raises `DecodeTooCostlyError` if decoding such a file would exceed
    the budget `allowed` (default `limits.budget()`); returns its cost."""
    cost = self.decode_cost(height, width, block_shape)
    limits.check(cost, allowed or limits.budget(),
                 self._describe(height, width, block_shape))
    return cost

  @contextlib.contextmanager
  def bounded_decode(self, height, width, block_shape=None, allowed=None):
    """Checks the cost of decoding such a file (`check_cost`), then runs the
    block under the deadline that cost implies (`limits.deadline`: past it,
    the process ends with one line and status 2)."""
    cost = self.check_cost(height, width, block_shape, allowed)
    with limits.deadline(cost, self._describe(height, width, block_shape)):
      yield

  def encode(self, pixels):
    """uint8 [H, W, 3] -> the bytes of a `.tfpc` file."""
    return self._signatures["compress"](
        image=image_lib.check_pixels(pixels))["tfpc_bytes"].numpy()

  def decode(self, data, max_side=bitstream.DEFAULT_MAX_SIDE, max_pixels=None,
             allowed=None):
    """`.tfpc` bytes -> uint8 [H, W, 3].

    Checks the file with `bitstream.unpack` and its cost against the budget
    `allowed`, then decodes its strings (`decode_strings`) under the deadline
    its cost implies (`bounded_decode`)."""
    container = bitstream.unpack(data, self.model_id, max_side, max_pixels)
    if container.block_shape:
      raise errors.BitstreamError("a file of blocks: decode it with "
                                  "tfpc.coding.decode")
    with self.bounded_decode(container.height, container.width,
                             allowed=allowed):
      return self.decode_strings(container.strings, container.height,
                                 container.width)

  def decode_strings(self, strings, height, width):
    """The strings of one parsed image or block -> uint8 [height, width, 3].

    Runs the codec's own `decompress` function: the `decompress` signature
    would also pay for a PNG that a Python caller does not need."""
    if len(strings) != self.num_strings:
      raise errors.CorruptedFileError(
          f"{len(strings)} strings, model expects {self.num_strings}")
    try:
      return self._module.decompress(
          tf.constant(strings, tf.string),
          tf.constant([height, width], tf.int32)).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
      raise errors.CorruptedFileError(
          f"decoding failed ({_reason(e.message)})") from None


def _reason(message):
  """The line of a TF error message that says what failed (a graph error
  puts it after the stack of the node; a host coder's Python exception reads
  "ValueError: reason")."""
  for line in message.splitlines():
    if line.strip() and not line.startswith(
        (" ", "Graph execution error", "Detected at node", "Traceback",
         "<stack traces unavailable>")):
      return line[:300]
  return "no reason given"


def load(spec=None, root=None):
  """Loads the codec-form model that `spec` names (default: the shipped one)."""
  return CodecModel(resolve(spec, root))


def load_keras(spec=None, root=None):
  """The exported model as a trainable Keras codec (for evaluation, tuning).

  Weights come from the SavedModel's variables; range-coding tables are not
  restored (call `prepare_for_coding` to rebuild them), so use `load` to code
  files that other machines must decode.
  """
  from tfpc import codecs  # pylint: disable=g-import-not-at-top
  path = resolve(spec, root)
  codec = codecs.build_codec(read_form_metadata(path, "codec")["config"])
  status = tf.train.Checkpoint(root=codec).read(
      os.path.join(path, "variables", "variables"))
  try:
    status.assert_existing_objects_matched().expect_partial()
  except AssertionError as e:
    first = str(e).splitlines()[0][:200]  # the rest lists every variable
    raise errors.ModelError(f"{path}: weights do not fit its config "
                            f"({first})") from None
  return codec


class ReconstructionLayer(tf.keras.layers.Layer):
  """A serving-form model as a fixed Keras layer (stock TF only).

  Images [N, H, W, 3] in [0, 255], any dtype (floats are rounded and clipped)
  to their reconstruction through the codec, float32 in [0, 255]. It has no
  trainable weights and passes no gradient to its input.
  """

  def __init__(self, model=None, root=None, **kwargs):
    kwargs.pop("trainable", None)  # in its config: always False
    super().__init__(trainable=False, **kwargs)
    self.model, self.root = model, root
    path = resolve(model, root)
    read_form_metadata(path, "serving")
    self._serving = tf.saved_model.load(path)

  def call(self, images):
    if images.dtype.is_floating:
      images = tf.round(images)
    pixels = tf.saturate_cast(images, tf.uint8)
    return tf.cast(self._serving.reconstruct(pixels)["reconstruction"],
                   tf.float32)

  def get_config(self):
    return {**super().get_config(), "model": self.model, "root": self.root}
