"""Factorized-prior codec of Ballé, Laparra, Simoncelli (ICLR 2017)."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfpc import entropy
from tfpc.codecs import base
from tfpc.codecs import transforms


@base.register("bls2017")
class BLS2017(base.LearnedCodec):
  """GDN analysis/synthesis (4+4 layers) and a non-parametric factorized prior."""

  stride = 16

  def __init__(self, num_filters=192):
    super().__init__(num_filters)
    self.analysis_transform = transforms.analysis_transform(num_filters)
    self.synthesis_transform = transforms.synthesis_transform(num_filters)
    self.prior = tfc.NoisyDeepFactorized(batch_shape=(num_filters,))
    self.build((None, None, None, 3))

  def entropy_models(self, compression):
    return {"latent": tfc.ContinuousBatchedEntropyModel(
        self.prior, coding_rank=3, compression=compression)}

  def forward(self, x, training):
    y = self.analysis_transform(x)
    y_hat, bits = self.entropy_models(False)["latent"](y, training=training)
    return {"x_hat": self.synthesis_transform(y_hat), "bits": bits,
            "y_hat": y_hat}

  def encode_symbols(self, symbols):
    latent = self.coding_models["latent"]
    y_hat = tf.cast(symbols["latents"], tf.float32) + latent.quantization_offset
    return [latent.compress(y_hat)]

  def decode_latents(self, strings, padded_shape):
    y_hat = self.coding_models["latent"].decompress(
        strings[:1], padded_shape // 16)
    return self.inference.synthesis_transform(y_hat)

  def latent_symbols(self, x):
    offset = self.coding_models["latent"].quantization_offset
    y = self.inference.analysis_transform(x) - offset
    return {"latents": tf.cast(tf.round(y), tf.int32)}

  def symbol_bits(self, symbols):
    latents = symbols["latents"]
    channels = tf.broadcast_to(tf.range(self.num_filters), tf.shape(latents))
    bits = entropy.table_bits(self.coding_models["latent"], latents, channels)
    return tf.reduce_sum(bits, axis=(1, 2, 3))

  def synthesize(self, latents):
    offset = self.coding_models["latent"].quantization_offset
    return self.inference.synthesis_transform(
        tf.cast(latents, tf.float32) + offset)
