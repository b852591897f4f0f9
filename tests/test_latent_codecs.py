"""Issue 12: the latent-codec contract (symbols, serving support, layout)."""

import numpy as np
import pytest
import tensorflow as tf

from tfpc import codecs
from tfpc import errors
from tfpc.export import serving_form


def test_symbols_come_from_the_latent_codec():
  codec = codecs.build_codec({"architecture": "mbt2018-mean", "num_filters": 8,
                              "latent_channels": 6})
  assert codec.stride == 64 and codec.num_strings == 2
  assert [(s.name, s.shape.as_list()) for s in codec.symbol_specs(batch=1)] == [
      ("latents", [1, None, None, 6]), ("side_latents", [1, None, None, 8])]
  assert codec.latent_codec.synthesis_symbols == ("latents", "side_latents")
  # Flat object paths: the latent codec's networks are the codec's.
  assert {"analysis_transform", "synthesis_transform", "hyperprior",
          "hyper_analysis_transform", "hyper_synthesis_transform"} <= set(
              codec._trackable_children())  # pylint: disable=protected-access


def test_a_codec_without_a_serving_form_says_why():
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  codec.latent_codec.serving_unsupported = "sequential context model"
  with pytest.raises(errors.ModelError, match="bls2017 has no stock-TF "
                     "serving form: sequential context model"):
    serving_form.serving_module(codec)


@pytest.mark.parametrize("config", [
    {"architecture": "mbt2018-mean", "num_filters": 8, "latent_channels": 8},
    {"architecture": "bmshj2018", "num_filters": 8}])
def test_ste_quantizer_trains_the_synthesis_on_rounded_latents(config):
  noise = codecs.build_codec(config)
  ste = codecs.build_codec({**config, "quantizer": "ste"})
  ste.set_weights(noise.get_weights())
  y = 3 * tf.random.stateless_normal((2, 4, 4, 8), (1, 2))

  def offsets(codec, outputs):
    """y_hat minus the latents' centers (the means, or 0)."""
    hyper = codec.hyper_synthesis_transform(outputs["z_hat"])
    loc, _ = codec.latent_codec._parameters(hyper)  # pylint: disable=protected-access
    return outputs["y_hat"] - (0.0 if loc is None else loc)

  tf.random.set_seed(0)
  noisy = noise.latent_codec.forward(y, training=True)
  tf.random.set_seed(0)
  with tf.GradientTape() as tape:
    tape.watch(y)
    rounded = ste.latent_codec.forward(y, training=True)
    total = tf.reduce_sum(rounded["y_hat"])
  # The synthesis sees integers about the centers (as at test time) under
  # "ste", noisy values under "noise"; the rate estimate is the same.
  ste_offsets, noise_offsets = offsets(ste, rounded), offsets(noise, noisy)
  np.testing.assert_allclose(ste_offsets, np.round(ste_offsets), atol=1e-4)
  assert np.abs(noise_offsets - np.round(noise_offsets)).max() > 0.1
  np.testing.assert_allclose(rounded["bits"], noisy["bits"], rtol=1e-5)
  # Straight through: d y_hat / d y is 1 (plus the centers' own gradient).
  gradient = tape.gradient(total, y)
  assert float(tf.reduce_min(tf.abs(gradient))) > 0
  assert ste.get_config()["quantizer"] == "ste"


def test_unknown_quantizer_is_refused():
  with pytest.raises(errors.ConfigError, match="quantizer must be one of"):
    codecs.build_codec({"architecture": "mbt2018-mean", "num_filters": 8,
                        "quantizer": "soft"})
