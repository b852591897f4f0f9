"""The structure every learned codec shares.

A codec is a Keras model with an analysis transform, a synthesis transform and
entropy models. Subclasses say how latents are modelled (`forward`) and coded
(`encode_symbols`, `decode_latents`); this base owns everything else: padding to
the model's stride, cropping back, rate in bits per pixel, and the
`compress`/`decompress` tf.functions with fixed input signatures (made by
`prepare_for_coding`). Subclasses
also expose the coding path split at the range coder (`latent_symbols`,
`symbol_bits`, `synthesize`), which needs stock TF ops only. The coding path
runs the transforms through `self.inference` (weights computed once, see
`inference.freeze`); training runs the Keras layers.
"""

import types

import tensorflow as tf

from tfpc.codecs import inference

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
  name = config.pop("architecture")
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

  Class attributes set by subclasses:
    architecture: registry name (set by `@register`).
    stride: total downsampling; coded images are padded to a multiple of it.
    symbol_names: the integer tensors `latent_symbols` returns, one
      range-coded string each.
  """

  architecture = None
  stride = None
  symbol_names = ("latents",)

  def __init__(self, num_filters=192):
    super().__init__(name=self.architecture)
    self.num_filters = num_filters
    # Filled in place by `prepare_for_coding`: Keras then tracks only the
    # current tables, so the model id and SavedModels never see stale ones.
    self.coding_models = {}

  @property
  def num_strings(self):
    return len(self.symbol_names)

  def get_config(self):
    return {"architecture": self.architecture, "num_filters": self.num_filters}

  def call(self, x, training=False):
    """Runs the codec on a float batch in [0, 255] with sides a stride multiple.

    Returns a dict with `x_hat` (reconstruction, unclipped float), `bits`
    (estimated bits per image, [N]), `bpp` (mean bits per pixel), `y_hat`
    (quantized or noisy latents) and whatever else the subclass exposes.
    In training mode quantization is replaced by additive uniform noise.
    """
    outputs = self.forward(tf.cast(x, tf.float32), training)
    num_pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
    outputs["bpp"] = tf.reduce_mean(outputs["bits"]) / num_pixels
    return outputs

  def forward(self, x, training):
    """Returns dict(x_hat, bits, y_hat, ...) for a float batch."""
    raise NotImplementedError

  def entropy_models(self, compression):
    """Dict of the tfc entropy models (`latent`, and `side` if any)."""
    raise NotImplementedError

  def prepare_for_coding(self):
    """(Re)builds the range-coding tables and the inference transforms from
    the current weights, and the `compress`/`decompress` tf.functions that
    use them."""
    self.coding_models.update(self.entropy_models(compression=True))
    # Plain functions (Keras does not track them): SavedModels hold the
    # constants their traces capture.
    self.inference = types.SimpleNamespace(**{
        name: inference.freeze(value) for name, value in vars(self).items()
        if isinstance(value, tf.keras.Sequential)})
    # New functions: traces of earlier ones captured the replaced tables.
    self.compress = tf.function(self._compress, input_signature=[
        tf.TensorSpec((None, None, 3), tf.uint8)])
    self.decompress = tf.function(self._decompress, input_signature=[
        tf.TensorSpec((None,), tf.string), tf.TensorSpec((2,), tf.int32)])

  def encode_symbols(self, symbols):
    """`latent_symbols` output of one image to `num_strings` [1] strings."""
    raise NotImplementedError

  def decode_latents(self, strings, padded_shape):
    """Strings [num_strings] and padded image shape [2] to a float [1,H,W,3]."""
    raise NotImplementedError

  # The coding path split at the range coder, in stock TF ops only (after
  # `prepare_for_coding`): what the serving form of an exported model runs.

  def latent_symbols(self, x):
    """Padded float batch to the integer tensors the range coder codes.

    A dict: `latents` (int32 [N, h, w, C]) and, for hyperprior models,
    `side_latents`. `encode_symbols` range-codes exactly these.
    """
    raise NotImplementedError

  def symbol_bits(self, symbols):
    """Bits per image [N] the range coder spends on `latent_symbols` output."""
    raise NotImplementedError

  def synthesize(self, latents):
    """int32 latents [N, h, w, C] to the float reconstruction (padded size)."""
    raise NotImplementedError

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
