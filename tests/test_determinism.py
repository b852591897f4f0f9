"""Decode determinism: a file decodes the same whatever the thread count and
with oneDNN on or off (tensorflow/compression#44, CompressAI#279).

The entropy decoding must be exact (a wrong scale index or mean derails every
later symbol and the picture turns to noise); the synthesis transform is float
arithmetic whose rounding may differ with the convolution algorithm, so a
pixel may move by one level where its value sits at a rounding boundary."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import KODAK, REPO
from tfpc import codecs
from tfpc import export

# Encodes (argument "encode") and decodes one file; saves the decoded pixels
# to <file>.<mode>.npy. argv: model, threads, mode, file, [pixels.npy].
_CHILD = r"""
import sys
import numpy as np
import tensorflow as tf
threads = int(sys.argv[2])
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
from tfpc import zoo
model = zoo.CodecModel(sys.argv[1])
if sys.argv[3] == "encode":
  open(sys.argv[4], "wb").write(model.encode(np.load(sys.argv[5])))
pixels = model.decode(open(sys.argv[4], "rb").read())
np.save(sys.argv[4] + "." + sys.argv[3] + ".npy", pixels)
"""
# (TF_ENABLE_ONEDNN_OPTS, threads): the encoder's setting, then the decoder's.
_SETTINGS = (("0", 1), ("1", 2))


def kodak_sized():
  """kodim01 (768x512) when ../shared/data is there, else the astronaut
  tiled to that size."""
  from tfpc import image as image_lib  # pylint: disable=g-import-not-at-top
  path = os.path.join(KODAK, "kodim01.png")
  if os.path.exists(path):
    return image_lib.read_image(path).pixels
  from skimage import data  # pylint: disable=g-import-not-at-top
  return np.tile(data.astronaut(), (1, 2, 1))[:512, :768]


def _spread(codec):
  """Untrained weights give scale indexes and means near 0 (clipped: nothing
  to disagree on); scale them so they spread over the tables."""
  rng = np.random.default_rng(0)
  for layer in codec.hyper_synthesis_transform.layers:
    layer.kernel_parameter.assign(layer.kernel_parameter * 4.0)
    layer.bias_parameter.assign(rng.uniform(
        0, 40, layer.bias_parameter.shape).astype(np.float32))


def _run(model, onednn, threads, *args):
  env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn,
         "TF_CPP_MIN_LOG_LEVEL": "3",
         "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
  result = subprocess.run([sys.executable, "-c", _CHILD, model, str(threads),
                           *args], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  return np.load(f"{args[1]}.{args[0]}.npy").astype(np.int16)


@pytest.mark.parametrize("architecture", ["bmshj2018", "mbt2018-mean"])
def test_decoding_is_bit_exact_across_threads_and_onednn(architecture,
                                                         tmp_path):
  tf.keras.utils.set_random_seed(0)
  codec = codecs.build_codec({"architecture": architecture,
                              "num_filters": 32})
  _spread(codec)
  model = export.export_codec(codec, str(tmp_path), architecture)
  pixels_path, coded = str(tmp_path / "pixels.npy"), str(tmp_path / "x.tfpc")
  np.save(pixels_path, kodak_sized())
  (encoder_onednn, encoder_threads), (onednn, threads) = _SETTINGS
  first = _run(model, encoder_onednn, encoder_threads, "encode", coded,
               pixels_path)
  difference = abs(_run(model, onednn, threads, "decode", coded) - first)
  assert difference.max() <= 1  # a derailed entropy decoder gives noise
  assert np.count_nonzero(difference) <= 1e-4 * difference.size
