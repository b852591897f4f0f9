"""Scale-hyperprior codec of Ballé, Minnen, Singh, Hwang, Johnston (ICLR 2018)."""

import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfpc import entropy
from tfpc.codecs import base
from tfpc.codecs import transforms


@base.register("bmshj2018")
class BMSHJ2018(base.LearnedCodec):
  """The BLS transforms plus a hyperprior that predicts each latent's scale."""

  stride = 64
  symbol_names = ("latents", "side_latents")

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

  def entropy_models(self, compression):
    return {
        "latent": tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal, self.num_scales, self._scale, coding_rank=3,
            compression=compression),
        "side": tfc.ContinuousBatchedEntropyModel(
            self.hyperprior, coding_rank=3, compression=compression),
    }

  def forward(self, x, training):
    models = self.entropy_models(False)
    y, z = self._analyze(x, self)
    z_hat, side_bits = models["side"](z, training=training)
    y_hat, bits = models["latent"](
        y, self.hyper_synthesis_transform(z_hat), training=training)
    return {"x_hat": self.synthesis_transform(y_hat),
            "bits": bits + side_bits, "y_hat": y_hat, "z_hat": z_hat}

  @staticmethod
  def _analyze(x, transforms):
    """Latents and side latents of a padded float batch, through `transforms`
    (the codec or its `inference`)."""
    y = transforms.analysis_transform(x)
    return y, transforms.hyper_analysis_transform(abs(y))

  def _scale_tables(self, z_hat):
    """The scale table index of each latent, as the range coder picks it.

    The hyper synthesis stays on the Keras layers in coding: its outputs pick
    the tables, so they must match older exports' bit for bit."""
    indexes = self.hyper_synthesis_transform(z_hat)
    return tf.cast(tf.clip_by_value(indexes, 0., self.num_scales - 1.),
                   tf.int32)

  def _side_hat(self, side_latents):
    offset = self.coding_models["side"].quantization_offset
    return tf.cast(side_latents, tf.float32) + offset

  def encode_symbols(self, symbols):
    latent, side = self.coding_models["latent"], self.coding_models["side"]
    z_hat = self._side_hat(symbols["side_latents"])
    return [latent.compress(tf.cast(symbols["latents"], tf.float32),
                            self.hyper_synthesis_transform(z_hat)),
            side.compress(z_hat)]

  def decode_latents(self, strings, padded_shape):
    latent, side = self.coding_models["latent"], self.coding_models["side"]
    z_hat = side.decompress(strings[1:2], padded_shape // 64)
    y_hat = latent.decompress(strings[:1], self.hyper_synthesis_transform(z_hat))
    return self.inference.synthesis_transform(y_hat)

  def latent_symbols(self, x):
    y, z = self._analyze(x, self.inference)
    z = z - self.coding_models["side"].quantization_offset
    return {"latents": tf.cast(tf.round(y), tf.int32),
            "side_latents": tf.cast(tf.round(z), tf.int32)}

  def symbol_bits(self, symbols):
    latent, side = self.coding_models["latent"], self.coding_models["side"]
    side_latents = symbols["side_latents"]
    channels = tf.broadcast_to(tf.range(self.num_filters),
                               tf.shape(side_latents))
    tables = self._scale_tables(self._side_hat(side_latents))
    bits = [entropy.table_bits(side, side_latents, channels),
            entropy.table_bits(latent, symbols["latents"], tables)]
    return sum(tf.reduce_sum(b, axis=(1, 2, 3)) for b in bits)

  def synthesize(self, latents):
    return self.inference.synthesis_transform(tf.cast(latents, tf.float32))
