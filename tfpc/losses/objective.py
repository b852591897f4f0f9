"""The contract of a training objective, and the registry of objectives.

`OBJECTIVES` names the objectives a recipe can choose: name ->
`builder(codec, **options)` returning an `Objective`; a system registers its
own with `@register_objective`.
"""

OBJECTIVES = {}


def register_objective(name):
  """Decorator: makes `builder(codec, **options)` an objective by name."""
  def decorate(builder):
    OBJECTIVES[name] = builder
    return builder
  return decorate


class Objective:
  """Maps a batch and the codec's outputs on it to the step's terms.

  `__call__(x, outputs, step)` returns a dict of scalars: `loss` updates the
  codec, the other entries are the losses of `auxiliary` networks or are
  logged. Subclasses set:

  Attributes:
    auxiliary: name -> (loss key, Keras model) of the networks the objective
      trains besides the codec (ProxIQA's proxy, a discriminator).
    forward: how the trainer runs the codec on the batch, once, under the
      step's tape: "training" (noisy latents), "inference" (rounded latents,
      as the decoder sees them), or None (the objective codes what it needs
      itself; `outputs` is None).
    summary: the log keys that progress lines show.
  """

  auxiliary = {}
  forward = "training"
  summary = ("loss", "bpp", "psnr")

  def __call__(self, x, outputs, step):
    raise NotImplementedError

  def check_data(self, data):
    """Raises ConfigError unless batches of `data` (the stage's batch_size,
    patch_size, ...) fit the objective."""

  def on_log(self, record):
    """May add to a log record (called once per record, on the host)."""
