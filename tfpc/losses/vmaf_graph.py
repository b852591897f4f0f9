"""Training with VMAF in TF ops (`tfpc.metrics.vmaf_graph`): two objectives.

* `vmaf_direct`: the codec's gradient goes through VMAF itself, no proxy:
  L = lmbda * (MSE_255 + vmaf_weight * (100 - mean VMAF)) + bpp, eq. 7 of
  ProxIQA with the proxy f_p replaced by the metric (`ProxIQA`'s balance:
  one VMAF point weighs `vmaf_weight` units of MSE_255).
* `vmaf_proxiqa`: ProxIQA's alternating training whose true metric M comes
  from the in-graph VMAF (`true_source="graph"`: no py_function, no host
  round trip) or from libvmaf through the ffmpeg bridge ("bridge", the
  reference).

Both need static patch sizes (VMAF's pooling borders depend on them).
"""

from tfpc.losses import proxiqa
from tfpc.losses import rd
from tfpc.losses import register_objective
from tfpc.metrics import vmaf_graph

import tensorflow as tf

# Registry names of each model's score, per source of the true metric.
_TRUE_METRICS = {("graph", "vmaf_v0.6.1"): "vmaf_graph",
                 ("graph", "vmaf_v0.6.1neg"): "vmaf_neg_graph",
                 ("bridge", "vmaf_v0.6.1"): "vmaf",
                 ("bridge", "vmaf_v0.6.1neg"): "vmaf_neg"}


class VmafDirect:
  """Rate, MSE and VMAF in TF ops, differentiated through VMAF.

  Args:
    lmbda: rate-distortion trade-off, as for `RateDistortion` (MSE_255).
    vmaf_weight: MSE_255 units one VMAF point is worth.
    model: "vmaf_v0.6.1" or "vmaf_v0.6.1neg".
  """

  def __init__(self, lmbda, vmaf_weight=10.0, model="vmaf_v0.6.1"):
    vmaf_graph.model(model)  # an unknown model fails here, not in a step
    self.lmbda = lmbda
    self.vmaf_weight = vmaf_weight
    self.model = model

  def __call__(self, x, outputs):
    terms = rd.rate_distortion_terms(x, outputs)
    scores = vmaf_graph.vmaf(x, outputs["x_hat"], self.model)
    vmaf_loss = 100.0 - tf.reduce_mean(scores)
    loss = self.lmbda * (terms["mse"] + self.vmaf_weight * vmaf_loss) + \
        terms["bpp"]
    return {"loss": loss, **terms, "vmaf_loss": vmaf_loss,
            "vmaf_mean": tf.reduce_mean(scores),
            "vmaf_std": tf.math.reduce_std(scores)}


@register_objective("vmaf_direct")
def vmaf_direct(codec, lmbda, vmaf_weight=10.0, model="vmaf_v0.6.1"):
  """`VmafDirect` (the codec is not needed)."""
  del codec
  return VmafDirect(lmbda, vmaf_weight, model)


@register_objective("vmaf_proxiqa")
def vmaf_proxiqa(codec, lmbda, proxy_weight=10.0, true_source="graph",
                 model="vmaf_v0.6.1", patch_size=128, proxy_init=None,
                 train_proxy=True):
  """ProxIQA for VMAF, its true scores from `true_source` ("graph" or
  "bridge"). The proxy network (the auxiliary "proxy", loss "metric_loss";
  new or loaded from `proxy_init`) is the bridge metric's either way: both
  sources give the same scores, so proxies are interchangeable."""
  del codec
  if (true_source, model) not in _TRUE_METRICS:
    raise ValueError(f"true_source must be 'graph' or 'bridge' and model one "
                     f"of {vmaf_graph.MODELS}, got {true_source!r}, "
                     f"{model!r}")
  proxy_metric = _TRUE_METRICS["bridge", model]
  if proxy_init:
    proxy = proxiqa.load_proxy(proxy_init, proxy_metric, patch_size)
  else:
    proxy = proxiqa.ProxyIQANet(proxy_metric, patch_size)
  true_metric = _TRUE_METRICS[true_source, model]
  return proxiqa.ProxIQA(
      proxy, lmbda, proxy_weight, train_proxy=train_proxy,
      true_metric=lambda x, x_hat: proxiqa.true_scores(true_metric, x, x_hat))
