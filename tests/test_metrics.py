"""Full-reference metrics by name: values, shapes, small images."""

import numpy as np
import pytest
import tensorflow as tf

from tfpc import metrics
from tfpc.metrics import fullref


def test_psnr_known_value():
  a = np.zeros((1, 8, 8, 3), np.uint8)
  b = np.full((1, 8, 8, 3), 16, np.uint8)  # MSE 256
  assert metrics.compute("psnr", a, b)[0] == pytest.approx(
      10 * np.log10(255**2 / 256))


def test_batch_and_single_shapes(photo):
  batch = np.stack([photo[:64, :64], photo[64:128, :64]])
  for name in sorted(n for n, m in metrics.METRICS.items()
                     if m.higher_is_better):
    # The learned distances need backbones: test_perceptual.py.
    scores = metrics.compute(name, batch, 255 - batch)
    assert scores.shape == (2,) and scores.dtype == np.float64
    single = metrics.compute(name, batch[1], 255 - batch[1])
    assert np.ndim(single) == 0 and single == pytest.approx(scores[1])


def test_identical_images_score_perfectly(photo):
  assert metrics.compute("ssim", photo, photo) == pytest.approx(1.0)
  assert metrics.compute("msssim", photo, photo) == pytest.approx(1.0)
  assert np.isinf(metrics.compute("psnr", photo, photo))


def test_msssim_matches_tf_at_full_size(photo):
  x = photo[None, :256, :256].astype(np.float32)
  y = np.clip(x + 20 * np.sin(np.arange(256))[None, :, None, None], 0,
              255).astype(np.float32)
  expected = tf.image.ssim_multiscale(x, y, 255.0).numpy()
  np.testing.assert_allclose(metrics.compute("msssim", x, y), expected,
                             rtol=1e-4)  # float32 rounding


@pytest.mark.parametrize("side,scales", [(176, 5), (175, 4), (88, 4), (87, 3),
                                         (22, 2), (11, 1), (3, 1)])
def test_msssim_scales_for_small_images(side, scales):
  assert fullref.msssim_scales(side) == scales


@pytest.mark.parametrize("side", [1, 5, 40, 100])
def test_msssim_small_images_are_finite_and_ordered(photo, side):
  x = photo[:side, :side]
  mild = np.clip(x.astype(int) + 3, 0, 255).astype(np.uint8)
  strong = 255 - x
  m, s = (metrics.compute("msssim", x, d) for d in (mild, strong))
  assert np.isfinite(m) and np.isfinite(s)
  if side > 1:
    assert m > s


def test_errors():
  with pytest.raises(ValueError, match="unknown metric"):
    metrics.compute("nope", np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))
  with pytest.raises(ValueError, match="shape mismatch"):
    metrics.compute("psnr", np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))


def test_msssim_gradient_is_finite_where_a_term_is_clipped_to_zero(photo):
  x = tf.constant(photo[None, :176, :176], tf.float32)
  y = tf.Variable(255.0 - x)  # anti-correlated: every contrast term < 0
  with tf.GradientTape() as tape:
    score = fullref.msssim(x, y)
  gradient = tape.gradient(score, y)
  assert float(score[0]) == 0.0
  assert bool(tf.reduce_all(tf.math.is_finite(gradient)))


def test_similarities_in_decibels(photo):
  x = photo[:128, :128]
  y = np.clip(x + np.random.default_rng(0).normal(0, 8, x.shape), 0, 255)
  for name in ("ssim", "msssim"):
    score = metrics.compute(name, x, y)
    assert metrics.compute(f"{name}_db", x, y) == pytest.approx(
        -10 * np.log10(1 - score), rel=1e-4)
    assert metrics.compute(f"{name}_db", x, x) > 60  # float32 1 - score
    assert f"{name}_db" in metrics.proxy_metrics()
  assert metrics.get("msssim_db").proxy_label == "5 x MS-SSIM in dB"
