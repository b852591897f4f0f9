"""Rate-distortion(-perception) objectives, composed from terms.

An objective maps (x, codec outputs) to a dict of scalars whose `loss` entry
updates the codec; every other entry is logged. An objective that trains a
network of its own besides the codec (ProxIQA's proxy, a discriminator)
lists it in `auxiliary`: name -> (loss key, Keras model).

`OBJECTIVES` names the objectives a staged recipe can choose: name ->
`builder(codec, **options)` returning the objective; a system registers its
own with `@register_objective`.
"""

import importlib
import pkgutil

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

# Every module of the package is imported, so a system's objectives register
# themselves (eic, dpc, ...): a new one is one module, no other file changes.
for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")
