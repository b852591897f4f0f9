"""Transforms shared by the codecs: GDN analysis/synthesis and hyper transforms."""

import tensorflow as tf
import tensorflow_compression as tfc


class GDN(tfc.GDN):
  """tfc's GDN with constant alpha and epsilon as Python numbers.

  tfc returns them as tensors, so each `alpha == 1` test inside a
  `tf.function` becomes a graph conditional (over a hundred per training step
  of a hyperprior codec, and most of the tracing time). Same variables, same
  values.
  """

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


def _conv(filters, kernel, index, down, activation, **kwargs):
  strides = {"strides_down": down} if down else {}
  return tfc.SignalConv2D(
      filters, (kernel, kernel), name=f"layer_{index}", corr=True,
      padding="same_zeros", use_bias=True, activation=activation,
      **strides, **kwargs)


def _deconv(filters, kernel, index, up, activation, **kwargs):
  return tfc.SignalConv2D(
      filters, (kernel, kernel), name=f"layer_{index}", corr=False,
      strides_up=up, padding="same_zeros", use_bias=True,
      activation=activation, **kwargs)


def analysis_transform(num_filters, num_layers=4):
  """Image in [0, 255] to latents: strided 5x5 convolutions with GDN between."""
  layers = [tf.keras.layers.Rescaling(1 / 255)]
  for i in range(num_layers):
    last = i == num_layers - 1
    layers.append(_conv(num_filters, 5, i, 2,
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
      tfc.SignalConv2D(num_filters, (5, 5), name="layer_2", corr=True,
                       strides_down=2, padding="same_zeros", use_bias=False),
  ], name="hyper_analysis")


def hyper_synthesis_transform(num_filters):
  """Side latents to the scale indexes of the latents, upsampling by 4."""
  return tf.keras.Sequential([
      _deconv(num_filters, 5, 0, 2, tf.nn.relu, kernel_parameter="variable"),
      _deconv(num_filters, 5, 1, 2, tf.nn.relu, kernel_parameter="variable"),
      _deconv(num_filters, 3, 2, 1, None, kernel_parameter="variable"),
  ], name="hyper_synthesis")
