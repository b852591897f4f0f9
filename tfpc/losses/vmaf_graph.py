"""Training through VMAF in TF ops (`tfpc.metrics.vmaf_graph`).

`vmaf_direct`: the codec's gradient goes through VMAF itself, no proxy:
L = lmbda * (MSE_255 + vmaf_weight * (100 - mean VMAF)) + bpp, eq. 7 of
ProxIQA with the proxy f_p replaced by the metric (`ProxIQA`'s balance: one
VMAF point weighs `vmaf_weight` units of MSE_255). It needs static patch
sizes (VMAF's pooling borders depend on them).

ProxIQA with the in-graph VMAF as its true metric (no py_function, no host
round trip) is `vmafp` (or `vmaf_negp`) with the option
`true_metric="vmaf_graph"` (`"vmaf_neg_graph"`): the proxy is the same, its
training signal comes from the graph instead of libvmaf's bridge.
"""

import tensorflow as tf

from tfpc.losses import rd
from tfpc.losses.objective import Objective
from tfpc.losses.objective import register_objective
from tfpc.metrics import vmaf_graph


class VmafDirect(Objective):
  """Rate, MSE and VMAF in TF ops, differentiated through VMAF.

  Args:
    lmbda: rate-distortion trade-off, as for `RateDistortion` (MSE_255).
    vmaf_weight: MSE_255 units one VMAF point is worth.
    model: "vmaf_v0.6.1" or "vmaf_v0.6.1neg".
  """

  summary = Objective.summary + ("vmaf_mean",)

  def __init__(self, lmbda, vmaf_weight=10.0, model="vmaf_v0.6.1"):
    vmaf_graph.model(model)  # an unknown model fails here, not in a step
    self.lmbda = lmbda
    self.vmaf_weight = vmaf_weight
    self.model = model

  def __call__(self, x, outputs, step=None):
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
