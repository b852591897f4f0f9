"""Issue 16: DPC (Mentzer 2018 bottleneck): importance map, center quantizer,
3D masked context model, real range coding, the clipped-rate objective."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc import training
from tfpc import weights
from tfpc.codecs import context
from tfpc.losses import dpc as dpc_loss


@pytest.fixture(scope="module")
def tiny_dpc():
  tf.keras.utils.set_random_seed(0)
  codec = codecs.build_codec({
      "architecture": "dpc", "num_filters": 8, "num_blocks": 1,
      "latent_channels": 4, "context_filters": 6})
  codec.prepare_for_coding()
  return codec


@pytest.fixture(scope="module")
def tiny_dpc_export(tiny_dpc, tmp_path_factory):
  """The path of `tiny_dpc` exported as model `tiny-dpc`."""
  from tfpc import export  # pylint: disable=g-import-not-at-top
  return export.export_codec(tiny_dpc, str(tmp_path_factory.mktemp("models")),
                             "tiny-dpc")


@pytest.fixture(scope="module")
def image(photo):
  return np.ascontiguousarray(photo[200:264, 180:244])


def test_importance_map_expands_by_the_section_3_1_rule():
  importance = tf.constant([[2.3], [0.6], [3.5], [0.0]])
  with tf.GradientTape() as tape:
    tape.watch(importance)
    mask = context.hard_mask(importance, 4)
    weighted = mask * [1.0, 2.0, 3.0, 4.0]
  np.testing.assert_allclose(
      context.importance_mask(importance, 4),
      [[1, 1, 0.3, 0], [0.6, 0, 0, 0], [1, 1, 1, 0.5], [0, 0, 0, 0]],
      atol=1e-6)
  np.testing.assert_array_equal(mask, [[1, 1, 1, 0], [1, 0, 0, 0],
                                       [1, 1, 1, 1], [0, 0, 0, 0]])
  # Straight through: the gradient of the soft mask, where only the
  # fractional channel moves with y.
  np.testing.assert_array_equal(tape.gradient(weighted, importance)[:3],
                                [[3], [1], [4]])


def test_quantizer_is_nearest_forward_and_soft_backward():
  quantizer = context.CenterQuantizer(6, sigma=2.0)
  centers = quantizer.centers.numpy()
  np.testing.assert_allclose(centers, [-2, -1.2, -0.4, 0.4, 1.2, 2])
  z = tf.constant([-3.0, -0.5, 0.1, 0.9, 1.7])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(z)
    hard, indexes = quantizer(z)
    soft = tf.reduce_sum(tf.nn.softmax(
        -2.0 * (z[:, None] - quantizer.centers)**2) * quantizer.centers, -1)
  np.testing.assert_array_equal(indexes, [0, 2, 3, 4, 5])
  np.testing.assert_allclose(hard, centers[[0, 2, 3, 4, 5]])
  np.testing.assert_allclose(tape.gradient(hard, z), tape.gradient(soft, z),
                             rtol=1e-6)
  assert np.all(tape.gradient(hard, z).numpy() > 0)
  quantizer.sigma.assign(8.0)  # annealing sharpens the soft assignment
  with tf.GradientTape() as tape:
    tape.watch(z)
    sharp, _ = quantizer(z)
  np.testing.assert_array_equal(sharp, hard)
  assert tape.gradient(sharp, z).numpy()[1] > 0


def test_a_later_symbol_never_changes_an_earlier_distribution():
  model = context.ContextModel(3, filters=5, num_layers=3)
  rng = np.random.default_rng(0)
  values = rng.normal(size=(1, 4, 5, 3)).astype(np.float32)
  changed = values.copy()
  changed[0, 2, 3, 1] += 1.0  # (k, i, j) = (1, 2, 3)
  base, after = model(values), model(changed)
  layers, _ = model.exact_weights()
  exact_base = context.exact_logits(values, layers)
  exact_after = context.exact_logits(changed, layers)
  k, i, j = np.meshgrid(range(3), range(4), range(5), indexing="ij")
  earlier = np.transpose(
      (k < 1) | ((k == 1) & ((i < 2) | ((i == 2) & (j <= 3)))), (1, 2, 0))
  for first, second in ((base, after), (exact_base, exact_after)):
    moved = np.any(first.numpy() != second.numpy(), axis=-1)[0]
    assert not moved[earlier].any()
    assert moved[~earlier].sum() > 10


def test_wavefronts_respect_every_causal_offset():
  order, bounds = context.wavefront_order(3, 4, 5)
  assert len(bounds) - 1 == 4 * 2 + 2 * 3 + 4 + 1
  step = np.empty(60, int)
  for t, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
    step[order[start:stop]] = t
  step = step.reshape(3, 4, 5)
  offsets = context.causal_offsets(False) - 1
  for dk, di, dj in offsets:
    for k, i, j in np.ndindex(3, 4, 5):
      if 0 <= k + dk < 3 and 0 <= i + di < 4 and 0 <= j + dj < 5:
        assert step[k + dk, i + di, j + dj] < step[k, i, j]


def test_frequencies_are_positive_and_follow_the_logits():
  probabilities = context.frequencies(
      np.array([[0.0, 1.0, -1.0, -100.0], [2.0, 2.0, 2.0, 2.0]]))
  np.testing.assert_allclose(probabilities.sum(-1), 1.0)
  assert np.all(probabilities > 0)
  np.testing.assert_allclose(probabilities[1], 0.25)
  np.testing.assert_allclose(probabilities[0, 1] / probabilities[0, 0],
                             np.e, rtol=3e-3)


def test_round_trip_is_bit_exact_and_size_matches_the_estimate(
    tiny_dpc, image):
  strings, shape = tiny_dpc.compress(image)
  x = tf.cast(image[None], tf.float32)
  symbols = tiny_dpc.latent_symbols(x)
  assert symbols["latents"].shape == (1, 8, 8, 4)
  depths = symbols["importance"].numpy()
  assert depths.min() >= 0 and depths.max() <= 4 and 0 < depths.mean() < 4
  latents = tiny_dpc.latent_codec.decode(strings, tf.constant([8, 8]))
  np.testing.assert_array_equal(
      latents, tiny_dpc.latent_codec.dequantize(symbols))
  decoded = tiny_dpc.decompress(strings, shape).numpy()
  np.testing.assert_array_equal(decoded, tf.saturate_cast(tf.round(
      tiny_dpc.synthesize(symbols)[0]), tf.uint8))
  real_bits = 8 * sum(len(s) for s in strings.numpy())
  estimate = float(tiny_dpc.symbol_bits(symbols)[0])
  # Each constriction string ends in a 32-bit word.
  assert -0.01 * estimate < real_bits - estimate < 0.02 * estimate + 2 * 32


def test_an_image_of_one_latent_pixel_round_trips(tiny_dpc, image):
  # h = w = 1: wavefronts t = 4 k + 1, 4 k + 2, 4 k + 3 hold no symbol.
  pixels = image[:8, :8]
  strings, shape = tiny_dpc.compress(pixels)
  symbols = tiny_dpc.latent_symbols(tf.cast(pixels[None], tf.float32))
  assert symbols["latents"].shape == (1, 1, 1, 4)
  np.testing.assert_array_equal(
      tiny_dpc.latent_codec.decode(strings, tf.constant([1, 1])),
      tiny_dpc.latent_codec.dequantize(symbols))
  assert tiny_dpc.decompress(strings, shape).shape == (8, 8, 3)


def test_masked_symbols_decode_to_the_float32_nearest_center():
  # -0.40001 and 0.4 tie on the 2^-12 grid; in float32, 0.4 is nearer 0.
  quantizer = context.CenterQuantizer()
  quantizer.centers.assign([-2.0, -1.0, -0.40001, 0.4, 1.0, 2.0])
  model = context.ContextModel(4, filters=5)
  rng = np.random.default_rng(1)
  depths = rng.integers(0, 5, (6, 7))
  masked = int(quantizer.indexes(tf.zeros(())))
  indexes = np.where(np.arange(4) < depths[..., None],
                     rng.integers(0, 6, (6, 7, 4)), masked).astype(np.int32)
  model(tf.zeros((1, 6, 7, 4)))
  layers, depth_logits = model.exact_weights()
  logits = context.exact_logits(
      tf.gather(quantizer.centers, indexes)[None], layers)[0]
  strings = context.encode_volume(indexes, depths, logits.numpy(),
                                  depth_logits.numpy())
  decoded = context.decode_volume(
      *strings, (6, 7, 4), quantizer.centers.numpy(),
      [(k.numpy(), b.numpy()) for k, b in layers], depth_logits.numpy())
  assert masked == 3
  np.testing.assert_array_equal(decoded, indexes)


# Decodes strings saved by the test with a codec restored from its checkpoint;
# argv: checkpoint, strings.npy, latent shape h, w. Saves the latents.
_DECODE_CHILD = r"""
import sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
from tfpc import codecs
codec = codecs.build_codec({"architecture": "dpc", "num_filters": 8,
                            "num_blocks": 1, "latent_channels": 4,
                            "context_filters": 6})
tf.train.Checkpoint(codec=codec).read(sys.argv[1]).expect_partial()
codec.prepare_for_coding()
strings = np.load(sys.argv[2], allow_pickle=True)  # written by the test
latents = codec.latent_codec.decode(tf.constant(strings),
                                    tf.constant([int(sys.argv[3])] * 2))
np.save(sys.argv[2] + ".out.npy", latents.numpy())
"""


def test_another_process_with_other_threads_and_onednn_decodes_the_same(
    tiny_dpc, photo, tmp_path):
  pixels = np.ascontiguousarray(photo[100:228, 100:228])
  strings, _ = tiny_dpc.compress(pixels)
  np.save(tmp_path / "strings.npy", strings.numpy())
  checkpoint = tf.train.Checkpoint(codec=tiny_dpc).write(
      str(tmp_path / "ckpt"))
  onednn = "0" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" else "1"
  result = subprocess.run(
      [sys.executable, "-c", _DECODE_CHILD, checkpoint,
       str(tmp_path / "strings.npy"), "16"], capture_output=True, text=True,
      timeout=300, check=False, env={
          **os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn,
          "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH",
                                                              "")])})
  assert result.returncode == 0, result.stderr[-2000:]
  symbols = tiny_dpc.latent_symbols(tf.cast(pixels[None], tf.float32))
  np.testing.assert_array_equal(
      np.load(tmp_path / "strings.npy.out.npy"),
      tiny_dpc.latent_codec.dequantize(symbols))


def test_training_rate_masks_symbols_the_importance_map_drops(tiny_dpc,
                                                             image):
  x = tf.cast(image[None], tf.float32)
  latent_codec = tiny_dpc.latent_codec
  y = tiny_dpc.analysis_transform(x)
  full = latent_codec.forward(tf.concat([y[..., :1] + 200.0, y[..., 1:]], -1),
                              True)
  none = latent_codec.forward(tf.concat([y[..., :1] - 200.0, y[..., 1:]], -1),
                              True)
  depth_bits = -64 * np.log2(tf.nn.softmax(
      tiny_dpc.context_model.depth_logits).numpy())
  assert float(none["bits"][0]) == pytest.approx(depth_bits[0], rel=1e-5)
  assert float(full["bits"][0]) > depth_bits[4] + 64  # 256 coded symbols
  symbols = latent_codec.quantize(y)
  assert float(tiny_dpc(x)["bits"][0]) == pytest.approx(
      float(tiny_dpc.symbol_bits(symbols)[0]), rel=1e-3)


def test_objective_clips_the_rate_and_trains(tiny_dpc, image):
  objective = losses.OBJECTIVES["dpc_rd"](tiny_dpc, alpha=2.0, beta=1.0,
                                          target_bpp=10.0, distance="none")
  x = tf.cast(np.stack([image, image[::-1]]), tf.float32)
  with tf.GradientTape() as tape:
    outputs = tiny_dpc(x, training=True)
    terms = objective(x, outputs)
  assert float(terms["loss"]) == pytest.approx(
      2.0 * (1 - float(terms["msssim"])) + 10.0, rel=1e-6)
  gradients = tape.gradient(terms["loss"],
                            tiny_dpc.context_model.trainable_variables)
  assert all(g is None or not np.any(g) for g in gradients)  # rate clipped
  unclipped = dpc_loss.DeepPerceptualRate(2.0, 1.0, 0.0, distance="none")
  assert float(unclipped(x, outputs)["loss"]) == pytest.approx(
      2.0 * (1 - float(terms["msssim"])) + float(terms["bpp"]), rel=1e-6)


def test_rd_with_a_target_stops_the_rate_below_it(tiny_dpc, image):
  """The recipe's MSE stages: lmbda * MSE + max(t, bpp); below t the rate
  passes no gradient to the importance map, above it the plain objective."""
  x = tf.cast(image[None], tf.float32)
  importance = tiny_dpc.analysis_transform.layers[-1].bias
  results = {}
  for target in (10.0, 0.0):
    objective = losses.OBJECTIVES["rd"](tiny_dpc, lmbda=0.0, target_bpp=target)
    with tf.GradientTape() as tape:
      terms = objective(x, tiny_dpc(x, training=True))
    results[target] = (float(terms["loss"]), float(terms["bpp"]),
                       tape.gradient(terms["loss"], importance).numpy()[0])
  (clipped, _, gradient), (plain, bpp, plain_gradient) = results.values()
  assert clipped == 10.0 and gradient == 0.0
  assert plain == pytest.approx(bpp) and plain_gradient > 0


def test_dpc_rd_trains_the_codec_with_the_trainer(tmp_path, photo):
  tf.keras.utils.set_random_seed(0)
  codec = codecs.build_codec({
      "architecture": "dpc", "num_filters": 8, "num_blocks": 1,
      "latent_channels": 4, "context_filters": 4})
  before = codec.quantizer.centers.numpy()
  objective = losses.OBJECTIVES["dpc_rd"](codec, alpha=1.0, beta=1.0,
                                          target_bpp=0.1, distance="none")
  record = training.Trainer(codec, objective, str(tmp_path), total_steps=2,
                            log_every=1, learning_rate=1e-2).run(
                                data.patch_dataset([photo], batch_size=2,
                                                   patch_size=32, seed=0))
  assert record["step"] == 2 and record["codec_skipped"] == 0
  assert 0 < record["msssim"] < 1 and record["bpp"] > 0
  assert np.abs(codec.quantizer.centers.numpy() - before).max() > 1e-3


def test_sigma_schedule_anneals_the_quantizer_step_by_step(tmp_path, photo):
  tf.keras.utils.set_random_seed(0)
  codec = codecs.build_codec({
      "architecture": "dpc", "num_filters": 8, "num_blocks": 1,
      "latent_channels": 4, "context_filters": 4})
  objective = losses.OBJECTIVES["dpc_rd"](
      codec, alpha=1.0, beta=1.0, target_bpp=0.1, distance="none",
      sigma_schedule=(1.0, 4.0, 2))
  training.Trainer(codec, objective, str(tmp_path), total_steps=3,
                   log_every=1).run(data.patch_dataset(
                       [photo], batch_size=1, patch_size=32, seed=0))
  with open(tmp_path / "metrics.jsonl") as f:
    sigmas = [json.loads(line)["sigma"] for line in f]
  assert sigmas == [2.5, 4.0, 4.0]  # set for the step after each step
  assert float(codec.quantizer.sigma) == 4.0


def test_lpips_joins_ms_ssim_in_the_distortion(tmp_path, monkeypatch,
                                               tiny_dpc, image):
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "alexnet.npz", **{
      key: 0.1 * rng.standard_normal(shape).astype(np.float32)
      for key, shape in weights.NETWORKS["alexnet"].shapes.items()})
  monkeypatch.setenv("TFPC_WEIGHTS_DIR", str(tmp_path))
  objective = dpc_loss.DeepPerceptualRate(0.5, 2.0, 0.0)  # random AlexNet
  x = tf.cast(image[None], tf.float32)
  terms = objective(x, tiny_dpc(x))
  assert float(terms["lpips"]) > 0
  assert float(terms["loss"]) == pytest.approx(
      0.5 * (float(terms["lpips"]) + 1 - float(terms["msssim"])) +
      2.0 * float(terms["bpp"]), rel=1e-6)


def test_exported_dpc_codes_through_the_cli(tiny_dpc, tiny_dpc_export, image,
                                           tmp_path):
  from conftest import run_cli  # pylint: disable=g-import-not-at-top
  from tfpc import image as image_lib  # pylint: disable=g-import-not-at-top
  assert "constriction" in json.load(open(os.path.join(
      tiny_dpc_export, "assets.extra", "tfpc.json")))["requires"]
  image_lib.write_image(str(tmp_path / "in.png"), image)
  root = os.path.dirname(os.path.dirname(tiny_dpc_export))
  env = {**os.environ, "TFPC_MODEL_DIR": root}
  assert run_cli("tfpc_compress", f"--input={tmp_path}/in.png",
                 f"--output={tmp_path}/in.tfpc", "--model=tiny-dpc",
                 env=env).returncode == 0
  result = run_cli("tfpc_decompress", f"--input={tmp_path}/in.tfpc",
                   f"--output={tmp_path}/out.png", env=env)
  assert result.returncode == 0, result.stderr
  strings, shape = tiny_dpc.compress(image)
  np.testing.assert_array_equal(
      image_lib.read_image(str(tmp_path / "out.png")).pixels,
      tiny_dpc.decompress(strings, shape).numpy())


def test_a_crafted_file_is_a_one_line_error_with_status_2(tiny_dpc_export,
                                                          tmp_path):
  # Payloads a range coder never wrote, behind a recomputed checksum:
  # constriction asserts on them, which used to escape as an internal error.
  from conftest import run_cli  # pylint: disable=g-import-not-at-top
  from tfpc import bitstream, coding, errors, zoo  # pylint: disable=g-import-not-at-top
  model = zoo.CodecModel(tiny_dpc_export)
  container = bitstream.unpack(coding.encode(
      model, np.full((32, 32, 3), 90, np.uint8)))
  for index in range(2):
    strings = list(container.strings)
    strings[index] = b"\xff" * 8
    crafted = bitstream.pack(container.model_id, 32, 32, strings)
    with pytest.raises(errors.CorruptedFileError,
                       match="invalid range-coded data") as error:
      coding.decode(crafted, model)
    assert "\n" not in str(error.value)
  (tmp_path / "crafted.tfpc").write_bytes(crafted)
  result = run_cli("tfpc_decompress", f"--input={tmp_path}/crafted.tfpc",
                   f"--output={tmp_path}/out.png",
                   env={"TFPC_MODEL_DIR": os.path.dirname(
                       os.path.dirname(tiny_dpc_export))})
  assert result.returncode == 2
  assert result.stderr.count("\n") == 1
  assert "invalid range-coded data" in result.stderr
  assert not (tmp_path / "out.png").exists()
