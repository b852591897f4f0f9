"""Issue 19: PyTorch weight files without PyTorch; LPIPS, DISTS, VGG19 losses.

The networks run on random backbones of torchvision's shapes (the ImageNet
weights are not available here) with the shipped LPIPS heads and DISTS
alpha/beta; parity with the PyTorch references is benchmarks/
perceptual_parity.py's job.
"""

import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from tfpc import errors
from tfpc import losses
from tfpc import metrics
from tfpc import weights
from tfpc.evaluation import bdrate
from tfpc.evaluation import suite
from tfpc.losses import proxiqa
from tfpc.metrics import perceptual

P = pickle


def _global(module, name):
  return P.GLOBAL + f"{module}\n{name}\n".encode()


def _int(value):
  return P.BININT + struct.pack("<i", value)


def _str(text):
  return P.BINUNICODE + struct.pack("<I", len(text)) + text.encode()


def _tuple(items):
  return P.MARK + b"".join(items) + P.TUPLE


def _new(module, name):
  return _global(module, name) + P.EMPTY_TUPLE + P.REDUCE


def _state_dict_pickle(entries, legacy):
  """A state dict pickled as torch.save does it (protocol 2), by hand.

  entries: (name, storage type, key, numel, view, offset, size, stride);
  a view (legacy only) is (view key, offset, numel) or None.
  """
  out = P.PROTO + b"\x02" + _new("collections", "OrderedDict")
  for name, kind, key, numel, view, offset, size, stride in entries:
    pid = [_str("storage"), _global("torch", kind), _str(key), _str("cpu"),
           _int(numel)]
    if legacy:
      pid.append(_tuple([_str(view[0]), _int(view[1]), _int(view[2])])
                 if view else P.NONE)
    tensor = _tuple([_tuple(pid) + P.BINPERSID, _int(offset),
                     _tuple([_int(n) for n in size]),
                     _tuple([_int(s) for s in stride]), P.NEWFALSE,
                     _new("collections", "OrderedDict")])
    rebuild = _global("torch._utils", "_rebuild_tensor_v2") + tensor + P.REDUCE
    if name == "p":  # an nn.Parameter around the tensor
      rebuild = _global("torch._utils", "_rebuild_parameter") + _tuple(
          [rebuild, P.NEWTRUE, _new("collections", "OrderedDict")]) + P.REDUCE
    out += _str(name) + rebuild + P.SETITEM
  return out + P.STOP


STORAGES = {"0": np.arange(24, dtype="<f4"), "1": np.arange(5, dtype="<i8")}
ENTRIES = [("a", "FloatStorage", "0", 24, None, 0, (2, 3, 4), (12, 4, 1)),
           ("t", "FloatStorage", "0", 24, None, 12, (4, 3), (1, 4)),
           ("p", "FloatStorage", "0", 24, None, 2, (2,), (1,)),
           ("n", "LongStorage", "1", 5, None, 0, (5,), (1,))]
EXPECTED = {"a": np.arange(24.0).reshape(2, 3, 4),
            "t": np.arange(12.0, 24.0).reshape(3, 4).T,
            "p": np.array([2.0, 3.0]), "n": np.arange(5)}


def write_legacy(path, entries, storages, state=None):
  keys = sorted({e[2] for e in entries})
  with open(path, "wb") as f:
    for header in (weights.LEGACY_MAGIC, weights.LEGACY_PROTOCOL,
                   {"protocol_version": 1001, "little_endian": True}):
      f.write(pickle.dumps(header, protocol=2))
    f.write(state or _state_dict_pickle(entries, legacy=True))
    f.write(pickle.dumps(keys, protocol=2))
    for key in keys:
      f.write(struct.pack("<q", storages[key].size) + storages[key].tobytes())


def write_zip(path, entries, storages, state=None):
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl",
                     state or _state_dict_pickle(entries, legacy=False))
    archive.writestr("archive/byteorder", "little")
    for key in sorted({e[2] for e in entries}):
      archive.writestr(f"archive/data/{key}", storages[key].tobytes())


@pytest.mark.parametrize("write", [write_legacy, write_zip])
def test_reader_reads_both_layouts_with_views_and_strides(tmp_path, write):
  path = str(tmp_path / "state.pth")
  write(path, ENTRIES, STORAGES)
  arrays = weights.read_torch(path)
  assert sorted(arrays) == sorted(EXPECTED)
  for name, expected in EXPECTED.items():
    np.testing.assert_array_equal(arrays[name], expected)
    assert arrays[name].dtype == (np.int64 if name == "n" else np.float32)


def test_reader_resolves_legacy_storage_views(tmp_path):
  path = str(tmp_path / "view.pth")
  write_legacy(path, [("v", "FloatStorage", "0", 24, ("9", 6, 6), 1, (2, 2),
                       (3, 1))], STORAGES)
  np.testing.assert_array_equal(weights.read_torch(path)["v"],
                                [[7, 8], [10, 11]])


class _Evil:

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("write", [write_legacy, write_zip])
def test_a_pickle_with_another_global_is_refused_unrun(tmp_path, write):
  marker = tmp_path / "ran"
  path = str(tmp_path / "evil.pth")
  write(path, ENTRIES, STORAGES,
        state=pickle.dumps({"w": _Evil(marker)}, protocol=2))
  with pytest.raises(errors.UnsafeFileError, match=r"evil.pth.*system"):
    weights.read_torch(path)
  assert not marker.exists()


def test_truncated_and_foreign_files_are_weights_errors(tmp_path):
  path = tmp_path / "state.pth"
  write_legacy(str(path), ENTRIES, STORAGES)
  path.write_bytes(path.read_bytes()[:-9])
  with pytest.raises(errors.WeightsError, match="truncated"):
    weights.read_torch(str(path))
  path.write_bytes(pickle.dumps([1, 2], protocol=2))
  with pytest.raises(errors.WeightsError, match="not a PyTorch state dict"):
    weights.read_torch(str(path))
  out_of_bounds = [("x", "FloatStorage", "0", 24, None, 20, (5,), (1,))]
  write_zip(str(path), out_of_bounds, STORAGES)
  with pytest.raises(errors.WeightsError, match="outside its storage"):
    weights.read_torch(str(path))


def test_a_file_cannot_change_how_later_files_read(tmp_path):
  # BUILD on the FloatStorage global: the reader used to hand out one shared
  # object, so this file made every later float32 storage int8.
  bad = tmp_path / "a-bad.pth"
  bad.write_bytes(P.PROTO + b"\x02" + _global("torch", "FloatStorage") +
                  P.EMPTY_DICT + _str("dtype") + _str("i1") + P.SETITEM +
                  P.BUILD + P.STOP)
  heads = weights.load("lpips_alex")
  storages = {str(k): heads[f"lin{k}.model.1.weight"].reshape(-1)
              for k in range(5)}
  good = str(tmp_path / "b-good.pth")
  write_zip(good, [(f"lin{k}.model.1.weight", "FloatStorage", str(k),
                    storages[str(k)].size, None, 0,
                    (1, storages[str(k)].size, 1, 1),
                    (storages[str(k)].size, 1, 1, 1)) for k in range(5)],
            storages)
  _, alone = weights.convert(good, str(tmp_path / "alone"))
  with pytest.raises(errors.WeightsError):
    weights.convert(str(bad), str(tmp_path / "folder"))
  _, after = weights.convert(good, str(tmp_path / "folder"))
  with np.load(alone) as first, np.load(after) as second:
    for key in first.files:
      np.testing.assert_array_equal(second[key], first[key])
  np.testing.assert_array_equal(weights.read_torch(good)["lin0.model.1.weight"],
                                heads["lin0.model.1.weight"])


@pytest.mark.parametrize("write", [write_legacy, write_zip])
def test_layouts_are_checked_before_any_allocation(tmp_path, write):
  path = str(tmp_path / "state.pth")
  # One float repeated 2^40 times by strides of 0: 4 TiB from 4 bytes.
  write(path, [("x", "FloatStorage", "0", 1, None, 0, (1 << 20, 1 << 20),
                (0, 0))], {"0": np.ones(1, "<f4")})
  with pytest.raises(errors.WeightsError, match="more elements than"):
    weights.read_torch(path)
  # A storage longer than the file.
  write(path, [("x", "FloatStorage", "0", 1 << 30, None, 0, (4,), (1,))],
        {"0": np.ones(4, "<f4")})
  with pytest.raises(errors.WeightsError, match="shorter|truncated"):
    weights.read_torch(path)


def test_a_zip_entry_larger_than_its_file_is_not_read(tmp_path):
  path = str(tmp_path / "bomb.pth")
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("archive/data.pkl", _state_dict_pickle(
        [("x", "FloatStorage", "0", 4, None, 0, (4,), (1,))], legacy=False))
    archive.writestr("archive/data/0", bytes(64 << 20))
  with pytest.raises(errors.WeightsError, match="declares 67108864 bytes"):
    weights.read_torch(path)


@pytest.mark.parametrize("state", [
    _tuple([_str("storage")]) + P.BINPERSID + P.STOP,
    P.MARK * 3 + P.STOP,
    _int(1) + _int(0) + P.TUPLE2 + P.BUILD + P.STOP,
    b"\x96" + struct.pack("<Q", 1 << 40) + P.STOP,  # BYTEARRAY8
])
def test_every_failure_is_a_weights_error(tmp_path, state):
  path = str(tmp_path / "odd.pth")
  write_zip(path, ENTRIES, STORAGES, state=P.PROTO + b"\x02" + state)
  with pytest.raises(errors.WeightsError) as error:
    weights.read_torch(path)
  assert "\n" not in str(error.value)


def test_tfpc_weights_recognises_files_by_keys_and_shapes(tmp_path):
  heads = weights.load("lpips_alex")
  storages, entries = {}, []
  for k in range(5):
    storages[str(k)] = heads[f"lin{k}.model.1.weight"].reshape(-1)
    size = storages[str(k)].size
    entries.append((f"lin{k}.model.1.weight", "FloatStorage", str(k), size,
                    None, 0, (1, size, 1, 1), (size, 1, 1, 1)))
  source = tmp_path / "src"
  source.mkdir()
  write_zip(str(source / "whatever-name.pth"), entries, storages)
  write_legacy(str(source / "other.pt"), ENTRIES, STORAGES)
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "bin", "tfpc_weights"),
       f"--weights_dir={out}", str(source), str(source / "other.pt")],
      capture_output=True, text=True, check=False,
      env={**os.environ, "PYTHONPATH": REPO})
  assert "lpips_alex" in result.stdout and "skipped" in result.stdout
  converted = weights.load("lpips_alex", str(out))
  for key, array in heads.items():
    np.testing.assert_array_equal(converted[key], array)
  assert result.returncode == 2  # other.pt, named, is no known network
  assert len(result.stderr.strip().splitlines()) == 1
  assert "not weights of a network tfpc knows" in result.stderr


def test_a_missing_backbone_names_file_source_and_command(tmp_path):
  with pytest.raises(errors.WeightsError) as error:
    perceptual.LPIPS("vgg", weights_dir=str(tmp_path))
  message = str(error.value)
  assert "\n" not in message
  for part in ("vgg16.npz", "vgg16-397923af.pth", "download.pytorch.org",
               "tfpc_weights"):
    assert part in message


@pytest.fixture(scope="module")
def random_backbones(tmp_path_factory):
  """Random VGG16, VGG19 and AlexNet in torchvision's shapes (He init)."""
  folder = str(tmp_path_factory.mktemp("weights"))
  rng = np.random.default_rng(0)
  for name in ("vgg16", "vgg19", "alexnet"):
    arrays = {}
    for key, shape in weights.NETWORKS[name].shapes.items():
      scale = np.sqrt(2.0 / np.prod(shape[1:])) if len(shape) > 1 else 0.01
      arrays[key] = scale * rng.standard_normal(shape, np.float32)
    np.savez(os.path.join(folder, f"{name}.npz"), **arrays)
  return folder


@pytest.fixture(autouse=True)
def weights_folder(request, monkeypatch):
  if "random_backbones" in request.fixturenames:
    monkeypatch.setenv("TFPC_WEIGHTS_DIR",
                       request.getfixturevalue("random_backbones"))


@pytest.fixture(scope="module")
def patches(photo):
  """A 48x56 crop of the astronaut and three noisier versions."""
  crop = photo[100:148, 180:236].astype(np.float64)
  rng = np.random.default_rng(0)
  noise = rng.normal(0.0, 1.0, crop.shape)
  return crop, [np.clip(crop + s * noise, 0, 255) for s in (4, 12, 36)]


@pytest.mark.parametrize("name", perceptual.METRICS)
def test_distances_are_zero_symmetric_and_grow_with_noise(
    random_backbones, patches, name):
  crop, noisy = patches
  assert metrics.compute(name, crop, crop) == pytest.approx(0.0, abs=1e-6)
  forward = metrics.compute(name, np.stack([crop] * 3), np.stack(noisy))
  backward = metrics.compute(name, np.stack(noisy), np.stack([crop] * 3))
  np.testing.assert_allclose(forward, backward, rtol=1e-4)
  assert forward.dtype == np.float64 and forward.shape == (3,)
  assert 0 < forward[0] < forward[1] < forward[2]
  assert not metrics.get(name).higher_is_better


@pytest.mark.parametrize("name", perceptual.DISTANCES)
def test_gradients_are_finite_also_at_identical_images(
    random_backbones, patches, name):
  crop, noisy = patches
  x = tf.constant(np.stack([crop, crop]), tf.float32)
  y = tf.constant(np.stack([crop, noisy[1]]), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(y)
    distance = tf.reduce_sum(perceptual.distance(name, x, y))
  gradient = tape.gradient(distance, y).numpy()
  assert np.all(np.isfinite(gradient)) and np.any(gradient[1])


def test_feature_maps_follow_pytorch_size_arithmetic(random_backbones):
  x = tf.zeros((1, 37, 45, 3))
  vgg = perceptual.Backbone("vgg16", ["relu1_2", "relu5_3"])(x)
  assert vgg["relu5_3"].shape == (1, 2, 2, 512)  # floor halving: 18, 9, 4, 2
  l2 = perceptual.Backbone("vgg16", ["relu5_3"], l2_pooling=True)(x)
  assert l2["relu5_3"].shape == (1, 3, 3, 512)  # ceil halving: 19, 10, 5, 3
  alex = perceptual.Backbone("alexnet", ["relu1", "relu2", "relu5"])(x)
  assert [f.shape[1:3] for f in alex.values()] == [(8, 10), (3, 4), (1, 1)]
  assert perceptual.model("lpips").min_side == 31


def test_shape_and_dtype_errors(random_backbones, patches):
  crop, _ = patches
  with pytest.raises(ValueError, match="shape mismatch"):
    metrics.compute("lpips", crop, crop[:40])
  with pytest.raises(TypeError, match="uint8 or float"):
    metrics.compute("dists", crop.astype(np.int32), crop.astype(np.int32))
  with pytest.raises(ValueError, match="at least 31x31"):
    metrics.compute("lpips", crop[:30], crop[:30])
  with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
    perceptual.distance("dists", crop[None, ..., :1], crop[None, ..., :1])
  with pytest.raises(TypeError, match="float images"):
    perceptual.distance("lpips_vgg", tf.zeros((1, 32, 32, 3), tf.int32),
                        tf.zeros((1, 32, 32, 3), tf.int32))


def test_tfpc_eval_scores_distances_and_keeps_the_bd_rate_sign(
    random_backbones, patches):
  crop, noisy = patches
  scores = suite.quality(crop.astype(np.uint8), noisy[0].astype(np.uint8),
                         ["psnr", "lpips", "dists"])
  assert scores["psnr"] > 30 and 0 < scores["lpips"] < 1
  assert {"lpips", "lpips_vgg", "dists"} <= set(metrics.METRICS)
  rates = [0.1, 0.25, 0.5, 0.9, 1.6]
  distances = [0.5, 0.35, 0.22, 0.12, 0.06]
  records = [{"curve": curve, "image": "a.png", "bpp": scale * rate,
              "metrics": {"lpips": d, "psnr": 25 + 10 * rate}}
             for curve, scale in (("anchor", 1.0), ("cheaper", 0.9))
             for rate, d in zip(rates, distances)]
  for method in bdrate.METHODS:
    cells = bdrate.table(records, "anchor", ["lpips", "psnr"], method)
    assert cells["cheaper"]["lpips"]["bd_rate"] == pytest.approx(-10.0,
                                                                 abs=1e-6)
    assert cells["cheaper"]["psnr"]["bd_rate"] == pytest.approx(-10.0,
                                                                abs=1e-6)


def test_losses_and_proxy_targets(random_backbones, patches):
  crop, noisy = patches
  x = tf.constant(np.stack([crop, crop]), tf.float32)
  outputs = {"x_hat": tf.constant(np.stack(noisy[:2]), tf.float32),
             "bpp": tf.constant(0.5)}
  plain = losses.RateDistortion(0.01)(x, outputs)
  mixed = losses.PerceptualRateDistortion("lpips", 0.01, weight=0.0)(
      x, outputs)
  assert float(mixed["loss"]) == pytest.approx(float(plain["loss"]),
                                               rel=1e-6)
  assert float(mixed["lpips"]) > 0
  features = losses.vgg19_feature_distance(x, outputs["x_hat"], "conv5_4")
  assert features.shape == (2,) and np.all(features.numpy() > 0)
  scores = proxiqa.true_scores(
      "dists", x, tf.constant(np.stack([crop, noisy[2]]), tf.float32))
  assert float(scores[0]) == pytest.approx(100.0, abs=1e-4)
  assert 0 < float(scores[1]) < 100.0
  assert proxiqa.ProxyIQANet("lpips", 32).metric == "lpips"
