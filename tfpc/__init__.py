"""tfpc: perceptually optimized learned image compression on TensorFlow 2."""

import sys

if sys.version_info[:2] != (3, 11):
  raise ImportError(
      "tfpc needs Python 3.11 (its pinned stack, tensorflow 2.14 with "
      "tensorflow-compression 2.14, ships wheels for it); this is Python "
      f"{sys.version_info.major}.{sys.version_info.minor}.")

__version__ = "0.1.0"
