"""Shared fixtures: tiny exported models, sample photos, a CLI runner."""

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
KODAK = os.path.join(SHARED_DATA, "kodak")
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="session")
def photo():
  """A real photograph a dependency ships: scikit-image's astronaut, 512x512."""
  from skimage import data  # pylint: disable=g-import-not-at-top
  return data.astronaut()


@pytest.fixture(scope="session")
def tiny_model_root(tmp_path_factory):
  """A model root with untrained 8-filter BLS2017 and BMSHJ2018 exports."""
  from tfpc import codecs, export  # pylint: disable=g-import-not-at-top
  root = str(tmp_path_factory.mktemp("models"))
  for architecture in ("bls2017", "bmshj2018"):
    codec = codecs.build_codec({"architecture": architecture,
                                "num_filters": 8})
    export.export_codec(codec, root, f"tiny-{architecture}")
  return root


@pytest.fixture(scope="session")
def tiny_models(tiny_model_root):
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  return {a: zoo.load(f"tiny-{a}", tiny_model_root)
          for a in ("bls2017", "bmshj2018")}


@pytest.fixture(scope="session")
def default_model():
  from tfpc import zoo  # pylint: disable=g-import-not-at-top
  return zoo.load()


def kodak_image(name="kodim23.png"):
  path = os.path.join(KODAK, name)
  if not os.path.exists(path):
    pytest.skip(f"Kodak not available at {KODAK} (../shared/data is absent)")
  return path


def run_cli(program, *args, env=None, timeout=300):
  """Runs an installed tfpc binary; returns CompletedProcess (text)."""
  return subprocess.run(
      [os.path.join(BIN, program), *args], capture_output=True, text=True,
      env={**os.environ, **(env or {})}, timeout=timeout, check=False)


def noisy(pixels, sigma, seed=0):
  rng = np.random.default_rng(seed)
  return np.clip(pixels + rng.normal(0, sigma, pixels.shape), 0,
                 255).astype(np.uint8)
