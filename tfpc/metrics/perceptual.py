"""LPIPS, DISTS and VGG19 feature distances in TF, as the PyTorch references.

The networks are torchvision's VGG16, VGG19 and AlexNet `features` stacks,
with torchvision's weights (`tfpc.weights`: converted once by `tfpc_weights`),
PyTorch's padding and pooling arithmetic (explicit zero padding, pooling
windows that drop the last row or column when they do not fit), and named
outputs. The weights are constants, not variables: a network may be built
anywhere, also while a tf.function is traced, and is never trained.

- `LPIPS`: LPIPS v0.1 (Zhang et al. 2018, `lpips` 0.1.4) with AlexNet
  (`lpips`, the reference's default) or VGG16 (`lpips_vgg`): images scaled to
  [-1, 1] and by its scaling layer, features unit-normalized over channels,
  squared differences weighted by the learned heads, averaged over space and
  summed over layers.
- `DISTS`: DISTS (Ding et al. 2020, `DISTS_pytorch` 0.1): VGG16 with L2
  pooling in place of max-pooling, on [0, 1] images normalized by ImageNet's
  mean and std; 1 - the alpha/beta-weighted structure and texture
  similarities of the input and the five stages.
- `VGG19FeatureDistance`: the mean squared difference of VGG19 conv5_4
  features (`conv5_4`, before the ReLU, or `relu5_4`), on ImageNet-normalized
  [0, 1] images: the loss of EIC-E2E-P.

Every model takes a (reference, distorted) pair of float [N, H, W, 3] batches
in [0, 255] and returns distances [N]: 0 for identical images, lower is
better. They are differentiable; the gradient of LPIPS's normalization is
taken as 0 where a feature vector is all zero (the reference gives NaN).
"""

import threading

import numpy as np
import tensorflow as tf

from tfpc import weights

METRICS = ("lpips", "lpips_vgg", "dists")
DISTANCES = METRICS + ("vgg19_conv5_4", "vgg19_relu5_4")
NO_DISTANCE = "none"  # the option value of objectives without one
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_LAYERS = {"alex": ("relu1", "relu2", "relu3", "relu4", "relu5"),
                "vgg": ("relu1_2", "relu2_2", "relu3_3", "relu4_3",
                        "relu5_3")}
BACKBONES = {"vgg16": weights.VGG16, "vgg19": weights.VGG19,
             "alexnet": weights.ALEXNET}


def layer_names(backbone):
  """Names of the layers of a `features` stack: conv3_2, relu3_2, pool3...

  VGG layers are numbered by block and position; AlexNet's convolutions and
  ReLUs one after another (relu1...relu5) and its poolings by the conv they
  follow, as LPIPS names them.
  """
  names, block, position = [], 1, 0
  for _, kind, _, _ in weights.feature_layers(BACKBONES[backbone]):
    if kind == "conv":
      position += 1
    if backbone == "alexnet":
      names.append(f"{kind}{position}")
    elif kind == "pool":
      names.append(f"pool{block}")
      block, position = block + 1, 0
    else:
      names.append(f"{kind}{block}_{position}")
  return names


class TorchConv2D(tf.keras.layers.Layer):
  """A frozen torch.nn.Conv2d (weights [out, in, k, k]) on NHWC tensors."""

  def __init__(self, weight, bias, stride, padding, **kwargs):
    super().__init__(trainable=False, **kwargs)
    self.kernel = tf.constant(np.transpose(weight, (2, 3, 1, 0)))
    self.bias = tf.constant(bias)
    self.stride = stride
    self.padding = [[0, 0], [padding] * 2, [padding] * 2, [0, 0]]

  def call(self, x):
    return tf.nn.conv2d(x, self.kernel, self.stride, self.padding) + self.bias


class L2Pooling(tf.keras.layers.Layer):
  """DISTS' L2 pooling as in PyTorch: sqrt(hann * x**2 + 1e-12), stride 2.

  The 3x3 window is the outer product of hanning(5)[1:-1], normalized; one
  pixel of zero padding on each side (the official TF version pads
  differently). An H x W input gives ceil(H / 2) x ceil(W / 2).
  """

  def __init__(self, **kwargs):
    super().__init__(trainable=False, **kwargs)
    taps = np.hanning(5)[1:-1]
    window = np.outer(taps, taps)
    self.window = tf.constant((window / window.sum()).astype(np.float32))

  def call(self, x):
    kernel = tf.tile(self.window[:, :, None, None], [1, 1, x.shape[-1], 1])
    pooled = tf.nn.depthwise_conv2d(tf.square(x), kernel, [1, 2, 2, 1],
                                    [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.sqrt(pooled + 1e-12)


class Backbone(tf.keras.Model):
  """torchvision's `features` of `backbone`, up to the last named output.

  `call(x)` maps a normalized NHWC batch to {name: features} for `outputs`
  (names from `layer_names`). `l2_pooling` replaces max-pooling by
  `L2Pooling`, as DISTS does.
  """

  def __init__(self, backbone, outputs, l2_pooling=False, weights_dir=None):
    super().__init__(name=backbone, trainable=False)
    names = layer_names(backbone)
    unknown = set(outputs) - set(names)
    if unknown:
      raise ValueError(f"{backbone} has no layers {sorted(unknown)}")
    arrays = weights.load(backbone, weights_dir)
    self.feature_names = tuple(outputs)
    self.stack = []
    for (index, kind, spec, _), name in zip(
        weights.feature_layers(BACKBONES[backbone]), names):
      if kind == "conv":
        self.stack.append(TorchConv2D(arrays[f"features.{index}.weight"],
                                      arrays[f"features.{index}.bias"],
                                      spec[2], spec[3], name=name))
      elif kind == "relu":
        self.stack.append(tf.keras.layers.ReLU(name=name))
      elif l2_pooling:
        self.stack.append(L2Pooling(name=name))
      else:
        self.stack.append(tf.keras.layers.MaxPool2D(spec, 2, name=name))
      if name == self.feature_names[-1]:
        break

  def min_side(self):
    """The smallest image side for which every layer has an output."""
    side = 1
    while not self._fits(side):
      side += 1
    return side

  def _fits(self, side):
    for layer in self.stack:
      if isinstance(layer, TorchConv2D):
        kernel, pad = layer.kernel.shape[0], layer.padding[1][0]
        side = (side + 2 * pad - kernel) // layer.stride + 1
      elif isinstance(layer, tf.keras.layers.MaxPool2D):
        side = (side - layer.pool_size[0]) // 2 + 1
      elif isinstance(layer, L2Pooling):
        side = (side + 1) // 2
      if side < 1:
        return False
    return True

  def call(self, x):
    features = {}
    for layer in self.stack:
      x = layer(x)
      if layer.name in self.feature_names:
        features[layer.name] = x
    return features


def _check(reference, distorted, min_side, what):
  """The pair as float32 tensors, or ValueError/TypeError."""
  reference = tf.convert_to_tensor(reference)
  distorted = tf.convert_to_tensor(distorted)
  for x in (reference, distorted):
    if not x.dtype.is_floating:
      raise TypeError(f"{what} takes float images in [0, 255], got "
                      f"{x.dtype.name}")
  if reference.shape.rank != 4 or reference.shape[-1] != 3:
    raise ValueError(f"{what} takes [N, H, W, 3] batches, got "
                     f"{reference.shape}")
  if not reference.shape.is_compatible_with(distorted.shape):
    raise ValueError(f"shape mismatch: {reference.shape} vs "
                     f"{distorted.shape}")
  sides = [side for side in reference.shape[1:3] if side is not None]
  if sides and min(sides) < min_side:
    raise ValueError(f"{what} needs images of at least {min_side}x{min_side} "
                     f"pixels, got {reference.shape[1]}x{reference.shape[2]}")
  return tf.cast(reference, tf.float32), tf.cast(distorted, tf.float32)


def _unit_normalize(features):
  """features / (||features|| + 1e-10) over channels, as lpips does."""
  squares = tf.reduce_sum(tf.square(features), -1, keepdims=True)
  positive = squares > 0
  norm = tf.where(positive, tf.sqrt(tf.where(positive, squares, 1.0)), 0.0)
  return features / (norm + 1e-10)


class LPIPS(tf.keras.Model):
  """LPIPS v0.1 distances [N] with `net` = "alex" (default) or "vgg"."""

  def __init__(self, net="alex", weights_dir=None):
    super().__init__(name=f"lpips_{net}", trainable=False)
    if net not in LPIPS_LAYERS:
      raise ValueError(f"LPIPS net must be one of {sorted(LPIPS_LAYERS)}")
    self.backbone = Backbone("alexnet" if net == "alex" else "vgg16",
                             LPIPS_LAYERS[net], weights_dir=weights_dir)
    heads = weights.load(f"lpips_{net}", weights_dir)
    self.heads = [tf.constant(heads[f"lin{k}.model.1.weight"].reshape(-1))
                  for k in range(len(LPIPS_LAYERS[net]))]
    self.min_side = self.backbone.min_side()

  def call(self, inputs):
    reference, distorted = _check(*inputs, self.min_side, self.name)
    x = tf.concat([reference, distorted], 0) / 127.5 - 1.0
    features = self.backbone((x - LPIPS_SHIFT) / LPIPS_SCALE)
    distance = 0.0
    for name, head in zip(self.backbone.feature_names, self.heads):
      f0, f1 = tf.split(_unit_normalize(features[name]), 2)
      weighted = tf.reduce_sum(tf.square(f0 - f1) * head, -1)
      distance += tf.reduce_mean(weighted, [1, 2])
    return distance


def _imagenet(x):
  return (x / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


class DISTS(tf.keras.Model):
  """DISTS distances [N] (Ding et al. 2020).

  The reference computes 1 - sum(alpha * S1 + beta * S2) over the stages'
  channels, with S1 = (2 m0 m1 + c1) / (m0^2 + m1^2 + c1) and S2 = (2 cov + c2)
  / (v0 + v1 + c2). As alpha and beta sum to 1, this is computed as
  sum(alpha * (1 - S1) + beta * (1 - S2)), with 1 - S1 = (m0 - m1)^2 / (m0^2 +
  m1^2 + c1) and 1 - S2 = var(f0 - f1) / (v0 + v1 + c2): equal in exact
  arithmetic, without the float32 cancellation of a distance near 0 taken as
  1 minus a sum near 1 (docs/perceptual.md measures both).
  """

  def __init__(self, weights_dir=None):
    super().__init__(name="dists", trainable=False)
    self.backbone = Backbone("vgg16", LPIPS_LAYERS["vgg"], l2_pooling=True,
                             weights_dir=weights_dir)
    arrays = weights.load("dists", weights_dir)
    total = arrays["alpha"].sum() + arrays["beta"].sum()
    splits = np.cumsum(weights.DISTS_CHANNELS)[:-1]
    self.alpha, self.beta = (
        [tf.constant(w) for w in np.split(arrays[k].reshape(-1) / total,
                                          splits)]
        for k in ("alpha", "beta"))
    self.min_side = self.backbone.min_side()

  def call(self, inputs):
    reference, distorted = _check(*inputs, self.min_side, self.name)
    x = tf.concat([reference, distorted], 0)
    features = self.backbone(_imagenet(x))
    stages = [x / 255.0] + [features[n] for n in self.backbone.feature_names]
    c1 = c2 = 1e-6
    distance = 0.0
    for f, alpha, beta in zip(stages, self.alpha, self.beta):
      f0, f1 = tf.split(f, 2)
      mean0, mean1 = tf.reduce_mean(f0, [1, 2]), tf.reduce_mean(f1, [1, 2])
      variance0 = tf.math.reduce_variance(f0, [1, 2])
      variance1 = tf.math.reduce_variance(f1, [1, 2])
      structure = tf.square(mean0 - mean1) / (mean0**2 + mean1**2 + c1)
      texture = tf.math.reduce_variance(f0 - f1, [1, 2]) / (
          variance0 + variance1 + c2)
      distance += (tf.reduce_sum(alpha * structure, -1) +
                   tf.reduce_sum(beta * texture, -1))
    return distance


class VGG19FeatureDistance(tf.keras.Model):
  """Mean squared difference [N] of VGG19 `conv5_4` or `relu5_4` features."""

  def __init__(self, layer="relu5_4", weights_dir=None):
    super().__init__(name=f"vgg19_{layer}", trainable=False)
    if layer not in ("conv5_4", "relu5_4"):
      raise ValueError(f"layer must be conv5_4 or relu5_4, got {layer!r}")
    self.backbone = Backbone("vgg19", [layer], weights_dir=weights_dir)
    self.min_side = self.backbone.min_side()

  def call(self, inputs):
    reference, distorted = _check(*inputs, self.min_side, self.name)
    features = self.backbone(_imagenet(tf.concat([reference, distorted], 0)))
    f0, f1 = tf.split(features[self.backbone.feature_names[0]], 2)
    return tf.reduce_mean(tf.math.squared_difference(f0, f1), [1, 2, 3])


def build(name, weights_dir=None):
  """A new model of distance `name` (one of `DISTANCES`)."""
  if name == "lpips":
    return LPIPS("alex", weights_dir)
  if name == "lpips_vgg":
    return LPIPS("vgg", weights_dir)
  if name == "dists":
    return DISTS(weights_dir)
  if name.startswith("vgg19_") and name in DISTANCES:
    return VGG19FeatureDistance(name[len("vgg19_"):], weights_dir)
  raise ValueError(f"unknown distance {name!r}; known: {DISTANCES}")


def build_optional(name, weights_dir=None):
  """`build(name)`, or None for "none" (no perceptual distance)."""
  return None if name == NO_DISTANCE else build(name, weights_dir)


def required_weights(name):
  """The `tfpc.weights` networks distance `name` loads."""
  if name.startswith("vgg19_"):
    return ("vgg19",)
  net = {"lpips": "alex", "lpips_vgg": "vgg"}.get(name)
  if net:
    return ({"alex": "alexnet", "vgg": "vgg16"}[net], f"lpips_{net}")
  return ("vgg16", "dists")


def check_weights(name, weights_dir=None):
  """Raises `WeightsError` (which file to get, how to convert it) unless
  every network distance `name` needs is there."""
  for network in required_weights(name):
    weights.find(network, weights_dir)


_MODELS = {}
_LOCK = threading.Lock()  # tfpc_eval scores images from several threads


def model(name):
  """The shared model of distance `name`, from the current weights folder."""
  key = (name, weights.weights_dir())
  with _LOCK:
    if key not in _MODELS:
      with tf.init_scope():  # its constants must outlive any traced graph
        _MODELS[key] = build(name)
  return _MODELS[key]


def distance(name, reference, distorted):
  """Differentiable distances [N] of float batches in [0, 255]."""
  return model(name)((reference, distorted))
