"""Factorized-prior codec of Ballé, Laparra, Simoncelli (ICLR 2017)."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfpc.codecs import base
from tfpc.codecs import transforms


@base.register("bls2017")
class BLS2017(base.LearnedCodec):
  """GDN analysis/synthesis (4+4 layers) and a non-parametric factorized prior."""

  stride = 16
  num_strings = 1

  def __init__(self, num_filters=192):
    super().__init__(num_filters)
    self.analysis_transform = transforms.analysis_transform(num_filters)
    self.synthesis_transform = transforms.synthesis_transform(num_filters)
    self.prior = tfc.NoisyDeepFactorized(batch_shape=(num_filters,))
    self.build((None, None, None, 3))

  def _latent_model(self, compression):
    return tfc.ContinuousBatchedEntropyModel(
        self.prior, coding_rank=3, compression=compression)

  def forward(self, x, training):
    y = self.analysis_transform(x)
    y_hat, bits = self._latent_model(False)(y, training=training)
    return {"x_hat": self.synthesis_transform(y_hat), "bits": bits,
            "y_hat": y_hat}

  def prepare_for_coding(self):
    self.entropy_model = self._latent_model(True)

  def encode_latents(self, x):
    return [self.entropy_model.compress(self.analysis_transform(x))]

  def decode_latents(self, strings, padded_shape):
    y_hat = self.entropy_model.decompress(strings[:1], padded_shape // 16)
    return self.synthesis_transform(y_hat)
