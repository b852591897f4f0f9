"""VMAF in TF ops against libvmaf (the bridge, run here), and its gradients."""

import io
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import noisy
from tfpc import metrics
from tfpc.metrics import libvmaf
from tfpc.metrics import vmaf_graph


def jpeg(pixels, quality):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def blurred(pixels):
  x = pixels.astype(np.float32)
  return np.round((x + np.roll(x, 1, 0) + np.roll(x, 1, 1)) / 3).astype(
      np.uint8)


@pytest.fixture(scope="module")
def photos():
  from skimage import data  # pylint: disable=g-import-not-at-top
  return [data.astronaut()[60:188, 140:268], data.coffee()[:128, 100:228],
          data.chelsea()[40:168, 120:248]]


def pairs_of_size(photos, height, width):
  refs = np.stack([p[:height, :width] for p in photos])
  dists = np.stack([jpeg(refs[0], 15), noisy(refs[1], 6), blurred(refs[2])])
  return refs, dists


@pytest.mark.parametrize("model", libvmaf.MODELS)
@pytest.mark.parametrize("size", [(128, 128), (75, 101)])
def test_features_and_scores_match_libvmaf(photos, model, size):
  refs, dists = pairs_of_size(photos, *size)
  scores, logged = libvmaf.vmaf(refs, dists, model=model, features=True)
  ours = vmaf_graph.features(refs, dists, model)
  suffix = "_egl_1" if model.endswith("neg") else ""
  for name, values in ours.items():
    if name != "integer_motion2":  # logged as integer_motion2_force_0: 0
      expected = [f[name + suffix] for f in logged]
      np.testing.assert_allclose(values.numpy(), expected, atol=3e-4,
                                 err_msg=name)
  predicted = vmaf_graph.model(model).predict(ours).numpy()
  np.testing.assert_allclose(predicted, scores, atol=0.03)
  assert np.ptp(scores) > 5  # the three distortions score apart


def test_luma_is_ffmpegs(tmp_path):
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
  path = os.path.join(tmp_path, "in.rgb")
  rgb.tofile(path)
  for matrix in ("bt601", "bt709"):
    out = subprocess.run(
        [libvmaf.ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-f",
         "rawvideo", "-pix_fmt", "rgb24", "-s", "64x64", "-i", path, "-vf",
         f"scale=out_color_matrix={matrix}:out_range=tv:"
         "flags=accurate_rnd+full_chroma_int,format=yuv444p", "-f",
         "rawvideo", "-"], capture_output=True, check=True).stdout
    y = np.frombuffer(out, np.uint8)[:64 * 64].reshape(64, 64)
    np.testing.assert_array_equal(
        vmaf_graph.luma(rgb[None].astype(np.float32), matrix)[0].numpy(), y)


def test_registry_entries_are_differentiable_and_match_bridge(photos):
  refs, dists = pairs_of_size(photos, 64, 64)
  for name, host in (("vmaf_graph", "vmaf"), ("vmaf_neg_graph", "vmaf_neg")):
    metric = metrics.get(name)
    assert metric.differentiable and metric.higher_is_better
    np.testing.assert_allclose(metrics.compute(name, refs, dists),
                               metrics.compute(host, refs, dists), atol=0.03)


def gradient(reference, distorted, model, exact=True):
  reference, distorted = tf.constant(reference), tf.constant(distorted)
  with tf.GradientTape() as tape:
    tape.watch(distorted)
    score = vmaf_graph.vmaf(reference, distorted, model, exact=exact)
  return score.numpy(), tape.gradient(score, distorted).numpy()


@pytest.mark.parametrize("model", libvmaf.MODELS)
def test_gradients_are_finite_where_a_codec_can_go(photos, model):
  photo = photos[0][:64, :64].astype(np.float32)
  flat = np.full_like(photo, 120.0)
  saturated = np.clip(photo * 3 - 250, 0, 255)
  cases = {"identical": (photo, photo), "flat": (flat, flat + 1),
           "flat reference": (flat, photo), "flat distorted": (photo, flat),
           "saturated": (saturated, np.clip(saturated + 40, 0, 255)),
           "out of range": (photo, photo * 1.5 - 60)}
  references, distorted = (np.stack(x) for x in zip(*cases.values()))
  scores, grad = gradient(references, distorted, model)
  assert np.all(np.isfinite(grad)) and np.all(np.isfinite(scores))
  assert np.all((scores >= 0) & (scores <= 100))
  assert np.all(np.abs(grad) < 1.0)  # VMAF points per grey level


@pytest.mark.parametrize("model", libvmaf.MODELS)
def test_gradient_matches_finite_differences(photos, model):
  """Along the gradient, on the smooth function the rounding steps pass."""
  refs = np.stack([p[:64, :64] for p in photos[:2]]).astype(np.float32)
  dists = np.stack([noisy(photos[0][:64, :64], 8),
                    blurred(photos[1][:64, :64])]).astype(np.float32)
  _, grad = gradient(refs, dists, model, exact=False)
  norm = np.sqrt(np.sum(grad**2, axis=(1, 2, 3), keepdims=True))
  step = 0.5 * grad / norm  # half a grey level, in pixel space
  score = lambda x: vmaf_graph.vmaf(refs, x, model, exact=False).numpy()
  slope = (score(dists + step) - score(dists - step)) / 1.0
  np.testing.assert_allclose(slope, norm.ravel(), rtol=0.05)
  # The exact metric passes almost the same gradient (straight-through).
  _, exact_grad = gradient(refs, dists, model)
  cosine = np.sum(exact_grad * grad) / np.sqrt(np.sum(exact_grad**2) *
                                               np.sum(grad**2))
  assert cosine > 0.9


def test_sizes_must_be_static():
  graph = tf.function(vmaf_graph.vmaf, input_signature=[
      tf.TensorSpec([None, None, None, 3])] * 2)
  with pytest.raises(ValueError, match="sizes known"):
    graph.get_concrete_function()


def test_training_objectives(photos):
  from tfpc import losses  # pylint: disable=g-import-not-at-top
  refs, dists = pairs_of_size(photos, 64, 64)
  x = tf.constant(refs, tf.float32)
  x_hat = tf.Variable(dists.astype(np.float32))
  outputs = lambda: {"x_hat": x_hat, "bpp": tf.constant(0.5)}
  direct = losses.OBJECTIVES["vmaf_direct"](None, lmbda=0.01)
  with tf.GradientTape() as tape:
    terms = direct(x, outputs())
  grad = tape.gradient(terms["loss"], x_hat).numpy()
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  bridge = libvmaf.vmaf(refs, dists)
  assert terms["vmaf_mean"].numpy() == pytest.approx(bridge.mean(), abs=0.03)
  proxied = losses.OBJECTIVES["vmafp"](None, lmbda=0.01, patch_size=64,
                                      true_metric="vmaf_graph")
  assert "proxy" in proxied.auxiliary
  true = proxied.true_metric(x, x_hat).numpy()
  np.testing.assert_allclose(true, bridge, atol=0.03)


@pytest.mark.parametrize("integer", [True, False])
def test_rounded_filters_are_exact(integer):
  """libvmaf's rounded integer passes, against float64: VIF's windows and
  decimation on 1/256 steps, the DWT's passes on integers and 1/128 steps."""
  rng = np.random.default_rng(0)
  shape = (40, 2, 3, 36)
  levels = rng.integers(-128, 128, shape).astype(np.float64)
  passes = [(taps, 65536, 1 / 256, {}) for taps in vmaf_graph._VIF_TAPS]
  passes += [(vmaf_graph._VIF_TAPS[1], 65536, 1 / 256, {"stride": 2}),
             ((vmaf_graph._DWT_LO, vmaf_graph._DWT_HI), 2**15, 1 / 64,
              {"stride": 2, "border": vmaf_graph._adm_border})]
  for taps, unit, step, placement in passes:
    filters = taps if isinstance(taps[0], tuple) else [taps]
    fine = 128 if unit == 2**15 else 256
    x = levels if integer else np.round(
        rng.uniform(-214 if fine == 128 else -128, 127, shape) * fine) / fine
    for axis in (0, -1):
      rounded, residual = vmaf_graph._filter_rounded(
          tf.constant(x, tf.float32), filters, unit, step, axis, integer,
          residual=True, **placement)
      matrix = vmaf_graph._matrix(x.shape[axis], filters, **placement)
      total = (np.tensordot(matrix, x, 1) if axis == 0 else
               np.tensordot(x, matrix.T, 1)) / unit
      expected = np.floor(total / step + 0.5) * step
      np.testing.assert_array_equal(rounded.numpy(), expected)
      np.testing.assert_array_equal(residual.numpy(), total - expected)
