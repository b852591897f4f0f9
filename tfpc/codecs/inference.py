"""Fast inference versions of the Keras transforms.

tfc's up-sampling `SignalConv2D`s run as transposed convolutions, which TF is
slow at on CPUs. `fast_path` turns a transform into a function that computes
the same values: correlations run the same TF ops as tfc's layers, GDN tfc's
ops (tfpc's GDN layer takes its pool by a matrix product: same values up to
float rounding), and a stride-s up-sampling convolution runs as
correlations of the low-resolution input, one per output phase with only the
kernel taps that phase uses (or one for all phases when they have few output
channels), interleaved by depth-to-space (same results up to float rounding).
Layers it does not know are called as they are.

The functions read the layers' variables on every call, so they follow the
weights and a SavedModel stores each weight once. A kernel kept as tfc's RDFT
parameters is computed from them by one matrix product (the inverse DFT is
linear) instead of tfc's batched `irfft2d`, which costs about 7 ms per 64x64
layer on a CPU; the phase kernels are gathered from it. Kernels thus equal
tfc's up to float rounding. tfpc's own layers (`transforms.SignalConv2D`)
compute this way in training too (`signal_conv`).
"""

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


def fast_path(layer):
  """`layer` (a Keras layer or `Sequential`) as an inference function of x."""
  if isinstance(layer, tf.keras.Sequential):
    steps = [fast_path(sublayer) for sublayer in layer.layers]

    def apply(x):
      for step in steps:
        x = step(x)
      return x

    return apply
  if isinstance(layer, tfc.SignalConv2D) and plain(layer):
    linear, activation = signal_conv(layer), _activation(layer)
    return lambda x: activation(linear(x))
  if (isinstance(layer, tfc.GDN) and layer.data_format == "channels_last" and
      not callable(layer.alpha_parameter) and
      not callable(layer.epsilon_parameter)):
    return _gdn(layer)
  return layer


def plain(layer):
  """Whether `signal_conv` covers this SignalConv2D's configuration."""
  up, down = set(layer.strides_up), set(layer.strides_down)
  return (layer.data_format == "channels_last" and
          not layer.channel_separable and layer.padding == "same_zeros" and
          layer.use_explicit and layer.extra_pad_end and
          all(k % 2 for k in layer.kernel_support) and
          len(up) == 1 and (down == {1} or up == {1}))


def _activation(layer):
  activation = layer.activation
  if isinstance(activation, tf.keras.layers.Layer):
    return fast_path(activation)
  return activation or (lambda x: x)


# Below this many output channels per phase, one correlation computing all
# phases (zero taps included) beats one correlation per phase: measured on
# the 64-to-3 last layer of the synthesis, 26 ms against 73 ms on a Kodak
# image, while 64-to-64 layers run faster phase by phase (75 against 110 ms).
_MIN_CHANNELS_PER_PHASE = 16


def signal_conv(layer):
  """A SignalConv2D without its activation, as correlations and bias."""
  stride = layer.strides_up[0]
  # Correlating with a kernel flipped in space is convolving (as tfc does).
  corr = stride == 1
  flip = layer.corr == (stride > 1)
  kh, kw = layer.kernel_support
  if corr:
    pads = [[(kh // 2, kh // 2), (kw // 2, kw // 2)]]
    taps = None
  else:
    rows, cols = _phase_taps(kh, stride), _phase_taps(kw, stride)
    if layer.filters < _MIN_CHANNELS_PER_PHASE:
      phases = [_phase_indices(rows, cols, (kh, kw))]
    else:
      phases = [_phase_indices([r], [c], (kh, kw)) for r in rows for c in cols]
    taps = [indices for indices, _ in phases]
    pads = [p for _, p in phases]
  strides = layer.strides_down if corr else (1, 1)

  kernel_of = _kernel_function(layer)

  def apply(x):
    kernel = kernel_of()  # [kh, kw, in, out]
    if flip:
      kernel = kernel[::-1, ::-1]
    kernels = [kernel] if taps is None else [
        _gather_phases(kernel, indices) for indices in taps]
    outputs = [_correlate(x, k, strides, p) for k, p in zip(kernels, pads)]
    x = outputs[0] if len(outputs) == 1 else tf.concat(outputs, axis=-1)
    if not corr:
      x = tf.nn.depth_to_space(x, stride)
    if layer.use_bias:
      x = tf.nn.bias_add(x, layer.bias)
    return x

  return apply


def _correlate(x, kernel, strides, pads):
  """`tf.nn.conv2d` of x zero-padded by `pads` ((top, bottom), (left,
  right)), in a form whose gradients have oneDNN kernels (with explicit
  padding TF's falls back to its slower generic ones): TF's "SAME" where it
  pads alike, else a pad and "VALID"."""
  same = [((k - 1) // 2, k // 2) for k in kernel.shape[:2]]
  if tuple(strides) == (1, 1) and [tuple(p) for p in pads] == same:
    return tf.nn.conv2d(x, kernel, 1, "SAME")
  return tf.nn.conv2d(tf.pad(x, [(0, 0), *pads, (0, 0)]), kernel, strides,
                      "VALID")


def _kernel_function(layer):
  """A function computing the layer's kernel [kh, kw, in, out]."""
  parameter = layer.kernel_parameter
  if not (isinstance(parameter, tfc.RDFTParameter) and
          parameter.shape.rank == 4 and parameter.dtype == tf.float32):
    return lambda: layer.kernel
  # The kernel as a linear function of the real and imaginary parts, each
  # [in, out, kh, kw // 2 + 1]: its values on the unit vectors.
  kh, kw = parameter.shape[:2]
  width = kw // 2 + 1
  with tf.init_scope():  # constants, also when first called in a graph
    units = tf.reshape(tf.eye(kh * width), (-1, kh, width))
    norm = tf.cast(kh * kw, tf.complex64) ** .5
    real_basis, imag_basis = (
        tf.reshape(tf.signal.irfft2d(tf.complex(real, imag) * norm, (kh, kw)),
                   (kh, width, kh, kw)).numpy()
        for real, imag in ((units, 0 * units), (0 * units, units)))

  def kernel():
    return (tf.einsum("ioab,abxy->xyio", parameter.real, real_basis) +
            tf.einsum("ioab,abxy->xyio", parameter.imag, imag_basis))

  return kernel


def _phase_taps(size, stride):
  """For each output phase of an up-sampling convolution along one axis, the
  kernel tap that each input offset uses.

  tfc computes output sample s*m + p (phase p) of an up-sampling convolution
  with "same" padding as the sum over offsets a of x[m + a] *
  kernel[p + size // 2 - s*a], over the taps that exist. Returns, for
  p = 0..s-1, a dict {a: tap index}.
  """
  center = size // 2
  return [{a: p + center - stride * a
           for a in range(-((size - 1 - p - center) // stride),
                          (p + center) // stride + 1)}
          for p in range(stride)]


def _phase_indices(row_phases, col_phases, kernel_shape):
  """Where the kernel of one correlation computing the given phases of an
  up-sampling convolution takes its taps, and its padding.

  Returns the tap index (row * kernel width + column; kernel height * width:
  no tap, a zero) of every [row offset, column offset, row phase, column
  phase] of the correlation's kernel, whose output channels are in
  depth-to-space order.
  """
  kernel_height, kernel_width = kernel_shape
  row_offsets = sorted(set().union(*row_phases))
  col_offsets = sorted(set().union(*col_phases))
  indices = np.full((len(row_offsets), len(col_offsets), len(row_phases),
                     len(col_phases)), kernel_height * kernel_width, np.int32)
  for i, a in enumerate(row_offsets):
    for j, b in enumerate(col_offsets):
      for p, row_taps in enumerate(row_phases):
        for q, col_taps in enumerate(col_phases):
          if a in row_taps and b in col_taps:
            indices[i, j, p, q] = row_taps[a] * kernel_width + col_taps[b]
  pads = [(-row_offsets[0], row_offsets[-1]),
          (-col_offsets[0], col_offsets[-1])]
  return indices, pads


def _gather_phases(kernel, indices):
  """The phase correlation's kernel [rows, cols, in, phases * out] made of
  `kernel`'s taps at `indices` (see `_phase_indices`)."""
  kh, kw, channels_in, channels_out = kernel.shape
  taps = tf.reshape(kernel, (kh * kw, channels_in, channels_out))
  taps = tf.concat([taps, tf.zeros_like(taps[:1])], axis=0)  # index kh * kw
  phases = tf.gather(taps, indices)  # [I, J, P, Q, in, out]
  rows, cols = indices.shape[:2]
  phases = tf.transpose(phases, (0, 1, 4, 2, 3, 5))
  return tf.reshape(phases, (rows, cols, channels_in, -1))


def _gdn(layer):
  """A GDN/IGDN with fixed alpha and epsilon (the ops of tfc's GDN)."""
  alpha, epsilon = float(layer.alpha), float(layer.epsilon)

  def apply(x):
    beta, gamma = layer.beta, layer.gamma[None, None]
    if layer.rectify:
      x = tf.nn.relu(x)
    pool = abs(x) if alpha == 1 else tf.math.square(x) if alpha == 2 else (
        x ** alpha)
    pool = tf.nn.bias_add(tf.nn.convolution(pool, gamma, padding="VALID"),
                          beta)
    if epsilon == .5:
      pool = tf.math.sqrt(pool)
    elif epsilon != 1:
      pool **= epsilon
    return x * pool if layer.inverse else x / pool

  return apply
