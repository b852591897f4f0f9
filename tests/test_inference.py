"""Frozen inference transforms compute what the Keras layers compute."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfpc import codecs
from tfpc.codecs import inference

INPUTS = {"analysis_transform": (1, 64, 96, 3),
          "synthesis_transform": (1, 4, 6, 16),
          "hyper_analysis_transform": (1, 4, 6, 16),
          "hyper_synthesis_transform": (1, 2, 3, 16)}
UP_SAMPLING = {"synthesis_transform", "hyper_synthesis_transform"}


def assert_same(layer, x, exact):
  expected, frozen = layer(x).numpy(), inference.freeze(layer)(x).numpy()
  assert frozen.shape == expected.shape
  if exact:  # the same TF ops on the same weights
    np.testing.assert_array_equal(frozen, expected)
  else:  # summed in another order
    np.testing.assert_allclose(frozen, expected, rtol=0,
                               atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("architecture", ["bls2017", "bmshj2018"])
def test_codec_transforms(architecture):
  codec = codecs.build_codec({"architecture": architecture,
                              "num_filters": 16})
  codec.prepare_for_coding()
  rng = np.random.default_rng(0)
  for name in vars(codec.inference):
    x = tf.constant(rng.uniform(0, 255, INPUTS[name]), tf.float32)
    assert_same(getattr(codec, name), x, exact=name not in UP_SAMPLING)


@pytest.mark.parametrize("kernel,stride,filters,corr", [
    (5, 2, 16, False), (3, 3, 5, True), (9, 4, 3, False), (3, 1, 8, False),
    (5, 1, 8, True)])
def test_signal_conv_configurations(kernel, stride, filters, corr):
  layer = tfc.SignalConv2D(
      filters, (kernel, kernel), corr=corr, strides_up=stride,
      padding="same_zeros", use_bias=True, activation=tfc.GDN(inverse=True))
  x = tf.random.stateless_normal((1, 5, 7, 4), seed=(1, 2))
  layer(x)
  layer.bias_parameter.assign(tf.random.stateless_normal((filters,), (3, 4)))
  assert_same(layer, x, exact=stride == 1)


def test_unknown_layers_are_called_as_they_are():
  layer = tf.keras.layers.Dense(3)
  assert inference.freeze(layer) is layer
