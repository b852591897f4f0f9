"""Finding and loading exported models.

A model is named by a path to a version directory (`saved_models/x/3`), a path
to a model directory (its highest version), or a bare name looked up in the
model root (`$TFPC_MODEL_DIR`, else the repository's `saved_models/`).
"""

import json
import os

import numpy as np

from tfpc import errors
from tfpc import export

MODEL_ROOT = os.environ.get("TFPC_MODEL_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "saved_models")
DEFAULT_MODEL = "bls2017-mse"


def resolve(spec=None, root=None):
  """Path of the version directory that `spec` names."""
  spec = spec or DEFAULT_MODEL
  root = root or MODEL_ROOT
  path = spec if os.path.isdir(spec) else os.path.join(root, spec)
  if not os.path.isdir(path):
    raise errors.ModelError(f"no model {spec!r} (looked in {root})")
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    versions = export._versions(path)  # pylint: disable=protected-access
    if not versions:
      raise errors.ModelError(f"{path} holds no SavedModel nor versions")
    path = os.path.join(path, str(versions[-1]))
  for needed in ("saved_model.pb", export.METADATA_PATH):
    if not os.path.exists(os.path.join(path, needed)):
      raise errors.ModelError(f"{path} is not a tfpc model (no {needed})")
  return path


def read_metadata(path):
  try:
    with open(os.path.join(path, export.METADATA_PATH)) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise errors.ModelError(f"{path}: unreadable tfpc metadata ({e})") from None


def find_by_model_id(model_id, root=None):
  """The version directory under `root` whose model id matches, or None."""
  root = root or MODEL_ROOT
  if not os.path.isdir(root):
    return None
  for name in sorted(os.listdir(root)):
    for version in export._versions(os.path.join(root, name)):  # pylint: disable=protected-access
      path = os.path.join(root, name, str(version))
      try:
        if read_metadata(path).get("model_id") == model_id.hex():
          return path
      except errors.ModelError:
        continue
  return None


class CodecModel:
  """An exported codec, loaded for coding: `encode` pixels, `decode` strings."""

  def __init__(self, path):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_compression  # noqa: F401  pylint: disable=unused-import,g-import-not-at-top
    self.path = path
    self.metadata = read_metadata(path)
    if self.metadata.get("form") != "codec":
      raise errors.ModelError(f"{path} is not a codec-form model")
    try:
      self._module = tf.saved_model.load(path)
    except Exception as e:  # pylint: disable=broad-except
      raise errors.ModelError(f"{path}: cannot load SavedModel ({e})") from None
    self.model_id = bytes.fromhex(self.metadata["model_id"])
    if export.model_id(self._module.variables) != self.model_id:
      raise errors.ModelError(
          f"{path}: weights do not match the model id in its metadata")
    self.num_strings = self.metadata["num_strings"]

  @property
  def name(self):
    return f"{self.metadata['name']}/{self.metadata['version']}"

  def encode(self, pixels):
    """uint8 [H, W, 3] -> list of `num_strings` byte strings."""
    strings, _ = self._module.compress(np.asarray(pixels, np.uint8))
    return list(strings.numpy())

  def decode(self, strings, height, width):
    """Inverse of `encode`: uint8 [height, width, 3]."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      pixels = self._module.decompress(
          tf.constant(strings, tf.string), tf.constant([height, width]))
    except tf.errors.InvalidArgumentError as e:
      raise errors.CorruptedFileError(
          f"range decoding failed ({e.message.splitlines()[0]})") from None
    return pixels.numpy()


def load(spec=None, root=None):
  """Loads the codec-form model that `spec` names (default: the shipped one)."""
  return CodecModel(resolve(spec, root))


def load_keras(spec=None, root=None):
  """The exported model as a trainable Keras codec (for evaluation, tuning).

  Weights come from the SavedModel's variables; range-coding tables are not
  restored (call `prepare_for_coding` to rebuild them), so use `load` to code
  files that other machines must decode.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfpc import codecs  # pylint: disable=g-import-not-at-top
  path = resolve(spec, root)
  codec = codecs.build_codec(read_metadata(path)["config"])
  status = tf.train.Checkpoint(root=codec).read(
      os.path.join(path, "variables", "variables"))
  try:
    status.assert_existing_objects_matched().expect_partial()
  except AssertionError as e:
    raise errors.ModelError(f"{path}: weights do not fit its config ({e})") from None
  return codec
