"""Fast inference transforms compute what the Keras layers compute."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfpc import codecs
from tfpc.codecs import inference
from tfpc.codecs import transforms

INPUTS = {"analysis_transform": (1, 64, 96, 3),
          "synthesis_transform": (1, 4, 6, 16),
          "hyper_analysis_transform": (1, 4, 6, 16),
          "hyper_synthesis_transform": (1, 2, 3, 16)}


def assert_same(layer, x):
  """Equal up to float rounding: kernels come from a matrix product instead
  of tfc's irfft2d, and up-sampling sums in another order."""
  expected, fast = layer(x).numpy(), inference.fast_path(layer)(x).numpy()
  assert fast.shape == expected.shape
  np.testing.assert_allclose(fast, expected, rtol=0,
                             atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("architecture", ["bls2017", "bmshj2018"])
def test_codec_transforms(architecture):
  codec = codecs.build_codec({"architecture": architecture,
                              "num_filters": 16})
  codec.prepare_for_coding()
  rng = np.random.default_rng(0)
  for name in vars(codec.inference):
    x = tf.constant(rng.uniform(0, 255, INPUTS[name]), tf.float32)
    assert_same(getattr(codec, name), x)


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
  assert_same(layer, x)


def test_unknown_layers_are_called_as_they_are():
  layer = tf.keras.layers.Dense(3)
  assert inference.fast_path(layer) is layer


def test_fast_path_follows_the_weights():
  layer = tfc.SignalConv2D(8, (5, 5), corr=False, strides_up=2,
                           padding="same_zeros", use_bias=True,
                           activation=tfc.GDN(inverse=True))
  x = tf.random.stateless_normal((1, 4, 6, 8), seed=(5, 6))
  layer(x)
  fast = inference.fast_path(layer)
  before = fast(x).numpy()
  for variable in layer.trainable_variables:
    variable.assign(variable * 1.5)
  after = fast(x).numpy()
  assert np.abs(after - before).max() > 1e-3
  np.testing.assert_allclose(after, layer(x).numpy(), rtol=0,
                             atol=1e-5 * np.abs(after).max())


def test_rdft_kernels_match_tfc():
  layer = tfc.SignalConv2D(6, (5, 3), corr=True, strides_down=2,
                           padding="same_zeros")
  layer(tf.zeros((1, 8, 8, 4)))
  for part in (layer.kernel_parameter.real, layer.kernel_parameter.imag):
    part.assign(tf.random.stateless_normal(part.shape, seed=(7, 8)))
  kernel = inference._kernel_function(layer)()  # pylint: disable=protected-access
  np.testing.assert_allclose(kernel.numpy(), layer.kernel.numpy(), rtol=0,
                             atol=1e-6)


def _relative_error(actual, expected):
  return float(tf.reduce_max(abs(actual - expected)) /
               tf.reduce_max(abs(expected)))


@pytest.mark.parametrize("architecture",
                         ["bls2017", "mbt2018-mean"])
def test_training_layers_compute_what_tfc_computes(architecture):
  """tfpc's SignalConv2D runs the inference path in training too: values
  and gradients (input and every variable) are tfc's up to float rounding."""
  codec = codecs.build_codec({"architecture": architecture,
                              "num_filters": 16})
  layers = [l for l in codec.submodules if isinstance(l, tfc.SignalConv2D)]
  assert len(layers) >= 8
  rng = np.random.default_rng(0)
  for layer in layers:
    x = tf.constant(rng.normal(size=(2, 8, 12, layer.kernel.shape[2])),
                    tf.float32)
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      ours, theirs = layer(x), tfc.SignalConv2D.call(layer, x)
      weights = tf.constant(rng.normal(size=ours.shape), tf.float32)
      losses = [tf.reduce_sum(y * weights) for y in (ours, theirs)]
    assert _relative_error(ours, theirs) < 1e-5, layer.name
    sources = [x] + layer.trainable_variables
    for mine, reference in zip(*(tape.gradient(l, sources) for l in losses)):
      assert _relative_error(mine, reference) < 1e-5, layer.name


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_gradient_is_tfcs(inverse):
  layer = transforms.GDN(inverse=inverse)
  rng = np.random.default_rng(1)
  x = tf.constant(rng.normal(size=(2, 6, 5, 8)), tf.float32)
  layer(x)
  for parameter in (layer.beta_parameter, layer.gamma_parameter):
    parameter.variable.assign_add(
        rng.uniform(0, 0.3, parameter.variable.shape).astype(np.float32))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    ours, theirs = layer(x), tfc.GDN.call(layer, x)
    weights = tf.constant(rng.normal(size=ours.shape), tf.float32)
    losses = [tf.reduce_sum(y * weights) for y in (ours, theirs)]
  assert _relative_error(ours, theirs) < 1e-6
  sources = [x] + layer.trainable_variables
  for mine, reference in zip(*(tape.gradient(l, sources) for l in losses)):
    assert _relative_error(mine, reference) < 1e-5
