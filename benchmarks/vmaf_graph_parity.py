"""VMAF in TF ops (`tfpc.metrics.vmaf_graph`) against libvmaf (the bridge).

Usage: .venv/bin/python benchmarks/vmaf_graph_parity.py [--kodak_images=24]
         [--photos=12] [--learned_images=8] [--save_pairs=pairs.npz]

Sources: Kodak (768x512 / 512x768) and crops of odd size (509x381) from the
training photos. Distortions of each image: JPEG at quality 5, 20, 50 and 80,
JPEG2000 (ffmpeg, tfpc's `jpeg2000` codec at two settings), Gaussian blur
(sigma 1 and 2.5), Gaussian noise (sigma 3 and 10) and, on the first
`learned_images` Kodak images, tfpc's own codecs (bls2017 MSE at three rates
and VMAF_p). Both models, vmaf_v0.6.1 and vmaf_v0.6.1neg: mean and max
|difference| of the score and of every feature libvmaf logs. `--save_pairs`
writes the Y planes and libvmaf's scores for `vmaf_torch_peer.py`.
"""

import collections
import glob
import io
import os

from tfpc import cli  # quiets TensorFlow

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from PIL import Image
from scipy import ndimage

from tfpc import coding
from tfpc import zoo
from tfpc.evaluation import conventional
from tfpc.metrics import libvmaf
from tfpc.metrics import vmaf_graph

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
flags.DEFINE_integer("kodak_images", 24, "Kodak images used.")
flags.DEFINE_integer("photos", 12, "Training photos used (509x381 crops).")
flags.DEFINE_integer("learned_images", 8,
                     "Kodak images also coded by tfpc's codecs.")
flags.DEFINE_list("learned", ["mbt2018-mean-mse-l0.0008", "mbt2018-mean-mse",
                              "mbt2018-mean-mse-l0.012",
                              "bls2017-vmafp-l0.0008"],
                  "tfpc models (saved_models/) coding the learned images.")
flags.DEFINE_string("save_pairs", None, "Write Y planes + libvmaf scores here.")
FLAGS = flags.FLAGS


def jpeg(pixels, quality):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def distortions(pixels, seed):
  """(label, distorted uint8) pairs of one image."""
  rng = np.random.default_rng(seed)
  out = [(f"jpeg q{q}", jpeg(pixels, q)) for q in (5, 20, 50, 80)]
  j2k = conventional.CODECS["jpeg2000"]
  out += [(f"jpeg2000 {s}", conventional.code(j2k, s, pixels)["decoded"])
          for s in (160, 24)]
  for sigma in (1.0, 2.5):
    blurred = ndimage.gaussian_filter(pixels.astype(np.float64),
                                      (sigma, sigma, 0))
    out.append((f"blur {sigma}", np.clip(np.round(blurred), 0, 255)
                .astype(np.uint8)))
  for sigma in (3, 10):
    noisy = pixels + rng.normal(0, sigma, pixels.shape)
    out.append((f"noise {sigma}", np.clip(np.round(noisy), 0, 255)
                .astype(np.uint8)))
  return out


def sources():
  """(source, name, uint8 image) of every reference."""
  kodak = sorted(glob.glob(os.path.join(DATA, "kodak", "*.png")))
  photos = sorted(glob.glob(os.path.join(DATA, "train-photos", "*.png")))
  if not kodak or not photos:
    raise SystemExit(f"Kodak or train-photos missing under {DATA}")
  for path in kodak[:FLAGS.kodak_images]:
    yield "kodak", path, np.asarray(Image.open(path).convert("RGB"))
  for path in photos[:FLAGS.photos]:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    top, left = (pixels.shape[0] - 381) // 2, (pixels.shape[1] - 509) // 2
    yield "photos", path, pixels[top:top + 381, left:left + 509]


def learned_codings(pixels):
  out = []
  for spec in FLAGS.learned:
    model = zoo.load(spec)
    out.append((spec, coding.decode(coding.encode(model, pixels),
                                    model).pixels))
  return out


def main(argv):
  del argv
  diffs = {m: collections.defaultdict(list) for m in libvmaf.MODELS}
  by_kind = {m: collections.defaultdict(list) for m in libvmaf.MODELS}
  saved = collections.defaultdict(list)
  graph = tf.function(vmaf_graph.features)  # one trace per image shape
  for index, (source, path, pixels) in enumerate(sources()):
    pairs = distortions(pixels, index)
    if source == "kodak" and index < FLAGS.learned_images:
      pairs += learned_codings(pixels)
    labels = [label for label, _ in pairs]
    distorted = np.stack([d for _, d in pairs])
    reference = np.repeat(pixels[None], len(pairs), 0)
    for model in libvmaf.MODELS:
      scores, logged = libvmaf.vmaf(reference, distorted, model=model,
                                    features=True)
      ours = graph(reference.astype(np.float32), distorted.astype(np.float32),
                   model)
      ours = {k: v.numpy() for k, v in ours.items()}
      ours_score = vmaf_graph.model(model).predict(ours).numpy()
      diff = np.abs(ours_score - scores)
      diffs[model]["vmaf"].extend(diff)
      for label, d in zip(labels, diff):
        by_kind[model][label.split()[0]].append(d)
        by_kind[model][f"source {source}"].append(d)
      for name in ours:
        if name == "integer_motion2":
          continue
        suffix = "_egl_1" if model.endswith("neg") else ""
        lib = np.array([f[name + suffix] for f in logged])
        diffs[model][name].extend(np.abs(ours[name] - lib))
      saved[f"score_{model}"].append(scores)
    if FLAGS.save_pairs:
      luma = lambda x: vmaf_graph.luma(x.astype(np.float32)).numpy()
      saved["ref"].append(luma(reference).astype(np.uint8))
      saved["dis"].append(luma(distorted).astype(np.uint8))
    worst = max(max(diffs[m]["vmaf"][-len(pairs):]) for m in libvmaf.MODELS)
    print(f"{os.path.basename(path)} ({source}): {len(pairs)} pairs, "
          f"max |score diff| {worst:.4f}", flush=True)
  for model in libvmaf.MODELS:
    count = len(diffs[model]["vmaf"])
    print(f"\n{model}: {count} pairs")
    for name, values in diffs[model].items():
      print(f"  {name:22s} mean |diff| {np.mean(values):.2e}  "
            f"max {np.max(values):.2e}")
    for kind, values in by_kind[model].items():
      print(f"  score, {kind:18s} mean {np.mean(values):.4f}  "
            f"max {np.max(values):.4f}  ({len(values)})")
  if FLAGS.save_pairs:
    # Shapes differ between sources: one array per image, in order.
    arrays = {f"{key}_{i}": value for key, values in saved.items()
              for i, value in enumerate(values)}
    np.savez_compressed(FLAGS.save_pairs, **arrays)
    print(f"wrote {FLAGS.save_pairs}")


if __name__ == "__main__":
  app.run(main)
