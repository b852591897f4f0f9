"""Issue 14: NLAIC-lite (non-local attention codec) at toy size."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import run_cli
from test_cli import assert_clean_failure
from test_perceptual import random_backbones  # noqa: F401  pylint: disable=unused-import
from tfpc import bitstream
from tfpc import blocks
from tfpc import codecs
from tfpc import coding
from tfpc import data
from tfpc import errors
from tfpc import export
from tfpc import losses
from tfpc import training
from tfpc import zoo
from tfpc.codecs import nlaic
from tfpc.losses import nlaic as nlaic_losses
from tfpc.training import stages
from tfpc.metrics import perceptual

TOY = {"architecture": "nlaic-lite", "num_filters": 8, "latent_channels": 6,
       "hyper_filters": 8, "num_blocks": 1, "attention_chunk": 64,
       "num_scales": 32}


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
  """The toy codec and a model root with both its export forms. Exporting
  prepares the codec for coding (`prepare_for_coding`, the slowest step):
  the tests share this one prepared codec."""
  tf.keras.utils.set_random_seed(0)
  codec = codecs.build_codec(TOY)
  root = str(tmp_path_factory.mktemp("models"))
  export.export_codec(codec, root, "toy-nlaic")
  export.export_serving(codec, root, "toy-nlaic" + export.SERVING_SUFFIX)
  return codec, root


@pytest.fixture(scope="module")
def toy_codec(toy_export):
  return toy_export[0]


@pytest.fixture(scope="module")
def toy_root(toy_export):
  return toy_export[1]


@pytest.fixture(scope="module")
def toy_model(toy_root):
  return zoo.load("toy-nlaic", toy_root)


def test_shapes_and_config(toy_codec):
  assert toy_codec.stride == 64 and toy_codec.num_strings == 2
  out = toy_codec(tf.random.uniform((2, 64, 64, 3), 0, 255, seed=1),
                  training=True)
  assert out["x_hat"].shape == (2, 64, 64, 3)
  assert out["y_hat"].shape == (2, 4, 4, 6)
  assert out["z_hat"].shape == (2, 1, 1, 8)
  assert out["bits"].shape == (2,)
  assert codecs.build_codec(toy_codec.get_config()).get_config() == {
      **TOY, "scale_min": 0.11, "scale_max": 256.0, "backbone": "nlaic"}


@pytest.mark.parametrize("chunk", [7, 1024])
def test_non_local_block_is_identity_at_init_and_chunks_agree(chunk):
  block = nlaic.NonLocalBlock(4, chunk=chunk)
  x = tf.random.normal((2, 5, 6, 4), seed=2)
  np.testing.assert_array_equal(block(x).numpy(), x.numpy())
  assert not np.any(block.output_conv.kernel.numpy())
  block.output_conv.kernel.assign(tf.random.normal((1, 1, 2, 4), seed=3))
  whole = nlaic.NonLocalBlock(4, chunk=1024)
  whole(x)
  whole.set_weights(block.get_weights())
  assert not np.allclose(block(x), x)
  np.testing.assert_allclose(block(x), whole(x), rtol=1e-5, atol=1e-6)


def test_round_trip_and_rate_estimate(toy_codec, photo):
  pixels = np.ascontiguousarray(photo[100:170, 150:240])
  strings, shape = toy_codec.compress(pixels)
  again, _ = toy_codec.compress(pixels)
  assert list(strings.numpy()) == list(again.numpy())
  decoded = toy_codec.decompress(strings, shape).numpy()
  assert decoded.shape == (70, 90, 3) and decoded.dtype == np.uint8
  padded = codecs.base.pad_to_multiple(
      tf.cast(pixels[None], tf.float32), toy_codec.stride)
  x_hat = toy_codec(padded, training=False)["x_hat"][0, :70, :90]
  np.testing.assert_allclose(decoded, np.clip(np.round(x_hat), 0, 255),
                             atol=1)
  estimated = float(toy_codec.symbol_bits(toy_codec.latent_symbols(padded)))
  real = 8 * sum(len(s) for s in strings.numpy())
  # Untrained toy: real bits are 6% over the table estimate (trained models:
  # 0.5%, see export.serving_form).
  assert real == pytest.approx(estimated, rel=0.08)


def test_both_export_forms(toy_root, toy_model, photo):
  model = toy_model
  pixels = np.ascontiguousarray(photo[:72, :100])
  data = coding.encode(model, pixels)
  assert len(bitstream.unpack(data).strings) == 2
  decoded = coding.decode(data, model).pixels
  serving = tf.saved_model.load(zoo.resolve("toy-nlaic-serving", toy_root))
  out = serving.signatures["reconstruct"](images=pixels[None])
  np.testing.assert_array_equal(out["reconstruction"][0].numpy(), decoded)


def test_stage_one_objective_weighs_mse_on_unit_range_and_dists(
    random_backbones, photo):  # noqa: F811
  x = tf.constant(photo[None, 100:164, 150:214], tf.float32)
  outputs = {"x_hat": x + 10.0, "bpp": tf.constant(0.5)}
  assert set(losses.OBJECTIVES) >= {"nlaic_rd", "nlaic_gan"}
  # The paper's lambda = 2, w1 = 100 in tfpc's convention (MSE on [0, 255]).
  lmbda = 2.0 * 100 / 255.0**2
  mse_only = losses.OBJECTIVES["nlaic_rd"](None, lmbda=lmbda,
                                           distance_weight=2.0,
                                           distance="none")
  terms = mse_only(x, outputs)
  assert float(terms["loss"]) == pytest.approx(
      2.0 * 100 * 100 / 255.0**2 + 0.5, rel=1e-5)
  assert "dists" not in terms
  full = losses.OBJECTIVES["nlaic_rd"](None, lmbda=lmbda,
                                       distance_weight=2.0,
                                       weights_dir=random_backbones)
  dists = float(perceptual.build("dists", random_backbones)(
      (x, tf.minimum(outputs["x_hat"], 255.0)))[0])
  terms = full(x, outputs)
  assert float(terms["dists"]) == pytest.approx(dists, rel=1e-5) and dists > 0
  assert float(terms["loss"]) == pytest.approx(
      2.0 * (100 * 100 / 255.0**2 + dists) + 0.5, rel=1e-5)


def test_discriminator_is_conditioned_on_the_latents():
  discriminator = nlaic_losses.ConditionalDiscriminator(6, filters=4)
  x = tf.random.uniform((1, 64, 64, 3), 0, 255, seed=4)
  y_hat = tf.round(tf.random.normal((1, 4, 4, 6), stddev=3, seed=5))
  logits = discriminator((x, y_hat))
  assert logits.shape == (1, 8, 8, 1)
  other = discriminator((x, y_hat + 1.0))
  assert np.abs(logits - other).max() > 1e-4


def test_blocks_decode_as_each_block_alone(toy_model, photo):
  pixels = np.ascontiguousarray(photo[150:246, 100:260])  # 96x160
  data = coding.encode(toy_model, pixels, block_shape=(64, 64))
  container = bitstream.unpack(data, toy_model.model_id)
  assert data[4] == bitstream.BLOCKS_VERSION
  assert container.block_shape == (64, 64) and len(container.strings) == 6
  decoded = coding.decode(data, toy_model).pixels
  grid = blocks.block_grid(96, 160, (64, 64))
  assert grid[-1] == (64, 128, 96, 160)
  for (top, left, bottom, right), strings in zip(grid, container.strings):
    alone = toy_model.encode(np.ascontiguousarray(pixels[top:bottom,
                                                         left:right]))
    assert bitstream.unpack(alone).strings == strings
    np.testing.assert_array_equal(decoded[top:bottom, left:right],
                                  toy_model.decode(alone))
  single = coding.encode(toy_model, pixels)  # version 1, as before blocks
  assert single[4] == bitstream.FORMAT_VERSION == 1
  assert bitstream.unpack(single).block_shape is None
  assert coding.decode(single, toy_model).pixels.shape == (96, 160, 3)


def test_block_container_checks():
  data = bitstream.pack_blocks(b"12345678", 3, 5, (2, 4),
                               [[b"a", b"bc"], [b"d", b""], [b"e", b"f"],
                                [b"g", b"h"]], grayscale=True)
  container = bitstream.unpack(data, b"12345678")
  assert container.strings[1] == [b"d", b""] and container.grayscale
  with pytest.raises(ValueError, match="do not tile"):
    bitstream.pack_blocks(b"12345678", 3, 5, (2, 4), [[b"a"]])
  with pytest.raises(errors.CorruptedFileError, match="checksum"):
    bitstream.unpack(data[:-1] + b"x")
  with pytest.raises(errors.TruncatedFileError):
    bitstream.unpack(data[:30])


def test_cli_codes_blocks_and_decodes_with_the_shipped_post_filter(
    toy_model, photo, tmp_path):
  model_path = str(tmp_path / "model")
  shutil.copytree(toy_model.path, model_path)
  post_filter = blocks.PostFilter(filters=4, layers=2)
  post_filter.stack.layers[-1].bias.assign([10 / 255] * 3)  # adds 10
  blocks.save_post_filter(post_filter, model_path, width=16, sigma=4.0)
  shipped, width, sigma = blocks.load_post_filter(model_path)
  assert (width, sigma) == (16, 4.0) and shipped.get_config() == {
      "filters": 4, "layers": 2}
  for old, new in zip(post_filter.get_weights(), shipped.get_weights()):
    np.testing.assert_array_equal(old, new)
  assert blocks.load_post_filter(toy_model.path) is None
  pixels = np.ascontiguousarray(photo[150:246, 100:260])  # 96x160
  source, tfpc_file, output = (str(tmp_path / n) for n in
                               ("x.png", "x.tfpc", "y.png"))
  Image.fromarray(pixels).save(source)
  result = run_cli("tfpc_compress", f"--model={model_path}",
                   f"--input={source}", f"--output={tfpc_file}",
                   "--block_size=64x64")
  assert result.returncode == 0, result.stderr
  with open(tfpc_file, "rb") as f:
    data = f.read()
  assert data == coding.encode(toy_model, pixels, block_shape=(64, 64))
  result = run_cli("tfpc_decompress", f"--model={model_path}",
                   f"--input={tfpc_file}", f"--output={output}")
  assert result.returncode == 0, result.stderr
  with Image.open(output) as img:
    decoded = np.asarray(img)
  model = zoo.load(model_path)
  plain = coding.decode(data, model, post_process=False).pixels
  np.testing.assert_array_equal(plain, coding.decode(data, toy_model).pixels)
  np.testing.assert_array_equal(decoded, blocks.decode(
      model, bitstream.unpack(data), shipped, 16, 4.0))
  changed = np.any(decoded != plain, axis=-1)
  # Only the strips around the seams (column 64, 128 and row 64) change.
  strips = np.zeros_like(changed)
  strips[:, 56:72] = strips[:, 120:136] = strips[56:72] = True
  assert changed[strips].mean() > 0.5 and not changed[~strips].any()
  assert_clean_failure(run_cli("tfpc_compress", f"--input={source}",
                               f"--output={tfpc_file}", "--block_size=64"),
                       "block size '64': expected HxW")
  os.remove(os.path.join(model_path, blocks.POST_FILTER_DIR, "weights.h5"))
  with pytest.raises(errors.ModelError, match="cannot load the post filter"):
    coding.decode(data, model)


def test_export_ships_the_post_filter_of_a_post_stage(toy_model, tmp_path):
  run = tmp_path / "run"
  (run / "post").mkdir(parents=True)
  with open(run / "recipe.json", "w") as f:
    json.dump({"codec": TOY, "stages": {"post": {
        "objective": "nlaic_post", "networks": {"post_filter": {}},
        "options": {"width": 16, "sigma": 3.0, "filters": 4, "layers": 2}},
        "later": {"start_from": "post", "objective": "nlaic_post"}}}, f)
  trained = blocks.PostFilter(filters=4, layers=2)
  trained.stack.layers[-1].bias.assign([10 / 255] * 3)
  tf.train.Checkpoint(post_filter=trained).save(str(run / "post" / "ckpt"))
  root = str(tmp_path / "models")
  result = run_cli("tfpc_export", f"--from_model={toy_model.path}",
                   "--name=toy-post", "--form=codec", f"--base_dir={root}",
                   f"--post_filter_run={run / 'post'}")
  assert result.returncode == 0, result.stderr
  result = run_cli("tfpc_export", f"--from_model={root}/toy-post/1",
                   "--name=toy-post-again", "--form=codec",
                   f"--base_dir={root}")
  assert result.returncode == 0, result.stderr
  for name in ("toy-post", "toy-post-again"):  # a re-export keeps the filter
    shipped, width, sigma = blocks.load_post_filter(f"{root}/{name}/1")
    assert (width, sigma, shipped.get_config()) == (
        16, 3.0, {"filters": 4, "layers": 2})
    for old, new in zip(trained.get_weights(), shipped.get_weights()):
      np.testing.assert_array_equal(old, new)
  with pytest.raises(errors.ModelError, match="not a stage"):
    stages.restore_objective(str(run / "rd"), "post_filter")
  with pytest.raises(errors.ModelError, match="no checkpoint"):
    stages.restore_objective(str(run / "later"), "post_filter")


def test_seam_weights_and_partial_post_processing():
  weights = blocks.seam_weights(8, sigma=2.0)
  expected = np.exp(-(np.arange(8) + 0.5 - 4)**2 / 8.0)
  np.testing.assert_allclose(weights, expected, rtol=1e-6)
  np.testing.assert_array_equal(weights, weights[::-1])
  post_filter = blocks.PostFilter(filters=4, layers=2)
  x = tf.random.uniform((1, 32, 48, 3), 0, 200, seed=6)
  np.testing.assert_allclose(  # zero-initialised: identity
      blocks.post_process(x, (16, 24), post_filter, 8, 2.0), x, atol=1e-4)
  post_filter.stack.layers[-1].bias.assign([10 / 255] * 3)  # adds 10
  difference = (blocks.post_process(x, (16, 24), post_filter, 8, 2.0) -
                x).numpy()[0, :, :, 0]
  profile = np.zeros(48)
  profile[20:28] = 10 * weights
  rows = np.zeros(32)
  rows[12:20] = 10 * weights
  np.testing.assert_allclose(difference, rows[:, None] + profile[None],
                             atol=1e-3)


def test_decoding_post_processes_the_pixels_in_place():
  post_filter = blocks.PostFilter(filters=4, layers=2)
  post_filter.stack.layers[-1].bias.assign([10 / 255] * 3)
  rng = np.random.default_rng(3)
  pixels = rng.integers(0, 200, (32, 48, 3)).astype(np.uint8)
  decoded = pixels.copy()
  address = decoded.__array_interface__["data"][0]
  blocks.post_process_in_place(decoded, (16, 24), post_filter, 8, 2.0)
  assert decoded.__array_interface__["data"][0] == address
  expected = blocks.post_process(tf.constant(pixels[None], tf.float32),
                                 (16, 24), post_filter, 8, 2.0)[0].numpy()
  # Only rounding between the two passes, where the strips cross, differs.
  difference = abs(decoded - np.round(expected))
  assert difference.max() <= 1 and (difference > 0).mean() < 0.05
  np.testing.assert_array_equal(decoded[:8, :16], pixels[:8, :16])


def test_post_filter_objective_trains_only_the_filter(toy_codec, photo):
  objective = losses.OBJECTIVES["nlaic_post"](toy_codec, width=16, filters=4,
                                              layers=2)
  post_filter = objective.auxiliary["post_filter"][1]
  post_filter.stack.layers[-1].bias.assign([1 / 255] * 3)
  x = tf.constant(photo[None, :128, 128:256], tf.float32)
  with tf.GradientTape() as tape:
    terms = objective(x, None)
  assert 0 < float(terms["msssim_spliced"]) < 1
  assert float(terms["post_loss"]) == pytest.approx(
      1 - float(terms["msssim_processed"]))
  grads = tape.gradient(terms["post_loss"], post_filter.trainable_variables +
                        toy_codec.trainable_variables)
  count = len(post_filter.trainable_variables)
  assert all(g is not None for g in grads[:count])
  assert all(g is None for g in grads[count:])


def test_stage_three_keeps_the_coding_part_bit_identical(toy_codec, photo,
                                                         tmp_path):
  """Last in the file: it fine-tunes the shared codec's decoder."""
  codec = toy_codec
  pixels = np.ascontiguousarray(photo[200:264, 200:264])
  before = [s for s in codec.compress(pixels)[0].numpy()]
  decoder = {v.ref() for v in codec.synthesis_transform.variables}
  coding_part = [v for v in codec.variables if v.ref() not in decoder]
  frozen = [v.numpy() for v in coding_part]
  synthesis = [v.numpy() for v in codec.synthesis_transform.variables]
  objective = losses.OBJECTIVES["nlaic_gan"](codec, distance="none",
                                             discriminator_filters=4)
  discriminator = objective.auxiliary["discriminator"][1]
  critic = [v.numpy() for v in discriminator.variables]
  trainer = training.Trainer(codec, objective, str(tmp_path), networks={
      "codec": training.Network("loss", codec, ("synthesis_transform",)),
      "discriminator": training.Network("discriminator_loss", discriminator)},
                             total_steps=2, log_every=1)
  record = trainer.run(data.patch_dataset([photo], batch_size=1,
                                          patch_size=64, crop_size=128,
                                          seed=0))
  assert record["step"] == 2 and np.isfinite(record["discriminator_loss"])
  assert len(coding_part) > 10
  assert all(np.array_equal(v.numpy(), b) for v, b in zip(coding_part,
                                                          frozen))
  for old, new in ((synthesis, codec.synthesis_transform.variables),
                   (critic, discriminator.variables)):
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(old, new))
  codec.prepare_for_coding()
  assert [s for s in codec.compress(pixels)[0].numpy()] == before
