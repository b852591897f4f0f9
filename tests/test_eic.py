"""EIC-E2E-B/P: the GRDN post-filter, the eic-base codec, perceptual decoders
that read the base model's files, and the two objectives (tiny sizes)."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpc import coding
from tfpc import data
from tfpc import export
from tfpc import losses
from tfpc import training
from tfpc import zoo
from tfpc.codecs import base
from tfpc.codecs import eic
from tfpc.export import layout
from tfpc.losses import eic as eic_losses

TINY = {"architecture": "eic-base", "num_filters": 8, "latent_channels": 6,
        "num_scales": 32, "grdn_channels": 8, "grdn_growth": 4,
        "grdn_layers": 2, "grdn_blocks": 1, "grdn_groups": 2}


@pytest.fixture(autouse=True)
def random_vgg19(tmp_path_factory, monkeypatch):
  """Random VGG19 weights in torchvision's shapes (He init) for L_perc."""
  folder = tmp_path_factory.getbasetemp() / "vgg19"
  if not folder.exists():
    folder.mkdir()
    np.savez(folder / "vgg19.npz", **eic_losses.random_vgg19_arrays(0))
  monkeypatch.setenv("TFPC_WEIGHTS_DIR", str(folder))


def _codec():
  tf.random.set_seed(0)
  return base.build_codec(TINY)


def _copy(codec):
  twin = base.build_codec(codec.get_config())
  for target, source in zip(twin.variables, codec.variables):
    target.assign(source)
  return twin


def _perturb(variables, seed=1):
  rng = np.random.default_rng(seed)
  for v in variables:
    v.assign_add(0.01 * rng.standard_normal(v.shape).astype(np.float32))


def test_grdn_starts_as_identity_and_has_the_documented_size():
  grdn = eic.GRDN(name="grdn")
  x = tf.random.uniform((1, 16, 16, 3), 0, 255, seed=0)
  np.testing.assert_array_equal(grdn(x).numpy(), x.numpy())
  assert sum(int(np.prod(v.shape)) for v in grdn.variables) == 99427
  _perturb(grdn.tail.variables)
  assert np.abs(grdn(x).numpy() - x.numpy()).max() > 0.1


def test_mbt2018_checkpoints_warm_start_everything_but_the_grdn(tmp_path):
  mbt = base.build_codec({k: v for k, v in TINY.items()
                          if not k.startswith("grdn")} |
                         {"architecture": "mbt2018-mean"})
  path = tf.train.Checkpoint(codec=mbt).save(str(tmp_path / "ckpt"))
  codec = _codec()
  tf.train.Checkpoint(codec=codec).restore(path).expect_partial()
  decoder = codec.synthesis_transform.layers[:-1]
  assert [v.name for v in mbt.synthesis_transform.variables] == [
      v.name for layer in decoder for v in layer.variables]
  for ours, theirs in zip([v for layer in decoder for v in layer.variables],
                          mbt.synthesis_transform.variables):
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  np.testing.assert_array_equal(codec.analysis_transform.variables[0].numpy(),
                                mbt.analysis_transform.variables[0].numpy())


def test_eic_base_objective_values():
  x = tf.fill((1, 16, 16, 3), 100.0)
  outputs = {"x_hat": x + 10.0, "bpp": tf.constant(0.5)}
  terms = losses.OBJECTIVES["eic_base"](None, lmbda=2.0)(x, outputs)
  assert float(terms["rec"]) == pytest.approx(100 / 255**2)
  # lmbda weighs the MSE on [0, 255], as rd's.
  assert float(terms["loss"]) == pytest.approx(2 * 100 + 0.5)
  assert float(terms["loss"]) == pytest.approx(float(
      losses.OBJECTIVES["rd"](None, lmbda=2.0)(x, outputs)["loss"]))
  texture = losses.OBJECTIVES["eic_base"](None, msssim_weight=2.0)
  assert float(texture(x, {"x_hat": x, "bpp": 0.5})["loss"]) == pytest.approx(
      0.5, abs=1e-6)
  for options in ({}, {"lmbda": 1.0, "msssim_weight": 1.0}):
    with pytest.raises(ValueError, match="exactly one of lmbda"):
      losses.OBJECTIVES["eic_base"](None, **options)


def test_relativistic_average_losses_known_values():
  real, fake = tf.constant([2.0, 0.0]), tf.constant([0.0, -2.0])
  g, d = eic_losses.relativistic_losses(real, fake)
  softplus = lambda z: np.log1p(np.exp(z))
  # real - mean(fake) = [3, 1]; fake - mean(real) = [-1, -3].
  expected_d = (softplus(-3) + softplus(-1) + softplus(-1) + softplus(-3)) / 4
  expected_g = (softplus(3) + softplus(1) + softplus(1) + softplus(3)) / 4
  assert float(d) == pytest.approx(expected_d, rel=1e-6)
  assert float(g) == pytest.approx(expected_g, rel=1e-6)


def test_variants_and_discriminator_sees_the_base_pair():
  codec = _codec()
  texture = losses.OBJECTIVES["eic_perceptual"](codec, variant="texture",
                                                adv_weight=0.0)
  assert (texture.reconstruction, texture.weights) == ("msssim",
                                                       (30.0, 0.1, 0.0))
  with pytest.raises(ValueError, match="variant must be one of"):
    losses.OBJECTIVES["eic_perceptual"](codec, variant="gan")
  objective = losses.OBJECTIVES["eic_perceptual"](codec)
  assert objective.weights == (40.0, 0.1, 0.005)
  x = tf.random.uniform((2, 64, 64, 3), 0, 255, seed=1)
  outputs = codec(x, training=False)
  base_x = codec.synthesis_transform(outputs["y_hat"])
  terms = objective(x, outputs)
  # x_base is the synthesis the codec had at the first call; it stays so.
  _perturb(codec.synthesis_transform.trainable_variables)
  np.testing.assert_allclose(
      objective.base_reconstruction(outputs["y_hat"]), base_x, atol=1e-3)
  discriminator = objective.discriminator
  real, fake = (discriminator((x, base_x)),
                discriminator((outputs["x_hat"], base_x)))
  g, d = eic_losses.relativistic_losses(real, fake)
  assert float(terms["discriminator_loss"]) == pytest.approx(float(d),
                                                             rel=1e-5)
  assert float(terms["adv_g"]) == pytest.approx(float(g), rel=1e-5)
  # The context matters: another base reconstruction, other logits.
  assert np.abs(discriminator((x, base_x + 20.0)) - real).max() > 1e-4
  assert float(terms["loss"]) == pytest.approx(
      40 * float(terms["rec"]) + 0.1 * float(terms["perc"]) +
      0.005 * float(g), rel=1e-5)
  assert not {v.ref() for v in discriminator.base_synthesis.variables} & {
      v.ref() for v in discriminator.trainable_variables}
  # "random": the seed-0 He-initialized VGG19 (the fixture's weights file).
  random = losses.OBJECTIVES["eic_perceptual"](codec, vgg19_weights="random")
  x_hat = tf.clip_by_value(outputs["x_hat"], 0.0, 255.0)
  np.testing.assert_allclose(random.perceptual_distance(x, x_hat),
                             objective.perceptual_distance(x, x_hat),
                             rtol=1e-6)
  with pytest.raises(ValueError, match="vgg19_weights must be one of"):
    losses.OBJECTIVES["eic_perceptual"](codec, vgg19_weights="alexnet")
  # Ablation without L_perc: no VGG19 term.
  ablation = losses.OBJECTIVES["eic_perceptual"](codec, perc_weight=0.0)
  ablated = ablation(x, outputs)
  assert float(ablated["perc"]) == 0.0
  assert float(ablated["loss"]) == pytest.approx(
      40 * float(terms["rec"]) + 0.005 * float(ablated["adv_g"]), rel=1e-5)


def test_decoder_only_tuning_keeps_the_coding_part_and_the_files(
    photo, tmp_path):
  codec = _codec()
  codec.prepare_for_coding()
  image = tf.constant(photo[:40, :56])
  strings, shape = codec.compress(image)
  base_pixels = codec.decompress(strings, shape).numpy()
  ids = layout.coding_id(codec), layout.decoder_id(codec)
  coding = [v.numpy() for v in layout.coding_variables(codec)]
  synthesis = [v.numpy() for v in codec.synthesis_transform.variables]

  objective = losses.OBJECTIVES["eic_perceptual"](codec)
  trainer = training.Trainer(
      codec, objective, str(tmp_path), total_steps=3, log_every=1,
      learning_rate=1e-3, networks={
          "codec": training.Network("loss", codec, ("synthesis_transform",)),
          "discriminator": training.Network("discriminator_loss",
                                            objective.discriminator)})
  trainer.run(data.patch_dataset([photo], batch_size=1, patch_size=64,
                                 crop_size=64, seed=0))
  assert int(trainer.step) == 3
  for before, v in zip(coding, layout.coding_variables(codec)):
    np.testing.assert_array_equal(before, v.numpy())
  assert all(np.abs(before - v.numpy()).max() > 0 for before, v in
             zip(synthesis, codec.synthesis_transform.variables))
  for before, v in zip(synthesis,
                       objective.discriminator.base_synthesis.variables):
    np.testing.assert_array_equal(before, v.numpy())  # the base copy

  # The tuned model writes the same bytes and decodes the base's files.
  codec.prepare_for_coding()
  again, _ = codec.compress(image)
  assert again.numpy().tolist() == strings.numpy().tolist()
  assert layout.coding_id(codec) == ids[0] and layout.decoder_id(codec) != ids[1]
  decoded = codec.decompress(strings, shape).numpy()
  assert decoded.shape == (40, 56, 3)
  assert np.abs(decoded.astype(int) - base_pixels).max() > 0


def test_a_tuned_decoder_exported_next_to_its_base_reads_its_files(
    photo, tmp_path, monkeypatch):
  root = str(tmp_path / "models")
  base_codec = _codec()
  tuned = _copy(base_codec)
  _perturb(tuned.synthesis_transform.trainable_variables)  # as a stage would
  base_path = export.export_codec(base_codec, root, "eic-base-tiny")
  tuned_path = export.export_codec(tuned, root, "eic-p-tiny", metadata={
      "base_model": "eic-base-tiny/1"})
  base_info, tuned_info = (zoo.read_metadata(base_path),
                           zoo.read_metadata(tuned_path))
  assert base_info["model_id"] == tuned_info["model_id"] == (
      layout.coding_id(base_codec).hex())
  assert base_info["model_id"] != base_info["weights_id"]
  for key in ("decoder_id", "weights_id"):
    assert base_info[key] != tuned_info[key]

  base_model, tuned_model = zoo.load(base_path), zoo.load(tuned_path)
  pixels = photo[:40, :56]
  data = base_model.encode(pixels)
  assert tuned_model.encode(pixels) == data  # header and payload
  assert data[6:14] == bytes.fromhex(base_info["model_id"])
  base_pixels = coding.decode(data, base_model).pixels
  tuned_pixels = coding.decode(data, tuned_model).pixels
  assert base_pixels.shape == tuned_pixels.shape == (40, 56, 3)
  assert np.abs(base_pixels.astype(int) - tuned_pixels).max() > 0
  # Without a model, the file finds the base (no `base_model`).
  monkeypatch.setattr(zoo, "MODEL_ROOT", root)
  assert coding.decode(data).model.path == base_path
  # What `tfpc_decompress --model=<tuned>` runs.
  (tmp_path / "a.tfpc").write_bytes(data)
  coding.decompress_file(str(tmp_path / "a.tfpc"), str(tmp_path / "a.png"),
                         tuned_model)
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")),
                                tuned_pixels)
