"""Mean-scale hyperprior of Minnen, Ballé, Toderici (NeurIPS 2018), no context."""

from tfpc.codecs import base
from tfpc.codecs import latent
from tfpc.codecs import transforms


@base.register("mbt2018-mean")
class MBT2018Mean(base.LearnedCodec):
  """GDN transforms with N filters and M latent channels; a hyperprior (N
  channels) predicts each latent's mean and scale. `quantizer`: what the
  synthesis sees in training (`latent.Hyperprior`)."""

  coding_halo = transforms.RECEPTIVE_HALO

  def __init__(self, num_filters=192, latent_channels=128, num_scales=64,
               scale_min=0.11, scale_max=256.0, quantizer="noise"):
    hyper_filters = (num_filters, num_filters * 3 // 2, 2 * latent_channels)
    super().__init__(
        transforms.analysis_transform(num_filters, latent_channels),
        transforms.synthesis_transform(num_filters),
        latent.Hyperprior(
            transforms.hyper_analysis_transform(num_filters),
            transforms.hyper_synthesis_transform(hyper_filters),
            latent_channels, num_filters, num_scales, scale_min, scale_max,
            mean=True, quantizer=quantizer),
        num_filters=num_filters, latent_channels=latent_channels,
        num_scales=num_scales, scale_min=scale_min, scale_max=scale_max,
        quantizer=quantizer)
