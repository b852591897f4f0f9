"""Warm starts by name: from an exported model or from a training run.

A codec takes each sub-network (analysis_transform, hyper_synthesis, prior,
...) of the source codec that it also has, under the same attribute name and
with variables of the same shapes: so a codec also starts from another
architecture that shares parts (BLS2017 into BMSHJ2018, an MSE codec into a
codec with a post-filter). Other networks (a proxy, a discriminator) are
restored by name from a training run's checkpoint when it has them.
"""

import os

import tensorflow as tf

from tfpc import errors


def is_training_run(path):
  """True for a folder with a training checkpoint and its codec config."""
  return bool(os.path.isfile(os.path.join(path, "config.json")) and
              tf.train.latest_checkpoint(path))


def source_codec(source):
  """The codec of `source`: a training run folder or an exported model."""
  if is_training_run(source):
    from tfpc.training import loop  # pylint: disable=g-import-not-at-top
    return loop.restore_codec(source)[0]
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  return zoo.load_keras(source)


def copy_shared_parts(source, codec):
  """Copies `source` codec's sub-networks into `codec` by name and shapes;
  returns the names copied (raises ConfigError when none is shared)."""
  targets = codec._trackable_children()  # pylint: disable=protected-access
  copied = []
  for name, part in source._trackable_children().items():  # pylint: disable=protected-access
    target = targets.get(name)
    if not (isinstance(part, tf.Module) and isinstance(target, tf.Module)):
      continue
    values, variables = part.variables, target.variables
    if values and [v.shape for v in values] == [v.shape for v in variables]:
      for variable, value in zip(variables, values):
        variable.assign(value)
      copied.append(name)
  if not copied:
    raise errors.ConfigError(
        f"init_from: {source.get_config()} shares no sub-network with this "
        f"codec ({codec.get_config()})")
  return copied


def warm_start(codec, source, networks=None):
  """Starts `codec` (and `networks`: name -> model) from `source`.

  Args:
    codec: the codec to initialize.
    source: a training run folder or an exported model (name or path).
    networks: other models, restored from a training run's checkpoint
      objects of the same name (those it lacks keep their initialization).

  Returns:
    The names of the codec's sub-networks and of the networks restored.
  """
  try:
    restored = copy_shared_parts(source_codec(source), codec)
  except errors.ConfigError as e:
    raise errors.ConfigError(f"{e} (from {source})") from None
  if networks and is_training_run(source):
    path = tf.train.latest_checkpoint(source)
    present = {key.split("/", 1)[0] for key in
               tf.train.load_checkpoint(path).get_variable_to_shape_map()}
    found = {name: model for name, model in networks.items()
             if name in present}
    if found:
      try:
        tf.train.Checkpoint(**found).read(path).expect_partial()
      except (ValueError, tf.errors.OpError) as e:
        raise errors.ConfigError(
            f"init_from {source}: {sorted(found)} do not fit ({e})") from None
      restored.extend(found)
  return restored
