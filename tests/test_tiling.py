"""Tiled coding: the same symbols and pixels as whole images, bounded tiles."""

import numpy as np
import pytest
import tensorflow as tf

from tfpc import codecs
from tfpc.codecs import tiling


def test_tiled_convolutions_equal_the_whole_image():
  tf.keras.utils.set_random_seed(0)
  conv = tf.keras.Sequential([tf.keras.layers.Conv2D(4, 3, padding="same"),
                              tf.keras.layers.Conv2D(2, 5, padding="same")])
  x = tf.random.uniform((2, 37, 53, 3))
  whole = conv(x).numpy()
  for tile, halo in ((8, 3), (16, 4), (64, 3)):
    got = tiling.tiled(conv, x, tile=tile, halo=halo, channels=2).numpy()
    np.testing.assert_allclose(got, whole, atol=1e-5)
  # a halo narrower than the receptive field (radius 3) leaves seams
  seams = tiling.tiled(conv, x, tile=8, halo=1, channels=2).numpy()
  assert np.abs(seams - whole).max() > 1e-3


def test_up_sampling_tiles_land_in_place():
  x = tf.reshape(tf.range(2 * 6 * 10, dtype=tf.float32), (2, 6, 10, 1))
  up = lambda t: tf.repeat(tf.repeat(t, 4, axis=1), 4, axis=2)
  got = tiling.tiled(up, x, tile=4, halo=0, channels=1, up=4).numpy()
  np.testing.assert_array_equal(got, up(x).numpy())


@pytest.mark.parametrize("architecture", ["bls2017", "mbt2018-mean", "eic-base"])
def test_tiled_coding_matches_whole_image_coding(architecture):
  codec = codecs.build_codec({"architecture": architecture, "num_filters": 8})
  tf.keras.utils.set_random_seed(1)
  for variable in codec.variables:  # away from the near-identity init
    variable.assign(variable + tf.random.normal(variable.shape, stddev=0.05))
  image = np.random.default_rng(0).integers(0, 256, (200, 330, 3), np.uint8)
  codec.coding_halo = None
  codec.prepare_for_coding()
  whole_strings, shape = codec.compress(image)
  whole = codec.decompress(whole_strings, shape).numpy()
  codec.coding_halo = type(codec).coding_halo
  codec.coding_memory = 64 * 64 * 16 * 8  # 64-pixel tiles: 4 x 6 of them
  codec.prepare_for_coding()
  assert codec.tile_side() == 64
  strings, _ = codec.compress(image)
  assert strings.numpy().tolist() == whole_strings.numpy().tolist()
  np.testing.assert_array_equal(codec.decompress(strings, shape).numpy(),
                                whole)


def test_tile_side_follows_the_memory_budget():
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 64})
  assert codec.tile_side() == 1024  # 1 GiB / (16 bytes x 64 filters) = 1024^2
  codec.coding_memory = 1 << 28
  assert codec.tile_side() == 512
