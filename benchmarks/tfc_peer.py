"""tfpc's bmshj2018 against tensorflow/compression's own `models/bmshj2018.py`,
on the same weights, side by side in one process.

Usage:
  git clone https://github.com/tensorflow/compression /tmp/tfc   # the peer's script
  .venv/bin/python benchmarks/tfc_peer.py --tfc_script=/tmp/tfc/models/bmshj2018.py \
      [--model=bmshj2018-vmafp-l0.0008] [--limit=8] [--rounds=3]

The peer's `BMSHJ2018Model` is built with the model's config and gets its
variables (the same architecture, variable for variable, shapes checked); its
range-coding tables are built as its `fit` does. Its script imports
`tensorflow_datasets` for training data only: a stub module stands in. Each
Kodak image is coded by both in turn (tfpc: the exported codec-form model
through `zoo.CodecModel`, what `tfpc_compress`/`tfpc_decompress` run; peer:
its `compress` and `decompress` tf.functions), interleaved, after a warm-up.
Prints median times, the tfpc / peer ratios, bytes of the range-coded
strings and the largest pixel difference between the two reconstructions.
"""

import functools
import glob
import importlib.util
import os
import sys
import types

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow_compression as tfc
from absl import flags
from PIL import Image

from tfpc import bitstream
from tfpc import errors
from tfpc import zoo

import harness  # benchmarks/, beside this script

flags.DEFINE_string("tfc_script", None, "Path of tfc's models/bmshj2018.py.",
                    required=True)
flags.DEFINE_string("model", "bmshj2018-vmafp-l0.0008", "Exported bmshj2018 model.")
flags.DEFINE_string("images", harness.KODAK, "Folder of PNGs.")
flags.DEFINE_integer("limit", 8, "Images (the first, sorted).")
flags.DEFINE_integer("rounds", 3, "Timed rounds over the images.")
FLAGS = flags.FLAGS
PARTS = ("analysis_transform", "synthesis_transform", "hyper_analysis_transform",
         "hyper_synthesis_transform", "hyperprior")


def peer_model(config, codec):
  """The peer's model with `codec`'s weights and coding tables."""
  sys.modules.setdefault("tensorflow_datasets",
                         types.ModuleType("tensorflow_datasets"))
  spec = importlib.util.spec_from_file_location("tfc_bmshj2018",
                                                FLAGS.tfc_script)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  peer = module.BMSHJ2018Model(0.01, config["num_filters"],
                               config["num_scales"], config["scale_min"],
                               config["scale_max"])
  for part in PARTS:
    ours, theirs = getattr(codec, part).variables, getattr(peer, part).variables
    if [v.shape for v in ours] != [v.shape for v in theirs]:
      raise errors.ModelError(f"{part}: the peer's variables differ in shape")
    for source, target in zip(ours, theirs):
      target.assign(source)
  peer.entropy_model = tfc.LocationScaleIndexedEntropyModel(  # as its fit()
      tfc.NoisyNormal, peer.num_scales, peer.scale_fn, coding_rank=3,
      compression=True)
  peer.side_entropy_model = tfc.ContinuousBatchedEntropyModel(
      peer.hyperprior, coding_rank=3, compression=True)
  return peer


def main(argv):
  del argv
  path = zoo.resolve(FLAGS.model)
  config = zoo.read_metadata(path)["config"]
  if config["architecture"] != "bmshj2018":
    raise errors.ConfigError(f"{FLAGS.model} is not a bmshj2018 model")
  ours = zoo.load(path)
  peer = peer_model(config, zoo.load_keras(path))
  images = [np.asarray(Image.open(p).convert("RGB")) for p in
            sorted(glob.glob(os.path.join(FLAGS.images, "*.png")))[:FLAGS.limit]]
  times = {}
  sizes, difference = {"tfpc": 0, "peer": 0}, 0
  for pixels in images:
    data, tensors, results = ours.encode(pixels), peer.compress(pixels), {}
    per_image = harness.interleaved({
        "tfpc encode": functools.partial(ours.encode, pixels),
        "tfpc decode": functools.partial(ours.decode, data),
        "peer encode": functools.partial(peer.compress, pixels),
        "peer decode": lambda t=tensors: peer.decompress(*t).numpy()},
                                    FLAGS.rounds, warmup=1, results=results)
    for key, values in per_image.items():
      times.setdefault(key, []).extend(values)
    sizes["tfpc"] += sum(len(s) for s in bitstream.unpack(data).strings)
    sizes["peer"] += len(tensors[0].numpy()[0]) + len(tensors[1].numpy()[0])
    difference = max(difference, int(np.max(np.abs(
        results["tfpc decode"].astype(int) -
        results["peer decode"].astype(int)))))
  ms = {key: 1000 * float(np.median(value)) for key, value in times.items()}
  print(f"{FLAGS.model}, {len(images)} images x {FLAGS.rounds} rounds, median ms")
  print("| | tfpc | tfc models/bmshj2018.py | tfpc / peer |")
  print("|---|---:|---:|---:|")
  for what in ("encode", "decode"):
    print(f"| {what} | {ms['tfpc ' + what]:.1f} | {ms['peer ' + what]:.1f} | "
          f"{ms['tfpc ' + what] / ms['peer ' + what]:.2f} |")
  print(f"range-coded bytes: tfpc {sizes['tfpc']}, peer {sizes['peer']}; "
        f"max pixel difference {difference}")


if __name__ == "__main__":
  cli.run(main)
