"""Codecs: training-mode outputs, exact round trips, deterministic bytes."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from tfpc import codecs
from tfpc import coding
from tfpc import errors
from tfpc import export
from tfpc import zoo
from tfpc.codecs import base

# A toy size of every registered architecture: the shared tests below run on
# each, so a new codec is tested by them (and fails the first until listed).
TOY = {
    "bls2017": {"num_filters": 8},
    "bmshj2018": {"num_filters": 8, "num_scales": 32},
    "mbt2018-mean": {"num_filters": 8, "latent_channels": 6,
                     "num_scales": 32},
    "eic-base": {"num_filters": 8, "latent_channels": 6, "num_scales": 32,
                 "grdn_channels": 8, "grdn_growth": 4, "grdn_layers": 2,
                 "grdn_blocks": 1, "grdn_groups": 1},
    "dpc": {"num_filters": 8, "num_blocks": 1, "latent_channels": 4,
            "context_filters": 6},
    "nlaic-lite": {"num_filters": 8, "latent_channels": 6, "hyper_filters": 8,
                   "num_blocks": 1, "attention_chunk": 64, "num_scales": 32},
}


def _toy(architecture):
  tf.keras.utils.set_random_seed(0)
  return codecs.build_codec({"architecture": architecture,
                             **TOY[architecture]})


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory):
  """{architecture: (codec-form model, serving-form SavedModel or None)}."""
  root = str(tmp_path_factory.mktemp("toy-models"))
  models = {}
  for architecture in TOY:
    codec = _toy(architecture)
    export.export_codec(codec, root, architecture)
    serving = None
    if codec.latent_codec.serving_unsupported is None:
      serving = tf.saved_model.load(export.export_serving(
          codec, root, architecture + export.SERVING_SUFFIX))
    models[architecture] = (zoo.load(architecture, root), serving)
  return models


def test_every_registered_architecture_has_a_toy_size():
  assert set(TOY) == set(codecs.CODECS)


@pytest.mark.parametrize("architecture", sorted(TOY))
def test_training_call_returns_what_a_loop_needs(architecture):
  codec = _toy(architecture)
  side = 2 * codec.stride
  x = tf.random.uniform((2, side, side, 3), 0, 255, seed=1)
  out = codec(x, training=True)
  assert out["x_hat"].shape == (2, side, side, 3)
  assert out["bits"].shape == (2,)
  assert out["y_hat"].shape[:3] == (2, side // codec.transform_stride,
                                    side // codec.transform_stride)
  expected_bpp = float(tf.reduce_sum(out["bits"])) / (2 * side * side)
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


@pytest.mark.parametrize("architecture", sorted(TOY))
def test_round_trip_exact_shape_deterministic_and_served(toy_models, photo,
                                                         architecture):
  model, serving = toy_models[architecture]
  for shape in ((1, 1), (17, 31), (65, 7)):
    pixels = np.ascontiguousarray(photo[100:100 + shape[0],
                                        200:200 + shape[1]])
    data = coding.encode(model, pixels)
    assert data == coding.encode(model, pixels)
    decoded = coding.decode(data, model)
    assert decoded.pixels.shape == pixels.shape
    assert decoded.pixels.dtype == np.uint8
    np.testing.assert_array_equal(decoded.pixels,
                                  coding.decode(data, model).pixels)
  if serving is not None:
    out = serving.signatures["reconstruct"](images=pixels[None])
    assert out["reconstruction"].shape == (1, *pixels.shape)
    assert np.isfinite(out["bpp"].numpy()).all()


@pytest.mark.parametrize("architecture", sorted(TOY))
def test_bad_files_are_refused_with_a_tfpc_error(toy_models, photo,
                                                 architecture):
  model, _ = toy_models[architecture]
  data = coding.encode(model, np.ascontiguousarray(photo[:40, :40]))
  flipped = data[:-3] + bytes([data[-3] ^ 0xff]) + data[-2:]
  for bad in (data[:len(data) // 2], data[:-1], flipped, b""):
    with pytest.raises(errors.TfpcError):
      coding.decode(bad, model)


def test_decoding_with_another_model_is_refused(tiny_models, photo):
  data = coding.encode(tiny_models["bls2017"], photo[:32, :32])
  given = tiny_models["bmshj2018"]
  with pytest.raises(errors.WrongModelError,
                     match=f"not by the given model {given.name}$"):
    coding.decode(data, given)


def test_encode_rejects_what_is_not_uint8_rgb(tiny_models):
  model = tiny_models["bls2017"]
  for encode in (model.encode, functools.partial(coding.encode, model)):
    for pixels, message in (
        (np.zeros((4, 4), np.uint8), r"\[H, W, 3\] pixels, got \(4, 4\)"),
        (np.zeros((1, 4, 4, 3), np.uint8), r"got \(1, 4, 4, 3\)"),
        (np.zeros((0, 4, 3), np.uint8), r"got \(0, 4, 3\)"),
        (np.full((4, 4, 3), 0.5, np.float32), "uint8 pixels, got float32"),
        (np.full((4, 4, 3), 300, np.int16), "uint8 pixels, got int16")):
      with pytest.raises(errors.ImageReadError, match=message):
        encode(pixels)


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


def test_a_forward_pass_refuses_sides_off_the_stride():
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 8})
  with pytest.raises(ValueError, match=r"\(37, 53\) must be multiples of 16"):
    codec(tf.zeros((1, 37, 53, 3)))
  assert codec(tf.zeros((1, 48, 64, 3)))["x_hat"].shape == (1, 48, 64, 3)
