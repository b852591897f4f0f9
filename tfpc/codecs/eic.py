"""EIC-E2E-B of Lee et al.: a mean-scale hyperprior codec whose synthesis ends
in a GRDN quality-enhancement post-filter.

The base codec is `mbt2018-mean` (no context model: the paper's base has one)
with a grouped residual dense network (GRDN, Kim et al. 2019) appended to its
synthesis transform, trained end to end. Its perceptual variants (EIC-E2E-P)
are the same architecture with only `synthesis_transform` (decoder and GRDN)
fine-tuned: the analysis transform and every entropy-model parameter stay
bit-identical, so a perceptual model decodes the base model's files. The
codec has a `separate_decoder`: the model id of its files, the *coding id*
(`layout.coding_id`: the hash of everything but the synthesis), is equal for
both; their *decoder id* (`layout.decoder_id`) tells them apart.

The default GRDN is small enough to train on a CPU: 2 groups of 2 residual
dense blocks, each of 3 densely connected 3x3 convolutions of 16 channels
(growth 16) on a 32-channel trunk, 99k parameters. Its last
convolution starts at zero, so an untrained post-filter is the identity.
"""

import tensorflow as tf

from tfpc import limits
from tfpc.codecs import base
from tfpc.codecs import mbt2018


def _conv(filters, kernel_size, activation=None, **kwargs):
  return tf.keras.layers.Conv2D(filters, kernel_size, padding="same",
                                activation=activation, **kwargs)


class ResidualDenseBlock(tf.keras.layers.Layer):
  """Densely connected 3x3 convolutions (ReLU), fused by a 1x1 convolution
  back to the input's channels, plus the input (local residual)."""

  def __init__(self, channels, growth, num_layers, **kwargs):
    super().__init__(**kwargs)
    self.dense = [_conv(growth, 3, tf.nn.relu, name=f"dense_{i}")
                  for i in range(num_layers)]
    self.fusion = _conv(channels, 1, name="fusion")

  def call(self, x):
    features = [x]
    for layer in self.dense:
      features.append(layer(tf.concat(features, axis=-1)))
    return x + self.fusion(tf.concat(features, axis=-1))


class ResidualDenseGroup(tf.keras.layers.Layer):
  """Residual dense blocks in a chain; their outputs, concatenated, fused by a
  1x1 convolution, plus the group's input."""

  def __init__(self, channels, growth, num_layers, num_blocks, **kwargs):
    super().__init__(**kwargs)
    self.blocks = [ResidualDenseBlock(channels, growth, num_layers,
                                      name=f"block_{i}")
                   for i in range(num_blocks)]
    self.fusion = _conv(channels, 1, name="fusion")

  def call(self, x):
    outputs, h = [], x
    for block in self.blocks:
      h = block(h)
      outputs.append(h)
    return x + self.fusion(tf.concat(outputs, axis=-1))


class GRDN(tf.keras.layers.Layer):
  """Grouped residual dense network on images in [0, 255]: a 3x3 convolution
  to `channels`, residual dense groups, a 3x3 convolution back to RGB, and
  the input added (global residual). The last convolution starts at zero."""

  def __init__(self, channels=32, growth=16, num_layers=3, num_blocks=2,
               num_groups=2, **kwargs):
    super().__init__(**kwargs)
    self.head = _conv(channels, 3, name="head")
    self.groups = [ResidualDenseGroup(channels, growth, num_layers, num_blocks,
                                      name=f"group_{i}")
                   for i in range(num_groups)]
    self.tail = _conv(3, 3, name="tail", kernel_initializer="zeros")

  def call(self, x):
    h = self.head(x / 255.0)
    for group in self.groups:
      h = group(h)
    return x + 255.0 * self.tail(h)


@base.register("eic-base")
class EICBase(mbt2018.MBT2018Mean):
  """`mbt2018-mean` whose synthesis transform ends in a `GRDN`.

  The decoder's layers keep their places in `synthesis_transform`, so
  checkpoints of `mbt2018-mean` warm-start everything but the GRDN by name.
  Its files' model id leaves the synthesis out (`layout.coding_id`).
  """

  separate_decoder = True

  def __init__(self, num_filters=192, latent_channels=128, num_scales=64,
               scale_min=0.11, scale_max=256.0, quantizer="noise",
               grdn_channels=32, grdn_growth=16, grdn_layers=3, grdn_blocks=2,
               grdn_groups=2):
    super().__init__(num_filters, latent_channels, num_scales, scale_min,
                     scale_max, quantizer)
    post_filter = GRDN(grdn_channels, grdn_growth, grdn_layers, grdn_blocks,
                       grdn_groups, name="grdn")
    self.synthesis_transform = tf.keras.Sequential(
        [*self.synthesis_transform.layers, post_filter], name="synthesis")
    self.synthesis_transform.build((None, None, None, latent_channels))
    self._config.update(
        grdn_channels=grdn_channels, grdn_growth=grdn_growth,
        grdn_layers=grdn_layers, grdn_blocks=grdn_blocks,
        grdn_groups=grdn_groups)

  @classmethod
  def decode_cost(cls, config, height, width):
    """The base's estimate plus the GRDN at full resolution: about four
    float32 copies of a dense block's C + G L channels per pixel (measured:
    benchmarks/decode_cost.py), and per pixel, its 3x3 dense layers, 1x1
    fusions and head and tail convolutions."""
    cost = super().decode_cost(config, height, width)
    channels = config.get("grdn_channels", 32)
    growth = config.get("grdn_growth", 16)
    layers = config.get("grdn_layers", 3)
    blocks = config.get("grdn_blocks", 2) * config.get("grdn_groups", 2)
    width_dense = channels + growth * layers
    per_block = 9 * growth * sum(channels + growth * i for i in range(layers))
    per_block += width_dense * channels
    pixels = height * width
    return limits.Cost(cost.memory + 16 * width_dense * pixels,
                       cost.work + (blocks * per_block + 54 * channels) *
                       pixels)

