"""Rate-distortion(-perception) objectives, composed from terms.

An objective maps (x, codec outputs) to a dict of scalars whose `loss` entry
updates the codec; every other entry is logged. An objective that trains a
network of its own besides the codec (ProxIQA's proxy, a discriminator)
lists it in `auxiliary`: name -> (loss key, Keras model).

`OBJECTIVES` names the objectives a staged recipe can choose: name ->
`builder(codec, **options)` returning the objective; a system registers its
own with `@register_objective`.
"""

from tfpc.losses.perceptual import PerceptualRateDistortion
from tfpc.losses.perceptual import vgg19_feature_distance
from tfpc.losses.proxiqa import (ProxIQA, ProxyIQANet, load_proxy,
                                 proxy_weight_from_alpha, save_proxy)
from tfpc.losses.rd import RateDistortion, mse_255, psnr_from_mse

OBJECTIVES = {}


def register_objective(name):
  """Decorator: makes `builder(codec, **options)` an objective by name."""
  def decorate(builder):
    OBJECTIVES[name] = builder
    return builder
  return decorate


register_objective("rd")(lambda codec, lmbda: RateDistortion(lmbda))

from tfpc.losses import eic  # noqa: E402,F401  registers eic_base, eic_perceptual
