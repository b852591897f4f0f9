"""ProxIQA (Chen et al.): a proxy network f_p of a quality metric as a loss.

The codec f_c minimizes eq. 7, L_t = lambda * [alpha * L_p + (1 - alpha) * L_d]
+ L_r, with L_p = M_max - f_p(x, x_hat) (eq. 6) and f_p frozen; f_p minimizes
eq. 8, L_m = ||f_p(x, x_hat) - M(x, x_hat)||^2, on the same reconstructions
held constant, with M the true metric. `ProxIQA` returns both losses from one
forward pass; the trainer takes L_t's gradient for the codec and L_m's for the
proxy, so each network is updated with the other one fixed, as in the paper.

Scores are on a 0-100 scale for every metric (SSIM and MS-SSIM are multiplied
by 100), so that M_max = 100 and the paper's alpha mean the same thing for
VMAF_p, SSIM_p and MSIM_p.

Scale of L_d: in eq. 7, L_d is the MSE of images in [0, 1], the scale on which
the paper's alpha = 1.54e-3 makes the proxy term lead (the gradient of
alpha * L_p is then tens of times that of (1 - alpha) * L_d; with MSE on
[0, 255] it would be 65025 times weaker and the proxy would have no effect:
docs/results.md measures both).
`lmbda` keeps the meaning it has for `RateDistortion` (MSE on [0, 255]), so
that alpha = 0 is exactly the MSE objective at the same lmbda:
L_t = lmbda * [alpha * 255^2 * L_p + (1 - alpha) * MSE_255] + bpp.
"""

import json
import os

import tensorflow as tf

from tfpc import errors
from tfpc import metrics
from tfpc.losses import rd

SCORE_SCALE = {"vmaf": 1.0, "ssim": 100.0, "msssim": 100.0, "lpips": 100.0,
               "lpips_vgg": 100.0, "dists": 100.0}
PIXEL_RANGE = 255.0  # L_d of eq. 7 is the MSE of images scaled to [0, 1]
PROXY_CONFIG = "proxy.json"
PROXY_WEIGHTS = "proxy.weights.h5"


def true_scores(metric, reference, distorted):
  """The true metric of coded images, on the proxy's 0-100 scale ([N]).

  A distance d (`metrics.LOWER_IS_BETTER`: LPIPS, DISTS) scores 100 * (1 - d).
  """
  scores = metrics.score_tf(metric, reference, distorted)
  if metric in metrics.LOWER_IS_BETTER:
    scores = 1.0 - scores
  return SCORE_SCALE[metric] * scores


class ProxyIQANet(tf.keras.Model):
  """f_p of ProxIQA's Fig. 3 for square patches of `patch_size` pixels.

  Reference and distorted patch (in [0, 255]) are stacked to 6 channels and
  scaled to [0, 1]; three stages of 5x5 convolution (16, 32, 64 filters,
  stride 1, same padding), ReLU and 2x2 max-pooling reduce them to 64 maps of
  patch_size/8 pixels a side, which one dense layer maps to the score.
  """

  def __init__(self, metric="vmaf", patch_size=128):
    super().__init__(name="proxy_iqa")
    if metric not in SCORE_SCALE:
      raise ValueError(f"no proxy for metric {metric!r}; known: "
                       f"{sorted(SCORE_SCALE)}")
    if patch_size % 8:
      raise ValueError(f"patch_size must be a multiple of 8, got {patch_size}")
    self.metric = metric
    self.patch_size = patch_size
    self.stages = []
    for filters in (16, 32, 64):
      self.stages += [tf.keras.layers.Conv2D(filters, 5, padding="same",
                                             activation="relu"),
                      tf.keras.layers.MaxPool2D(2)]
    self.flatten = tf.keras.layers.Flatten()
    self.score = tf.keras.layers.Dense(1)
    patch = tf.zeros((1, patch_size, patch_size, 3))
    self((patch, patch))

  def get_config(self):
    return {"metric": self.metric, "patch_size": self.patch_size}

  def call(self, inputs):
    """Scores [N] of a (reference, distorted) pair of [N, P, P, 3] batches."""
    reference, distorted = inputs
    if tuple(reference.shape[1:3]) != (self.patch_size,) * 2:
      raise ValueError(f"the proxy takes {self.patch_size}x{self.patch_size} "
                       f"patches, got {reference.shape[1:3]}")
    x = tf.concat([reference, distorted], axis=-1) / 255.0
    for layer in self.stages:
      x = layer(x)
    return self.score(self.flatten(x))[:, 0]


def save_proxy(proxy, directory, **info):
  """Writes proxy.json and proxy.weights.h5 (each replaced atomically)."""
  os.makedirs(directory, exist_ok=True)
  temporary = os.path.join(directory, "tmp." + PROXY_WEIGHTS)  # same format
  proxy.save_weights(temporary)
  os.replace(temporary, os.path.join(directory, PROXY_WEIGHTS))
  config = os.path.join(directory, PROXY_CONFIG)
  with open(config + ".tmp", "w") as f:
    json.dump({**proxy.get_config(), **info}, f, indent=2)
  os.replace(config + ".tmp", config)


def load_proxy(directory, metric=None, patch_size=None):
  """A proxy saved by `save_proxy`; checks its metric and patch size."""
  try:
    with open(os.path.join(directory, PROXY_CONFIG)) as f:
      config = json.load(f)
    proxy = ProxyIQANet(config["metric"], config["patch_size"])
  except (OSError, ValueError, KeyError) as e:
    raise errors.ModelError(f"{directory}: not a saved proxy ({e})") from None
  for name, wanted in (("metric", metric), ("patch_size", patch_size)):
    if wanted is not None and config[name] != wanted:
      raise errors.ModelError(
          f"{directory}: proxy {name} is {config[name]!r}, this run needs "
          f"{wanted!r}")
  try:
    proxy.load_weights(os.path.join(directory, PROXY_WEIGHTS))
  except (OSError, ValueError, KeyError) as e:
    raise errors.ModelError(f"{directory}: unreadable proxy weights ({e})") \
        from None
  return proxy


class ProxIQA:
  """Eq. 6-8 of ProxIQA as an objective for `training.Trainer`.

  Args:
    proxy: the `ProxyIQANet` whose metric is optimized.
    lmbda: rate-distortion trade-off, as for `RateDistortion` (see above).
    alpha: weight of L_p against L_d (paper: 1.54e-3 for VMAF).
    m_max: upper bound of the metric's 0-100 score (paper: 100).
    train_proxy: True for the paper's alternating training; False keeps a
      pre-trained proxy fixed (the failure mode of the paper's Fig. 2 and 6a).
    true_metric: callable (x, x_hat) -> true scores [N] on the 0-100 scale,
      without gradient; default: `true_scores` of the proxy's metric.
  """

  def __init__(self, proxy, lmbda, alpha=1.54e-3, m_max=100.0,
               train_proxy=True, true_metric=None):
    self.proxy = proxy
    self.true_metric = true_metric or (
        lambda x, x_hat: true_scores(proxy.metric, x, x_hat))
    self.lmbda = lmbda
    self.alpha = alpha
    self.m_max = m_max
    self.auxiliary = {"proxy": ("metric_loss", proxy)} if train_proxy else {}

  def __call__(self, x, outputs):
    terms = rd.rate_distortion_terms(x, outputs)
    x_hat = tf.clip_by_value(outputs["x_hat"], 0.0, 255.0)
    proxy = self.proxy((x, x_hat))
    true = self.true_metric(x, x_hat)
    proxy_loss = self.m_max - tf.reduce_mean(proxy)
    loss = self.lmbda * (self.alpha * PIXEL_RANGE**2 * proxy_loss +
                         (1.0 - self.alpha) * terms["mse"]) + terms["bpp"]
    return {"loss": loss, **terms, "proxy_loss": proxy_loss,
            "metric_loss": tf.reduce_mean(tf.square(proxy - true)),
            "metric_true_mean": tf.reduce_mean(true),
            "metric_true_std": tf.math.reduce_std(true),
            "metric_proxy_mean": tf.reduce_mean(proxy),
            "metric_proxy_std": tf.math.reduce_std(proxy)}
