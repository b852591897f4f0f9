"""The codec form: images to `.tfpc` bytes and back, with real range coding.

Signatures (all on single images):
  compress(image: uint8 [H, W, 3]) -> {tfpc_bytes: string}
  compress_encoded(image_bytes: string, PNG/JPEG/BMP/GIF) -> {tfpc_bytes}
  decompress(tfpc_bytes: string) -> {image: uint8 [H, W, 3], png_bytes: string,
                                     grayscale: bool}
  compress_analysis(<the codec's symbols>, image_shape) -> {tfpc_bytes}:
      range-codes the output of the serving form's `analyze` for one image
      (batch of 1), client-side; the same bytes as `compress` on that image,
      except that the grayscale flag is never set.
Binary tensors are named `*_bytes`, so TF Serving's REST API base64-encodes
them. Images with three equal channels are flagged grayscale; their PNG is
8-bit gray.
The Keras codec is saved too: its own `compress`/`decompress` functions (at
the level of range-coded strings) stay available as attributes, and
`zoo.load_keras` can rebuild it.
The range-coding tables are variables: every machine decodes with the same
tables. Loading needs `import tensorflow_compression`.
"""

import tensorflow as tf

from tfpc import bitstream
from tfpc import image as image_lib
from tfpc.export import layout

REQUIREMENT = ("tensorflow-compression==2.14.1 (import tensorflow_compression "
               "before loading)")


def signatures(codec, model_id):
  """The codec form's signature functions for a codec prepared for coding."""

  @tf.function(input_signature=[
      tf.TensorSpec((None, None, 3), tf.uint8, name="image")])
  def compress(image):
    strings, image_shape = codec.compress(image)
    return {"tfpc_bytes": bitstream.pack_tf(model_id, image_shape, strings,
                                      image_lib.is_gray_tf(image))}

  @tf.function(input_signature=[tf.TensorSpec((), tf.string,
                                              name="image_bytes")])
  def compress_encoded(image_bytes):
    return compress(image_lib.decode_image_tf(image_bytes))

  @tf.function(input_signature=[tf.TensorSpec((), tf.string,
                                              name="tfpc_bytes")])
  def decompress(tfpc_bytes):
    strings, image_shape, grayscale = bitstream.unpack_tf(tfpc_bytes, model_id)
    image = codec.decompress(strings, image_shape)
    return {"image": image,
            "png_bytes": image_lib.encode_png_tf(image, grayscale),
            "grayscale": grayscale}

  @tf.function(input_signature=codec.symbol_specs(batch=1) + [
      tf.TensorSpec((2,), tf.int32, name="image_shape")])
  def compress_analysis(*tensors):
    symbols = dict(zip(codec.symbol_names, tensors))
    strings = tf.concat(codec.encode_symbols(symbols), axis=0)
    return {"tfpc_bytes": bitstream.pack_tf(model_id, tensors[-1], strings,
                                            False)}

  return {"compress": compress, "compress_encoded": compress_encoded,
          "decompress": decompress, "compress_analysis": compress_analysis}


def export_codec(codec, base_dir, name, version=None, overwrite=False,
                 metadata=None):
  """Writes the codec form of a trained codec; returns the version directory."""
  codec.prepare_for_coding()
  # Keras records the input spec on the first __call__; saving needs it.
  codec(tf.zeros((1, codec.stride, codec.stride, 3)))
  extra = {"requires": REQUIREMENT}
  host_coder = codec.latent_codec.host_coder
  if host_coder:  # coding runs in Python: the SavedModel cannot hold it
    extra.update(host_coder=host_coder,
                 requires=f"{REQUIREMENT}; the tfpc package and {host_coder}")
  info = layout.describe(codec, "codec", name, {**extra, **(metadata or {})})
  functions = signatures(codec, bytes.fromhex(info["model_id"]))

  def save(path):
    layout.save(codec, path, {key: f.get_concrete_function()
                              for key, f in functions.items()})

  return layout.publish(save, info, base_dir, version, overwrite)
