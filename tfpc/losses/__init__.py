"""Rate-distortion(-perception) objectives, composed from terms.

Every objective is an `Objective` (tfpc/losses/objective.py): (x, codec
outputs, step) to a dict of scalars whose `loss` entry updates the codec;
networks it trains besides the codec are its `auxiliary`. `OBJECTIVES` is the
one registry of objectives by name (`rd`, ProxIQA's `<metric>p`, each
system's own); a system registers its builders with `@register_objective`.
"""

import importlib
import pkgutil

from tfpc.losses.objective import OBJECTIVES, Objective, register_objective
from tfpc.losses.perceptual import PerceptualRateDistortion
from tfpc.losses.perceptual import vgg19_feature_distance
from tfpc.losses.proxiqa import (ProxIQA, ProxyIQANet, load_proxy,
                                 proxy_metric, proxy_weight_from_alpha,
                                 save_proxy)
from tfpc.losses.rd import RateDistortion, mse_255, psnr_from_mse

register_objective("rd")(
    lambda codec, lmbda, target_bpp=0.0: RateDistortion(lmbda, target_bpp))

# Every module of the package is imported, so a system's objectives register
# themselves (eic, dpc, ...): a new one is one module, no other file changes.
for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")
