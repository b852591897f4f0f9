"""Latent codecs: how a codec's latents are quantized, modelled and coded.

As CompressAI's latent codecs, on tfc's entropy models. A learned codec is an
analysis and a synthesis transform around one `LatentCodec`, which owns
everything in between: the symbols (named int32 tensors, with their channels
and sizes), one range-coded string per symbol, the rate, and the decode order.

A latent codec is plain Python, not a Keras object: its networks (`parts`)
become attributes of the codec that uses it, so checkpoints and SavedModels
keep flat object paths (`codec.prior`, `codec.hyper_synthesis_transform`) and
sub-networks are found by name across architectures (warm starts, freezing).

Decode determinism: entropy-model parameters computed by a network (scale
indexes, means) are computed on the coding path by `transforms.exact`, whose
arithmetic is exact, so encoder and decoder agree on every machine, thread
count and oneDNN setting (tensorflow/compression#44, CompressAI#279).
"""

import collections
import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfpc import entropy
from tfpc import errors
from tfpc.codecs import transforms

Symbol = collections.namedtuple("Symbol", "name channels downsampling")
Symbol.__doc__ = """An int32 symbol tensor [N, h / downsampling,
w / downsampling, channels], (h, w) the size of the latents."""


def _per_image(bits):
  return tf.reduce_sum(bits, axis=(1, 2, 3))


class LatentCodec:
  """Base class: latents y (float [N, h, w, C]) to symbols, strings and back.

  Attributes:
    parts: name -> network (Keras layer or tf.Module) the codec adopts.
    symbols: `Symbol`s, in the order of their strings.
    synthesis_symbols: the symbols `dequantize` needs.
    serving_unsupported: None, or why no stock-TF serving form exists (a
      latent codec whose rate cannot be computed in stock TF; none of
      tfpc's: DPC's context model computes its rate in stock TF).
    host_coder: None, or the Python package that `encode`/`decode` run on
      the host (not inside the SavedModel): the codec form then needs tfpc
      and it (DPC: "constriction").
    coding_models: the codec's tables (`entropy_models(compression=True)`),
      bound by the codec.
  """

  synthesis_symbols = ("latents",)
  serving_unsupported = None
  host_coder = None

  def __init__(self, symbols, **parts):
    self.symbols = tuple(symbols)
    self.parts = parts
    for name, part in parts.items():
      setattr(self, name, part)
    self.coding_models = {}

  def bind(self, coding_models):
    self.coding_models = coding_models

  @property
  def downsampling(self):
    """Factor by which the latents' sides must divide."""
    return max(s.downsampling for s in self.symbols)

  def entropy_models(self, compression):
    """Dict of tfc entropy models; with compression, the coding tables."""
    raise NotImplementedError

  def forward(self, y, training):
    """dict(y_hat, bits [N], ...): noisy (training) or quantized latents."""
    raise NotImplementedError

  # The coding path (after the codec's `prepare_for_coding`).

  def quantize(self, y):
    """Latents to the symbols dict (stock TF)."""
    raise NotImplementedError

  def encode(self, symbols):
    """Symbols of one image to a list of [1] strings, one per symbol."""
    raise NotImplementedError

  def decode(self, strings, shape):
    """Strings [K] and the latents' spatial shape [2] to y_hat [1, h, w, C]."""
    raise NotImplementedError

  def bits(self, symbols):
    """Bits per image [N] the range coder spends on `symbols` (stock TF)."""
    raise NotImplementedError

  def dequantize(self, symbols):
    """`synthesis_symbols` to y_hat, the synthesis input (stock TF)."""
    raise NotImplementedError


class Factorized(LatentCodec):
  """Each channel under its own non-parametric density (BLS2017; the side
  latents of a hyperprior). Symbols are round(y - quantization offset)."""

  def __init__(self, channels, symbol="latents", prior="prior",
               table="latent", downsampling=1):
    super().__init__([Symbol(symbol, channels, downsampling)],
                     **{prior: tfc.NoisyDeepFactorized(batch_shape=(channels,))})
    self._prior, self._table = prior, table

  def entropy_models(self, compression):
    prior = self.parts[self._prior]
    return {self._table: entropy.batched_coding_model(prior, coding_rank=3)
            if compression else
            tfc.ContinuousBatchedEntropyModel(prior, coding_rank=3)}

  def forward(self, y, training):
    y_hat, bits = self.entropy_models(False)[self._table](y, training=training)
    return {"y_hat": y_hat, "bits": bits}

  def _offset(self):
    return self.coding_models[self._table].quantization_offset

  def quantize(self, y):
    return {self.symbols[0].name: tf.cast(tf.round(y - self._offset()),
                                          tf.int32)}

  def dequantize(self, symbols):
    return tf.cast(symbols[self.symbols[0].name], tf.float32) + self._offset()

  def encode(self, symbols):
    return [self.coding_models[self._table].compress(self.dequantize(symbols))]

  def decode(self, strings, shape):
    return self.coding_models[self._table].decompress(strings[:1], shape)

  def bits(self, symbols):
    values = symbols[self.symbols[0].name]
    channels = tf.broadcast_to(tf.range(values.shape[-1]), tf.shape(values))
    return _per_image(entropy.table_bits(self.coding_models[self._table],
                                         values, channels))


class Hyperprior(LatentCodec):
  """Gaussian latents whose scale, and with `mean` their mean, a hyperprior
  predicts from side latents coded first (string 2, decoded first).

  Scale only: Ballé et al. 2018 (the hyper analysis sees |y|). Mean and
  scale: Minnen et al. 2018 without context (it sees y; the hyper synthesis
  outputs means, then scale indexes). Symbols are round(y - mean), coded with
  a `LocationScaleIndexedEntropyModel` whose scale table index is the hyper
  synthesis output, clipped and truncated.

  `quantizer` says what the synthesis transform sees in training: "noise",
  y plus uniform noise (Ballé et al.), or "ste", round(y - mean) + mean with
  a straight-through gradient: the values it decodes at test time (Minnen
  and Singh 2020; CompressAI's `quantizer="ste"`). The rate is the noisy
  estimate either way; the side latents keep noise (their quantization
  offset is estimated iteratively, too slow for every step).
  """

  QUANTIZERS = ("noise", "ste")

  def __init__(self, hyper_analysis, hyper_synthesis, channels, side_channels,
               num_scales=64, scale_min=0.11, scale_max=256.0, mean=False,
               quantizer="noise"):
    if quantizer not in self.QUANTIZERS:
      raise errors.ConfigError(f"quantizer must be one of {self.QUANTIZERS}, "
                               f"not {quantizer!r}")
    self.side = Factorized(side_channels, "side_latents", "hyperprior", "side",
                           downsampling=4)
    super().__init__(
        [Symbol("latents", channels, 1), *self.side.symbols],
        hyper_analysis_transform=hyper_analysis,
        hyper_synthesis_transform=hyper_synthesis, **self.side.parts)
    self.num_scales, self.scale_min, self.scale_max = (
        num_scales, scale_min, scale_max)
    self.mean, self.quantizer = mean, quantizer
    if mean:
      self.synthesis_symbols = ("latents", "side_latents")
    self._exact_synthesis = None

  def bind(self, coding_models):
    super().bind(coding_models)
    self.side.bind(coding_models)

  def _scale(self, index):
    log_min = math.log(self.scale_min)
    step = (math.log(self.scale_max) - log_min) / (self.num_scales - 1)
    return tf.math.exp(log_min + step * index)

  def entropy_models(self, compression):
    return {"latent": tfc.LocationScaleIndexedEntropyModel(
        tfc.NoisyNormal, self.num_scales, self._scale, coding_rank=3,
        compression=compression), **self.side.entropy_models(compression)}

  def _side_latents(self, y):
    return self.hyper_analysis_transform(y if self.mean else abs(y))

  def _parameters(self, hyper):
    """(means or None, scale indexes) from the hyper synthesis output."""
    if not self.mean:
      return None, hyper
    return tuple(tf.split(hyper, 2, axis=-1))

  def forward(self, y, training):
    side = self.side.forward(self._side_latents(y), training)
    loc, index = self._parameters(self.hyper_synthesis_transform(side["y_hat"]))
    y_hat, bits = self.entropy_models(False)["latent"](
        y, index, loc, training=training)
    if training and self.quantizer == "ste":
      y_hat = tfc.round_st(y, loc)
    return {"y_hat": y_hat, "bits": bits + side["bits"],
            "z_hat": side["y_hat"]}

  def _coding_parameters(self, z_hat):
    """(means or None, clipped scale indexes), computed exactly from z_hat."""
    if self._exact_synthesis is None:
      self._exact_synthesis = transforms.exact(self.hyper_synthesis_transform)
    loc, index = self._parameters(self._exact_synthesis(z_hat))
    return loc, tf.clip_by_value(index, 0.0, self.num_scales - 1.0)

  def _parameters_of(self, symbols):
    return self._coding_parameters(self.side.dequantize(symbols))

  def quantize(self, y):
    symbols = self.side.quantize(self._side_latents(y))
    loc, _ = self._parameters_of(symbols)
    if loc is not None:
      y -= loc
    return {"latents": tf.cast(tf.round(y), tf.int32), **symbols}

  def dequantize(self, symbols):
    y_hat = tf.cast(symbols["latents"], tf.float32)
    return y_hat if not self.mean else (
        y_hat + self._parameters_of(symbols)[0])

  def encode(self, symbols):
    _, index = self._parameters_of(symbols)
    return [self.coding_models["latent"].compress(
        tf.cast(symbols["latents"], tf.float32), index),
            *self.side.encode(symbols)]

  def decode(self, strings, shape):
    z_hat = self.side.decode(strings[1:2], shape // 4)
    loc, index = self._coding_parameters(z_hat)
    return self.coding_models["latent"].decompress(strings[:1], index, loc)

  def bits(self, symbols):
    _, index = self._parameters_of(symbols)
    latent_bits = entropy.table_bits(self.coding_models["latent"],
                                     symbols["latents"],
                                     tf.cast(index, tf.int32))
    return _per_image(latent_bits) + self.side.bits(symbols)
