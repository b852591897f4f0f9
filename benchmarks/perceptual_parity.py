"""Parity of tfpc's LPIPS, DISTS and VGG19 distances with the PyTorch ones.

Two halves, run one after the other (docs/perceptual.md has the set-up):

  $PEER_VENV/bin/python benchmarks/perceptual_parity.py torch DIR   # harness.PEER_VENV
  .venv/bin/python benchmarks/perceptual_parity.py tf DIR

`torch` (an environment with torch, torchvision, lpips and DISTS_pytorch,
not tfpc's): random torchvision VGG16, VGG19 and AlexNet (ImageNet weights
cannot be downloaded here), saved with `torch.save` in both layouts (zip, and
legacy with `_use_new_zipfile_serialization=False`); the references `lpips`
(alex, vgg) and `DISTS` on these backbones with their real heads and
alpha/beta, and VGG19 conv5_4 feature MSE; scores and input gradients, in
float32 and float64, on Kodak crops whose sides are not multiples of 16,
distorted by JPEG, noise and blur. `tf`: converts each layout with
`tfpc_weights` and compares tfpc's scores and gradients (float32).

Relative differences: |tf - torch| / |torch| per score; for a gradient, the
largest absolute difference over the largest |torch| element of that image
("max"), and ||tf - torch|| / ||torch|| over that image ("L2").
"""

import json
import os
import subprocess
import sys

import numpy as np

import harness  # benchmarks/, beside this script

CROPS = (("kodim01.png", 100, 150, 157, 203),
         ("kodim08.png", 37, 211, 129, 190),
         ("kodim23.png", 120, 300, 251, 317))
DISTORTIONS = ("jpeg", "noise", "blur")
METRICS = ("lpips", "lpips_vgg", "dists", "vgg19_conv5_4", "vgg19_relu5_4")
BACKBONES = ("vgg16", "vgg19", "alexnet")
LAYOUTS = ("legacy", "zip")


def distorted_crops():
  """{crop name: uint8 [4, H, W, 3]}: reference, JPEG q=15, noise, blur."""
  import io  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  crops = {}
  for name, top, left, height, width in CROPS:
    pixels = np.asarray(Image.open(os.path.join(harness.KODAK, name)).convert("RGB"))
    crop = pixels[top:top + height, left:left + width]
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, "JPEG", quality=15)
    jpeg = np.asarray(Image.open(buffer))
    noise = np.clip(crop + rng.normal(0, 10, crop.shape), 0, 255)
    blur = ndimage.gaussian_filter(crop.astype(float), (1.5, 1.5, 0))
    crops[f"{name[:-4]}_{height}x{width}"] = np.stack(
        [crop, jpeg, noise.round(), blur.round()]).astype(np.uint8)
  return crops


def torch_half(folder):
  """Random backbones in both layouts, reference scores and gradients."""
  import torch  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top
  import lpips  # pylint: disable=g-import-not-at-top
  from DISTS_pytorch import DISTS_pt  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  networks = {}
  for name in BACKBONES:
    network = getattr(torchvision.models, name)(weights=None).eval()
    for module in network.features:
      if isinstance(module, torch.nn.Conv2d):
        torch.nn.init.normal_(module.bias, 0.0, 0.05)  # not torchvision's 0
    networks[name] = network
    torch.save(network.state_dict(), os.path.join(folder, f"{name}-zip.pth"))
    torch.save(network.state_dict(), os.path.join(folder,
                                                  f"{name}-legacy.pth"),
               _use_new_zipfile_serialization=False)
  crops = distorted_crops()
  np.savez(os.path.join(folder, "images.npz"), **crops)

  def lpips_model(net, backbone):
    model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    features = networks[backbone].features.state_dict()
    for key, parameter in model.net.named_parameters():
      _, index, kind = key.split(".")
      parameter.data.copy_(features[f"{index}.{kind}"])
    return model

  lpips_alex, lpips_vgg = lpips_model("alex", "alexnet"), lpips_model(
      "vgg", "vgg16")
  DISTS_pt.models.vgg16 = lambda **kwargs: networks["vgg16"]
  dists = DISTS_pt.DISTS()
  mean = torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1)
  std = torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1)

  def vgg19(layers):
    features = networks["vgg19"].features[:layers]
    def distance(x, y):
      f0, f1 = (features((z / 255 - mean.to(z.dtype)) / std.to(z.dtype))
                for z in (x, y))
      return ((f0 - f1) ** 2).mean([1, 2, 3])
    return distance

  references = {
      "lpips": lambda x, y: lpips_alex(x / 127.5 - 1, y / 127.5 - 1).flatten(),
      "lpips_vgg": lambda x, y: lpips_vgg(x / 127.5 - 1,
                                          y / 127.5 - 1).flatten(),
      "dists": lambda x, y: dists(x / 255, y / 255, require_grad=True),
      "vgg19_conv5_4": vgg19(35),
      "vgg19_relu5_4": vgg19(36)}
  results = {}
  for dtype in (torch.float32, torch.float64):
    for module in [*networks.values(), lpips_alex, lpips_vgg, dists]:
      module.to(dtype)
    for metric, reference in references.items():
      for crop, pixels in crops.items():
        images = torch.from_numpy(pixels).permute(0, 3, 1, 2).to(dtype)
        x = images[:1].expand(len(DISTORTIONS), -1, -1, -1)
        y = images[1:].clone().requires_grad_(True)
        scores = reference(x, y)
        (gradient,) = torch.autograd.grad(scores.sum(), y)
        key = f"{metric}/{crop}/{str(dtype)[6:]}"
        results[key + "/scores"] = scores.detach().numpy()
        results[key + "/gradients"] = gradient.permute(0, 2, 3, 1).numpy()
  np.savez(os.path.join(folder, "torch_results.npz"), **results)
  print(f"wrote backbones, images and torch_results.npz to {folder}")


def differences(value, reference):
  """Relative differences of (scores, gradients): scores, max, L2."""
  (scores, gradients), (scores_ref, gradients_ref) = value, reference
  axes = tuple(range(1, gradients.ndim))
  error = np.abs(gradients - gradients_ref)
  return np.array([
      np.max(np.abs(scores - scores_ref) / np.abs(scores_ref)),
      np.max(np.max(error, axes) / np.max(np.abs(gradients_ref), axes)),
      np.max(np.sqrt(np.sum(error**2, axes) / np.sum(gradients_ref**2,
                                                      axes)))])


def tf_half(folder):
  """Converts both layouts with tfpc_weights and compares with torch."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfpc.metrics import perceptual  # pylint: disable=g-import-not-at-top

  program = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         os.pardir, "bin", "tfpc_weights")
  for layout in LAYOUTS:
    files = [os.path.join(folder, f"{n}-{layout}.pth") for n in BACKBONES]
    subprocess.run([sys.executable, program,
                    f"--weights_dir={os.path.join(folder, layout)}", *files],
                   check=True)
  for name in BACKBONES:
    legacy, zipped = (np.load(os.path.join(folder, layout, f"{name}.npz"))
                      for layout in LAYOUTS)
    assert all(np.array_equal(legacy[k], zipped[k]) for k in legacy.files)
  crops = dict(np.load(os.path.join(folder, "images.npz")))
  torch_results = np.load(os.path.join(folder, "torch_results.npz"))
  comparisons = ("tf vs torch fp32", "tf vs torch fp64",
                 "torch fp32 vs fp64")
  rows = []
  for metric in METRICS:
    for layout in LAYOUTS:
      model = perceptual.build(metric, os.path.join(folder, layout))
      worst = np.zeros((len(comparisons), 3))
      for crop, pixels in crops.items():
        x = tf.constant(np.repeat(pixels[:1], len(DISTORTIONS), 0), tf.float32)
        y = tf.constant(pixels[1:], tf.float32)
        with tf.GradientTape() as tape:
          tape.watch(y)
          scores = model((x, y))
        ours = (scores.numpy(), tape.gradient(scores, y).numpy())
        torch32, torch64 = (
            tuple(torch_results[f"{metric}/{crop}/{dtype}/{kind}"]
                  for kind in ("scores", "gradients"))
            for dtype in ("float32", "float64"))
        worst = np.maximum(worst, [differences(ours, torch32),
                                   differences(ours, torch64),
                                   differences(torch32, torch64)])
      rows.append({"metric": metric, "layout": layout,
                   **dict(zip(comparisons, worst.tolist()))})
  with open(os.path.join(folder, "parity.json"), "w") as f:
    json.dump(rows, f, indent=1)
  print("Largest relative difference over the crops and distortions: scores "
        "/ gradients (max) / gradients (L2)\n")
  print("| metric | layout | " + " | ".join(comparisons) + " |")
  print("|---|---|" + "---|" * len(comparisons))
  for row in rows:
    cells = [" / ".join(f"{v:.1e}" for v in row[c]) for c in comparisons]
    print(f"| {row['metric']} | {row['layout']} | " + " | ".join(cells) +
          " |")


if __name__ == "__main__":
  if len(sys.argv) != 3 or sys.argv[1] not in ("torch", "tf"):
    sys.exit(__doc__)
  os.makedirs(sys.argv[2], exist_ok=True)
  (torch_half if sys.argv[1] == "torch" else tf_half)(sys.argv[2])
