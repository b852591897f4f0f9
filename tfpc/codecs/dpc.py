"""Deep Perceptual Compression (Patel et al. 2019) on Mentzer et al. 2018.

Residual encoder and decoder around `context.ImportanceContext` (importance
map, L learned centers, 3D masked PixelCNN, real range coding). As DPC
section 3.1 asks, the decoder up-samples with kernel 2 and stride 2, so its
transposed convolutions never overlap (no checkerboard).
"""

import tensorflow as tf

from tfpc import limits
from tfpc.codecs import base
from tfpc.codecs import context
from tfpc.codecs import transforms


class ResidualBlock(tf.keras.layers.Layer):
  """x + conv(relu(conv(x))), 3x3 convolutions."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.first = tf.keras.layers.Conv2D(filters, 3, padding="same",
                                        activation="relu", name="conv_0")
    self.second = tf.keras.layers.Conv2D(filters, 3, padding="same",
                                         name="conv_1")

  def call(self, x):
    return x + self.second(self.first(x))


def residual_analysis(num_filters, latent_channels, num_blocks):
  """Image in [0, 255] to latent_channels + 1 maps at 1/8 resolution (the
  first is the importance map)."""
  return tf.keras.Sequential([
      tf.keras.layers.Rescaling(1 / 127.5, -1.0),
      tf.keras.layers.Conv2D(num_filters // 2, 5, 2, "same", activation="relu",
                             name=transforms.layer_name(0)),
      tf.keras.layers.Conv2D(num_filters, 5, 2, "same", activation="relu",
                             name=transforms.layer_name(1)),
      *[ResidualBlock(num_filters, name=f"block_{i}")
        for i in range(num_blocks)],
      tf.keras.layers.Conv2D(latent_channels + 1, 5, 2, "same",
                             name=transforms.layer_name(2)),
  ], name="analysis")


def residual_synthesis(num_filters, num_blocks):
  """Latents to an image in [0, 255] (unclipped), up-sampling by 2x2
  stride-2 transposed convolutions."""
  def up(filters, index, activation="relu"):
    return tf.keras.layers.Conv2DTranspose(filters, 2, 2, activation=activation,
                                           name=transforms.layer_name(index))
  return tf.keras.Sequential([
      up(num_filters, 0),
      *[ResidualBlock(num_filters, name=f"block_{i}")
        for i in range(num_blocks)],
      up(num_filters // 2, 1),
      up(3, 2, None),
      tf.keras.layers.Rescaling(127.5, 127.5),
  ], name="synthesis")


@base.register("dpc")
class DPC(base.LearnedCodec):
  """N filters, B residual blocks on each side, K latent channels at 1/8
  resolution, L centers, a context network of `context_layers` masked 3D
  convolutions with `context_filters` channels."""

  transform_stride = 8

  def __init__(self, num_filters=128, num_blocks=5, latent_channels=32,
               num_centers=6, context_filters=24, context_layers=3):
    super().__init__(
        residual_analysis(num_filters, latent_channels, num_blocks),
        residual_synthesis(num_filters, num_blocks),
        context.ImportanceContext(latent_channels, num_centers,
                                  context_filters, context_layers),
        num_filters=num_filters, num_blocks=num_blocks,
        latent_channels=latent_channels, num_centers=num_centers,
        context_filters=context_filters, context_layers=context_layers)

  @classmethod
  def decode_cost(cls, config, height, width):
    """The base's estimate (its transforms are not tiled), plus the context
    decoder (`context.decode_volume`) over the K x h x w symbols at 1/8:
    float64 caches of every layer's input (1 + F (layers - 1) channels),
    about 64 bytes of indexes per symbol, and 14 taps of F x F per symbol
    and layer, counted 8 times: numpy's gathers in float64 run at about an
    eighth of the nominal rate (benchmarks/decode_cost.py)."""
    cost = super().decode_cost(config, height, width)
    symbols = config.get("latent_channels", 32) * height * width / 64
    filters = config.get("context_filters", 24)
    layers = config.get("context_layers", 3)
    memory = symbols * (8 * (1 + filters * (layers - 1)) + 64)
    work = 8 * symbols * layers * 14 * filters**2
    return limits.Cost(cost.memory + int(memory), cost.work + work)
