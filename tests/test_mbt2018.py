"""Issue 12: a new codec is one module; mbt2018-mean (Minnen et al. 2018, no
context) trains, codes, exports in both forms and evaluates through the
existing binaries at toy size."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_cli
from tfpc import image as image_lib
from tfpc import zoo


def test_mean_scale_codec_through_every_binary(photo, tmp_path):
  run, models = str(tmp_path / "run"), str(tmp_path / "models")
  result = run_cli(
      "tfpc_train", "--images=skimage", "--architecture=mbt2018-mean",
      "--num_filters=8", "--codec_options=latent_channels=6,num_scales=32",
      "--objective=mse", "--lmbda=0.01", "--patch_size=64", "--crop_size=128",
      "--batch_size=2", "--total_steps=2", "--final_steps=0", "--log_every=1",
      f"--train_dir={run}")
  assert result.returncode == 0, result.stderr
  with open(os.path.join(run, "config.json")) as f:
    assert json.load(f) == {
        "architecture": "mbt2018-mean", "num_filters": 8, "latent_channels": 6,
        "num_scales": 32, "scale_min": 0.11, "scale_max": 256.0,
        "quantizer": "noise"}

  result = run_cli("tfpc_export", f"--train_dir={run}", "--name=toy-mbt",
                   f"--base_dir={models}")
  assert result.returncode == 0, result.stderr
  # What tfpc_floors reads the model's floor from.
  assert zoo.read_metadata(zoo.resolve("toy-mbt", models))["objective"] == {
      "name": "rd", "options": {"lmbda": 0.01}}

  source = str(tmp_path / "in.png")
  pixels = np.ascontiguousarray(photo[:72, :100])
  image_lib.write_image(source, pixels)
  coded, decoded = str(tmp_path / "x.tfpc"), str(tmp_path / "out.png")
  env = {"TFPC_MODEL_DIR": models}
  for program, args in (("tfpc_compress", ("--model=toy-mbt",)),
                        ("tfpc_decompress", ())):
    inputs = (source, coded) if program == "tfpc_compress" else (coded, decoded)
    result = run_cli(program, f"--input={inputs[0]}", f"--output={inputs[1]}",
                     *args, env=env)
    assert result.returncode == 0, result.stderr
  decoded_pixels = image_lib.read_image(decoded).pixels

  serving = tf.saved_model.load(zoo.resolve("toy-mbt-serving", models))
  analysis = serving.signatures["analyze"](images=pixels[None])
  assert analysis["latents"].shape == (1, 8, 8, 6)  # padded to 128x128
  assert analysis["side_latents"].shape == (1, 2, 2, 8)
  out = serving.signatures["reconstruct"](images=pixels[None])
  np.testing.assert_array_equal(out["reconstruction"][0].numpy(),
                                decoded_pixels)
  again = serving.signatures["synthesize"](**analysis)
  np.testing.assert_array_equal(again["reconstruction"][0].numpy(),
                                decoded_pixels)
  payload_bits = 8 * (os.path.getsize(coded) - 27 - 8)
  assert abs(float(out["bpp"][0]) * 72 * 100 - payload_bits) < (
      0.05 * payload_bits + 64)

  output = str(tmp_path / "eval")
  result = run_cli("tfpc_eval", f"--images={source}", f"--output_dir={output}",
                   f"--models=mbt={models}/toy-mbt", "--codecs=",
                   "--metrics=psnr,ssim", env=env)
  assert result.returncode == 0, result.stderr
  with open(os.path.join(output, "rd.json")) as f:
    assert "mbt" in json.load(f)["curves"]


def test_runs_recorded_before_codec_options_still_resume(tmp_path):
  from tfpc import errors  # pylint: disable=g-import-not-at-top
  from tfpc.training import recipe, run_folder  # pylint: disable=g-import-not-at-top
  config = recipe.TrainConfig(train_dir=str(tmp_path), images="skimage")
  recorded = dataclasses.asdict(config)
  del recorded["codec_options"]
  with open(tmp_path / run_folder.RECIPE, "w") as f:
    json.dump(recorded, f)
  # it trained: a checkpoint holds its settings
  tf.train.Checkpoint(step=tf.Variable(1)).save(str(tmp_path / "ckpt"))
  recipe.record_recipe(config)
  config.codec_options = "num_scales=32"
  with pytest.raises(errors.ConfigError, match="codec_options"):
    recipe.record_recipe(config)
