"""VMAF in TF ops: libvmaf's scores on stills, differentiable, in the graph.

Follows the features that libvmaf's default models read (its integer
implementation, `integer_vif.c` and `integer_adm.c`) on the luma plane that
the ffmpeg bridge (`tfpc.metrics.libvmaf`) gives libvmaf, with motion zero
as the bridge forces for stills:

* Luma: swscale's integer RGB -> Y (limited range 16-235, BT.601 or BT.709),
  bit-exact; the input is first clipped to [0, 255] and rounded, as coded
  images are.
* VIF at four scales: Gaussian windows of 17, 9, 5 and 3 taps (libvmaf's
  integer tables), mirrored borders, the local means rounded to 1/256 of a
  grey level after the vertical pass and the decimated images after each
  pass, as libvmaf's 16-bit pipeline does; noise variance 2, the
  enhancement-gain limit of the model (100, or 1 for the NEG model).
* ADM at four scales: Daubechies-2 DWT with libvmaf's integer taps and its
  border indices (mirrored at the top/left, repeated at the bottom/right),
  the scale-0 bands rounded as libvmaf's int16 bands; decoupling into
  restored and additive parts (1-degree angle test, enhancement-gain limit),
  Watson's contrast sensitivity per scale and orientation, contrast masking
  by the 3 x 3 neighbourhood of the additive part, a cube-root pooling over
  the frame minus a 10% border, plus the noise floor.
* The model: features rescaled linearly, nu-SVR with an RBF kernel read from
  Netflix's model files (`tfpc/shipped_weights/vmaf_v0.6.1*.json`, data under
  BSD-2-Clause-Patent, `LICENSE.vmaf`), the prediction rescaled and clipped to
  [0, 100].

Rounding steps run in the forward pass and pass gradients straight through;
comparisons, `max`, `abs` and clips pass the gradient of the branch taken
(docs/vmaf_graph.md).
"""

import functools
import json
import math
import os

import numpy as np
import tensorflow as tf

MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg")
_WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        "shipped_weights")

# libvmaf's integer VIF windows (Q16) per scale.
_VIF_TAPS = (
    (489, 935, 1640, 2640, 3896, 5274, 6547, 7455, 7784, 7455, 6547, 5274,
     3896, 2640, 1640, 935, 489),
    (1244, 3663, 7925, 12590, 14692, 12590, 7925, 3663, 1244),
    (3571, 16004, 26386, 16004, 3571),
    (10904, 43728, 10904))
_VIF_NOISE = 2.0  # sigma_nsq, in grey levels squared
_VIF_STEP = 1.0 / 256  # libvmaf's 16-bit VIF planes hold 1/256 grey levels
_CENTRE = 128.0  # levels are centred: smaller squares, float32 keeps digits

# libvmaf's integer Daubechies-2 taps (Q15).
_DWT_LO = (15826, 27411, 7345, -4240)
_DWT_HI = (-4240, -7345, 27411, -15826)
_ADM_BORDER = 0.1
_ADM_NOISE_WEIGHT = 0.03125
# Scale 0's numerator uses libvmaf's fixed-point CSF factors (h, v; d).
_ADM_SCALE0_CSF = (36453 / 2**21, 49417 / 2**23)

# swscale's RGB -> Y for limited range: Q15 weights of R, G, B.
_LUMA_WEIGHTS = {"bt601": (8414, 16519, 3208), "bt709": (5983, 20127, 2032)}


def luma(rgb, matrix="bt601", exact=True):
  """Y of float RGB [N, H, W, 3] in [0, 255], as the bridge gives libvmaf.

  swscale's integer path, bit-exact: the Q15 weighted sum is rounded to
  1/64 of a level, then to a level. Returns [N, H, W] float32 integers in
  16-235, with the gradient of the unrounded weighted sum (its value when
  not `exact`).
  """
  if matrix not in _LUMA_WEIGHTS:
    raise ValueError(f"unknown matrix {matrix!r}; known: "
                     f"{sorted(_LUMA_WEIGHTS)}")
  weights = np.float32(_LUMA_WEIGHTS[matrix])

  # Forward only the exact value; backward, the gradient of the unrounded
  # weighted sum: weights / 2^15 inside [0, 255] and on its bounds, 0 outside.
  @tf.custom_gradient
  def y_of(rgb):
    clipped = tf.clip_by_value(rgb, 0.0, 255.0)
    if exact:
      weighted = tf.tensordot(tf.floor(clipped + 0.5), weights, 1)  # < 2^24
      sixty_fourths = tf.floor((weighted + (16 * 2**15 + 256)) / 512)
      y = tf.floor((sixty_fourths + 32) / 64)
    else:
      y = tf.tensordot(clipped, weights / 2**15, 1) + 16

    def gradient(dy):
      inside = (rgb >= 0) & (rgb <= 255)
      return tf.where(inside, dy[..., None] * (weights / 2**15), 0.0)

    return y, gradient

  return y_of(tf.cast(rgb, tf.float32))


def _mirrored(index, size):
  """libvmaf's VIF borders: mirrored around the edge samples."""
  if index < 0:
    return -index
  return 2 * (size - 1) - index if index >= size else index


def _adm_border(index, size):
  """libvmaf's ADM borders: mirrored before the first sample, mirrored with
  the edge repeated after the last (x[n] = x[n-1], x[n+1] = x[n-2])."""
  if index < 0:
    return -index
  return 2 * size - 1 - index if index >= size else index


@functools.lru_cache(maxsize=None)
def _filter_matrix(size, filters, stride, border, count):
  """[len(filters) x count, size] matrix: for each filter (a tuple of taps),
  count rows of sum_k taps[k] x[stride i - (len - 1) // 2 + k] (odd taps
  centred; the 4-tap DWT starts one sample before) with `border` folding
  indices outside the signal back in."""
  matrix = np.zeros((len(filters), count, size))
  for f, taps in enumerate(filters):
    for i in range(count):
      for k, tap in enumerate(taps):
        matrix[f, i, border(stride * i - (len(taps) - 1) // 2 + k, size)] += tap
  return matrix.reshape(-1, size)


def _matrix(size, filters, stride=1, border=_mirrored, count=None):
  """`_filter_matrix` of a signal of `size`, `count` default all outputs."""
  count = -(-size // stride) if count is None else count
  return _filter_matrix(size, tuple(map(tuple, filters)), stride, border,
                        count)


def _apply(x, matrix, axis):
  """matrix [M, size] applied along `axis` (0 or -1) of x [H, ..., W]."""
  if axis == 0:
    return tf.tensordot(tf.constant(matrix, tf.float32), x, 1)
  return tf.tensordot(x, tf.constant(matrix.T, tf.float32), 1)


def _filter(x, filters, axis, **placement):
  """Filters planes [H, ..., W] along `axis` (0: rows, -1: columns) with each
  of `filters` (tuples of taps), their outputs concatenated along `axis`;
  every `stride`-th output kept (`count` per filter, default all).

  A banded matrix product, which folds in borders and subsampling: with the
  planes' rows outermost and columns innermost, both passes are one 2-D
  matrix product over every plane at once (faster on CPU than TF's or
  XLA's depthwise convolutions or shifted-slice sums, docs/vmaf_graph.md).
  """
  return _apply(x, _matrix(x.shape[axis], filters, **placement), axis)


def _filter_rounded(x, filters, unit, step, axis, integer=False,
                    residual=False, **placement):
  """round_half_up(sum_k taps[k] x_k / unit, step), as libvmaf's integer
  passes compute it, exact in float32 whatever the summation order.

  For x a multiple of 1/256 below 256 in magnitude, integer taps and unit x
  step (the divisor) a power of two: unless x is `integer` (its sum is
  exact), its integer and fractional parts are filtered apart (each sum is
  exact); the integer part's remainder by the divisor plus the fractional
  part's sum is exact too for libvmaf's taps (below 2^16 in magnitude, in
  steps of 1/256 at least), and is rounded.

  Returns the rounded value (with the gradient of the unrounded one: the
  transposed filter) and, if `residual`, the rounding residual (value -
  rounded, no gradient), else None; for step None, the unrounded value.
  """
  matrix = _matrix(x.shape[axis], filters, **placement)
  if step is None:
    return _apply(x, matrix / unit, axis), None
  divisor = unit * step

  @tf.custom_gradient
  def rounded_filter(x):
    if integer:
      quotient, remainder = 0.0, _apply(x, matrix, axis)
    else:
      whole = tf.floor(x)
      whole_sum = _apply(whole, matrix, axis)
      quotient = tf.floor(whole_sum * (1 / divisor))
      remainder = (whole_sum - quotient * divisor +
                   _apply(x - whole, matrix, axis))
    carry = tf.floor(remainder * (1 / divisor) + 0.5)
    outputs = [(quotient + carry) * step]
    if residual:
      outputs.append((remainder - carry * divisor) * (1 / unit))
    return outputs, lambda dy, *_: _apply(dy, matrix.T / unit, axis)

  outputs = rounded_filter(x)
  return outputs[0], tf.stop_gradient(outputs[1]) if residual else None


def _window(x, taps, axis):
  """VIF's Gaussian window (Q16 taps) along one axis, mirrored borders."""
  return _filter(x, [[t / 65536 for t in taps]], axis)


def _frame_sum(x):
  """Sums of planes [..., H, N, W] per image: [..., N]. Rows first, then
  their sums: one reduction over both axes sums rows in sequence, which
  costs float32 digits on large frames (1e-5 of VIF at 768 x 512)."""
  return tf.reduce_sum(tf.reduce_sum(x, -1), -2)


def _planes(ref_y, dis_y):
  """Y planes [N, H, W] as the filters' layout [H, 2, N, W], levels - 128."""
  return tf.transpose(tf.stack([ref_y, dis_y]), [2, 0, 1, 3]) - _CENTRE


def _vif_decimate(x, taps, exact, integer):
  """libvmaf's VIF subsampling: filter (each pass rounded if `exact`), every
  2nd pixel (an odd side's last one dropped)."""
  step = _VIF_STEP if exact else None
  for axis in (0, -1):
    x, _ = _filter_rounded(x, [taps], 65536, step, axis, integer and axis == 0,
                           stride=2, count=x.shape[axis] // 2)
  return x


def _vif_terms(planes, taps, gain_limit, exact, integer):
  """Per-image VIF numerator and denominator at one scale ([N] each) of
  reference and distorted planes [H, 2, N, W] (`integer`: of integers)."""
  ref, dis = tf.unstack(planes, axis=1)
  moments = _window(tf.stack([ref * ref, dis * dis, ref * dis], 1), taps, 0)
  means, residuals = _filter_rounded(planes, [taps], 65536,
                                     _VIF_STEP if exact else None, 0, integer,
                                     residual=True)
  if residuals is not None:
    # libvmaf rounds the means of the uncentred levels: its (co)variances
    # exceed the centred ones by 2 x 128 x the filtered rounding residual.
    residual1, residual2 = tf.unstack(residuals, axis=1)
    moments += _CENTRE * tf.stack(
        [2 * residual1, 2 * residual2, residual1 + residual2], 1)
  filtered = _window(tf.concat([means, moments], 1), taps, -1)
  mu1, mu2, xx, yy, xy = tf.unstack(filtered, axis=1)
  sigma1 = xx - mu1 * mu1
  sigma2 = tf.maximum(yy - mu2 * mu2, 0.0)
  sigma12 = xy - mu1 * mu2
  informative = sigma1 >= _VIF_NOISE
  # Safe operands where a branch is not taken keep its gradient finite.
  safe_sigma1 = tf.where(informative, sigma1, _VIF_NOISE)
  gain = sigma12 / (safe_sigma1 + 1e-10)
  residual = tf.maximum(sigma2 - gain * sigma12, 0.0)
  gain = tf.minimum(gain, gain_limit)
  log2 = lambda z: tf.math.log(z) / math.log(2.0)
  kept = log2(1.0 + gain * gain * safe_sigma1 / (residual + _VIF_NOISE))
  kept = tf.where((sigma12 > 0) & (sigma2 > 0), kept, 0.0)
  num = tf.where(informative, kept, 1.0 - sigma2 * (4.0 / 255**2))
  den = tf.where(informative, log2(1.0 + safe_sigma1 / _VIF_NOISE), 1.0)
  return _frame_sum(num), _frame_sum(den)


def vif_scales(ref_y, dis_y, gain_limit=100.0, exact=True):
  """VIF at scales 0-3 of Y planes [N, H, W] (integers if `exact`, as
  `luma` gives): list of 4 [N] scores (without libvmaf's roundings unless
  `exact`)."""
  planes = _planes(ref_y, dis_y)
  scores = []
  for scale, taps in enumerate(_VIF_TAPS):
    with tf.name_scope(f"vif_scale{scale}"):  # named for profiles
      if scale:
        planes = _vif_decimate(planes, taps, exact, integer=scale == 1)
      num, den = _vif_terms(planes, taps, gain_limit, exact, scale == 0)
      scores.append(num / den)
  return scores


def _dwt(x, rounded):
  """One DWT level of planes [H, ..., W]: [2 ceil(H/2), ..., 2 ceil(W/2)],
  the bands a, v (top left, right), h, d (bottom left, right); `rounded` as
  libvmaf's int16 bands of scale 0 (of integer planes)."""
  dwt = lambda x, axis, step: _filter_rounded(
      x, [_DWT_LO, _DWT_HI], 2**15, step if rounded else None, axis,
      integer=axis == 0, stride=2, border=_adm_border)[0]
  return dwt(dwt(x, 0, 1 / 128), -1, 1 / 64)


def _decouple(ref_bands, dis_bands, gain_limit):
  """Restored and additive parts of the distorted v, h, d bands [3, ...]."""
  o, t = ref_bands, dis_bands
  dot = o[0] * t[0] + o[1] * t[1]
  parallel = (dot >= 0) & (dot * dot >= math.cos(math.radians(1.0))**2 *
                           (o[0] * o[0] + o[1] * o[1]) *
                           (t[0] * t[0] + t[1] * t[1]))
  zero = tf.equal(o, 0.0)
  ratio = tf.clip_by_value(t / tf.where(zero, 1.0, o), 0.0, 1.0)
  r = tf.where(zero, 0.0, ratio * o)
  enhanced = tf.where(r > 0, tf.minimum(r * gain_limit, t),
                      tf.maximum(r * gain_limit, t))
  restored = tf.where(parallel & tf.not_equal(r, 0.0), enhanced, r)
  return restored, t - restored


@functools.lru_cache(maxsize=None)
def _csf_factors(scale):
  """Watson et al.'s 1/quantization step at `scale` for h/v and d bands,
  as libvmaf computes it (3 picture heights from a 1080-line display)."""
  a, k, f0, g = 0.495, 0.466, 0.401, (1.501, 1.0, 0.534, 1.0)
  amplitudes = ((0.62171, 0.67234, 0.72709, 0.67234),
                (0.34537, 0.41317, 0.49428, 0.41317),
                (0.18004, 0.22727, 0.28688, 0.22727),
                (0.091401, 0.11792, 0.15214, 0.11792))
  resolution = np.float32(3.0 * 1080 * math.pi / 180.0)
  factors = []
  for theta in (1, 2):
    temp = np.float32(math.log10(2.0**(scale + 1) * f0 * g[theta] /
                                 float(resolution)))
    step = np.float32(2.0 * a * 10.0**(k * float(temp)**2) /
                      amplitudes[scale][theta])
    factors.append(float(np.float32(1.0) / step))
  return factors[0], factors[0], factors[1]


def _border(size):
  """First index kept by ADM's pooling (libvmaf truncates toward zero)."""
  return int(size * _ADM_BORDER - 0.5)


def _cube_root(x):
  """x^(1/3) for x >= 0 with a zero (not infinite) gradient at 0."""
  positive = x > 0
  return tf.where(positive, tf.pow(tf.where(positive, x, 1.0), 1.0 / 3), 0.0)


def _adm_terms(ref_bands, dis_bands, scale, gain_limit):
  """ADM numerator and denominator at one scale ([N] each) of the v, h, d
  bands [3, H, N, W]."""
  restored, additive = _decouple(ref_bands, dis_bands, gain_limit)
  factors = np.reshape(_csf_factors(scale), [3, 1, 1, 1]).astype(np.float32)
  num_factors = (factors if scale else np.reshape(
      (_ADM_SCALE0_CSF[0],) * 2 + (_ADM_SCALE0_CSF[1],), [3, 1, 1, 1]).astype(
          np.float32))
  # Summed over orientations, then 3 x 3.
  masking = tf.reduce_sum(tf.abs(factors * additive), 0)
  box = _filter(_filter(masking, [(1, 1, 1)], 0, border=_adm_border),
                [(1, 1, 1)], -1, border=_adm_border)
  threshold = (box + masking) / 30  # neighbours 1/30, centre 1/15
  height, width = masking.shape[0], masking.shape[-1]
  top, left = _border(height), _border(width)
  inside = np.zeros([1, height, 1, width], np.float32)  # a mask: a product's
  inside[:, top:height - top, :, left:width - left] = 1  # gradient is cheap
  pooled = lambda x: _cube_root(_frame_sum(x * x * x * inside))
  noise = (_ADM_NOISE_WEIGHT * (height - 2 * top) * (width - 2 * left))**(1 / 3)
  excess = tf.maximum(tf.abs(num_factors * restored) - threshold, 0.0)
  num = tf.reduce_sum(pooled(excess), 0) + 3 * noise
  den = tf.reduce_sum(pooled(tf.abs(factors * ref_bands)), 0) + 3 * noise
  return num, den


def adm_scales(ref_y, dis_y, gain_limit=100.0, exact=True):
  """ADM of Y planes [N, H, W] (integers if `exact`, as `luma` gives):
  (adm2 [N], list of 4 [N] scale scores), without libvmaf's roundings
  unless `exact`."""
  planes = _planes(ref_y, dis_y)
  height, width = planes.shape[0], planes.shape[-1]
  if height is None or width is None:
    raise ValueError("VMAF in TF ops needs image sizes known when the graph "
                     "is built (ADM's pooling borders depend on them)")
  nums, dens = [], []
  for scale in range(4):
    with tf.name_scope(f"adm_scale{scale}"):
      # Split, not sliced: a split's gradient is a concatenation.
      top, bottom = tf.split(_dwt(planes, exact and scale == 0), 2, axis=0)
      (planes, v), (h, d) = (tf.split(half, 2, axis=-1)
                             for half in (top, bottom))
      ref_bands, dis_bands = tf.unstack(tf.stack([v, h, d]), axis=2)
      num, den = _adm_terms(ref_bands, dis_bands, scale, gain_limit)
      nums.append(num)
      dens.append(den)
  return tf.add_n(nums) / tf.add_n(dens), [n / d for n, d in zip(nums, dens)]


class VmafModel:
  """A libvmaf SVR model file: feature names, rescaling, support vectors."""

  def __init__(self, name):
    if name not in MODELS:
      raise ValueError(f"unknown VMAF model {name!r}; known: {MODELS}")
    with open(os.path.join(_WEIGHTS, f"{name}.json")) as f:
      model = json.load(f)["model_dict"]
    self.name = name
    self.features = model["feature_names"]
    self.slopes = np.asarray(model["slopes"], np.float64)
    self.intercepts = np.asarray(model["intercepts"], np.float64)
    self.clip = model.get("score_clip")
    options = model.get("feature_opts_dicts", [{}] * len(self.features))
    limits = {k: v for opts in options for k, v in opts.items()}
    self.adm_gain_limit = limits.get("adm_enhn_gain_limit", 100.0)
    self.vif_gain_limit = limits.get("vif_enhn_gain_limit", 100.0)
    self._read_svm(model["model"])

  def _read_svm(self, text):
    lines = text.strip().splitlines()
    header = dict(line.split(" ", 1) for line in lines[:lines.index("SV")])
    if (header["svm_type"], header["kernel_type"]) != ("nu_svr", "rbf"):
      raise ValueError(f"{self.name}: not an RBF nu-SVR model")
    self.gamma, self.rho = float(header["gamma"]), float(header["rho"])
    coefficients, vectors = [], []
    for line in lines[lines.index("SV") + 1:]:
      coefficient, *entries = line.split()
      vector = np.zeros(len(self.features))
      for entry in entries:
        index, value = entry.split(":")
        vector[int(index) - 1] = float(value)
      coefficients.append(float(coefficient))
      vectors.append(vector)
    self.coefficients = np.asarray(coefficients)
    self.vectors = np.asarray(vectors)

  def predict(self, features):
    """Scores [N] from `features` (a dict as `features` returns). In float64:
    the kernel sum cancels to a few units, which the output scale (1 /
    slope, about 83) would magnify float32's rounding of."""
    normalized = tf.stack(
        [self.slopes[i + 1] * tf.cast(features[_log_name(name)], tf.float64) +
         self.intercepts[i + 1] for i, name in enumerate(self.features)], -1)
    distances = tf.reduce_sum(tf.math.squared_difference(
        normalized[:, None], tf.constant(self.vectors)[None]), -1)
    prediction = tf.reduce_sum(
        tf.exp(-self.gamma * distances) * self.coefficients, -1) - self.rho
    score = (prediction - self.intercepts[0]) / self.slopes[0]
    if self.clip is not None:
      score = tf.clip_by_value(score, *self.clip)
    return tf.cast(score, tf.float32)


def _log_name(model_feature):
  """'VMAF_integer_feature_vif_scale0_score' -> 'integer_vif_scale0'."""
  return model_feature.replace("VMAF_integer_feature_", "integer_").replace(
      "_score", "")


@functools.lru_cache(maxsize=None)
def model(name):
  """The parsed `VmafModel` called `name` (read once)."""
  return VmafModel(name)


def features(reference, distorted, model_name="vmaf_v0.6.1", matrix="bt601",
             exact=True):
  """Features of float RGB [N, H, W, 3] in [0, 255] as [N] float32 tensors,
  keyed by the names of libvmaf's log (without the NEG model's '_egl_1'):
  integer_adm2, integer_adm_scale0-3, integer_vif_scale0-3 and
  integer_motion2 (0 for stills), with the gain limits of `model_name`.
  Not `exact`: without libvmaf's roundings (inputs included), the smooth
  function whose gradient the rounding steps pass."""
  vmaf_model = model(model_name)
  with tf.name_scope("luma"):
    ref_y = luma(reference, matrix, exact)
    dis_y = luma(distorted, matrix, exact)
  adm2, adm = adm_scales(ref_y, dis_y, vmaf_model.adm_gain_limit, exact)
  vif = vif_scales(ref_y, dis_y, vmaf_model.vif_gain_limit, exact)
  values = {"integer_adm2": adm2, "integer_motion2": tf.zeros_like(adm2)}
  for scale in range(4):
    values[f"integer_adm_scale{scale}"] = adm[scale]
    values[f"integer_vif_scale{scale}"] = vif[scale]
  return values


def vmaf(reference, distorted, model_name="vmaf_v0.6.1", matrix="bt601",
         exact=True):
  """VMAF [N] of float RGB [N, H, W, 3] in [0, 255], differentiable (see
  `features` for `exact`)."""
  values = features(reference, distorted, model_name, matrix, exact)
  with tf.name_scope("svr"):
    return model(model_name).predict(values)


# XLA fuses the element-wise work between the matrix products: faster than
# plain graph mode (docs/vmaf_graph.md), after a compilation per image shape.
vmaf_compiled = tf.function(vmaf, jit_compile=True)
