"""Rates read off range-coding tables, in stock TF ops.

tensorflow_compression stores an entropy model's tables as one flat int32
`cdf` vector: each table starts with the marker `-precision`, followed by the
quantized CDF of its regular symbols and one last interval, the overflow
symbol (values outside the table are coded as overflow plus an escape code).
`cdf_offset[t]` is the smallest value table `t` codes as a regular symbol.
"""

import tensorflow as tf
import tensorflow_compression as tfc


def table_bits(entropy_model, symbols, tables):
  """Bits the range coder spends on each integer symbol (int32, same shapes).

  `symbols` are the values the coder sees before its `cdf_offset` shift
  (`round(y - quantization_offset)`); `tables` says which table codes each.
  Symbols outside their table cost the overflow symbol; the escape code that
  follows it (a few bits, rare for a trained model) is not counted.
  """
  cdf = entropy_model.cdf
  starts = tf.cast(tf.where(cdf < 0)[:, 0], tf.int32)
  ends = tf.concat([starts[1:], tf.shape(cdf)], 0)
  regular = tf.gather(ends - starts - 3, tables)
  values = symbols - tf.gather(entropy_model.cdf_offset, tables)
  values = tf.where((values >= 0) & (values < regular), values, regular)
  position = tf.gather(starts, tables) + 1 + values
  mass = tf.gather(cdf, position + 1) - tf.gather(cdf, position)
  return (float(entropy_model.range_coder_precision) -
          tf.math.log(tf.cast(mass, tf.float32)) / tf.math.log(2.0))


def batched_coding_model(prior, coding_rank):
  """`tfc.ContinuousBatchedEntropyModel(prior, coding_rank, compression=True)`,
  with its tables and quantization offsets computed in one graph.

  Eagerly, tfc estimates the tails of a deep factorized prior by running its
  loop of about 1800 small steps op by op (about 8 s on 2 CPU cores, the bulk
  of preparing a codec for coding); as a graph loop the same estimate takes a
  fraction of a second. The model holds the tables, not the prior.
  """

  @tf.function(autograph=False)
  def tables():
    model = tfc.ContinuousBatchedEntropyModel(
        prior, coding_rank=coding_rank, compression=True, stateless=True)
    return model.cdf, model.cdf_offset, model.quantization_offset

  cdf, cdf_offset, offset = tables()
  return tfc.ContinuousBatchedEntropyModel(
      prior_shape=prior.batch_shape, coding_rank=coding_rank,
      compression=True, cdf=cdf, cdf_offset=cdf_offset,
      quantization_offset=offset)
