"""Transforms applied tile by tile, so coding memory is bounded by a tile.

A fully convolutional transform's output at a position depends only on the
inputs within its receptive field. Computed on a tile plus a halo of context
at least that wide, the tile's own part of the output is what the whole
image gives (up to float rounding: the convolution algorithms may differ with
the shape), with no seams and no change to the file format.
"""

import tensorflow as tf


def tiled(transform, x, tile, halo, channels, up=1, down=1):
  """`transform(x)` computed tile by tile.

  Args:
    transform: a fully convolutional function of [N, h, w, C] tensors whose
      output has `up / down` times the input's size.
    x: [N, H, W, C] float input, H and W multiples of `down`.
    tile: tile side in input positions, a multiple of `down`.
    halo: context on every side of a tile, in input positions, a multiple of
      `down`, at least the transform's receptive-field radius.
    channels: the output's channel count.
    up: output positions per `down` input positions.
    down: see `up`.

  Returns:
    The [N, H * up / down, W * up / down, channels] output; an input no
    larger than one tile is transformed whole.
  """
  height, width = tf.shape(x)[1], tf.shape(x)[2]

  def one_tile(top, left):
    bottom = tf.minimum(top + tile, height)
    right = tf.minimum(left + tile, width)
    first_row = tf.maximum(top - halo, 0)
    first_col = tf.maximum(left - halo, 0)
    y = transform(x[:, first_row:tf.minimum(bottom + halo, height),
                    first_col:tf.minimum(right + halo, width)])
    scale = lambda n: n * up // down
    return y[:, scale(top - first_row):scale(bottom - first_row),
             scale(left - first_col):scale(right - first_col)]

  def all_tiles():
    # TensorArrays concatenate along axis 0: the axis joined goes first.
    rows = tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                          infer_shape=False)
    for top in tf.range(0, height, tile):
      row = tf.TensorArray(tf.float32, size=0, dynamic_size=True,
                           infer_shape=False)
      for left in tf.range(0, width, tile):
        row = row.write(row.size(),
                        tf.transpose(one_tile(top, left), [2, 0, 1, 3]))
      rows = rows.write(rows.size(),
                        tf.transpose(row.concat(), [2, 1, 0, 3]))
    return tf.transpose(rows.concat(), [1, 0, 2, 3])

  if height <= tile and width <= tile:
    result = transform(x)
  else:
    result = all_tiles()
  return tf.ensure_shape(result, [None, None, None, channels])
