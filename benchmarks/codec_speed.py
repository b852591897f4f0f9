"""Encode/decode speed: Keras path vs inference path, FLOP floor, peer.

Usage: .venv/bin/python benchmarks/codec_speed.py [--num_filters=64]
       [--images=../shared/data/kodak] [--limit=8] [--rounds=3]
       [--peer=compressai.json]
In one process, on the same weights (BLS2017: the shipped `bls2017-mse-l0.0008`
model when --num_filters=64, else untrained; BMSHJ2018: untrained), times the
codec's `compress`/`decompress` functions (range coding included, model
loading and tracing excluded) traced two ways: through the Keras layers on
whole images (until commit 2f4aa3d those ran tfc's own arithmetic: `irfft2d`
kernels, transposed convolutions) and through `codec.inference`. Calls
alternate between the two paths image by image, `--rounds` times; each
figure is the mean over images of the median over rounds. Also reports
whether both paths write the same bytes, the largest reconstruction
difference, and the FLOP floor: FLOPs counted from the layer shapes, divided
by this machine's 5x5 64-to-64 convolution throughput measured in the same
run. `--peer` reads the JSON of benchmarks/compressai_peer.py (run in its own
environment, see docs/speed.md) and prints tfpc/CompressAI time ratios.
"""

import functools
import json
import os
import types

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import flags

from tfpc import codecs
from tfpc import data
from tfpc import image as image_lib
from tfpc import zoo

import harness  # benchmarks/, beside this script
import steptime

flags.DEFINE_integer("num_filters", 64, "Filters per layer.")
flags.DEFINE_string("images", harness.KODAK, "Folder of images.")
flags.DEFINE_integer("limit", 8, "At most this many images.")
flags.DEFINE_integer("rounds", 3, "Timed calls per image and path.")
flags.DEFINE_string("peer", None, "JSON written by compressai_peer.py.")
FLAGS = flags.FLAGS

PEERS = {"bls2017": "FactorizedPrior", "bmshj2018": "ScaleHyperprior"}


def coding_paths(codec, warm):
  """{"keras": (compress, decompress), "inference": (...)}, both traced."""
  paths = {}
  for name in ("inference", "keras"):
    codec.prepare_for_coding()
    if name == "keras":
      codec.inference = types.SimpleNamespace(
          **{key: getattr(codec, key) for key in vars(codec.inference)})
    strings, shape = codec.compress(warm)
    codec.decompress(strings, shape)
    paths[name] = (codec.compress, codec.decompress)
  return paths


def time_paths(paths, images, rounds):
  """Per path: encode and decode ms (mean over images of the median over
  rounds, paths interleaved), and whether bytes and pixels agree with the
  Keras path."""
  times = {f"{name} {key}": [] for name in paths
           for key in ("encode", "decode")}
  same_bytes, max_diff = 0, 0
  for pixels in images:
    calls, outputs = {}, {}
    for name, (compress, decompress) in paths.items():
      strings, shape = compress(pixels)
      outputs[name] = (strings.numpy(), decompress(strings, shape).numpy())
      calls[f"{name} encode"] = functools.partial(_run, compress, pixels)
      calls[f"{name} decode"] = functools.partial(_run, decompress, strings,
                                                  shape)
    for key, (_, median) in harness.summary(
        harness.interleaved(calls, rounds, warmup=0)).items():
      times[key].append(median)
    keras, fast = outputs["keras"], outputs["inference"]
    same_bytes += bool(np.array_equal(keras[0], fast[0]))
    max_diff = max(max_diff, int(np.abs(
        keras[1].astype(int) - fast[1].astype(int)).max()))
  return ({name: {key: float(np.mean(times[f"{name} {key}"]))
                  for key in ("encode", "decode")} for name in paths},
          same_bytes, max_diff)


def _run(function, *args):
  return tf.nest.map_structure(lambda t: t.numpy(), function(*args))


def build(architecture):
  if architecture == "bls2017" and FLAGS.num_filters == 64:
    return zoo.load_keras("bls2017-mse-l0.0008"), "shipped bls2017-mse-l0.0008"
  return codecs.build_codec({"architecture": architecture,
                             "num_filters": FLAGS.num_filters}), "untrained"


def main(argv):
  del argv
  paths = data.list_images(FLAGS.images)[:FLAGS.limit]
  images = [image_lib.read_image(p).pixels for p in paths]
  height, width = images[0].shape[:2]
  peer = None
  if FLAGS.peer:
    with open(FLAGS.peer) as f:
      peer = json.load(f)
  convolve, convolution_flops = steptime.reference_convolution()
  gflops = convolution_flops / min(harness.interleaved(
      {"convolution": convolve}, FLAGS.rounds + 2)["convolution"]) / 1e9
  print(f"{len(images)} images from {FLAGS.images} ({width}x{height} first), "
        f"{FLAGS.num_filters} filters, {os.cpu_count()} CPU cores, "
        f"{FLAGS.rounds} rounds; 5x5 64-to-64 convolution: {gflops:.0f} "
        "GFLOP/s")
  print("| codec | weights | path | encode ms | decode ms | decode/encode "
        "| same bytes | max pixel diff |")
  print("|---|---|---|---|---|---|---|---|")
  results = {}
  for architecture in ("bls2017", "bmshj2018"):
    codec, weights = build(architecture)
    times, same, diff = time_paths(coding_paths(codec, images[0]), images,
                                   FLAGS.rounds)
    results[architecture] = (codec, times)
    for name, t in times.items():
      print(f"| {architecture} | {weights} | {name} | {t['encode']:.1f} | "
            f"{t['decode']:.1f} | {t['decode'] / t['encode']:.2f} | "
            f"{same}/{len(images)} | {diff if name == 'inference' else ''} |")

  codec, times = results["bls2017"]
  stride = codec.transform_stride
  analysis = steptime.forward_flops(codec.analysis_transform,
                                    tf.zeros((1, height, width, 3)))
  synthesis = steptime.forward_flops(codec.synthesis_transform, tf.zeros(
      (1, height // stride, width // stride, FLAGS.num_filters)))
  print(f"\nBLS2017 FLOP floor on {width}x{height}: analysis "
        f"{analysis / 1e9:.2f} GFLOP, synthesis {synthesis / 1e9:.2f} GFLOP")
  print("| path | encode / floor | decode / floor |")
  print("|---|---|---|")
  for name, t in times.items():
    print(f"| {name} | {t['encode'] / (analysis / gflops / 1e6):.2f} | "
          f"{t['decode'] / (synthesis / gflops / 1e6):.2f} |")

  if peer:
    print(f"\nPeer: CompressAI {peer['compressai']}, torch {peer['torch']}, "
          f"{peer['threads']} threads, {peer['channels']} channels, "
          f"random weights, {len(peer['images'])} images")
    print("| tfpc (inference) | peer | encode ms tfpc / peer | decode ms "
          "tfpc / peer | encode ratio | decode ratio |")
    print("|---|---|---|---|---|---|")
    for architecture, (_, times) in results.items():
      ours, theirs = times["inference"], peer["models"][PEERS[architecture]]
      print(f"| {architecture} | {PEERS[architecture]} | "
            f"{ours['encode']:.1f} / {theirs['encode']:.1f} | "
            f"{ours['decode']:.1f} / {theirs['decode']:.1f} | "
            f"{ours['encode'] / theirs['encode']:.2f} | "
            f"{ours['decode'] / theirs['decode']:.2f} |")


if __name__ == "__main__":
  cli.run(main)
