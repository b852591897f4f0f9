"""Inference versions of the Keras transforms, with their weights computed once.

On every call, tfc's `SignalConv2D` recomputes its kernel from its RDFT
parameterisation and `GDN` its beta and gamma, and up-sampling convolutions run
as transposed convolutions, which TF is slow at on CPUs. `freeze` turns a
transform into a function that computes the same values from constants taken
from the layers once: correlations and GDN run the same TF ops as the layers
(same results, bit for bit), and a stride-s up-sampling convolution runs as
correlations of the low-resolution input, one per output phase with only the
kernel taps that phase uses (or one for all phases when they have few output
channels), interleaved by depth-to-space (same results up to float
rounding). Layers it does not know are called as they are.

Training keeps the Keras layers; a frozen function does not follow later
changes to the weights.
"""

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


def freeze(layer):
  """`layer` (a Keras layer or `Sequential`) as an inference function of x."""
  if isinstance(layer, tf.keras.Sequential):
    steps = [freeze(sublayer) for sublayer in layer.layers]

    def apply(x):
      for step in steps:
        x = step(x)
      return x

    return apply
  if isinstance(layer, tfc.SignalConv2D) and _plain(layer):
    return _signal_conv(layer)
  if (isinstance(layer, tfc.GDN) and layer.data_format == "channels_last" and
      not callable(layer.alpha_parameter) and
      not callable(layer.epsilon_parameter)):
    return _gdn(layer)
  return layer


def _plain(layer):
  """Whether `_signal_conv` covers this SignalConv2D's configuration."""
  up, down = set(layer.strides_up), set(layer.strides_down)
  return (layer.data_format == "channels_last" and
          not layer.channel_separable and layer.padding == "same_zeros" and
          layer.use_explicit and layer.extra_pad_end and
          all(k % 2 for k in layer.kernel_support) and
          len(up) == 1 and (down == {1} or up == {1}))


def _activation(layer):
  activation = layer.activation
  if isinstance(activation, tf.keras.layers.Layer):
    return freeze(activation)
  return activation or (lambda x: x)


# Below this many output channels per phase, one correlation computing all
# phases (zero taps included) beats one correlation per phase: measured on
# the 64-to-3 last layer of the synthesis, 26 ms against 73 ms on a Kodak
# image, while 64-to-64 layers run faster phase by phase (75 against 110 ms).
_MIN_CHANNELS_PER_PHASE = 16


def _signal_conv(layer):
  """A frozen SignalConv2D: correlations, bias and activation."""
  kernel = layer.kernel.numpy()  # [kh, kw, in, out]
  stride = layer.strides_up[0]
  corr = layer.corr
  if not corr and stride == 1:
    kernel, corr = kernel[::-1, ::-1], True  # as tfc does
  if corr and stride > 1:
    kernel, corr = kernel[::-1, ::-1], False  # as tfc does
  if corr:
    pads = [(k // 2, k // 2) for k in layer.kernel_support]
    convs = [(kernel, pads)]
  else:
    rows, cols = (_phase_taps(size, stride) for size in kernel.shape[:2])
    if layer.filters < _MIN_CHANNELS_PER_PHASE:
      convs = [_phase_kernel(kernel, rows, cols)]
    else:
      convs = [_phase_kernel(kernel, [r], [c]) for r in rows for c in cols]
  convs = [(tf.constant(k), [(0, 0), *pads, (0, 0)]) for k, pads in convs]
  strides = layer.strides_down if corr else 1
  bias = tf.constant(layer.bias) if layer.use_bias else None
  activation = _activation(layer)

  def apply(x):
    outputs = [tf.nn.conv2d(x, k, strides=strides, padding=p)
               for k, p in convs]
    x = outputs[0] if len(outputs) == 1 else tf.concat(outputs, axis=-1)
    if not corr:
      x = tf.nn.depth_to_space(x, stride)
    if bias is not None:
      x = tf.nn.bias_add(x, bias)
    return activation(x)

  return apply


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


def _phase_kernel(kernel, row_phases, col_phases):
  """One correlation computing the given phases of an up-sampling
  convolution: its kernel (output channels in depth-to-space order, zeros
  where a phase has no tap) and its padding."""
  row_offsets = sorted(set().union(*row_phases))
  col_offsets = sorted(set().union(*col_phases))
  channels_in, channels_out = kernel.shape[2:]
  phases = np.zeros((len(row_offsets), len(col_offsets), channels_in,
                     len(row_phases), len(col_phases), channels_out),
                    kernel.dtype)
  for i, a in enumerate(row_offsets):
    for j, b in enumerate(col_offsets):
      for p, row_taps in enumerate(row_phases):
        for q, col_taps in enumerate(col_phases):
          if a in row_taps and b in col_taps:
            phases[i, j, :, p, q, :] = kernel[row_taps[a], col_taps[b]]
  pads = [(-row_offsets[0], row_offsets[-1]),
          (-col_offsets[0], col_offsets[-1])]
  return phases.reshape(*phases.shape[:3], -1), pads


def _gdn(layer):
  """A frozen GDN/IGDN with fixed alpha and epsilon (the ops of tfc's GDN)."""
  beta = tf.constant(layer.beta)
  gamma = tf.constant(layer.gamma)[None, None]
  alpha, epsilon = float(layer.alpha), float(layer.epsilon)

  def apply(x):
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
