"""Version directories, atomic publication, model ids and metadata."""

import hashlib
import json
import os
import shutil

from tfpc import errors

METADATA_PATH = os.path.join("assets.extra", "tfpc.json")


def model_id(variables):
  """8-byte id of a set of variables: a hash of their values, order-free."""
  digests = sorted(
      hashlib.sha256(f"{v.dtype.name}{tuple(v.shape)}".encode() +
                     v.numpy().tobytes()).digest() for v in variables)
  return hashlib.sha256(b"".join(digests)).digest()[:8]


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
      "model_id": model_id(codec.variables).hex(),
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
