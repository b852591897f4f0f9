"""Training steps to time or profile: the cases, a fixed batch, FLOP counts.

A case is a codec config and an objective; `trainer` gives it the Trainer of
tfpc_train's default recipe (AdamW, weight decay 0.01). The FLOP floor of a
step counts, from the layer shapes, 2 FLOPs per multiply-add of every
convolution and GDN/IGDN of the forward pass, and the backward as twice the
forward (issue 27).
"""

import contextlib
import tempfile

import tensorflow as tf
import tensorflow_compression as tfc
from skimage import data as samples

from tfpc import codecs
from tfpc import data
from tfpc import losses
from tfpc import training
from tfpc.codecs import transforms

import harness  # benchmarks/, beside this script

CASES = {
    "bls64_mse": ({"architecture": "bls2017", "num_filters": 64}, "mse"),
    "bls192_mse": ({"architecture": "bls2017", "num_filters": 192}, "mse"),
    "bls192_vmafp": ({"architecture": "bls2017", "num_filters": 192},
                     "vmafp"),
    "bmshj192_mse": ({"architecture": "bmshj2018", "num_filters": 192}, "mse"),
    "mbt2018_mean": ({"architecture": "mbt2018-mean", "num_filters": 192},
                     "mse"),
}


@contextlib.contextmanager
def tfc_arithmetic():
  """tfpc's layers compute as tfc's own (kernels by `irfft2d`, transposed
  convolutions, explicit padding, GDN by a 1x1 convolution) in what is
  traced meanwhile: the step before issue 27, timed beside today's in one
  process."""
  ours = transforms.SignalConv2D.call, transforms.GDN.call
  transforms.SignalConv2D.call = tfc.SignalConv2D.call
  transforms.GDN.call = tfc.GDN.call
  try:
    yield
  finally:
    transforms.SignalConv2D.call, transforms.GDN.call = ours


def objective(name, patch_size=128):
  """`mse` (eq. 3), `vmafp` (VMAF_p, alternating, true VMAF by libvmaf),
  `ssimp`, or `proxy_only` (VMAF_p with the true metric a constant)."""
  if name == "mse":
    return losses.RateDistortion(0.01)
  metric = "ssim" if name == "ssimp" else "vmaf"
  constant = {"true_metric": lambda x, x_hat: tf.fill(tf.shape(x)[:1], 80.0)
              } if name == "proxy_only" else {}
  return losses.ProxIQA(losses.ProxyIQANet(metric, patch_size), 0.01,
                        **constant)


def trainer(case=None, config=None, objective_=None):
  """A Trainer of a fresh codec: a named case, or a config and objective."""
  if case is not None:
    config, name = CASES[case]
    objective_ = objective(name)
  return training.Trainer(codecs.build_codec(config), objective_,
                          tempfile.mkdtemp(), weight_decay=0.01)


def fixed_batch(batch_size=8, patch_size=128):
  """One batch of the training pipeline on scikit-image's photos, seed 0."""
  return next(iter(data.patch_dataset(
      [samples.astronaut(), samples.coffee(), samples.chelsea()], batch_size,
      patch_size, seed=0)))


@contextlib.contextmanager
def _layer_calls():
  """Records (layer, input shape) of every SignalConv2D and GDN called."""
  calls, call = [], tf.keras.layers.Layer.__call__

  def recording(layer, inputs, *args, **kwargs):
    if (isinstance(layer, (tfc.SignalConv2D, tfc.GDN)) and
        inputs.shape.is_fully_defined()):
      calls.append((layer, inputs.shape))
    return call(layer, inputs, *args, **kwargs)

  tf.keras.layers.Layer.__call__ = recording
  try:
    yield calls
  finally:
    tf.keras.layers.Layer.__call__ = call


def forward_flops(function, *args):
  """FLOPs of the convolutions and GDNs that `function(*args)` runs, counted
  from their shapes (2 per multiply-add)."""
  with _layer_calls() as calls:
    function(*args)
  flops = 0
  for layer, shape in calls:
    positions = shape[0] * shape[1] * shape[2]
    channels = shape[-1]
    if isinstance(layer, tfc.GDN):
      flops += 2 * positions * channels * channels
      continue
    kh, kw = layer.kernel_support
    down = layer.strides_down[0] * layer.strides_down[1]
    # Each input position of an up-sampling layer meets every tap once; a
    # down-sampling layer computes one output per `down` positions.
    flops += 2 * positions // down * kh * kw * channels * layer.filters
  return flops


def flop_floor(codec, batch_shape):
  """FLOPs of one training step: its forward's, backward counted twice."""
  return 3 * forward_flops(lambda x: codec(x, training=True),
                           tf.zeros(batch_shape))


def reference_convolution():
  """(function, FLOPs) of TF's 5x5 64-to-64 correlation on 8x64x64: the
  machine's convolution throughput, timed beside the steps."""
  x = tf.random.normal((8, 64, 64, 64))
  kernel = tf.random.normal((5, 5, 64, 64))
  convolve = tf.function(lambda: tf.nn.conv2d(x, kernel, 1, "SAME"))
  return (lambda: convolve().numpy()), 2 * 8 * 64 * 64 * 25 * 64 * 64


def interleaved(objectives, batch, architecture, num_filters, rounds):
  """Seconds per `train_step` of a fresh codec on each objective, in turn:
  {name: [seconds per round]} (see `harness.interleaved`)."""
  steps = {}
  for name, objective_ in objectives.items():
    step_trainer = trainer(config={"architecture": architecture,
                                   "num_filters": num_filters},
                           objective_=objective_)
    steps[name] = (lambda t: lambda: t.train_step(batch)[0]["loss"].numpy())(
        step_trainer)
  return harness.interleaved(steps, rounds)
