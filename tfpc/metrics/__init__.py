"""Full-reference quality metrics, named by string.

`compute(name, reference, distorted)` takes uint8 or float arrays in [0, 255],
[H, W, 3] or [N, H, W, 3], and returns one float64 score per image ([N], or a
scalar for a single image). The TF functions in `fullref` and `perceptual`
are differentiable. `score_tf(name, reference, distorted)` is the in-graph
form for training steps.

PSNR, SSIM, MS-SSIM and VMAF are qualities (higher is better); the learned
perceptual metrics `lpips`, `lpips_vgg` and `dists` are distances, as their
references return them (0 for identical images, lower is better): they are
`LOWER_IS_BETTER`. Their networks need converted backbone weights
(`tfpc.weights`, `tfpc_weights`).
"""

import functools

import numpy as np
import tensorflow as tf

from tfpc.metrics import fullref
from tfpc.metrics import perceptual
from tfpc.metrics.libvmaf import VmafError, vmaf, vmaf_tf

_TF_METRICS = {"psnr": fullref.psnr, "ssim": fullref.ssim,
               "msssim": fullref.msssim,
               **{name: functools.partial(perceptual.distance, name)
                  for name in perceptual.METRICS}}
# libvmaf models by metric name; "vmaf_neg" (no enhancement gain) discounts
# what sharpening adds to VMAF.
_VMAF_MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
NAMES = ("psnr", "ssim", "msssim") + tuple(_VMAF_MODELS) + perceptual.METRICS
LOWER_IS_BETTER = frozenset(perceptual.METRICS)


def compute(name, reference, distorted):
  """Scores of `distorted` against `reference` under metric `name`."""
  if name not in NAMES:
    raise ValueError(f"unknown metric {name!r}; known: {sorted(NAMES)}")
  reference, distorted = np.asarray(reference), np.asarray(distorted)
  for x in (reference, distorted):
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
      raise TypeError(f"images must be uint8 or float arrays, got {x.dtype}")
  if reference.shape != distorted.shape:
    raise ValueError(
        f"shape mismatch: {reference.shape} vs {distorted.shape}")
  single = reference.ndim == 3
  if single:
    reference, distorted = reference[None], distorted[None]
  if reference.ndim != 4 or reference.shape[-1] != 3:
    raise ValueError(f"expected [N, H, W, 3] images, got {reference.shape}")
  if name in _VMAF_MODELS:
    scores = vmaf(np.clip(np.round(reference), 0, 255).astype(np.uint8),
                  np.clip(np.round(distorted), 0, 255).astype(np.uint8),
                  model=_VMAF_MODELS[name])
    return scores[0] if single else scores
  scores = _TF_METRICS[name](reference.astype(np.float32),
                             distorted.astype(np.float32)).numpy()
  scores = scores.astype(np.float64)
  return scores[0] if single else scores


def score_tf(name, reference, distorted):
  """True scores [N] of float batches in [0, 255] inside a TF graph.

  Both batches are rounded and clipped to uint8 values first, as coded images
  are, and the result carries no gradient. `vmaf` runs libvmaf on the host
  CPU (see `vmaf_tf`); the others are the TF implementations.
  """
  if name not in NAMES:
    raise ValueError(f"unknown metric {name!r}; known: {sorted(NAMES)}")
  if name in _VMAF_MODELS:
    return vmaf_tf(reference, distorted, model=_VMAF_MODELS[name])
  as_coded = lambda x: tf.clip_by_value(tf.round(tf.stop_gradient(x)), 0, 255)
  return tf.stop_gradient(
      _TF_METRICS[name](as_coded(reference), as_coded(distorted)))
