"""Scale-hyperprior codec of Ballé, Minnen, Singh, Hwang, Johnston (ICLR 2018)."""

from tfpc.codecs import base
from tfpc.codecs import latent
from tfpc.codecs import transforms


@base.register("bmshj2018")
class BMSHJ2018(base.LearnedCodec):
  """The BLS transforms plus a hyperprior that predicts each latent's scale.
  `quantizer`: what the synthesis sees in training (`latent.Hyperprior`)."""

  coding_halo = transforms.RECEPTIVE_HALO

  def __init__(self, num_filters=192, num_scales=64, scale_min=0.11,
               scale_max=256.0, quantizer="noise"):
    super().__init__(
        transforms.analysis_transform(num_filters),
        transforms.synthesis_transform(num_filters),
        latent.Hyperprior(
            transforms.hyper_analysis_transform(num_filters),
            transforms.hyper_synthesis_transform(num_filters), num_filters,
            num_filters, num_scales, scale_min, scale_max,
            quantizer=quantizer),
        num_filters=num_filters, num_scales=num_scales, scale_min=scale_min,
        scale_max=scale_max, quantizer=quantizer)
