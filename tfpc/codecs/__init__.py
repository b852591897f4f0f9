"""Learned codecs, constructible by name with `build_codec`.

Every module of this package is imported here, so a new codec is one module
with a `@register`ed class: no other file changes.
"""

import importlib
import pkgutil

from tfpc.codecs.base import CODECS, LearnedCodec, build_codec, register
from tfpc.codecs.latent import Factorized, Hyperprior, LatentCodec, Symbol

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")
