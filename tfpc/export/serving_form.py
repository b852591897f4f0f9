"""The serving form: stock TF ops only, for stock TF Serving and any TF code.

Signatures (batches; `reconstruct` is also `serving_default`):
  reconstruct(images: uint8 [N, H, W, 3])
      -> {reconstruction: uint8 [N, H, W, 3], png_bytes: string [N],
          bpp: float [N]}
  reconstruct_encoded(image_bytes: string [N], PNG/JPEG/BMP/GIF) -> the same;
      the images of one call must share a size (else send one per call).
  analyze(images: uint8 [N, H, W, 3])
      -> {<symbols>: int32 [N, h, w, C] each (`latents`, and `side_latents`
          for hyperprior models), image_shape: int32 [2]}
  synthesize(<the symbols the synthesis needs: `latents`, and `side_latents`
             for mean-scale models>, image_shape: int32 [2])
      -> {reconstruction, png_bytes}
Symbol names, channels and dtypes come from the codec's latent codec. A codec
whose decoding needs custom ops (e.g. a sequential context model) has no
serving form: `export_serving` says why.
Binary tensors are named `*_bytes`, so TF Serving's REST API base64-encodes
them.
The symbols are exactly the integers the codec form
range-codes, so a client with tensorflow_compression can entropy-code them.
`bpp` is what the range coder spends on them, read off the codec's tables:
within 0.5% of the payload on photographs (escape codes of out-of-table
values and the 27+4K-byte `.tfpc` header are not counted).
"""

import tensorflow as tf

from tfpc import errors
from tfpc import image as image_lib
from tfpc.codecs import base
from tfpc.export import layout

SERVING_SUFFIX = "-serving"  # <name> holds the codec form, <name>-serving this
SIGNATURES = ("reconstruct", "reconstruct_encoded", "analyze", "synthesize")
_IMAGES = tf.TensorSpec((None, None, None, 3), tf.uint8, name="images")


def _outputs(x_hat, image_shape):
  """Float padded reconstruction to the uint8 image batch and its PNGs."""
  x_hat = x_hat[:, :image_shape[0], :image_shape[1], :]
  reconstruction = tf.saturate_cast(tf.round(x_hat), tf.uint8)
  return {"reconstruction": reconstruction,
          "png_bytes": tf.map_fn(image_lib.encode_png_tf, reconstruction,
                           fn_output_signature=tf.string)}


def serving_module(codec):
  """A tf.Module with the serving signatures of a codec prepared for coding."""
  reason = codec.latent_codec.serving_unsupported
  if reason:
    raise errors.ModelError(
        f"{codec.architecture} has no stock-TF serving form: {reason}")
  module = tf.Module()
  module.codec_variables = list(codec.variables)

  @tf.function(input_signature=[_IMAGES])
  def analyze(images):
    x = base.pad_to_multiple(tf.cast(images, tf.float32), codec.stride)
    return {**codec.latent_symbols(x), "image_shape": tf.shape(images)[1:3]}

  names = codec.latent_codec.synthesis_symbols

  @tf.function(input_signature=codec.symbol_specs(names) + [
      tf.TensorSpec((2,), tf.int32, name="image_shape")])
  def synthesize(*tensors):
    symbols = dict(zip(names, tensors))
    return _outputs(codec.synthesize(symbols), tensors[-1])

  @tf.function(input_signature=[_IMAGES])
  def reconstruct(images):
    analysis = analyze(images)
    image_shape = analysis.pop("image_shape")
    pixels = tf.cast(image_shape[0] * image_shape[1], tf.float32)
    return {**synthesize(*[analysis[n] for n in names], image_shape),
            "bpp": codec.symbol_bits(analysis) / pixels}

  @tf.function(input_signature=[
      tf.TensorSpec((None,), tf.string, name="image_bytes")])
  def reconstruct_encoded(image_bytes):
    first = tf.shape(image_lib.decode_image_tf(image_bytes[0]))

    def decode(data):
      pixels = image_lib.decode_image_tf(data)
      same = tf.reduce_all(tf.shape(pixels) == first)
      with tf.control_dependencies([tf.debugging.Assert(same, [
          "tfpc: the images of one request must share a size; send them "
          "one per request"])]):
        return tf.ensure_shape(tf.identity(pixels), (None, None, 3))

    return reconstruct(tf.map_fn(
        decode, image_bytes,
        fn_output_signature=tf.TensorSpec((None, None, 3), tf.uint8)))

  module.reconstruct = reconstruct
  module.reconstruct_encoded = reconstruct_encoded
  module.analyze = analyze
  module.synthesize = synthesize
  return module


def export_serving(codec, base_dir, name, version=None, overwrite=False,
                   metadata=None):
  """Writes the serving form of a trained codec; returns the version dir."""
  codec.prepare_for_coding()
  module = serving_module(codec)
  info = layout.describe(codec, "serving", name, {
      "requires": "stock TensorFlow (no custom ops)",
      "signatures": list(SIGNATURES), **(metadata or {})})

  def save(path):
    functions = {key: getattr(module, key).get_concrete_function()
                 for key in SIGNATURES}
    layout.save(module, path, {"serving_default": functions["reconstruct"],
                               **functions})

  return layout.publish(save, info, base_dir, version, overwrite)
