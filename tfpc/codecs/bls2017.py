"""Factorized-prior codec of Ballé, Laparra, Simoncelli (ICLR 2017)."""

from tfpc.codecs import base
from tfpc.codecs import latent
from tfpc.codecs import transforms


@base.register("bls2017")
class BLS2017(base.LearnedCodec):
  """GDN analysis/synthesis (4+4 layers) and a non-parametric factorized prior."""

  coding_halo = transforms.RECEPTIVE_HALO

  def __init__(self, num_filters=192):
    super().__init__(transforms.analysis_transform(num_filters),
                     transforms.synthesis_transform(num_filters),
                     latent.Factorized(num_filters), num_filters=num_filters)
