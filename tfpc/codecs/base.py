"""The structure every learned codec shares.

A codec is a Keras model: an analysis transform, a synthesis transform and a
latent codec (`latent.LatentCodec`: symbols, strings, rate, decode order)
between them. This base owns everything else: padding to the model's stride,
cropping back, rate in bits per pixel, the training call, the coding path
split at the range coder, and the `compress`/`decompress` tf.functions with
fixed input signatures (made by `prepare_for_coding`). A new codec is a
registered subclass whose constructor builds the three parts. The coding path
runs the two main transforms through `self.inference` (`inference.fast_path`,
tiled); training runs the Keras layers, whose convolutions compute the same way
(`transforms.SignalConv2D`).
"""

import functools
import types

import tensorflow as tf

from tfpc import limits
from tfpc.codecs import inference
from tfpc.codecs import tiling

CODECS = {}


def register(name):
  """Class decorator: makes a codec constructible by name (see `build_codec`)."""
  def decorate(cls):
    cls.architecture = name
    CODECS[name] = cls
    return cls
  return decorate


def build_codec(config):
  """Builds an untrained codec from a config dict with an `architecture` key."""
  config = dict(config)
  name = config.pop("architecture", None)
  if name not in CODECS:
    raise ValueError(
        f"unknown codec architecture {name!r}; known: {sorted(CODECS)}")
  return CODECS[name](**config)


def pad_to_multiple(x, multiple):
  """Pads [N, H, W, C] at bottom/right by edge replication to a multiple."""
  height, width = tf.shape(x)[1], tf.shape(x)[2]
  rows = tf.minimum(tf.range(-(-height // multiple) * multiple), height - 1)
  cols = tf.minimum(tf.range(-(-width // multiple) * multiple), width - 1)
  return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


class LearnedCodec(tf.keras.Model):
  """Base class of tfpc's learned codecs.

  Attributes:
    architecture: registry name (set by `@register`).
    transform_stride: downsampling of the analysis transform.
    stride: coded images are padded to a multiple of it.
    latent_codec: the `LatentCodec`; its parts are attributes of the codec.
    coding_halo: for transforms with a bounded receptive field, its radius
      (or more) in latent positions, in both transforms: the coding path then
      runs them in tiles with this halo (`tiling.tiled`); None: whole images.
    coding_memory: bytes a tile's activations may take, roughly; sets the
      tile size.
    whole_image_pixels: images larger than this are better coded in blocks
      (`tfpc.blocks`), even when their decode fits the budget: the codec's
      decode time per pixel grows with the image; None: no such size.
    separate_decoder: True when the synthesis transform may be tuned after
      training (a perceptual decoder): the model id of its files then covers
      every other weight (`export.layout.coding_id`).
  """

  architecture = None
  transform_stride = 16
  coding_halo = None
  coding_memory = 1 << 30
  whole_image_pixels = None
  separate_decoder = False

  def __init__(self, analysis_transform, synthesis_transform, latent_codec,
               **config):
    """`config`: the constructor arguments of the subclass (`get_config`)."""
    super().__init__(name=self.architecture)
    self._config = config
    self.analysis_transform = analysis_transform
    self.synthesis_transform = synthesis_transform
    for name, part in latent_codec.parts.items():
      setattr(self, name, part)
    # Filled in place by `prepare_for_coding`: Keras then tracks only the
    # current tables, so the model id and SavedModels never see stale ones.
    self.coding_models = {}
    latent_codec.bind(self.coding_models)
    self.latent_codec = latent_codec
    self.stride = self.transform_stride * latent_codec.downsampling
    # Built by a call, not `build(shape)`: with TF first imported inside an
    # absl main, building tfc layers in a traced graph fails.
    self(tf.zeros((1, self.stride, self.stride, 3)))

  @property
  def symbol_names(self):
    return tuple(s.name for s in self.latent_codec.symbols)

  @property
  def num_strings(self):
    return len(self.latent_codec.symbols)

  def symbol_specs(self, names=None, batch=None):
    """TensorSpecs of the symbols (all, or those `names`), for signatures."""
    return [tf.TensorSpec((batch, None, None, s.channels), tf.int32,
                          name=s.name) for s in self.latent_codec.symbols
            if names is None or s.name in names]

  def get_config(self):
    return {"architecture": self.architecture, **self._config}

  def call(self, x, training=False):
    """Runs the codec on a float batch in [0, 255] with sides a stride multiple.

    Returns a dict with `x_hat` (reconstruction, unclipped float), `bits`
    (estimated bits per image, [N]), `bpp` (mean bits per pixel), `y_hat`
    (quantized or noisy latents) and whatever else the latent codec exposes.
    In training mode quantization is replaced by additive uniform noise.
    """
    sides = [side for side in x.shape[1:3] if side is not None]
    if any(side % self.stride for side in sides):
      raise ValueError(f"{self.architecture}: image sides {tuple(x.shape[1:3])}"
                       f" must be multiples of {self.stride} (pad them, as "
                       "compress does: base.pad_to_multiple)")
    x = tf.cast(x, tf.float32)
    outputs = self.latent_codec.forward(self.analysis_transform(x), training)
    outputs["x_hat"] = self.synthesis_transform(outputs["y_hat"])
    num_pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
    outputs["bpp"] = tf.reduce_mean(outputs["bits"]) / num_pixels
    return outputs

  def entropy_models(self, compression):
    """Dict of the tfc entropy models of the latent codec."""
    return self.latent_codec.entropy_models(compression)

  def prepare_for_coding(self):
    """(Re)builds the range-coding tables and the inference transforms from
    the current weights, and the `compress`/`decompress` tf.functions that
    use them."""
    self.coding_models.update(self.entropy_models(compression=True))
    # Plain functions (Keras does not track them) that read the layers'
    # variables.
    analysis = inference.fast_path(self.analysis_transform)
    synthesis = inference.fast_path(self.synthesis_transform)
    if self.coding_halo is not None:
      stride, halo = self.transform_stride, self.coding_halo
      channels = self.analysis_transform(tf.zeros((1, stride, stride, 3)))
      latent_tile = max(self.tile_side() // stride, 1)
      analysis = functools.partial(
          tiling.tiled, analysis, tile=latent_tile * stride,
          halo=halo * stride, channels=channels.shape[-1], down=stride)
      synthesis = functools.partial(
          tiling.tiled, synthesis, tile=latent_tile, halo=halo, channels=3,
          up=stride)
    self.inference = types.SimpleNamespace(analysis_transform=analysis,
                                           synthesis_transform=synthesis)
    # New functions: traces of earlier ones captured the replaced tables.
    self.compress = tf.function(self._compress, input_signature=[
        tf.TensorSpec((None, None, 3), tf.uint8)])
    self.decompress = tf.function(self._decompress, input_signature=[
        tf.TensorSpec((None,), tf.string), tf.TensorSpec((2,), tf.int32)])

  @classmethod
  def decode_cost(cls, config, height, width):
    """Roughly what decoding a height x width image takes, from the model's
    config alone (a `limits.Cost`).

    Memory: the output buffers (float32 reconstruction, uint8 pixels, their
    copies: 40 bytes per pixel), and the synthesis activations: a tile's
    (`coding_memory`) when the transform runs in tiles, else four float32
    copies of its widest layer (N filters at half the resolution: 4 N bytes
    per pixel; measured: benchmarks/decode_cost.py). Work: 5x5 (de)convolutions of N filters at 1/2, 1/4 and 1/8
    of the resolution, about 9 N^2 multiply-adds per pixel.
    """
    filters = config.get("num_filters", 192)
    pixels = height * width
    activations = 4 * filters * pixels
    if cls.coding_halo is not None:
      activations = min(activations, cls.coding_memory)
    return limits.Cost(40 * pixels + activations, 9 * filters**2 * pixels)

  def tile_side(self):
    """Pixels per tile side: the largest multiple of the stride whose
    activations (about 16 bytes per pixel and filter) fit `coding_memory`."""
    filters = self._config.get("num_filters", 192)
    side = int((self.coding_memory / (16 * filters)) ** 0.5)
    return max(side // self.stride, 1) * self.stride

  # The coding path split at the range coder (after `prepare_for_coding`).
  # All but `encode_symbols` and `decode_latents` are stock TF: what the
  # serving form of an exported model runs.

  def latent_symbols(self, x):
    """Padded float batch to the symbols dict the range coder codes."""
    return self.latent_codec.quantize(self.inference.analysis_transform(x))

  def encode_symbols(self, symbols):
    """`latent_symbols` output of one image to `num_strings` [1] strings."""
    return self.latent_codec.encode(symbols)

  def symbol_bits(self, symbols):
    """Bits per image [N] the range coder spends on `latent_symbols` output."""
    return self.latent_codec.bits(symbols)

  def synthesize(self, symbols):
    """The latent codec's `synthesis_symbols` to the float reconstruction."""
    return self.inference.synthesis_transform(
        self.latent_codec.dequantize(symbols))

  def decode_latents(self, strings, padded_shape):
    """Strings [num_strings] and padded image shape [2] to a float [1,H,W,3]."""
    return self.inference.synthesis_transform(self.latent_codec.decode(
        strings, padded_shape // self.transform_stride))

  def _compress(self, image):
    """Compresses one uint8 image [H, W, 3] to (strings [K], image shape [2])."""
    x = pad_to_multiple(tf.cast(image[None], tf.float32), self.stride)
    strings = tf.concat(self.encode_symbols(self.latent_symbols(x)), axis=0)
    return strings, tf.shape(image)[:2]

  def _decompress(self, strings, image_shape):
    """Inverse of `compress`: strings and image shape to a uint8 image."""
    padded_shape = -(-image_shape // self.stride) * self.stride
    x_hat = self.decode_latents(strings, padded_shape)
    x_hat = x_hat[0, :image_shape[0], :image_shape[1], :]
    return tf.saturate_cast(tf.round(x_hat), tf.uint8)
