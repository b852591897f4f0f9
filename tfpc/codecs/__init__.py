"""Learned codecs, constructible by name with `build_codec`."""

from tfpc.codecs.base import CODECS, LearnedCodec, build_codec, register
from tfpc.codecs.bls2017 import BLS2017
from tfpc.codecs.bmshj2018 import BMSHJ2018
