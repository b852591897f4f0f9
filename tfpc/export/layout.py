"""Version directories, atomic publication, model ids and metadata.

Three ids, each a `model_id` of some of a codec's variables:

* coding id (`coding_id`): what fixes the files, the id in every `.tfpc`
  header and the metadata's `model_id`. For a codec with `separate_decoder`
  (e.g. `eic-base`) it leaves out the synthesis transform, so a base model
  and the decoders fine-tuned from it share it and read the same files; for
  the others it covers all weights, as it always has, so files written
  before the split still decode.
* decoder id (`decoder_id`): the synthesis transform's variables.
* weights id (`weights_id`): all variables; loading checks it.
"""

import hashlib
import json
import os
import shutil

# Keras 2.14's switch for its layer-call traces (not public API).
from keras.src.saving.legacy.saved_model import utils as keras_saving
import tensorflow as tf

from tfpc import errors

METADATA_PATH = os.path.join("assets.extra", "tfpc.json")


def model_id(variables):
  """8-byte id of a set of variables: a hash of their values, order-free."""
  digests = sorted(
      hashlib.sha256(f"{v.dtype.name}{tuple(v.shape)}".encode() +
                     v.numpy().tobytes()).digest() for v in variables)
  return hashlib.sha256(b"".join(digests)).digest()[:8]


def coding_variables(codec):
  """The variables the coding id covers (module docstring)."""
  if not codec.separate_decoder:
    return list(codec.variables)
  synthesis = {v.ref() for v in codec.synthesis_transform.variables}
  return [v for v in codec.variables if v.ref() not in synthesis]


def coding_id(codec):
  """8-byte id of what encodes and entropy-codes: the files' model id."""
  return model_id(coding_variables(codec))


def decoder_id(codec):
  """8-byte id of the synthesis transform (decoder and any post-filter)."""
  return model_id(codec.synthesis_transform.variables)


def weights_id(codec):
  """8-byte id of all the codec's variables."""
  return model_id(codec.variables)


def save(obj, path, signatures):
  """`tf.saved_model.save` without Keras' traces of every layer's call: the
  signatures and tf.functions are what the model serves, and `zoo.load_keras`
  rebuilds Keras codecs from their config (the traces were 40% of a BLS
  model's files)."""
  with keras_saving.keras_option_scope(save_traces=False):
    tf.saved_model.save(obj, path, signatures=signatures)


def saved_variables(loaded):
  """Every variable of a loaded SavedModel (for its weights id)."""
  return [x for x in tf.train.TrackableView(loaded).descendants()
          if isinstance(x, tf.Variable)]


def versions(model_dir):
  """The integer versions present in a model directory, ascending."""
  if not os.path.isdir(model_dir):
    return []
  return sorted(int(d) for d in os.listdir(model_dir) if d.isdigit())


def describe(codec, form, name, metadata):
  """The metadata both forms share (the codec must be prepared for coding)."""
  return {
      "form": form,
      "name": name,
      "model_id": coding_id(codec).hex(),
      "decoder_id": decoder_id(codec).hex(),
      "weights_id": weights_id(codec).hex(),
      "config": codec.get_config(),
      "num_strings": codec.num_strings,
      "stride": codec.stride,
      **(metadata or {}),
  }


def publish(save, info, base_dir, version=None, overwrite=False):
  """Runs `save(tmp_dir)`, adds the metadata, renames to base/name/version.

  An interrupted export leaves at most a hidden `.tmp-*` folder, never a half
  model where TF Serving would load it. Returns the version directory.
  """
  model_dir = os.path.join(base_dir, info["name"])
  if version is None:
    version = (versions(model_dir) or [0])[-1] + 1
  target = os.path.join(model_dir, str(version))
  if os.path.exists(target) and not overwrite:
    raise errors.ModelError(
        f"{target} exists; choose another version or allow overwriting")
  os.makedirs(model_dir, exist_ok=True)
  tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    save(tmp)
    os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
    with open(os.path.join(tmp, METADATA_PATH), "w") as f:
      json.dump({**info, "version": version}, f, indent=2)
    if os.path.exists(target):
      shutil.rmtree(target)
    os.replace(tmp, target)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return target
