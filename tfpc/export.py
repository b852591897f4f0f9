"""Exporting codecs as SavedModels in TF Serving's `<name>/<version>/` layout.

The codec form holds the trained weights and the fixed range-coding tables (as
variables, so every machine decodes with the same tables) plus two functions:
`compress` (uint8 [H, W, 3] -> strings [K], image shape [2]) and `decompress`
(the inverse). It needs `import tensorflow_compression` to load. tfpc's own
metadata lives in `assets.extra/tfpc.json`.
"""

import hashlib
import json
import os
import shutil

import tensorflow as tf

from tfpc import errors

METADATA_PATH = os.path.join("assets.extra", "tfpc.json")
CODEC_REQUIREMENT = "tensorflow-compression==2.14.1 (import tensorflow_compression before loading)"


def model_id(variables):
  """8-byte id of a set of variables: a hash of their values, order-free."""
  digests = sorted(
      hashlib.sha256(f"{v.dtype.name}{tuple(v.shape)}".encode() +
                     v.numpy().tobytes()).digest() for v in variables)
  return hashlib.sha256(b"".join(digests)).digest()[:8]


def _versions(model_dir):
  if not os.path.isdir(model_dir):
    return []
  return sorted(int(d) for d in os.listdir(model_dir) if d.isdigit())


def _publish(build, base_dir, name, version, overwrite):
  """Runs `build(tmp_dir, version)`, then renames tmp_dir to base/name/version.

  An interrupted export leaves at most a hidden `.tmp-*` folder, never a half
  model where TF Serving would load it.
  """
  model_dir = os.path.join(base_dir, name)
  if version is None:
    version = (_versions(model_dir) or [0])[-1] + 1
  target = os.path.join(model_dir, str(version))
  if os.path.exists(target) and not overwrite:
    raise errors.ModelError(
        f"{target} exists; choose another version or allow overwriting")
  os.makedirs(model_dir, exist_ok=True)
  tmp = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    build(tmp, version)
    if os.path.exists(target):
      shutil.rmtree(target)
    os.replace(tmp, target)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return target


def export_codec(codec, base_dir, name, version=None, overwrite=False,
                 metadata=None):
  """Writes the codec form of a trained codec; returns the version directory."""
  codec.prepare_for_coding()
  # Keras records the input spec on the first __call__; saving needs it.
  codec(tf.zeros((1, codec.stride, codec.stride, 3)))
  info = {
      "form": "codec",
      "name": name,
      "model_id": model_id(codec.variables).hex(),
      "config": codec.get_config(),
      "num_strings": codec.num_strings,
      "stride": codec.stride,
      "requires": CODEC_REQUIREMENT,
      **(metadata or {}),
  }

  def build(path, version):
    tf.saved_model.save(codec, path, signatures={
        "compress": codec.compress.get_concrete_function(),
        "decompress": codec.decompress.get_concrete_function(),
    })
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, METADATA_PATH), "w") as f:
      json.dump({**info, "version": version}, f, indent=2)

  return _publish(build, base_dir, name, version, overwrite)
