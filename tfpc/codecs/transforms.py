"""Transforms shared by the codecs: GDN analysis/synthesis and hyper transforms."""

import re

import tensorflow as tf
import tensorflow_compression as tfc

from tfpc.codecs import inference


class GDN(tfc.GDN):
  """tfc's GDN with constant alpha and epsilon as Python numbers, and the
  simplified GDN (alpha = epsilon = 1) as matrix products with a gradient of
  its own.

  tfc returns alpha and epsilon as tensors, so each `alpha == 1` test inside
  a `tf.function` becomes a graph conditional (over a hundred per training
  step of a hyperprior codec, and most of the tracing time). The
  normalization pool beta + gamma |x| is a 1x1 convolution, whose filter
  gradient oneDNN runs far below a matrix product's speed; the gradient
  of x / pool takes three divisions where one reciprocal serves. Same
  variables; same values up to float rounding.
  """

  def call(self, inputs):
    if (self.alpha == 1 and self.epsilon == 1 and not self.rectify and
        self.data_format == "channels_last"):
      return _simplified_gdn(inputs, self.beta, self.gamma, self.inverse)
    return super().call(inputs)

  def _constant(self, parameter):
    value = getattr(self, parameter + "_parameter")
    if callable(value):
      return getattr(super(), parameter)
    return float(value)

  @property
  def alpha(self):
    return self._constant("alpha")

  @property
  def epsilon(self):
    return self._constant("epsilon")


class SignalConv2D(tfc.SignalConv2D):
  """tfc's SignalConv2D computed as the inference path computes it
  (`inference.signal_conv`), in training too: the kernel from its RDFT
  parameters by one matrix product on a fixed basis (tfc runs a batched
  `irfft2d` forward and an `rfft2d` backward on every call), up-sampling as
  one correlation per output phase, paddings whose gradients have oneDNN
  kernels. Same variables; same values up to float rounding."""

  def build(self, input_shape):
    super().build(input_shape)
    self._linear = (inference.signal_conv(self) if inference.plain(self)
                    else None)

  def call(self, inputs):
    if self._linear is None:
      return super().call(inputs)
    outputs = self._linear(inputs)
    return outputs if self.activation is None else self.activation(outputs)


def _simplified_gdn(x, beta, gamma, inverse):
  """x / (beta + |x| gamma) over channels, or times with `inverse` (IGDN)."""

  @tf.custom_gradient
  def normalize(x, beta, gamma):
    channels = x.shape[-1]
    magnitude = tf.reshape(abs(x), (-1, channels))
    pool = tf.reshape(tf.nn.bias_add(magnitude @ gamma, beta), tf.shape(x))
    y = x * pool if inverse else x / pool

    def gradient(dy):
      with tf.name_scope("gdn_gradient"):
        if inverse:
          dx, dpool = dy * pool, dy * x
        else:  # d(x / pool) / d pool = -y / pool
          dx = dy * tf.math.reciprocal(pool)
          dpool = -dx * y
        dpool = tf.reshape(dpool, (-1, channels))
        dmagnitude = tf.reshape(tf.matmul(dpool, gamma, transpose_b=True),
                                tf.shape(x))
        return (dx + tf.math.sign(x) * dmagnitude, tf.reduce_sum(dpool, 0),
                tf.matmul(magnitude, dpool, transpose_a=True))

    return y, gradient

  return normalize(x, beta, gamma)


def layer_name(index):
  """The name of a transform's `index`-th convolution (tfc's `layer_<i>`):
  warm starts match these by name wherever they sit (`training.warm_start`)."""
  return f"layer_{index}"


LAYER_NAME = re.compile(r"layer_\d+")  # every name `layer_name` gives


def _conv(filters, kernel, index, down, activation, **kwargs):
  strides = {"strides_down": down} if down else {}
  return SignalConv2D(
      filters, (kernel, kernel), name=layer_name(index), corr=True,
      padding="same_zeros", use_bias=True, activation=activation,
      **strides, **kwargs)


def _deconv(filters, kernel, index, up, activation, **kwargs):
  return SignalConv2D(
      filters, (kernel, kernel), name=layer_name(index), corr=False,
      strides_up=up, padding="same_zeros", use_bias=True,
      activation=activation, **kwargs)


# Receptive-field radius of the 4-layer transforms below, with a margin, in
# latent positions: 5x5 stride-2 layers reach 2 * (1 + 2 + 4 + 8) = 30 pixels
# in analysis and under 2 latents in synthesis; 4 also leaves room for a
# post-filter of up to 32 pixels (EIC's GRDN reaches about 14).
RECEPTIVE_HALO = 4


def analysis_transform(num_filters, latent_channels=None, num_layers=4):
  """Image in [0, 255] to latents (`latent_channels`, default `num_filters`):
  strided 5x5 convolutions with GDN between."""
  layers = [tf.keras.layers.Rescaling(1 / 255)]
  for i in range(num_layers):
    last = i == num_layers - 1
    layers.append(_conv((latent_channels or num_filters) if last else
                        num_filters, 5, i, 2,
                        None if last else GDN(name=f"gdn_{i}")))
  return tf.keras.Sequential(layers, name="analysis")


def synthesis_transform(num_filters, num_layers=4):
  """Latents to image in [0, 255] (unclipped): transposed convolutions, IGDN."""
  layers = []
  for i in range(num_layers):
    last = i == num_layers - 1
    layers.append(_deconv(
        3 if last else num_filters, 5, i, 2,
        None if last else GDN(name=f"igdn_{i}", inverse=True)))
  layers.append(tf.keras.layers.Rescaling(255))
  return tf.keras.Sequential(layers, name="synthesis")


def hyper_analysis_transform(num_filters):
  """|latents| to side latents, downsampling by 4."""
  return tf.keras.Sequential([
      _conv(num_filters, 3, 0, None, tf.nn.relu),
      _conv(num_filters, 5, 1, 2, tf.nn.relu),
      SignalConv2D(num_filters, (5, 5), name=layer_name(2), corr=True,
                   strides_down=2, padding="same_zeros", use_bias=False),
  ], name="hyper_analysis")


def hyper_synthesis_transform(filters):
  """Side latents to entropy-model parameters, upsampling by 4.

  `filters`: output channels of the three layers, or one count for all.
  """
  if isinstance(filters, int):
    filters = (filters,) * 3
  return tf.keras.Sequential([
      _deconv(filters[0], 5, 0, 2, tf.nn.relu, kernel_parameter="variable"),
      _deconv(filters[1], 5, 1, 2, tf.nn.relu, kernel_parameter="variable"),
      _deconv(filters[2], 3, 2, 1, None, kernel_parameter="variable"),
  ], name="hyper_synthesis")


def _to_grid(x, bits):
  """float64 x rounded to a multiple of 2**-bits."""
  return tf.round(tf.cast(x, tf.float64) * 2.0**bits) / 2.0**bits


class _ExactTwin(tfc.SignalConv2D):
  """A float64 SignalConv2D with the variables of `source`, read on a grid."""

  def __init__(self, source, bits):
    super().__init__(**{
        **source.get_config(), "name": f"exact_{source.name}",
        "dtype": "float64", "kernel_parameter": source.kernel_parameter,
        "bias_parameter": source.bias_parameter})
    self.bits = bits

  @property
  def kernel(self):
    return _to_grid(self.kernel_parameter, self.bits)

  @property
  def bias(self):
    return _to_grid(self.bias_parameter, self.bits)


def exact(transform, weight_bits=16, activation_bits=12):
  """A function computing a Sequential of SignalConv2D layers exactly.

  Weights and biases are rounded to multiples of 2**-weight_bits, the input
  and each layer's output to multiples of 2**-activation_bits, and the layers
  run in float64: every product and partial sum is then a float64 number
  without rounding (while sums stay below 2**(53 - weight_bits -
  activation_bits)), so the result does not depend on the order of the sums:
  it is the same for any thread count, with oneDNN on or off, on any CPU.
  Returns float32. The layers must hold their kernels as variables.
  """
  twins = [_ExactTwin(layer, weight_bits) for layer in transform.layers]

  def apply(x):
    x = _to_grid(x, activation_bits)
    for twin in twins:
      x = _to_grid(twin(x), activation_bits)
    return tf.cast(x, tf.float32)

  return apply
