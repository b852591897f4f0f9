"""Issue 12: the latent-codec contract (symbols, serving support, layout)."""

import pytest

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
