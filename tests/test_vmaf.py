"""True VMAF through libvmaf: stills, independent path, errors, TF bridge."""

import glob
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import KODAK, noisy
from tfpc import metrics
from tfpc.metrics import libvmaf as vmaf_lib


def jpeg(pixels, quality):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


@pytest.fixture(scope="module")
def pairs():
  """Real photo patches with real JPEG and noise distortions, and a synthetic."""
  from skimage import data  # pylint: disable=g-import-not-at-top
  refs = [data.astronaut()[100:228, 150:278], data.coffee()[:128, :128],
          data.chelsea()[50:178, 100:228], data.rocket()[:128, :128]]
  yy, xx = np.mgrid[:128, :128]
  refs.append(np.stack([(xx * 2) % 256, (yy * 2) % 256, (xx + yy) % 256],
                       -1).astype(np.uint8))
  dists = [jpeg(refs[0], 10), noisy(refs[1], 15), jpeg(refs[2], 30),
           noisy(refs[3], 5), jpeg(refs[4], 20)]
  return np.stack(refs), np.stack(dists)


def test_batch_score_equals_score_alone_in_any_order(pairs):
  refs, dists = pairs
  batch = vmaf_lib.vmaf(refs, dists)
  assert batch.shape == (5,) and batch.dtype == np.float64
  alone = np.array([vmaf_lib.vmaf(r, d) for r, d in zip(refs, dists)])
  np.testing.assert_array_equal(batch, alone)
  order = np.array([3, 0, 4, 2, 1])
  np.testing.assert_array_equal(vmaf_lib.vmaf(refs[order], dists[order]),
                                batch[order])
  assert len(set(np.round(batch, 3))) == 5  # scores really differ per image


def test_batch_equals_alone_on_kodak():
  paths = sorted(glob.glob(os.path.join(KODAK, "kodim*.png")))[:4]
  if not paths:
    pytest.skip(f"Kodak not available at {KODAK} (../shared/data is absent)")
  refs = np.stack([np.asarray(Image.open(p).convert("RGB"))[:256, :256]
                   for p in paths])
  dists = np.stack([jpeg(refs[0], 5), noisy(refs[1], 20), jpeg(refs[2], 50),
                    noisy(refs[3], 3)])
  batch = vmaf_lib.vmaf(refs, dists)
  np.testing.assert_array_equal(
      batch, [vmaf_lib.vmaf(r, d) for r, d in zip(refs, dists)])


def png_path_vmaf(ref, dis, tmp):
  """Independent path: PNG files, one pair at a time, ffmpeg's own filter."""
  for name, pixels in (("r.png", ref), ("d.png", dis)):
    Image.fromarray(pixels).save(os.path.join(tmp, name))
  log = os.path.join(tmp, "log.json")
  convert = ("scale=out_color_matrix=bt601:out_range=tv:"
             "flags=accurate_rnd+full_chroma_int,format=yuv444p")
  graph = (f"[0:v]{convert}[d];[1:v]{convert}[r];[d][r]libvmaf=model="
           "'version=vmaf_v0.6.1\\:motion.motion_force_zero=true'"
           f":log_fmt=json:log_path={log}")
  subprocess.run([vmaf_lib.ffmpeg_path(), "-hide_banner", "-loglevel",
                  "error", "-i", os.path.join(tmp, "d.png"), "-i",
                  os.path.join(tmp, "r.png"), "-lavfi", graph, "-f", "null",
                  "-"], check=True)
  import json  # pylint: disable=g-import-not-at-top
  with open(log) as f:
    return json.load(f)["frames"][0]["metrics"]["vmaf"]


def test_matches_png_files_scored_one_at_a_time(pairs, tmp_path):
  refs, dists = pairs
  batch = vmaf_lib.vmaf(refs, dists)
  for i in range(len(refs)):
    assert abs(png_path_vmaf(refs[i], dists[i], str(tmp_path)) -
               batch[i]) < 1e-3


def test_more_distortion_scores_lower(pairs):
  ref = pairs[0][0]
  scores = [vmaf_lib.vmaf(ref, jpeg(ref, q)) for q in (90, 40, 10, 3)]
  assert scores == sorted(scores, reverse=True)
  assert scores[0] - scores[-1] > 20


def test_options_neg_model_and_features(pairs):
  refs, dists = pairs
  neg = vmaf_lib.vmaf(refs[:2], dists[:2], model="vmaf_v0.6.1neg")
  assert neg.shape == (2,)
  scores, features = vmaf_lib.vmaf(refs[:2], dists[:2], features=True)
  assert len(features) == 2
  assert {"integer_vif_scale0", "integer_adm2"} <= set(features[0])
  assert all(f["integer_motion2_force_0"] == 0 for f in features)
  assert features[1]["vmaf"] == scores[1]
  # VMAF's features read luma only: chroma layout cannot change the score,
  # the matrix (which changes Y) does.
  np.testing.assert_array_equal(
      vmaf_lib.vmaf(refs[:2], dists[:2], chroma="420"), scores)
  assert not np.array_equal(
      vmaf_lib.vmaf(refs[:2], dists[:2], matrix="bt709"), scores)


def test_metrics_interface_names_vmaf(pairs):
  refs, dists = pairs
  np.testing.assert_array_equal(
      metrics.compute("vmaf", refs.astype(np.float32), dists),
      vmaf_lib.vmaf(refs, dists))


def test_bad_input():
  a = np.zeros((32, 32, 3), np.uint8)
  with pytest.raises(ValueError, match="shape mismatch"):
    vmaf_lib.vmaf(a, a[:16])
  with pytest.raises(ValueError, match="uint8"):
    vmaf_lib.vmaf(a.astype(np.float32), a)
  with pytest.raises(ValueError, match="at least 17x17"):
    vmaf_lib.vmaf(a[:16], a[:16])
  with pytest.raises(ValueError, match="unknown VMAF model"):
    vmaf_lib.vmaf(a, a, model="nope")
  assert np.isfinite(vmaf_lib.vmaf(a[:17, :17], a[:17, :17]))


def test_missing_ffmpeg_and_no_temp_files_left(monkeypatch):
  a = np.zeros((32, 32, 3), np.uint8)
  before = set(glob.glob(os.path.join(tempfile.gettempdir(), "tfpc-vmaf-*")))
  monkeypatch.setenv("TFPC_FFMPEG", "/nonexistent/ffmpeg")
  with pytest.raises(vmaf_lib.VmafError, match="not found"):
    vmaf_lib.vmaf(a, a)
  monkeypatch.setenv("TFPC_FFMPEG", "/bin/false")
  with pytest.raises(vmaf_lib.VmafError, match="failed"):
    vmaf_lib.vmaf(a, a)
  after = set(glob.glob(os.path.join(tempfile.gettempdir(), "tfpc-vmaf-*")))
  assert after == before


def test_tf_op_in_tf_function(pairs):
  refs, dists = pairs
  x = tf.constant(refs, tf.float32)
  x_hat = tf.Variable(dists.astype(np.float32) + 0.3)  # rounds to dists

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      scores = vmaf_lib.vmaf_tf(x, x_hat)
      assert scores.shape == (5,)
    return scores, tape.gradient(tf.reduce_sum(scores), x_hat)

  scores, grad = step()
  assert grad is None
  np.testing.assert_allclose(scores.numpy(), vmaf_lib.vmaf(refs, dists),
                             atol=1e-4)


MIRRORED = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfpc.metrics import libvmaf as vmaf_lib
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
refs = rng.integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
dists = np.clip(refs + rng.normal(0, 20, refs.shape), 0, 255).astype(np.uint8)
data = tf.data.Dataset.from_tensor_slices(
    (refs.astype(np.float32), dists.astype(np.float32))).batch(4)
batch = next(iter(strategy.experimental_distribute_dataset(data)))

@tf.function
def run(batch):
  return strategy.run(lambda r, d: vmaf_lib.vmaf_tf(r, d), args=batch)

per_replica = strategy.experimental_local_results(run(batch))
got = np.concatenate([t.numpy() for t in per_replica])
assert len(per_replica) == 2, per_replica
np.testing.assert_allclose(got, vmaf_lib.vmaf(refs, dists), atol=1e-4)
print("OK", got)
"""


def test_tf_op_under_mirrored_strategy_with_two_cpus():
  result = subprocess.run([sys.executable, "-c", MIRRORED],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert result.returncode == 0, result.stderr[-2000:]
  assert "OK" in result.stdout


def test_tf_op_retries_once_then_returns_nan(pairs, tmp_path, monkeypatch):
  refs, dists = pairs
  x, x_hat = tf.constant(refs[:2], tf.float32), tf.constant(dists[:2],
                                                            tf.float32)
  flaky = tmp_path / "flaky_ffmpeg"
  marker = tmp_path / "failed_once"
  flaky.write_text(f"""#!/bin/sh
if [ ! -e {marker} ]; then touch {marker}; echo boom >&2; exit 1; fi
exec {vmaf_lib.ffmpeg_path()} "$@"
""")
  flaky.chmod(0o755)
  monkeypatch.setenv("TFPC_FFMPEG", str(flaky))
  np.testing.assert_allclose(vmaf_lib.vmaf_tf(x, x_hat).numpy(),
                             vmaf_lib.vmaf(refs[:2], dists[:2]), atol=1e-4)
  assert marker.exists()
  monkeypatch.setenv("TFPC_FFMPEG", "/bin/false")
  scores = vmaf_lib.vmaf_tf(x, x_hat)
  assert scores.shape == (2,) and np.isnan(scores.numpy()).all()


def test_package_level_names(pairs):
  refs, dists = pairs
  assert metrics.vmaf is vmaf_lib.vmaf and metrics.vmaf_tf is vmaf_lib.vmaf_tf
  assert issubclass(metrics.VmafError, Exception)
  assert float(metrics.vmaf(refs[0], dists[0])) == float(
      vmaf_lib.vmaf(refs[0], dists[0]))
