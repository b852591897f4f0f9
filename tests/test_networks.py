"""Issue 12: training as a set of networks (parts of the codec, own learning
rates and update ratios) and objectives that see the step."""

import numpy as np

from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc import training


class _WarmUp(losses.RateDistortion):
  """Rate-distortion that reports the step it is given (as a warm-up would
  read it)."""

  def __call__(self, x, outputs, step):
    terms = super().__call__(x, outputs)
    return {**terms, "seen_step": step}


def test_decoder_only_network_with_its_own_rate_and_ratio(tmp_path, photo):
  codec = codecs.build_codec({"architecture": "bls2017", "num_filters": 4})
  kept = [*codec.analysis_transform.variables, *codec.prior.variables]
  frozen = [v.numpy() for v in kept]
  decoder = [v.numpy() for v in codec.synthesis_transform.variables]
  networks = {"decoder": training.Network(
      "loss", codec, modules=("synthesis_transform",), learning_rate=1e-2,
      update_every=2)}
  trainer = training.Trainer(codec, _WarmUp(0.01), str(tmp_path),
                             networks=networks, total_steps=4, log_every=1)
  record = trainer.run(data.patch_dataset([photo], batch_size=1,
                                          patch_size=32, crop_size=64, seed=0))
  assert record["step"] == 4 and record["seen_step"] == 3
  assert int(trainer.optimizers["decoder"].iterations) == 2  # steps 0 and 2
  for before, v in zip(frozen, kept):
    np.testing.assert_array_equal(before, v.numpy())
  assert any(np.any(before != v.numpy()) for before, v in
             zip(decoder, codec.synthesis_transform.variables))
