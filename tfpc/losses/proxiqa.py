"""ProxIQA (Chen et al.): a proxy network f_p of a quality metric as a loss.

The codec f_c minimizes eq. 7 and f_p minimizes eq. 8, L_m =
||f_p(x, x_hat) - M(x, x_hat)||^2, on the same reconstructions held constant,
with M the true metric. `ProxIQA` returns both losses from one forward pass;
the trainer takes eq. 7's gradient for the codec and L_m's for the proxy, so
each network is updated with the other one fixed, as in the paper.

Scores are on a 0-100 scale for every metric (the registry's `proxy` map:
SSIM and MS-SSIM are multiplied by 100), so that M_max = 100 for VMAF_p,
SSIM_p and MS-SSIM_p alike.

The balance of eq. 7 is explicit: tfpc writes it as

  L_t = lmbda * (MSE_255 + proxy_weight * L_p) + bpp,   L_p = M_max - f_p

with MSE_255 the MSE of images on [0, 255], so one score point of the proxy
weighs as much as `proxy_weight` units of MSE_255, `lmbda` means what it means
for `RateDistortion`, and `proxy_weight = 0` is exactly the MSE objective.
The paper writes lmbda * [alpha * L_p + (1 - alpha) * L_d] with alpha =
1.54e-3 but does not state the pixel scale of L_d; `proxy_weight_from_alpha`
converts an alpha for a declared scale (100.3 for L_d on [0, 1], 0.0015 on
[0, 255]). The authors' public development code weighs both terms equally
(proxy_weight = 1). docs/proxiqa.md measures the choices.
"""

import functools
import json
import os

from absl import logging

import tensorflow as tf

from tfpc import errors
from tfpc import files
from tfpc import metrics
from tfpc.losses import rd
from tfpc.losses.objective import Objective
from tfpc.losses.objective import register_objective

PROXY_MODES = ("alternating", "pretrained_fixed")

PROXY_CONFIG = "proxy.json"
PROXY_WEIGHTS = "proxy.weights.h5"


def proxy_weight_from_alpha(alpha, distortion_range=1.0):
  """The `proxy_weight` equal to the paper's alpha with L_d the MSE of images
  on [0, distortion_range] (eq. 7 rescaled so that MSE_255 has weight 1)."""
  if not 0.0 <= alpha < 1.0:
    raise ValueError(f"alpha must be in [0, 1), got {alpha}")
  return alpha / (1.0 - alpha) * (255.0 / distortion_range)**2


def true_scores(metric, reference, distorted):
  """The true metric of coded images, on the proxy's 0-100 scale ([N])."""
  return metrics.proxy_score_tf(metric, reference, distorted)


class ProxyIQANet(tf.keras.Model):
  """f_p of ProxIQA's Fig. 3 for square patches of `patch_size` pixels.

  Reference and distorted patch (in [0, 255]) are stacked to 6 channels and
  scaled to [0, 1]; three stages of 5x5 convolution (16, 32, 64 filters,
  stride 1, same padding), ReLU and 2x2 max-pooling reduce them to 64 maps of
  patch_size/8 pixels a side, which one dense layer maps to the score.
  """

  def __init__(self, metric="vmaf", patch_size=128):
    super().__init__(name="proxy_iqa")
    if metric not in metrics.proxy_metrics():
      raise ValueError(f"no proxy for metric {metric!r}; known: "
                       f"{sorted(metrics.proxy_metrics())}")
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
  # Keras picks the format from the whole suffix ".weights.h5".
  temporary = os.path.join(directory, "tmp." + PROXY_WEIGHTS)
  proxy.save_weights(temporary)
  os.replace(temporary, os.path.join(directory, PROXY_WEIGHTS))
  with files.replacing(os.path.join(directory, PROXY_CONFIG)) as temporary, \
      open(temporary, "w") as f:
    json.dump({**proxy.get_config(), **info}, f, indent=2)


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


class ProxIQA(Objective):
  """Eq. 6-8 of ProxIQA as an objective for `training.Trainer`.

  Args:
    proxy: the `ProxyIQANet` whose metric is optimized.
    lmbda: rate-distortion trade-off, as for `RateDistortion` (MSE_255).
    proxy_weight: MSE_255 units one proxy score point is worth (see above).
    gap_threshold: a running mean of |mean proxy - mean true score| (over
      log records) above this many points for `gap_patience` steps or more
      marks the proxy as exploited (the codec fools it: the paper's Fig. 6a).
    m_max: upper bound of the metric's 0-100 score (paper: 100).
    train_proxy: True for the paper's alternating training; False keeps a
      pre-trained proxy fixed (the failure mode of the paper's Fig. 2 and 6a).
    true_metric: callable (x, x_hat) -> true scores [N] on the 0-100 scale,
      without gradient; default: `true_scores` of the proxy's metric.
  """

  summary = Objective.summary + ("metric_true_mean", "metric_proxy_mean")

  def __init__(self, proxy, lmbda, proxy_weight=10.0, m_max=100.0,
               train_proxy=True, true_metric=None, gap_threshold=10.0,
               gap_patience=100):
    self.proxy = proxy
    self.true_metric = true_metric or (
        lambda x, x_hat: true_scores(proxy.metric, x, x_hat))
    self.lmbda = lmbda
    self.proxy_weight = proxy_weight
    self.m_max = m_max
    self.auxiliary = {"proxy": ("metric_loss", proxy)} if train_proxy else {}
    self.gap_threshold = gap_threshold
    self.gap_patience = gap_patience
    self._gap_mean = None
    self._gap_since = None  # first step of the current run above threshold

  def check_data(self, data):
    if data["patch_size"] != self.proxy.patch_size:
      raise errors.ConfigError(
          f"the proxy takes {self.proxy.patch_size}x{self.proxy.patch_size} "
          f"patches, the data gives {data['patch_size']}: set the objective's "
          "patch_size to the data's")

  def on_log(self, record):
    """Adds the proxy-gap guard to a log record; warns when it trips."""
    if "metric_true_mean" not in record:
      return  # no finite true score since the last record (metric failed)
    gap = abs(record["metric_proxy_mean"] - record["metric_true_mean"])
    self._gap_mean = gap if self._gap_mean is None else (
        0.8 * self._gap_mean + 0.2 * gap)
    if self._gap_mean <= self.gap_threshold:
      self._gap_since = None
    elif self._gap_since is None:
      self._gap_since = record["step"]
    exploited = (self._gap_since is not None and
                 record["step"] - self._gap_since >= self.gap_patience)
    if exploited:
      logging.warning(
          "step %d: proxy and true %s differ by %.1f points on average: the "
          "codec is exploiting the proxy", record["step"], self.proxy.metric,
          self._gap_mean)
    record.update(proxy_gap=gap, proxy_gap_mean=self._gap_mean,
                  proxy_exploited=exploited)

  def __call__(self, x, outputs, step=None):
    terms = rd.rate_distortion_terms(x, outputs)
    x_hat = tf.clip_by_value(outputs["x_hat"], 0.0, 255.0)
    proxy = self.proxy((x, x_hat))
    true = self.true_metric(x, x_hat)
    proxy_loss = self.m_max - tf.reduce_mean(proxy)
    loss = self.lmbda * (terms["mse"] + self.proxy_weight * proxy_loss) + \
        terms["bpp"]
    return {"loss": loss, **terms, "proxy_loss": proxy_loss,
            "metric_loss": tf.reduce_mean(tf.square(proxy - true)),
            "metric_true_mean": tf.reduce_mean(true),
            "metric_true_std": tf.math.reduce_std(true),
            "metric_proxy_mean": tf.reduce_mean(proxy),
            "metric_proxy_std": tf.math.reduce_std(proxy)}


def proxy_metric(objective):
  """The metric of a ProxIQA objective name ("vmafp" -> "vmaf"), else None."""
  metric = objective[:-1] if objective.endswith("p") else None
  return metric if metric in metrics.proxy_metrics() else None


def proxiqa(codec, metric, lmbda, patch_size, proxy_weight=10.0, alpha=None,
            alpha_distortion_range=1.0, m_max=100.0, proxy_mode="alternating",
            proxy_init="", true_metric=""):
  """`ProxIQA` of `metric` with a new proxy for `patch_size` patches, or the
  one saved in `proxy_init`; `alpha` (the paper's) replaces `proxy_weight`;
  proxy_mode "pretrained_fixed" keeps the proxy frozen (needs proxy_init);
  `true_metric` names another registered metric of the same scores that
  trains the proxy (e.g. VMAF in TF ops instead of libvmaf's bridge)."""
  del codec  # trains on the codec's own outputs
  if proxy_mode not in PROXY_MODES:
    raise ValueError(f"proxy_mode must be one of {PROXY_MODES}")
  if proxy_mode == "pretrained_fixed" and not proxy_init:
    raise ValueError("proxy_mode=pretrained_fixed needs proxy_init")
  if alpha is not None:
    proxy_weight = proxy_weight_from_alpha(alpha, alpha_distortion_range)
  proxy = (load_proxy(proxy_init, metric, patch_size) if proxy_init else
           ProxyIQANet(metric, patch_size))
  source = true_metric or metric
  if source not in metrics.METRICS:
    raise ValueError(f"true_metric must be a registered metric, got "
                     f"{source!r}")
  return ProxIQA(proxy, lmbda, proxy_weight, m_max,
                 train_proxy=proxy_mode == "alternating",
                 true_metric=lambda x, x_hat: true_scores(source, x, x_hat))


for _metric in metrics.proxy_metrics():
  register_objective(f"{_metric}p")(functools.partial(proxiqa, metric=_metric))
