"""Codecs: training-mode outputs, exact round trips, deterministic bytes."""

import numpy as np
import pytest
import tensorflow as tf

from tfpc import codecs
from tfpc import coding
from tfpc import errors
from tfpc.codecs import base

ARCHITECTURES = ("bls2017", "bmshj2018")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_training_call_returns_what_a_loop_needs(architecture):
  codec = codecs.build_codec({"architecture": architecture, "num_filters": 8})
  x = tf.random.uniform((2, 64, 64, 3), 0, 255, seed=1)
  out = codec(x, training=True)
  assert out["x_hat"].shape == (2, 64, 64, 3)
  assert out["bits"].shape == (2,)
  assert out["y_hat"].shape == (2, 4, 4, 8)
  expected_bpp = float(tf.reduce_sum(out["bits"])) / (2 * 64 * 64)
  assert float(out["bpp"]) == pytest.approx(expected_bpp, rel=1e-5)
  with tf.GradientTape() as tape:
    loss = codec(x, training=True)["bpp"]
  grads = tape.gradient(loss, codec.trainable_variables)
  assert sum(g is not None for g in grads) > len(grads) // 2


def test_config_round_trip():
  codec = codecs.build_codec({"architecture": "bmshj2018", "num_filters": 8,
                              "num_scales": 32})
  rebuilt = codecs.build_codec(codec.get_config())
  assert rebuilt.get_config() == codec.get_config()
  with pytest.raises(ValueError, match="unknown codec"):
    codecs.build_codec({"architecture": "nope"})


def test_edge_padding_replicates_last_row_and_column():
  x = tf.reshape(tf.range(6, dtype=tf.float32), (1, 2, 3, 1))
  padded = base.pad_to_multiple(x, 4).numpy()[0, ..., 0]
  assert padded.shape == (4, 4)
  np.testing.assert_array_equal(padded[:, 3], [2, 5, 5, 5])
  np.testing.assert_array_equal(padded[3], [3, 4, 5, 5])


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("shape", [(1, 1), (17, 31), (64, 64), (65, 7)])
def test_round_trip_exact_shape_and_deterministic(tiny_models, photo,
                                                  architecture, shape):
  model = tiny_models[architecture]
  pixels = np.ascontiguousarray(photo[100:100 + shape[0], 200:200 + shape[1]])
  data = coding.encode(model, pixels)
  assert data == coding.encode(model, pixels)
  decoded = coding.decode(data, model)
  assert decoded.pixels.shape == pixels.shape
  assert decoded.pixels.dtype == np.uint8
  np.testing.assert_array_equal(decoded.pixels,
                                coding.decode(data, model).pixels)


def test_decoding_with_another_model_is_refused(tiny_models, photo):
  data = coding.encode(tiny_models["bls2017"], photo[:32, :32])
  with pytest.raises(errors.WrongModelError):
    coding.decode(data, tiny_models["bmshj2018"])


def test_encode_rejects_non_rgb(tiny_models):
  with pytest.raises(errors.ImageReadError):
    coding.encode(tiny_models["bls2017"], np.zeros((4, 4), np.uint8))


def test_pixel_limit_refuses_before_coding(tiny_models, photo):
  model = tiny_models["bls2017"]
  with pytest.raises(errors.ImageTooLargeError, match="pixel limit"):
    coding.encode(model, photo, max_pixels=512 * 512 - 1)
  data = coding.encode(model, photo[:32, :32])
  with pytest.raises(errors.ImageTooLargeError, match="pixel limit"):
    coding.decode(data, model, max_pixels=32 * 32 - 1)


def test_shipped_model_real_rate_matches_its_estimate(default_model, photo):
  """The range coder's real size is within 3% (+header) of the estimate."""
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  codec = zoo.load_keras()
  x = tf.cast(photo[None, :256, :256], tf.float32)
  estimated_bits = float(codec(x, training=False)["bits"][0])
  data = coding.encode(default_model, photo[:256, :256])
  assert 8 * len(data) == pytest.approx(estimated_bits, rel=0.03, abs=400)


def test_shipped_model_beats_garbage(default_model, photo):
  from tfpc import metrics  # pylint: disable=g-import-not-at-top
  decoded = coding.decode(coding.encode(default_model, photo), default_model)
  assert metrics.compute("psnr", photo, decoded.pixels) > 25
