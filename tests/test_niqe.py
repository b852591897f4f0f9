"""NIQE: parity with basicsr's port of the MATLAB release, invariants, registry.

`data/niqe_reference.npz` holds the scores of basicsr 1.4.2's port (its
`niqe.py` and `matlab_functions.py`, run unmodified and with its `imresize`
in float64) on 192 x 288 crops of scikit-image's bundled photos, written by
`benchmarks/niqe_parity.py reference ... --fixture=` (docs/eic.md).
"""

import os

import numpy as np
import pytest
from scipy import ndimage
from skimage import data
import tensorflow as tf

from tfpc import metrics
from tfpc.metrics import niqe

REFERENCE = os.path.join(os.path.dirname(__file__), "data",
                         "niqe_reference.npz")


@pytest.fixture(scope="module")
def reference():
  with np.load(REFERENCE) as stored:
    (top, bottom), (left, right) = stored["crop"]
    crops = np.stack([getattr(data, str(name))()[top:bottom, left:right]
                      for name in stored["names"]])
    return crops, {key: stored[key] for key in ("rgb", "plane", "plane64")}


def test_matches_the_port_on_the_same_luma(reference):
  crops, scores = reference
  ours = niqe.niqe_rgb(crops)
  np.testing.assert_allclose(ours, scores["plane64"], rtol=1e-9)
  # The port as shipped runs imresize and its luma in float32.
  np.testing.assert_allclose(ours, scores["plane"], rtol=1e-3)
  np.testing.assert_allclose(ours, scores["rgb"], rtol=1e-3)
  np.testing.assert_allclose(ours, [5.900644, 7.421858, 3.036690], rtol=1e-6)


def test_luma_is_matlab_rgb2ycbcr_y():
  rgb = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30]])
  np.testing.assert_array_equal(niqe.luma(rgb), [16, 235, 81, 122])


def test_blur_raises_niqe(photo):
  plane = niqe.luma(photo[:192, :288])
  scores = [niqe.niqe(ndimage.gaussian_filter(plane, sigma).round())
            for sigma in (0, 1, 2, 3)]
  assert np.all(np.diff(scores) > 0.5), scores


def test_invariants(photo):
  plane = niqe.luma(photo[:250, :300])
  score = niqe.niqe(plane)
  # Only whole 96 x 96 blocks count; a half turn maps blocks and pixel pairs
  # onto themselves.
  assert niqe.niqe(plane[:192, :288]) == score
  assert niqe.niqe(np.rot90(plane[:192, :288], 2)) == pytest.approx(score,
                                                                    rel=1e-9)
  assert niqe.niqe(np.pad(plane, 4, mode="edge"), crop_border=4) == score


def test_halving_is_matlab_imresize():
  # imresize(repmat((1:8)', 1, 4), 0.5): 8-tap antialiased bicubic with
  # mirrored borders (the values of basicsr's port in float64).
  np.testing.assert_allclose(
      niqe.imresize_half(np.arange(1.0, 9.0)[:, None] * np.ones((1, 4))),
      [[1.44921875] * 2, [3.48828125] * 2, [5.51171875] * 2, [7.55078125] * 2])


def test_too_small_plane_is_an_error():
  with pytest.raises(ValueError, match="at least 96x96 pixels, got 95x200"):
    niqe.niqe(np.zeros((95, 200)))


def test_registry_scores_the_distorted_image_alone(photo):
  crops = np.stack([photo[:96, :192], photo[96:192, :192]])
  expected = niqe.niqe_rgb(crops)
  metric = metrics.get("niqe")
  assert not metric.higher_is_better and not metric.differentiable
  np.testing.assert_allclose(metrics.compute("niqe", 255 - crops, crops),
                             expected)
  tf_scores = tf.function(metric.tf_fn)(tf.zeros(crops.shape),
                                        tf.constant(crops, tf.float32))
  np.testing.assert_allclose(tf_scores.numpy(), expected, rtol=1e-6)
