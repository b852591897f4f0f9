"""Parity of tfpc's NIQE with basicsr's port of the MATLAB release.

Two halves, run one after the other (docs/eic.md has the set-up):

  $PEER_VENV/bin/python benchmarks/niqe_parity.py reference DIR BASICSR_SRC IMAGE...
  .venv/bin/python benchmarks/niqe_parity.py tfpc DIR

`reference` (an environment with torch, numpy, scipy and Pillow, not tfpc's):
loads `basicsr/metrics/niqe.py` and `basicsr/utils/matlab_functions.py` from
an unpacked basicsr source distribution (BASICSR_SRC) without installing
basicsr, reads the images (plus, for the first three, Gaussian blur of sigma
1 and 2 and JPEG quality 10), and scores each (a) end to end from RGB with
`calculate_niqe(convert_to='y')` and (b) on tfpc's luma plane (the MATLAB
`rgb2ycbcr` Y, computed here in float64) with `niqe()`. It saves the images
and scores in DIR. `tfpc`: scores the same images with
`tfpc.metrics.niqe.niqe_rgb` (a) and `niqe` on its luma (b), prints
|tfpc - reference| / reference per image and writes DIR/parity.json.
`--fixture=PATH` (reference half) also saves the scores of 192 x 288 crops of
the undistorted images for the unit test (`tests/data/niqe_reference.npz`,
made from scikit-image's bundled `astronaut`, `coffee` and `chelsea`).
"""

import importlib.util
import io
import json
import os
import sys
import time
import types

import numpy as np

DISTORTED = 3  # the first images also get blurred and JPEG versions
FIXTURE_CROP = (slice(64, 256), slice(96, 384))  # 2 x 3 blocks


def _module(name, path, float64=False):
  """Module `name` from `path`; `float64` makes torch code run in float64."""
  with open(path) as f:
    text = f.read()
  if float64:
    text = text.replace(".float()", ".double()").replace(
        "torch.FloatTensor", "torch.DoubleTensor")
  module = types.ModuleType(name)
  module.__file__ = path
  sys.modules[name] = module
  code = compile(text, path, "exec")
  exec(code, module.__dict__)  # pylint: disable=exec-used
  return module


def basicsr_niqe(source, float64=False):
  """basicsr's `niqe` module, loaded from its files with stub packages.

  `float64`: its MATLAB `imresize` port in float64 instead of float32 (as
  MATLAB computes), by two textual substitutions; call it under
  `torch.set_default_dtype(torch.float64)` (its `linspace`).
  """
  registry = types.SimpleNamespace(register=lambda: lambda f: f)
  sys.modules["cv2"] = types.ModuleType("cv2")  # only its 'gray' mode uses it
  for package in ("basicsr", "basicsr.metrics", "basicsr.utils"):
    sys.modules[package] = types.ModuleType(package)
  sys.modules["basicsr.utils.registry"] = types.SimpleNamespace(
      METRIC_REGISTRY=registry)
  root = os.path.join(source, "basicsr")
  color = _module("basicsr.utils.color_util",
                  os.path.join(root, "utils", "color_util.py"))
  sys.modules["basicsr.utils"].bgr2ycbcr = color.bgr2ycbcr
  _module("basicsr.utils.matlab_functions",
          os.path.join(root, "utils", "matlab_functions.py"), float64)
  _module("basicsr.metrics.metric_util",
          os.path.join(root, "metrics", "metric_util.py"))
  return _module("basicsr.metrics.niqe", os.path.join(root, "metrics",
                                                      "niqe.py"))


def luma(rgb):
  """tfpc's luma (`tfpc.metrics.niqe.luma`), restated for the peer env."""
  y = 16.0 + rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255
  return np.floor(y + 0.5)


def _name(path):
  return os.path.splitext(os.path.basename(path))[0]


def test_images(paths):
  """{name: uint8 [H, W, 3]}: the images, and distorted versions."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  images = {}
  for index, path in enumerate(paths):
    name = _name(path)
    pixels = np.asarray(Image.open(path).convert("RGB"))
    images[name] = pixels
    if index >= DISTORTED:
      continue
    for sigma in (1, 2):
      images[f"{name}_blur{sigma}"] = ndimage.gaussian_filter(
          pixels.astype(float), (sigma, sigma, 0)).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=10)
    images[f"{name}_jpeg10"] = np.asarray(Image.open(buffer))
  return images


def reference_half(folder, source, paths, fixture=None):
  """Scores of the port: 'rgb' (as shipped, from RGB), 'plane' (as shipped,
  on tfpc's luma plane), 'plane64' (float64 `imresize`, same plane)."""
  import warnings  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  warnings.simplefilter("ignore")  # NaN blocks, scipy.ndimage.filters
  shipped, exact = basicsr_niqe(source), basicsr_niqe(source, float64=True)
  with np.load(os.path.join(source, "basicsr", "metrics",
                            "niqe_pris_params.npz")) as params:
    model = (params["mu_pris_param"], params["cov_pris_param"],
             params["gaussian_window"])

  def score(rgb):
    start = time.perf_counter()
    scores = {"rgb": shipped.calculate_niqe(rgb[..., ::-1], 0,
                                            input_order="HWC", convert_to="y")}
    scores["seconds"] = time.perf_counter() - start
    scores["plane"] = shipped.niqe(luma(rgb), *model)
    torch.set_default_dtype(torch.float64)
    scores["plane64"] = exact.niqe(luma(rgb), *model)
    torch.set_default_dtype(torch.float32)
    return scores

  images = test_images(paths)
  scores = {name: score(pixels) for name, pixels in images.items()}
  os.makedirs(folder, exist_ok=True)
  np.savez_compressed(os.path.join(folder, "images.npz"), **images)
  with open(os.path.join(folder, "reference.json"), "w") as f:
    json.dump(scores, f, indent=1)
  if fixture:
    crops = {name: score(images[name][FIXTURE_CROP]) for name in images
             if name in map(_name, paths)}
    np.savez(fixture, names=np.array(list(crops)),
             crop=np.array([[s.start, s.stop] for s in FIXTURE_CROP]),
             **{key: np.array([c[key] for c in crops.values()])
                for key in ("rgb", "plane", "plane64")})


def tfpc_half(folder):
  from tfpc.metrics import niqe  # pylint: disable=g-import-not-at-top
  with open(os.path.join(folder, "reference.json")) as f:
    reference = json.load(f)
  rows = {}
  with np.load(os.path.join(folder, "images.npz")) as images:
    for name, ref in reference.items():
      pixels = images[name]
      start = time.perf_counter()
      score = float(niqe.niqe_rgb(pixels[None])[0])
      rows[name] = {"size": f"{pixels.shape[1]}x{pixels.shape[0]}",
                    "tfpc": score, "tfpc_s": time.perf_counter() - start,
                    **{f"reference_{k}": v for k, v in ref.items()}}
      for key in ("rgb", "plane", "plane64"):
        rows[name][f"rel_{key}"] = abs(score - ref[key]) / ref[key]
  print("| image | size | tfpc | port, RGB | port, plane | port float64, plane"
        " | rel. diff: RGB / plane / float64 | s port / tfpc |\n"
        "|---|---|---|---|---|---|---|---|")
  for name, r in rows.items():
    print(f"| {name} | {r['size']} | {r['tfpc']:.5f} | {r['reference_rgb']:.5f}"
          f" | {r['reference_plane']:.5f} | {r['reference_plane64']:.5f} | "
          f"{r['rel_rgb']:.1e} / {r['rel_plane']:.1e} / {r['rel_plane64']:.1e}"
          f" | {r['reference_seconds']:.2f} / {r['tfpc_s']:.2f} |")
  for key in ("rgb", "plane", "plane64"):
    print(f"max rel. diff, {key}: "
          f"{max(r[f'rel_{key}'] for r in rows.values()):.2e}")
  with open(os.path.join(folder, "parity.json"), "w") as f:
    json.dump(rows, f, indent=1)


if __name__ == "__main__":
  if sys.argv[1] == "reference":
    arguments = [a for a in sys.argv[2:] if not a.startswith("--fixture=")]
    fixtures = [a.split("=", 1)[1] for a in sys.argv[2:]
                if a.startswith("--fixture=")]
    reference_half(arguments[0], arguments[1], arguments[2:],
                   fixtures[0] if fixtures else None)
  else:
    tfpc_half(sys.argv[2])
