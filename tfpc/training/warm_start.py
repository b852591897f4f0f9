"""Warm starts by layer: from an exported model or from a training run.

Every layer of the codec whose object path (as a checkpoint names it:
`synthesis_transform/layer-5`, ...) and variables (paths and shapes) match
the source codec's is copied, so a codec starts from another architecture that
shares layers (BLS2017 into BMSHJ2018; mbt2018-mean into eic-base, whose
synthesis transform gained a GRDN, or into NLAIC-lite's mbt2018-mean
backbone), and the report says, one line per network, what was copied and
what was left at its initialization. The strided layers of tfpc's transforms
are named by `transforms.layer_name` (`layer_<i>`): a path names them so
(`synthesis_transform/layer_0`) wherever they sit in their transform, so
modules inserted between them (NLAIC's blocks) do not shift them. Other
networks (a proxy, a discriminator) are restored by name from a training
run's checkpoint when it has them.
"""

import dataclasses
import os

import tensorflow as tf

from tfpc import errors
from tfpc import zoo
from tfpc.codecs import transforms
from tfpc.training import run_folder


def source_codec(source):
  """(codec, step) of `source`: a training run folder at its latest
  checkpoint's step, or an exported model (step None)."""
  if run_folder.is_training_run(source):
    return run_folder.restore_codec(source)
  if os.path.isfile(os.path.join(source, run_folder.RECIPE)):
    stages = run_folder.stage_runs(source)
    if stages:
      raise errors.ConfigError(f"{source} is a staged run: start from one "
                               f"of its stages ({', '.join(stages)})")
  return zoo.load_keras(source), None


def _child_name(name, child):
  """A Keras model's `layer-<position>` child by its name when it is a
  strided layer of the shared transforms."""
  if (name.startswith("layer-") and isinstance(child, tf.keras.layers.Layer)
      and transforms.LAYER_NAME.fullmatch(child.name)):
    return child.name
  return name


def variables_by_path(root):
  """{object path: variable} of the variables under `root`, each under the
  first path in sorted child order (as stable as a checkpoint's keys)."""
  found, seen = {}, set()

  def visit(node, path):
    if id(node) in seen:
      return
    seen.add(id(node))
    if isinstance(node, tf.Variable):
      found[path] = node
      return
    children = node._trackable_children()  # pylint: disable=protected-access
    for name in sorted(children):
      child = _child_name(name, children[name])
      visit(children[name], f"{path}/{child}" if path else child)

  visit(root, "")
  return found


@dataclasses.dataclass
class Report:
  """What a warm start copied: per network, copied and left variable paths;
  `step`, the checkpoint step of a training run source (None for a model)."""
  source: str
  copied: dict
  left: dict
  restored: list
  step: int = None

  def lines(self):
    """One line per network of the codec, then one for the others."""
    lines = []
    source = self.source if self.step is None else run_folder.at_step(
        self.source, self.step)
    for network in sorted(set(self.copied) | set(self.left)):
      copied, left = self.copied.get(network, []), self.left.get(network, [])
      line = (f"warm start {network}: {len(copied)} of "
              f"{len(copied) + len(left)} variables from {source}")
      if left:
        layers = sorted({path.split("/")[1] if "/" in path else path
                         for path in left})
        line += f"; left at initialization: {', '.join(layers)}"
      lines.append(line)
    if self.restored:
      lines.append(f"warm start {', '.join(self.restored)}: restored from "
                   f"{source}")
    return lines


def _network(path):
  return path.split("/", 1)[0]


def _layer(path):
  """The layer a variable belongs to: the network's child on its path."""
  return "/".join(path.split("/")[:2])


def copy_layers(source, codec, strict=False):
  """Copies into `codec` every layer of `source` (a codec) with the same
  object path and the same variables (paths and shapes); returns (copied,
  left) as {network: [variable paths]}.

  Raises ConfigError when nothing is shared, or when `strict` and anything
  is left.
  """
  theirs = variables_by_path(source)
  their_layers = {}
  for path in theirs:
    their_layers.setdefault(_layer(path), set()).add(path)
  layers = {}
  for path, variable in variables_by_path(codec).items():
    layers.setdefault(_layer(path), []).append((path, variable))
  copied, left = {}, {}
  for layer, variables in layers.items():
    # The same variables, not a part of them: a convolution followed by GDN
    # in the source is another layer than a plain one at the same place.
    fits = (their_layers.get(layer) == {path for path, _ in variables} and
            all(theirs[path].shape == variable.shape
                for path, variable in variables))
    for path, variable in variables:
      if fits:
        variable.assign(theirs[path])
      (copied if fits else left).setdefault(_network(path), []).append(path)
  if not copied:
    raise errors.ConfigError(
        f"init_from: {source.get_config()} shares no layer with this codec "
        f"({codec.get_config()})")
  if strict and left:
    raise errors.ConfigError(
        f"init_from (strict): {sum(map(len, left.values()))} variables have "
        f"no match, e.g. {sorted(p for v in left.values() for p in v)[:3]}")
  return copied, left


def warm_start(codec, source, networks=None, strict=False):
  """Starts `codec` (and `networks`: name -> model) from `source`.

  Args:
    codec: the codec to initialize.
    source: a training run folder or an exported model (name or path).
    networks: other models, restored from a training run's checkpoint
      objects of the same name (those it lacks keep their initialization).
    strict: fail unless every variable of the codec is copied.

  Returns:
    A `Report`.
  """
  their_codec, step = source_codec(source)
  try:
    copied, left = copy_layers(their_codec, codec, strict)
  except errors.ConfigError as e:
    raise errors.ConfigError(f"{e} (from {source})") from None
  restored = []
  if networks and run_folder.is_training_run(source):
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
      restored = sorted(found)
  return Report(str(source), copied, left, restored, step)
