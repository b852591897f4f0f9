"""Scale-hyperprior codec of Ballé, Minnen, Singh, Hwang, Johnston (ICLR 2018)."""

import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfpc.codecs import base
from tfpc.codecs import transforms


@base.register("bmshj2018")
class BMSHJ2018(base.LearnedCodec):
  """The BLS transforms plus a hyperprior that predicts each latent's scale."""

  stride = 64
  num_strings = 2

  def __init__(self, num_filters=192, num_scales=64, scale_min=0.11,
               scale_max=256.0):
    super().__init__(num_filters)
    self.num_scales = num_scales
    self.scale_min = scale_min
    self.scale_max = scale_max
    self.analysis_transform = transforms.analysis_transform(num_filters)
    self.synthesis_transform = transforms.synthesis_transform(num_filters)
    self.hyper_analysis_transform = transforms.hyper_analysis_transform(
        num_filters)
    self.hyper_synthesis_transform = transforms.hyper_synthesis_transform(
        num_filters)
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(num_filters,))
    self.build((None, None, None, 3))

  def get_config(self):
    return {**super().get_config(), "num_scales": self.num_scales,
            "scale_min": self.scale_min, "scale_max": self.scale_max}

  def _scale(self, index):
    log_min = math.log(self.scale_min)
    step = (math.log(self.scale_max) - log_min) / (self.num_scales - 1)
    return tf.math.exp(log_min + step * index)

  def _latent_models(self, compression):
    latent = tfc.LocationScaleIndexedEntropyModel(
        tfc.NoisyNormal, self.num_scales, self._scale, coding_rank=3,
        compression=compression)
    side = tfc.ContinuousBatchedEntropyModel(
        self.hyperprior, coding_rank=3, compression=compression)
    return latent, side

  def forward(self, x, training):
    latent_model, side_model = self._latent_models(False)
    y = self.analysis_transform(x)
    z = self.hyper_analysis_transform(abs(y))
    z_hat, side_bits = side_model(z, training=training)
    y_hat, bits = latent_model(
        y, self.hyper_synthesis_transform(z_hat), training=training)
    return {"x_hat": self.synthesis_transform(y_hat),
            "bits": bits + side_bits, "y_hat": y_hat, "z_hat": z_hat}

  def prepare_for_coding(self):
    self.entropy_model, self.side_entropy_model = self._latent_models(True)

  def encode_latents(self, x):
    y = self.analysis_transform(x)
    z = self.hyper_analysis_transform(abs(y))
    indexes = self.hyper_synthesis_transform(
        self.side_entropy_model.quantize(z))
    return [self.entropy_model.compress(y, indexes),
            self.side_entropy_model.compress(z)]

  def decode_latents(self, strings, padded_shape):
    z_hat = self.side_entropy_model.decompress(strings[1:2], padded_shape // 64)
    y_hat = self.entropy_model.decompress(
        strings[:1], self.hyper_synthesis_transform(z_hat))
    return self.synthesis_transform(y_hat)
