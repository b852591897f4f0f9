"""An importance-masked latent volume under a 3D masked PixelCNN (Mentzer 2018).

The analysis output is K latent channels plus one importance channel. The
importance map y = K sigmoid(.) expands to a K-channel mask m[k] = clip(y - k,
0, 1) (1 below y, the fractional part at y, 0 above; DPC section 3.1) whose
ceiling, with a straight-through gradient, multiplies the latents. A quantizer
maps them to the nearest of L learned centers (soft assignment backward). A 3D
masked PixelCNN over the (K, h, w) volume of centers predicts a categorical
distribution over the L centers for each symbol, from the symbols before it
in (channel, row, column) order; the rate is its cross-entropy, counted only
where the mask is on, plus the depths ceil(y) under a learned categorical.

Real coding (`constriction`'s range coder, numpy): the depths first, then the
unmasked symbols in wavefront order. A 3x3x3 causal kernel sees only offsets
with 4 dk + 2 di + dj < 0, so all symbols with the same t = 4 k + 2 i + j
depend only on smaller t: the decoder runs each layer of the context network
once per wavefront on just those positions, reading cached activations of
earlier ones (4 (K - 1) + 2 (h - 1) + w steps, never one per symbol).

Determinism: the coding path computes the context network exactly (float64,
weights on a 2^-16 grid, activations on a 2^-12 grid, as `transforms.exact`),
so the encoder's convolutions and the decoder's gathered products give
bit-identical logits, which `frequencies` maps to integer frequencies with
integer arithmetic. Decoding cannot run in stock TF: `encode` and `decode` call
numpy through `tf.numpy_function`, and need `constriction` on the client.
"""

import constriction
import numpy as np
import tensorflow as tf

from tfpc.codecs import latent
from tfpc.codecs import transforms

WEIGHT_BITS = 16
ACTIVATION_BITS = 12
# 2^(24 + f / 256), f = 0..255, as integers: logits (in units of 1/256 bit
# after scaling) map to frequencies by a table lookup and a shift.
_EXP2_TABLE = np.round(2.0**(24 + np.arange(256) / 256)).astype(np.int64)
_MAX_SHIFT = 24


def importance_mask(importance, channels):
  """The soft mask m [..., K] of an importance map [..., 1] in [0, K]."""
  return tf.clip_by_value(importance - tf.range(channels, dtype=tf.float32),
                          0.0, 1.0)


def hard_mask(importance, channels):
  """ceil(m) forward, the gradient of m backward."""
  mask = importance_mask(importance, channels)
  return mask + tf.stop_gradient(tf.math.ceil(mask) - mask)


def _causal_mask(include_center):
  """[3, 3, 3] 0/1: the offsets before the center in (k, i, j) order."""
  order = np.arange(27).reshape(3, 3, 3)
  return (order < 13) | ((order == 13) & include_center)


def _grid(x):
  """`transforms._to_grid` in numpy, on the activation grid."""
  return np.round(np.asarray(x, np.float64) * 2.0**ACTIVATION_BITS) / (
      2.0**ACTIVATION_BITS)


class CenterQuantizer(tf.keras.layers.Layer):
  """Nearest of L learned centers forward; softmax(-sigma d^2) backward.

  `sigma` is a non-trainable variable, so a schedule may anneal it.
  """

  def __init__(self, num_centers=6, sigma=1.0, **kwargs):
    super().__init__(**kwargs)
    self.centers = self.add_weight(
        "centers", (num_centers,), initializer=tf.keras.initializers.Constant(
            np.linspace(-2.0, 2.0, num_centers)))
    self.sigma = self.add_weight(
        "sigma", (), initializer=tf.keras.initializers.Constant(sigma),
        trainable=False)

  def indexes(self, z):
    """Index [...] int32 of the nearest center."""
    return tf.argmin(abs(z[..., None] - self.centers), axis=-1,
                     output_type=tf.int32)

  def call(self, z):
    """(nearest centers with the soft assignment's gradient, indexes)."""
    distances = tf.math.squared_difference(z[..., None], self.centers)
    soft = tf.reduce_sum(tf.nn.softmax(-self.sigma * distances) * self.centers,
                         axis=-1)
    indexes = self.indexes(z)
    hard = tf.gather(self.centers, indexes)
    return soft + tf.stop_gradient(hard - soft), indexes


class MaskedConv3D(tf.keras.layers.Layer):
  """3x3x3 convolution of a [N, K, h, w, C] volume seeing only earlier
  positions in (k, i, j) order (mask A), or also its own (mask B)."""

  def __init__(self, filters, include_center, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.include_center = include_center
    self.mask = _causal_mask(include_center)

  def build(self, input_shape):
    self.kernel = self.add_weight(
        "kernel", (3, 3, 3, input_shape[-1], self.filters),
        initializer="glorot_uniform")
    self.bias = self.add_weight("bias", (self.filters,), initializer="zeros")

  def masked_kernel(self):
    return self.kernel * self.mask[..., None, None].astype(np.float32)

  def call(self, x):
    return tf.nn.conv3d(x, self.masked_kernel(), [1] * 5, "SAME") + self.bias


class ContextModel(tf.keras.layers.Layer):
  """3D masked PixelCNN: center values [N, h, w, K] to logits [N, h, w, K, L].

  One mask-A layer, `num_layers - 2` mask-B layers with ReLUs, a mask-B
  output layer; plus `depth_logits`, the categorical prior of the depths.
  """

  def __init__(self, channels, num_centers=6, filters=24, num_layers=3,
               **kwargs):
    super().__init__(**kwargs)
    self.convs = [MaskedConv3D(filters if i < num_layers - 1 else num_centers,
                               include_center=i > 0, name=f"masked_{i}")
                  for i in range(num_layers)]
    self.depth_logits = self.add_weight("depth_logits", (channels + 1,),
                                        initializer="zeros")

  def call(self, values):
    x = tf.transpose(values, (0, 3, 1, 2))[..., None]
    for i, conv in enumerate(self.convs):
      x = conv(x)
      if i < len(self.convs) - 1:
        x = tf.nn.relu(x)
    return tf.transpose(x, (0, 2, 3, 1, 4))

  def exact_weights(self):
    """[(kernel, bias)] float64 on the weight grid, and the depth logits."""
    return ([(_tf_grid(c.masked_kernel(), WEIGHT_BITS),
              _tf_grid(c.bias, WEIGHT_BITS)) for c in self.convs],
            _tf_grid(self.depth_logits))


def _tf_grid(x, bits=ACTIVATION_BITS):
  return transforms._to_grid(x, bits)  # pylint: disable=protected-access


def exact_logits(values, layers):
  """The context network computed exactly (stock TF, float64): centers
  [N, h, w, K] to logits [N, h, w, K, L] on the activation grid."""
  x = _tf_grid(tf.transpose(values, (0, 3, 1, 2))[..., None])
  for i, (kernel, bias) in enumerate(layers):
    x = tf.nn.conv3d(x, kernel, [1] * 5, "SAME") + bias
    x = _tf_grid(tf.nn.relu(x) if i < len(layers) - 1 else x)
  return tf.transpose(x, (0, 2, 3, 1, 4))


def frequencies(logits):
  """Probabilities [n, L] float64 from exact logits, by integer arithmetic.

  p ~ 2^(logit log2(e)), with the exponent rounded to 1/256 and at most
  `_MAX_SHIFT` bits below the largest: every entry is nonzero, and equal
  logits give equal probabilities on every machine."""
  steps = np.round(np.asarray(logits, np.float64) * (256 / np.log(2)))
  steps = steps.astype(np.int64)
  steps = np.maximum(steps - steps.max(-1, keepdims=True), -256 * _MAX_SHIFT)
  counts = _EXP2_TABLE[steps & 255] >> -(steps >> 8)
  return counts / counts.sum(-1, keepdims=True)


def wavefront_order(channels, height, width):
  """Flat (k, i, j) indexes in coding order and the wavefront boundaries."""
  k, i, j = np.meshgrid(np.arange(channels), np.arange(height),
                        np.arange(width), indexing="ij")
  times = (4 * k + 2 * i + j).ravel()
  order = np.argsort(times, kind="stable")
  bounds = np.searchsorted(times[order], np.arange(times.max() + 2))
  return order, bounds


_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def _depth_model(depth_logits):
  return constriction.stream.model.Categorical(
      frequencies(depth_logits[None])[0], perfect=False)


def _coded(depths, channels):
  """Whether each (k, i, j) is coded: k below the depth at (i, j)."""
  return np.arange(channels)[:, None, None] < depths[None]


def encode_volume(indexes, depths, logits, depth_logits):
  """Range-codes one image: indexes [h, w, K], depths [h, w], exact logits
  [h, w, K, L]. Returns (depth string, symbol string)."""
  indexes = np.transpose(indexes, (2, 0, 1))
  logits = np.transpose(logits, (2, 0, 1, 3))
  order, _ = wavefront_order(*indexes.shape)
  order = order[_coded(depths, indexes.shape[0]).ravel()[order]]
  strings = []
  for symbols, model in (
      (depths.ravel(), (_depth_model(depth_logits),)),
      (indexes.ravel()[order], (_CATEGORICAL, frequencies(
          logits.reshape(-1, logits.shape[-1])[order])))):
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.astype(np.int32), *model)
    strings.append(encoder.get_compressed().tobytes())
  return strings


def causal_offsets(include_center):
  """[n, 3] offsets (dk, di, dj) + 1 that a masked kernel reads (indexes
  into a cache padded by one), in the order of its taps."""
  return np.argwhere(_causal_mask(include_center))


def decode_volume(depth_string, symbol_string, shape, centers, layers,
                  depth_logits):
  """Inverse of `encode_volume`: indexes [h, w, K] int32.

  `shape` (h, w, K); `centers` [L]; `layers` the exact (kernel, bias)
  float64 pairs. Runs the context network once per wavefront. Strings that
  no encoder wrote raise ValueError (constriction asserts on them)."""
  try:
    return _decode_volume(depth_string, symbol_string, shape, centers,
                          layers, depth_logits)
  except AssertionError as e:
    raise ValueError(f"invalid range-coded data ({e})") from None


def _decode_volume(depth_string, symbol_string, shape, centers, layers,
                   depth_logits):
  height, width, channels = shape
  depths = _decoder(depth_string).decode(
      _depth_model(depth_logits), height * width).reshape(height, width)
  coded = _coded(depths, channels)
  # The float32 centers pick the masked symbol, as `CenterQuantizer.indexes`.
  indexes = np.full((channels, height, width), np.argmin(abs(centers)),
                    np.int32)
  centers = _grid(centers)
  # Zero-padded activations of the input and of every layer but the last.
  caches = [np.zeros((channels + 2, height + 2, width + 2, kernel.shape[-2]))
            for kernel, _ in layers]
  caches[0][1:-1, 1:-1, 1:-1, 0] = centers[indexes]
  plans = [(causal_offsets(i > 0), kernel[_causal_mask(i > 0)].reshape(
      -1, kernel.shape[-1]), bias) for i, (kernel, bias) in enumerate(layers)]
  decoder = _decoder(symbol_string)
  order, bounds = wavefront_order(channels, height, width)
  for start, stop in zip(bounds[:-1], bounds[1:]):
    k, i, j = np.unravel_index(order[start:stop], (channels, height, width))
    for layer, (offsets, kernel, bias) in enumerate(plans):
      gathered = caches[layer][k[:, None] + offsets[:, 0],
                               i[:, None] + offsets[:, 1],
                               j[:, None] + offsets[:, 2]]
      x = gathered.reshape(len(k), kernel.shape[0]) @ kernel + bias
      if layer < len(plans) - 1:
        caches[layer + 1][k + 1, i + 1, j + 1] = _grid(np.maximum(x, 0.0))
    todo = coded[k, i, j]
    if todo.any():
      values = decoder.decode(_CATEGORICAL, frequencies(_grid(x[todo])))
      indexes[k[todo], i[todo], j[todo]] = values
      caches[0][k[todo] + 1, i[todo] + 1, j[todo] + 1, 0] = centers[values]
  return np.transpose(indexes, (1, 2, 0))


def _decoder(string):
  return constriction.stream.queue.RangeDecoder(
      np.frombuffer(string, np.uint32))


def _depth_bits(depth_logits, depths):
  """Bits [N] of depths [N, h, w, 1] under the categorical `depth_logits`."""
  log_probabilities = tf.cast(tf.nn.log_softmax(depth_logits), tf.float32)
  return -tf.reduce_sum(tf.gather(log_probabilities, depths),
                        axis=(1, 2, 3)) / np.log(2.0)


class ImportanceContext(latent.LatentCodec):
  """Mentzer et al. 2018's bottleneck: importance-masked latents on L
  centers, coded with a 3D masked PixelCNN.

  Symbols: `latents` [1, h, w, K] center indexes (masked positions hold the
  center nearest 0) and `importance` [1, h, w, 1] depths in 0..K; strings in
  that order, decoded importance first.
  """

  host_coder = "constriction"

  def __init__(self, channels, num_centers=6, context_filters=24,
               context_layers=3, sigma=1.0):
    super().__init__(
        [latent.Symbol("latents", channels, 1),
         latent.Symbol("importance", 1, 1)],
        quantizer=CenterQuantizer(num_centers, sigma, name="quantizer"),
        context_model=ContextModel(channels, num_centers, context_filters,
                                   context_layers, name="context_model"))
    self.channels = channels

  def entropy_models(self, compression):
    return {}

  def _split(self, y):
    """Latents [N, h, w, K] and importance map [N, h, w, 1] in [0, K]."""
    return y[..., 1:], self.channels * tf.sigmoid(y[..., :1])

  def forward(self, y, training):
    z, importance = self._split(y)
    mask = hard_mask(importance, self.channels)
    y_hat, indexes = self.quantizer(z * mask)
    logits = self.context_model(y_hat)
    symbol_bits = tf.nn.sparse_softmax_cross_entropy_with_logits(
        indexes, logits) / np.log(2.0)
    depths = tf.cast(tf.math.ceil(importance), tf.int32)
    bits = tf.reduce_sum(symbol_bits * mask, axis=(1, 2, 3)) + _depth_bits(
        self.context_model.depth_logits, depths)
    return {"y_hat": y_hat, "bits": bits, "importance": importance}

  def quantize(self, y):
    z, importance = self._split(y)
    mask = tf.math.ceil(importance_mask(importance, self.channels))
    return {"latents": self.quantizer.indexes(z * mask),
            "importance": tf.cast(tf.math.ceil(importance), tf.int32)}

  def dequantize(self, symbols):
    return tf.gather(self.quantizer.centers, symbols["latents"])

  def _logits(self, symbols):
    layers, _ = self.context_model.exact_weights()
    return exact_logits(self.dequantize(symbols), layers)

  def bits(self, symbols):
    _, depth_logits = self.context_model.exact_weights()
    symbol_bits = tf.nn.sparse_softmax_cross_entropy_with_logits(
        symbols["latents"], self._logits(symbols))
    depths = symbols["importance"]
    coded = tf.cast(tf.range(self.channels) < depths, tf.float64)
    return tf.cast(tf.reduce_sum(symbol_bits * coded, axis=(1, 2, 3)) /
                   np.log(2.0), tf.float32) + _depth_bits(depth_logits, depths)

  def encode(self, symbols):
    _, depth_logits = self.context_model.exact_weights()
    strings = tf.numpy_function(
        encode_volume, [
            symbols["latents"][0], symbols["importance"][0, ..., 0],
            self._logits(symbols)[0], depth_logits],
        [tf.string, tf.string], stateful=False)
    return [tf.reshape(s, [1]) for s in reversed(strings)]

  def decode(self, strings, shape):
    layers, depth_logits = self.context_model.exact_weights()
    flat = [t for layer in layers for t in layer]

    def run(symbol_bytes, depth_bytes, volume_shape, centers, depth_logits,
            *weights):
      return decode_volume(depth_bytes.tobytes(), symbol_bytes.tobytes(),
                           volume_shape, centers,
                           list(zip(weights[::2], weights[1::2])),
                           depth_logits)

    # As uint8 arrays: numpy would strip trailing zero bytes off strings.
    indexes = tf.numpy_function(
        run, [tf.io.decode_raw(strings[0], tf.uint8),
              tf.io.decode_raw(strings[1], tf.uint8),
              tf.concat([shape, [self.channels]], 0),
              self.quantizer.centers, depth_logits, *flat], tf.int32,
        stateful=False)
    indexes = tf.reshape(indexes, tf.concat([[1], shape, [self.channels]], 0))
    return self.dequantize({"latents": indexes})
