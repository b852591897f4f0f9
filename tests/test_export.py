"""Export to TF Serving's layout, model ids, zoo resolution and loading."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfpc import bitstream
from tfpc import codecs
from tfpc import coding
from tfpc import errors
from tfpc import export
from tfpc import zoo
from tfpc.export import layout


def test_layout_versions_and_no_overwrite(tmp_path):
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  first = export.export_codec(codec, str(tmp_path), "m")
  assert first.endswith(os.path.join("m", "1"))
  assert os.path.exists(os.path.join(first, "saved_model.pb"))
  with pytest.raises(errors.ModelError, match="exists"):
    export.export_codec(codec, str(tmp_path), "m", version=1)
  first_id = zoo.read_metadata(first)["model_id"]
  assert first_id == export.model_id(codec.variables).hex()
  weight = codec.trainable_variables[0]
  weight.assign_add(tf.ones_like(weight))
  assert export.model_id(codec.variables).hex() != first_id, (
      "model id must change when weights change")
  second = layout.publish(os.makedirs, {"name": "m"}, str(tmp_path))
  assert second.endswith(os.path.join("m", "2"))
  assert sorted(os.listdir(tmp_path / "m")) == ["1", "2"]  # no temp folders
  assert zoo.resolve(first) == first
  assert zoo.find_by_model_id(bytes.fromhex(first_id), str(tmp_path)) == first


def test_zoo_errors(tmp_path):
  with pytest.raises(errors.ModelError, match="no model"):
    zoo.resolve("missing", str(tmp_path))
  (tmp_path / "empty").mkdir()
  with pytest.raises(errors.ModelError, match="no SavedModel"):
    zoo.resolve("empty", str(tmp_path))


def test_tampered_weights_are_detected(tiny_model_root, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  source = zoo.resolve("tiny-bls2017", tiny_model_root)
  copy = str(tmp_path / "copy")
  shutil.copytree(source, copy)
  metadata = os.path.join(copy, export.METADATA_PATH)
  text = open(metadata).read()
  model_id = zoo.read_metadata(copy)["model_id"]
  open(metadata, "w").write(text.replace(model_id, "00" * 8))
  with pytest.raises(errors.ModelError, match="do not match"):
    zoo.CodecModel(copy)


def test_file_finds_its_model_without_being_told(tiny_model_root, tiny_models,
                                                 photo, monkeypatch):
  monkeypatch.setattr(zoo, "MODEL_ROOT", tiny_model_root)
  data = coding.encode(tiny_models["bmshj2018"], photo[:40, :40])
  decoded = coding.decode(data)
  assert decoded.model.model_id == tiny_models["bmshj2018"].model_id
  assert decoded.pixels.shape == (40, 40, 3)


def test_keras_reload_codes_the_same_bytes(tiny_model_root, tiny_models):
  codec = zoo.load_keras("tiny-bmshj2018", tiny_model_root)
  codec.prepare_for_coding()
  image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), np.uint8)
  strings, shape = codec.compress(image)
  data = tiny_models["bmshj2018"].encode(image)
  assert list(strings.numpy()) == bitstream.unpack(data).strings
  assert list(shape.numpy()) == [70, 90]


def test_codec_form_stores_each_weight_once(tiny_model_root):
  """No weight is also baked into the graphs as a constant, and Keras' layer
  traces are left out: the file is about the variables."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  path = zoo.resolve("tiny-bmshj2018", tiny_model_root)
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    saved.ParseFromString(f.read())
  graph = saved.meta_graphs[0].graph_def
  # Captured tensors are constants of the outer graph, others of functions.
  nodes = [*graph.node, *(node for function in graph.library.function
                          for node in function.node_def)]
  largest_constant = max(
      len(node.attr["value"].tensor.tensor_content) // 4 for node in nodes
      if node.op == "Const" and node.attr["value"].tensor.dtype == 1)  # float
  codec = zoo.load_keras(path)
  kernels = [layer.kernel.shape.num_elements() for layer in codec.submodules
             if isinstance(layer, tfc.SignalConv2D)]
  assert kernels and largest_constant < min(kernels)
  names = [f.signature.name for f in graph.library.function]
  assert not [n for n in names if "layer_call" in n or "wrapped_model" in n]
