"""Full-reference quality metrics: one registry, `METRICS`, name -> `Metric`.

Everything that names a metric reads it from here: `compute` (numpy in),
`score_tf` (in a TF graph), `tfpc_eval` (which metrics, BD-rate direction,
plot labels) and the ProxIQA proxy (its 0-100 score scale). Adding a metric
is one `register` call.

`compute(name, reference, distorted)` takes uint8 or float arrays in [0, 255],
[H, W, 3] or [N, H, W, 3], and returns one float64 score per image ([N], or a
scalar for a single image). Qualities are higher-is-better; the learned
perceptual metrics `lpips`, `lpips_vgg` and `dists` are distances, as their
references return them (0 for identical images, lower is better), and need
converted backbone weights (`tfpc.weights`, `tfpc_weights`). `niqe` is blind
(no reference: it scores the distorted image alone, lower is better; images
of at least 96 x 96 pixels). `vmaf_graph` and `vmaf_neg_graph` are libvmaf's VMAF
and VMAF NEG written in TF ops (`vmaf_graph`): the same scores as `vmaf` and
`vmaf_neg` within 0.01 points, differentiable, no host round trip.
"""

import dataclasses
import functools
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfpc.metrics import fullref
from tfpc.metrics import niqe
from tfpc.metrics import perceptual
from tfpc.metrics import vmaf_graph
from tfpc.metrics.libvmaf import VmafError, vmaf, vmaf_tf
from tfpc.metrics.libvmaf import check_available as check_vmaf


@dataclasses.dataclass(frozen=True)
class Metric:
  """A full-reference metric.

  Attributes:
    name: registry key (flags, CSV columns, objective `<name>p`).
    tf_fn: (reference, distorted) float [N, H, W, 3] in [0, 255] -> [N].
    differentiable: whether `tf_fn` passes gradients (a training loss).
    higher_is_better: False for distances (LPIPS, DISTS).
    label: axis label of RD plots.
    proxy: (offset, scale) mapping a score to ProxIQA's 0-100 proxy scale
      (higher is better), or None when no proxy is trained for it.
    host_fn: numpy uint8 batches -> [N], when `compute` should not go
      through TF (libvmaf).
    prerequisites: raises a `TfpcError` that says what to install or get
      when the metric cannot run here (weights, ffmpeg's libvmaf); None:
      nothing to check.
  """
  name: str
  tf_fn: Callable
  differentiable: bool
  higher_is_better: bool
  label: str
  proxy: Optional[Tuple[float, float]] = None
  host_fn: Optional[Callable] = None
  prerequisites: Optional[Callable] = None

  @property
  def proxy_label(self):
    """Label of the proxy scale: 'VMAF', 'SSIM x 100', '100 - 100 x LPIPS'."""
    offset, scale = self.proxy
    short = self.label.split(" (")[0]
    term = short if abs(scale) == 1 else f"{abs(scale):g} x {short}"
    if not offset:
      return term if scale > 0 else f"-{term}"
    return f"{offset:g} {'-' if scale < 0 else '+'} {term}"


METRICS = {}


def register(metric):
  METRICS[metric.name] = metric
  return metric


register(Metric("psnr", fullref.psnr, True, True, "PSNR (dB, RGB)"))
register(Metric("psnr_y", fullref.psnr_y, True, True, "PSNR-Y (dB)"))
register(Metric("ssim", fullref.ssim, True, True, "SSIM", (0.0, 100.0)))
register(Metric("msssim", fullref.msssim, True, True, "MS-SSIM",
                (0.0, 100.0)))
# In dB, -10 log10(1 - score), 0-20 dB over useful rates: on the proxy scale
# (x 5) a coded patch's score spreads over 50-100 where 100 x SSIM crowds
# into 90-99.
register(Metric("ssim_db", fullref.ssim_db, True, True, "SSIM in dB",
                (0.0, 5.0)))
register(Metric("msssim_db", fullref.msssim_db, True, True, "MS-SSIM in dB",
                (0.0, 5.0)))
register(Metric("vmaf", vmaf_tf, False, True, "VMAF", (0.0, 1.0), vmaf,
                check_vmaf))
# VMAF NEG (no enhancement gain) discounts what sharpening adds to VMAF.
register(Metric("vmaf_neg", functools.partial(vmaf_tf, model="vmaf_v0.6.1neg"),
                False, True, "VMAF NEG", (0.0, 1.0),
                functools.partial(vmaf, model="vmaf_v0.6.1neg"), check_vmaf))
register(Metric("vmaf_graph", vmaf_graph.vmaf, True, True, "VMAF (TF ops)",
                (0.0, 1.0)))
register(Metric("vmaf_neg_graph", functools.partial(vmaf_graph.vmaf,
                                                 model_name="vmaf_v0.6.1neg"),
                True, True, "VMAF NEG (TF ops)", (0.0, 1.0)))
for _name, _label in (("lpips", "LPIPS, AlexNet (lower is better)"),
                      ("lpips_vgg", "LPIPS, VGG16 (lower is better)"),
                      ("dists", "DISTS (lower is better)")):
  register(Metric(_name, functools.partial(perceptual.distance, _name), True,
                  False, _label, (100.0, -100.0),
                  prerequisites=functools.partial(perceptual.check_weights,
                                                  _name)))
register(Metric("niqe", niqe.niqe_tf, False, False,
                "NIQE (no reference, lower is better)", None,
                niqe.host_score))


def get(name):
  """The registered `Metric` called `name` (ValueError if none)."""
  if name not in METRICS:
    raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
  return METRICS[name]


def check_prerequisites(names):
  """Raises the `TfpcError` of the first metric in `names` that cannot run
  here, with what to get or install."""
  for name in names:
    if get(name).prerequisites is not None:
      get(name).prerequisites()


def proxy_metrics():
  """Names of the metrics a ProxIQA proxy can stand for."""
  return tuple(name for name, m in METRICS.items() if m.proxy is not None)


def compute(name, reference, distorted):
  """Scores of `distorted` against `reference` under metric `name`."""
  metric = get(name)
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
  if metric.host_fn is not None:
    as_uint8 = lambda x: np.clip(np.round(x), 0, 255).astype(np.uint8)
    scores = np.asarray(metric.host_fn(as_uint8(reference),
                                       as_uint8(distorted)), np.float64)
  else:
    scores = metric.tf_fn(reference.astype(np.float32),
                          distorted.astype(np.float32)).numpy()
    scores = scores.astype(np.float64)
  return scores[0] if single else scores


def score_tf(name, reference, distorted):
  """True scores [N] of float batches in [0, 255] inside a TF graph.

  Both batches are rounded and clipped to uint8 values first, as coded images
  are, and the result carries no gradient (host metrics such as `vmaf` run
  on the host CPU, see `vmaf_tf`).
  """
  as_coded = lambda x: tf.clip_by_value(tf.round(tf.stop_gradient(x)), 0, 255)
  return tf.stop_gradient(
      get(name).tf_fn(as_coded(reference), as_coded(distorted)))


def proxy_score_tf(name, reference, distorted):
  """`score_tf` on the metric's 0-100 proxy scale."""
  offset, scale = get(name).proxy
  return offset + scale * score_tf(name, reference, distorted)


def to_proxy_scale(name, scores):
  """Scores (numpy) on the metric's 0-100 proxy scale."""
  offset, scale = get(name).proxy
  return offset + scale * np.asarray(scores)
