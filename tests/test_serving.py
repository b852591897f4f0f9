"""Issue 5: the codec and serving forms, stock-TF serving, import elsewhere."""

import base64
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
import tensorflow as tf

from conftest import BIN, REPO, run_cli
from tfpc import coding
from tfpc import errors
from tfpc import export
from tfpc import zoo
from tfpc.export import layout

SHIPPED = zoo.resolve(zoo.DEFAULT_MODEL)
SHIPPED_SERVING = zoo.resolve(zoo.DEFAULT_MODEL + export.SERVING_SUFFIX)


@pytest.fixture(scope="module")
def serving_root(tiny_model_root):
  """Serving forms of the tiny hyperprior codec, from its codec form."""
  codec = zoo.load_keras("tiny-bmshj2018", tiny_model_root)
  export.export_serving(codec, tiny_model_root, "tiny-bmshj2018-serving")
  return tiny_model_root


def _png(pixels):
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG")
  return buffer.getvalue()


def test_shipped_model_exists_in_both_forms_with_one_id():
  codec_info, serving_info = (zoo.read_metadata(p)
                              for p in (SHIPPED, SHIPPED_SERVING))
  assert (codec_info["form"], serving_info["form"]) == ("codec", "serving")
  assert codec_info["model_id"] == serving_info["model_id"]
  assert codec_info["trained_steps"] == serving_info["trained_steps"] > 0
  assert "tensorflow-compression" in codec_info["requires"]
  assert serving_info["requires"] == "stock TensorFlow (no custom ops)"
  assert zoo.find_by_model_id(bytes.fromhex(codec_info["model_id"])) == SHIPPED


def test_serving_form_reconstructs_exactly_what_the_codec_decodes(
    default_model, photo):
  pixels = photo[:200, :264]
  data = coding.encode(default_model, pixels)
  decoded = coding.decode(data, default_model).pixels
  serving = tf.saved_model.load(SHIPPED_SERVING)
  out = serving.signatures["reconstruct"](images=pixels[None])
  np.testing.assert_array_equal(out["reconstruction"][0].numpy(), decoded)
  png = np.asarray(Image.open(io.BytesIO(out["png_bytes"][0].numpy())))
  np.testing.assert_array_equal(png, decoded)
  payload_bits = 8 * (len(data) - 27 - 4)
  estimated_bits = float(out["bpp"][0]) * 200 * 264
  assert abs(estimated_bits - payload_bits) < 0.01 * payload_bits
  analysis = serving.signatures["analyze"](images=pixels[None])
  stride = zoo.read_metadata(SHIPPED)["stride"]
  padded = [-(-side // stride) * stride // 16 for side in pixels.shape[:2]]
  assert analysis["latents"].shape == (1, *padded, 64)
  assert analysis["latents"].dtype == tf.int32
  synthesize = serving.signatures["synthesize"]
  again = synthesize(**{k: analysis[k]
                        for k in synthesize.structured_input_signature[1]})
  np.testing.assert_array_equal(again["reconstruction"][0].numpy(), decoded)


_STOCK_TF_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
images = np.load(sys.argv[1])
results = {}
for path in sys.argv[2:]:
  model = tf.saved_model.load(path)
  pngs = tf.stack([tf.image.encode_png(image) for image in images])
  out = {
      "signatures": sorted(model.signatures),
      "reconstruct": model.signatures["reconstruct"](images=images),
      "default": model.signatures["serving_default"](images=images),
      "encoded": model.signatures["reconstruct_encoded"](image_bytes=pngs),
      "analyze": model.signatures["analyze"](images=images),
  }
  synthesize = model.signatures["synthesize"]
  out["synthesize"] = synthesize(**{
      k: out["analyze"][k] for k in synthesize.structured_input_signature[1]})
  try:
    model.signatures["reconstruct_encoded"](
        image_bytes=tf.stack([pngs[0], tf.image.encode_png(images[0, :20])]))
    mixed = "accepted"
  except tf.errors.InvalidArgumentError as e:
    mixed = e.message
  results[path] = {
      "signatures": out["signatures"], "mixed_sizes": mixed,
      **{f"{name}/{key}": value.numpy().tolist()
         for name, outputs in out.items() if name != "signatures"
         for key, value in outputs.items() if key != "png_bytes"}}
assert "tensorflow_compression" not in sys.modules
print(json.dumps({"results": results,
                  "tfc_loaded": "tensorflow_compression" in sys.modules}))
"""


def test_stock_tensorflow_runs_every_signature_without_tfc(serving_root,
                                                           tmp_path):
  images = np.random.default_rng(1).integers(0, 256, (2, 40, 70, 3), np.uint8)
  np.save(tmp_path / "images.npy", images)
  tiny = zoo.resolve("tiny-bmshj2018-serving", serving_root)
  process = subprocess.run(
      [sys.executable, "-c", _STOCK_TF_SCRIPT, str(tmp_path / "images.npy"),
       SHIPPED_SERVING, tiny], capture_output=True, text=True, timeout=600,
      check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  assert process.returncode == 0, process.stderr[-2000:]
  report = json.loads(process.stdout.strip().splitlines()[-1])
  assert report["tfc_loaded"] is False
  for path in (SHIPPED_SERVING, tiny):
    result = report["results"][path]
    assert result["signatures"] == ["analyze", "reconstruct",
                                    "reconstruct_encoded", "serving_default",
                                    "synthesize"]
    expected = tf.saved_model.load(path).signatures["reconstruct"](
        images=images)
    for name in ("reconstruct", "default", "encoded", "synthesize"):
      np.testing.assert_array_equal(result[f"{name}/reconstruction"],
                                    expected["reconstruction"].numpy())
    np.testing.assert_allclose(result["reconstruct/bpp"],
                               expected["bpp"].numpy(), rtol=1e-6)
    assert "must share a size" in result["mixed_sizes"]
  tiny_result = report["results"][tiny]
  assert np.array(tiny_result["analyze/latents"]).shape == (2, 4, 8, 8)
  assert np.array(tiny_result["analyze/side_latents"]).shape == (2, 1, 2, 8)
  shipped_result = report["results"][SHIPPED_SERVING]
  assert np.array(shipped_result["analyze/latents"]).shape == (2, 4, 8, 64)
  assert np.array(shipped_result["analyze/side_latents"]).shape == (
      2, 1, 2, 64)


def test_saved_model_cli_shows_and_runs_the_serving_form(tmp_path):
  cli = os.path.join(BIN, "saved_model_cli")
  shown = subprocess.run([cli, "show", "--all", "--dir", SHIPPED_SERVING],
                         capture_output=True, text=True, timeout=300,
                         check=False)
  assert shown.returncode == 0, shown.stderr[-2000:]
  for name in ("reconstruct", "reconstruct_encoded", "analyze", "synthesize",
               "serving_default"):
    assert f"signature_def['{name}']" in shown.stdout
  assert "DT_UINT8" in shown.stdout and "png_bytes" in shown.stdout
  images = np.random.default_rng(3).integers(0, 256, (1, 20, 30, 3),
                                             np.uint8)
  np.save(tmp_path / "images.npy", images)
  ran = subprocess.run(
      [cli, "run", "--dir", SHIPPED_SERVING, "--tag_set", "serve",
       "--signature_def", "reconstruct", "--inputs",
       f"images={tmp_path / 'images.npy'}", "--outdir", str(tmp_path / "out")],
      capture_output=True, text=True, timeout=300, check=False)
  assert ran.returncode == 0, ran.stderr[-2000:]
  expected = tf.saved_model.load(SHIPPED_SERVING).signatures["reconstruct"](
      images=images)
  np.testing.assert_array_equal(np.load(tmp_path / "out" / "reconstruction.npy"),
                                expected["reconstruction"].numpy())
  np.testing.assert_allclose(np.load(tmp_path / "out" / "bpp.npy"),
                             expected["bpp"].numpy(), rtol=1e-6)


def _tf_serving_inputs(body):
  """Decodes a REST predict body the way TF Serving does (row or columns)."""
  def decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
      return base64.b64decode(value["b64"])
    if isinstance(value, list):
      return [decode(v) for v in value]
    return value
  if "instances" in body:
    rows = body["instances"]
    return {key: [decode(row[key]) for row in rows] for key in rows[0]}
  return {key: decode(value) for key, value in body["inputs"].items()}


def test_rest_request_in_the_readme_runs_on_the_signature():
  readme = open(os.path.join(REPO, "README.md")).read()
  bodies = re.findall(r"<!-- rest-request -->\s*```json\n(.*?)```", readme,
                      re.S)
  assert len(bodies) == 2, "README must hold the row and column examples"
  serving = tf.saved_model.load(SHIPPED_SERVING)
  results = []
  for text in bodies:
    body = json.loads(text)
    signature = serving.signatures[body.get("signature_name",
                                            "serving_default")]
    out = signature(**{k: tf.constant(v)
                       for k, v in _tf_serving_inputs(body).items()})
    results.append(out["reconstruction"].numpy())
    pixels = tf.io.decode_png(_tf_serving_inputs(body)["image_bytes"][0])
    direct = serving.signatures["reconstruct"](images=pixels[None])
    np.testing.assert_array_equal(results[-1], direct["reconstruction"])
  assert results[0].shape == (1, 24, 32, 3)
  np.testing.assert_array_equal(results[0], results[1])


def test_serving_form_inside_user_tf_function_and_keras_model(tmp_path):
  serving = tf.saved_model.load(SHIPPED_SERVING)

  @tf.function
  def user_rate(images):
    return tf.reduce_mean(serving.reconstruct(images)["bpp"])

  rng = np.random.default_rng(2)
  for shape in ((2, 40, 56, 3), (1, 33, 17, 3)):
    images = rng.integers(0, 256, shape, np.uint8)
    expected = serving.signatures["reconstruct"](images=images)["bpp"]
    assert float(user_rate(images)) == pytest.approx(
        float(tf.reduce_mean(expected)), rel=1e-6)

  layer = zoo.ReconstructionLayer(SHIPPED_SERVING)
  inputs = tf.keras.Input((None, None, 3))
  head = tf.keras.layers.Conv2D(1, 3, padding="same")
  model = tf.keras.Model(inputs, head(layer(inputs) / 255.))
  assert layer.trainable_weights == [] and len(model.trainable_weights) == 2
  images = rng.uniform(0, 255, (4, 32, 48, 3)).astype(np.float32)
  reconstruction = layer(images).numpy()
  np.testing.assert_array_equal(
      reconstruction, serving.signatures["reconstruct"](
          images=np.round(images).astype(np.uint8))["reconstruction"])
  before = head.kernel.numpy().copy()
  model.compile(tf.keras.optimizers.SGD(0.1), "mse")
  model.fit(images, np.zeros((4, 32, 48, 1)), epochs=2, verbose=0)
  assert not np.allclose(before, head.kernel.numpy())
  # the user's model saves and loads back with the layer in it
  model.save(tmp_path / "user.keras")
  loaded = tf.keras.models.load_model(tmp_path / "user.keras", custom_objects={
      "ReconstructionLayer": zoo.ReconstructionLayer})
  np.testing.assert_array_equal(loaded(images), model(images))
  with pytest.raises(errors.ModelError, match="not a serving-form"):
    zoo.ReconstructionLayer(SHIPPED)
  for load in (zoo.load, zoo.load_keras):  # both need the codec form
    with pytest.raises(errors.ModelError,
                       match=f"^{SHIPPED_SERVING} is not a codec-form model$"):
      load(SHIPPED_SERVING)


def test_codec_form_bytes_equal_the_cli_and_work_in_user_code(tmp_path,
                                                              photo):
  rgb = photo[100:180, 200:300]
  gray = np.asarray(Image.fromarray(rgb).convert("L"))
  codec = tf.saved_model.load(SHIPPED)

  @tf.function
  def round_trip(image_bytes):
    data = codec.signatures["compress_encoded"](image_bytes=image_bytes)
    return data["tfpc_bytes"], codec.signatures["decompress"](
        tfpc_bytes=data["tfpc_bytes"])

  for name, pixels in (("rgb", rgb), ("gray", gray)):
    source = tmp_path / f"{name}.png"
    Image.fromarray(pixels).save(source)
    result = run_cli("tfpc_compress", f"--input={source}",
                     f"--output={tmp_path / name}.tfpc")
    assert result.returncode == 0, result.stderr
    cli_bytes = (tmp_path / f"{name}.tfpc").read_bytes()
    data, decoded = round_trip(tf.constant(source.read_bytes()))
    assert data.numpy() == cli_bytes
    direct = codec.signatures["compress"](image=np.asarray(
        Image.open(source).convert("RGB")))["tfpc_bytes"].numpy()
    assert direct == cli_bytes
    assert bool(decoded["grayscale"]) == (name == "gray")
    result = run_cli("tfpc_decompress", f"--input={tmp_path / name}.tfpc",
                     f"--output={tmp_path / name}.out.png")
    assert result.returncode == 0, result.stderr
    written = Image.open(tmp_path / f"{name}.out.png")
    from_model = Image.open(io.BytesIO(decoded["png_bytes"].numpy()))
    assert written.mode == from_model.mode == ("L" if name == "gray" else "RGB")
    np.testing.assert_array_equal(np.asarray(written), np.asarray(from_model))
  with pytest.raises(tf.errors.InvalidArgumentError, match="checksum"):
    corrupted = bytearray(cli_bytes)
    corrupted[-1] ^= 1
    codec.signatures["decompress"](tfpc_bytes=bytes(corrupted))


def test_tfpc_export_writes_both_forms_and_refuses_to_overwrite(
    tiny_model_root, tmp_path):
  source = zoo.resolve("tiny-bls2017", tiny_model_root)
  args = [f"--from_model={source}", "--name=m", f"--base_dir={tmp_path}"]
  result = run_cli("tfpc_export", *args)
  assert result.returncode == 0, result.stderr
  paths = [tmp_path / "m" / "1", tmp_path / "m-serving" / "1"]
  ids = {zoo.read_metadata(str(p))["model_id"] for p in paths}
  assert ids == {zoo.read_metadata(source)["model_id"]}
  assert sorted(os.listdir(tmp_path)) == ["m", "m-serving"]
  result = run_cli("tfpc_export", *args, "--version=1", "--form=serving")
  assert result.returncode == 2
  assert result.stderr.strip().endswith("choose another version or allow "
                                        "overwriting")
  assert len(result.stderr.strip().splitlines()) == 1
  result = run_cli("tfpc_export", "--name=m")
  assert result.returncode == 2 and "exactly one of" in result.stderr


def test_interrupted_export_leaves_no_version(tmp_path):
  def save(path):
    os.makedirs(path)
    open(os.path.join(path, "saved_model.pb"), "w").write("half")
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    layout.publish(save, {"name": "m"}, str(tmp_path), version=3)
  assert os.listdir(tmp_path / "m") == []


def test_client_side_coding_of_the_serving_analysis(serving_root, photo):
  pixels = photo[30:130, 50:190]
  for name, root in ((zoo.DEFAULT_MODEL, None),
                     ("tiny-bmshj2018", serving_root)):
    serving = tf.saved_model.load(zoo.resolve(name + export.SERVING_SUFFIX,
                                              root))
    codec = zoo.load(name, root)
    analysis = serving.signatures["analyze"](images=pixels[None])
    data = codec._module.signatures["compress_analysis"](**analysis)  # pylint: disable=protected-access
    assert data["tfpc_bytes"].numpy() == coding.encode(codec, pixels)
