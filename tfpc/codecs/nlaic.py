"""NLAIC-lite: non-local attention transforms on a mean-scale hyperprior.

The codec of Wang, Chen, Ma (CVPR 2021 workshops, "Subjective Quality
Optimized Efficient Image Compression"): the transforms of NLAIC (Chen et al.,
TIP 2021) without its autoregressive context model, so that decoding is
parallel. Each transform alternates 5x5 strided (de)convolutions, residual
blocks and non-local attention modules (NLAM) at 1/4 and 1/16 of the image
size, as NLAIC; the latents are coded by the mean-scale hyperprior of
`latent.Hyperprior(mean=True)` with hyper transforms of 128 filters.

`backbone="mbt2018-mean"` builds the same modules around mbt2018-mean's
strided layers (GDN/IGDN after them) and hyper synthesis widths, with every
added module starting as the identity (zero-initialized last convolutions of
the residual blocks, NLAMs gated by a per-channel scale that starts at zero):
warm-started from an mbt2018-mean model of the same sizes, step 0 is that
model (not the paper's NLAIC-lite, which has plain strided convolutions).

Attention memory: a non-local block over P positions holds a P x P score
matrix. `attention_chunk` bounds it to attention_chunk x P (queries are
processed in chunks), and block-based coding (`tfpc.blocks`) bounds P: a
2048x1024 block has 512 x 256 positions at the 1/4 level, so the scores of
one chunk of 1024 queries take 512 MiB in float32. Attention time is
quadratic in P: per pixel, it grows with the image. Images larger than a
2048x1024 block are therefore coded in blocks unless asked otherwise
(`whole_image_pixels`, `tfpc.coding`), and `decode_cost` counts it.
"""

import tensorflow as tf

from tfpc import errors
from tfpc import limits
from tfpc.codecs import base
from tfpc.codecs import latent
from tfpc.codecs import transforms

# The strided (de)convolutions are those of the shared transforms.
# pylint: disable=protected-access


BACKBONES = ("nlaic", "mbt2018-mean")


class ResidualBlock(tf.keras.layers.Layer):
  """x + conv3x3(relu(conv3x3(x))); `identity_start`: the second
  convolution starts at zero."""

  def __init__(self, filters, identity_start=False, **kwargs):
    super().__init__(**kwargs)
    self.first = tf.keras.layers.Conv2D(filters, 3, padding="same",
                                        activation="relu")
    self.second = tf.keras.layers.Conv2D(
        filters, 3, padding="same",
        kernel_initializer="zeros" if identity_start else "glorot_uniform")

  def call(self, x):
    return x + self.second(self.first(x))


class NonLocalBlock(tf.keras.layers.Layer):
  """Embedded-Gaussian non-local block (Wang et al. 2018).

  z = x + W(softmax(theta(x) phi(x)^T) g(x)), with 1x1 convolutions theta,
  phi, g (half the channels) and W, the softmax over all positions. W starts
  at zero, so the block starts as the identity. At most `chunk` queries are
  scored at a time.
  """

  def __init__(self, filters, chunk=1024, **kwargs):
    super().__init__(**kwargs)
    inner = max(filters // 2, 1)
    self.theta, self.phi, self.g = (
        tf.keras.layers.Conv2D(inner, 1, name=name)
        for name in ("theta", "phi", "g"))
    self.output_conv = tf.keras.layers.Conv2D(
        filters, 1, kernel_initializer="zeros", name="output")
    self.chunk = chunk

  def _attend(self, queries, keys, values):
    """softmax(queries keys^T) values for [N, Q, C] queries."""
    return tf.matmul(tf.nn.softmax(tf.matmul(queries, keys, transpose_b=True)),
                     values)

  def call(self, x):
    shape = tf.shape(x)
    flat = lambda t: tf.reshape(t, [shape[0], -1, t.shape[-1]])
    queries, keys, values = (flat(f(x)) for f in (self.theta, self.phi,
                                                  self.g))
    positions = tf.shape(queries)[1]
    chunk = tf.minimum(positions, self.chunk)
    padded = -(-positions // chunk) * chunk
    chunks = tf.reshape(
        tf.pad(queries, [[0, 0], [0, padded - positions], [0, 0]]),
        [shape[0], -1, chunk, queries.shape[-1]])
    attended = tf.map_fn(lambda q: self._attend(q, keys, values),
                         tf.transpose(chunks, [1, 0, 2, 3]),
                         parallel_iterations=1)
    attended = tf.reshape(tf.transpose(attended, [1, 0, 2, 3]),
                          [shape[0], padded, values.shape[-1]])[:, :positions]
    attended = tf.reshape(attended,
                          tf.concat([shape[:3], [values.shape[-1]]], 0))
    return x + self.output_conv(attended)


class NonLocalAttention(tf.keras.layers.Layer):
  """NLAIC's NLAM: trunk(x) * sigmoid(mask(x)) + x.

  The trunk is residual blocks; the mask a non-local block, residual blocks
  and a 1x1 convolution. `identity_start`: the attended term is scaled per
  channel by a gate that starts at zero (the trunk's residual blocks make it
  nonzero at any initialization).
  """

  def __init__(self, filters, num_blocks=3, chunk=1024, identity_start=False,
               **kwargs):
    super().__init__(**kwargs)
    blocks = lambda: [ResidualBlock(filters) for _ in range(num_blocks)]
    self.trunk = tf.keras.Sequential(blocks(), name="trunk")
    self.mask = tf.keras.Sequential(
        [NonLocalBlock(filters, chunk, name="non_local"), *blocks(),
         tf.keras.layers.Conv2D(filters, 1)], name="mask")
    self.gate = self.add_weight(
        "gate", (filters,), initializer="zeros") if identity_start else None

  def call(self, x):
    attended = self.trunk(x) * tf.sigmoid(self.mask(x))
    return x + (attended if self.gate is None else self.gate * attended)


class _Modules:
  """The layers of one backbone's transforms: strided layers (with GDN/IGDN
  after all but the last for mbt2018-mean), residual blocks and NLAMs."""

  def __init__(self, backbone, num_blocks, chunk):
    self.mbt2018 = backbone == "mbt2018-mean"
    self.num_blocks, self.chunk = num_blocks, chunk

  def blocks(self, filters):
    return [ResidualBlock(filters, identity_start=self.mbt2018)
            for _ in range(self.num_blocks)]

  def attention(self, filters):
    return NonLocalAttention(filters, self.num_blocks, self.chunk,
                             identity_start=self.mbt2018)

  def conv(self, filters, index, last=False):
    activation = transforms.GDN(name=f"gdn_{index}") if (
        self.mbt2018 and not last) else None
    return transforms._conv(filters, 5, index, 2, activation)

  def deconv(self, filters, index, last=False):
    activation = transforms.GDN(name=f"igdn_{index}", inverse=True) if (
        self.mbt2018 and not last) else None
    return transforms._deconv(filters, 5, index, 2, activation)


def analysis_transform(num_filters, latent_channels, modules):
  """Image in [0, 255] to latents: four stride-2 5x5 convolutions, residual
  blocks after the first and third, NLAMs at 1/4 and on the latents."""
  return tf.keras.Sequential([
      tf.keras.layers.Rescaling(1 / 255),
      modules.conv(num_filters, 0), *modules.blocks(num_filters),
      modules.conv(num_filters, 1),
      modules.attention(num_filters),
      modules.conv(num_filters, 2), *modules.blocks(num_filters),
      modules.conv(latent_channels, 3, last=True),
      modules.attention(latent_channels),
  ], name="analysis")


def synthesis_transform(num_filters, latent_channels, modules):
  """Latents to image in [0, 255] (unclipped): the analysis mirrored."""
  return tf.keras.Sequential([
      modules.attention(latent_channels),
      modules.deconv(num_filters, 0), *modules.blocks(num_filters),
      modules.deconv(num_filters, 1),
      modules.attention(num_filters),
      modules.deconv(num_filters, 2), *modules.blocks(num_filters),
      modules.deconv(3, 3, last=True),
      tf.keras.layers.Rescaling(255),
  ], name="synthesis")


@base.register("nlaic-lite")
class NLAICLite(base.LearnedCodec):
  """NLAIC transforms (N filters, M latent channels, `num_blocks` residual
  blocks per stage) and a mean-scale hyperprior of `hyper_filters`, on the
  strided layers of `backbone` (`BACKBONES`; module docstring)."""

  whole_image_pixels = 2048 * 1024  # the paper's block

  def __init__(self, num_filters=192, latent_channels=192, hyper_filters=128,
               num_blocks=3, attention_chunk=1024, num_scales=64,
               scale_min=0.11, scale_max=256.0, backbone="nlaic"):
    if backbone not in BACKBONES:
      raise errors.ConfigError(
          f"nlaic-lite: backbone {backbone!r} is not one of {BACKBONES}")
    modules = _Modules(backbone, num_blocks, attention_chunk)
    middle = hyper_filters * 3 // 2 if modules.mbt2018 else hyper_filters
    super().__init__(
        analysis_transform(num_filters, latent_channels, modules),
        synthesis_transform(num_filters, latent_channels, modules),
        latent.Hyperprior(
            transforms.hyper_analysis_transform(hyper_filters),
            transforms.hyper_synthesis_transform(
                (hyper_filters, middle, 2 * latent_channels)),
            latent_channels, hyper_filters, num_scales, scale_min, scale_max,
            mean=True),
        num_filters=num_filters, latent_channels=latent_channels,
        hyper_filters=hyper_filters, num_blocks=num_blocks,
        attention_chunk=attention_chunk, num_scales=num_scales,
        scale_min=scale_min, scale_max=scale_max, backbone=backbone)

  @classmethod
  def decode_cost(cls, config, height, width):
    """The base's estimate, plus the residual blocks (two 3x3 convolutions
    each: at 1/2 and 1/8 of the resolution, and in the attention modules at
    1/4 and 1/16, twice) and the attention: at P positions of C channels,
    P^2 C multiply-adds and, per chunk of queries, three float32 chunk x P
    matrices (scores, their exponentials, the softmax)."""
    cost = super().decode_cost(config, height, width)
    filters = config.get("num_filters", 192)
    latents = config.get("latent_channels", 192)
    blocks = config.get("num_blocks", 3)
    chunk = config.get("attention_chunk", 1024)
    pixels = height * width
    work = 18 * filters**2 * blocks * pixels * (1 / 4 + 1 / 64 + 2 / 16)
    memory = 0
    for positions, channels in ((pixels / 16, filters),
                                (pixels / 256, latents)):
      work += positions**2 * channels
      memory = max(memory, 12 * min(chunk, positions) * positions)
    return limits.Cost(cost.memory + int(memory), cost.work + work)
