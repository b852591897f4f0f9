"""A training run described by one flat config: what `tfpc_train` runs.

`TrainConfig`'s fields are the binary's flags (their help texts live here, in
the field metadata), and a recipe in configs/ is a flagfile that sets them.
"""

import dataclasses
import inspect
import json
import os

import tensorflow as tf

from tfpc import codecs
from tfpc import data
from tfpc import errors
from tfpc.config import setting
from tfpc import losses
from tfpc import metrics
from tfpc.training import loop
from tfpc.training import warm_start

# Objective name -> proxy metric: mse, or "<metric>p" for each metric with a
# proxy scale in the registry (vmafp, ssimp, msssimp, ...).
OBJECTIVES = {"mse": None, **{f"{m}p": m for m in metrics.proxy_metrics()}}
PROXY_MODES = ("alternating", "pretrained_fixed")
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")
# May change between a run and its resumption; every other field may not.
RESUMABLE_CHANGES = ("train_dir", "images", "total_steps", "log_every",
                     "checkpoint_every", "max_nonfinite_steps", "strategy",
                     "cpu_devices")
RECIPE_FILE = "recipe.json"


@dataclasses.dataclass
class TrainConfig:
  """Everything a run needs; defaults are the paper's (ProxIQA, 4.1)."""
  train_dir: str = setting(None, "Run folder: checkpoints, metrics.jsonl, "
                           "TensorBoard events. Rerun to resume.")
  images: str = setting(None, "Training images: a folder, a glob, or "
                        "'skimage' for scikit-image's sample photos.")
  architecture: str = setting("bls2017", f"Codec: {sorted(codecs.CODECS)}.")
  num_filters: int = setting(192, "Filters per codec layer.")
  codec_options: str = setting(
      "", "The architecture's other constructor arguments, as "
      "name=value,... (e.g. latent_channels=128,num_scales=64 for "
      "mbt2018-mean); unset ones keep the codec's defaults.")
  objective: str = setting("mse", "mse (eq. 3) or a proxy target (eq. 7): "
                           "vmafp, ssimp, msssimp.")
  lmbda: float = setting(0.01, "Rate-distortion trade-off lambda (MSE on "
                         "[0, 255], rate in bits per pixel).")
  proxy_weight: float = setting(
      10.0, "Eq. 7 as lmbda * (MSE_255 + proxy_weight * L_p) + bpp: the MSE "
      "units (images on [0, 255]) one proxy score point is worth. 0 is the "
      "MSE objective; 1 weighs both terms equally (the authors' code).")
  alpha: float = setting(None, "The paper's alpha instead of proxy_weight "
                         "(1.54e-3 for VMAF), converted for L_d on [0, "
                         "alpha_distortion_range].")
  alpha_distortion_range: float = setting(
      1.0, "Pixel range of L_d that alpha assumes: 1 ([0, 1] images, "
      "proxy_weight 100.3 for the paper's alpha) or 255 (0.0015).")
  proxy_learning_rate: float = setting(1e-3, "Constant learning rate of "
                                       "the proxy network (the authors' "
                                       "code: 1e-3).")
  m_max: float = setting(100.0, "Upper bound of the 0-100 metric score.")
  proxy_mode: str = setting("alternating", "alternating (the paper) or "
                            "pretrained_fixed (a frozen proxy; Fig. 6a).")
  proxy_init: str = setting(None, "Folder of a proxy from "
                            "tfpc_pretrain_proxy to start from (required "
                            "for pretrained_fixed).")
  learning_rate: float = setting(1e-4, "Learning rate of the codec.")
  final_learning_rate: float = setting(1e-5, "Learning rate of the last "
                                       "final_steps steps.")
  final_steps: int = setting(100_000, "Steps at final_learning_rate.")
  total_steps: int = setting(2_100_000, "Total steps.")
  weight_decay: float = setting(0.01, "AdamW decoupled weight decay.")
  batch_size: int = setting(8, "Patches per (global) batch.")
  patch_size: int = setting(128, "Training patch side.")
  crop_size: int = setting(256, "Side of the random crop the patch is cut "
                           "from.")
  seed: int = setting(0, "Seed of the data pipeline and initialization.")
  log_every: int = setting(100, "Steps per metrics.jsonl line.")
  checkpoint_every: int = setting(1000, "Steps per checkpoint.")
  max_nonfinite_steps: int = setting(20, "Consecutive skipped (non-finite) "
                                     "updates of one network before stopping.")
  strategy: str = setting("default", f"Distribution: {STRATEGIES}.")
  cpu_devices: int = setting(0, "Split the CPU into this many logical "
                             "devices (to run 'mirrored' without GPUs).")
  init_from: str = setting(None, "Start from the weights of an exported "
                           "model or a training run folder: all of them for "
                           "the same codec (to fine-tune, e.g. to another "
                           "lmbda or objective), else each sub-network of "
                           "the same name and shapes (e.g. BLS2017 "
                           "transforms into BMSHJ2018). A resumed run "
                           "continues from its own checkpoint.")

  @property
  def effective_proxy_weight(self):
    """proxy_weight, or the one `alpha` converts to when it is given."""
    if self.alpha is None:
      return self.proxy_weight
    return losses.proxy_weight_from_alpha(self.alpha,
                                          self.alpha_distortion_range)

  def check(self):
    """Raises ConfigError for settings that cannot work together."""
    problems = []
    if not self.train_dir:
      problems.append("train_dir is required")
    if not self.images:
      problems.append("images is required")
    if self.objective not in OBJECTIVES:
      problems.append(f"objective must be one of {sorted(OBJECTIVES)}")
    if self.proxy_mode not in PROXY_MODES:
      problems.append(f"proxy_mode must be one of {PROXY_MODES}")
    if (self.objective != "mse" and self.proxy_mode == "pretrained_fixed"
        and not self.proxy_init):
      problems.append("proxy_mode=pretrained_fixed needs proxy_init")
    if self.strategy not in STRATEGIES:
      problems.append(f"strategy must be one of {STRATEGIES}")
    if self.alpha is not None and not 0.0 <= self.alpha < 1.0:
      problems.append("alpha must be in [0, 1)")
    if self.patch_size > self.crop_size:
      problems.append("patch_size must not exceed crop_size")
    if problems:
      raise errors.ConfigError("; ".join(problems))


def codec_config(config):
  """The codec config of a TrainConfig: architecture, num_filters and the
  `codec_options`, typed by the defaults of the codec's constructor."""
  if config.architecture not in codecs.CODECS:
    raise errors.ConfigError(f"architecture must be one of "
                             f"{sorted(codecs.CODECS)}")
  parameters = inspect.signature(
      codecs.CODECS[config.architecture].__init__).parameters
  result = {"architecture": config.architecture,
            "num_filters": config.num_filters}
  for item in filter(None, config.codec_options.split(",")):
    name, _, value = item.partition("=")
    name = name.strip()
    if name not in parameters or name in ("self", "num_filters"):
      raise errors.ConfigError(
          f"codec_options: {config.architecture} has no option {name!r}; it "
          f"has {sorted(set(parameters) - {'self', 'num_filters'})}")
    result[name] = type(parameters[name].default)(value)
  return result


def sample_photos():
  """scikit-image's bundled colour photos (no download needed)."""
  from skimage import data as samples  # pylint: disable=g-import-not-at-top
  return [samples.astronaut(), samples.coffee(), samples.chelsea(),
          samples.rocket(), samples.hubble_deep_field(),
          samples.immunohistochemistry()]


def training_images(source, min_side):
  """uint8 images of a folder, glob or 'skimage'; skips are logged."""
  if source == "skimage":
    return sample_photos()
  images, _ = data.load_images(data.list_images(source), min_side)
  return images


def make_strategy(name, cpu_devices=0):
  """The tf.distribute strategy `name`, optionally over logical CPUs."""
  if cpu_devices:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "multi_worker_mirrored":
    return tf.distribute.MultiWorkerMirroredStrategy()
  devices = None
  if cpu_devices and not tf.config.list_logical_devices("GPU"):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
  return tf.distribute.MirroredStrategy(devices)


def build_objective(config):
  """The objective (and its proxy network) that `config` asks for."""
  metric = OBJECTIVES[config.objective]
  if metric is None:
    return losses.RateDistortion(config.lmbda)
  if config.proxy_init:
    proxy = losses.load_proxy(config.proxy_init, metric, config.patch_size)
  else:
    proxy = losses.ProxyIQANet(metric, config.patch_size)
  return losses.ProxIQA(proxy, config.lmbda, config.effective_proxy_weight,
                        config.m_max,
                        train_proxy=config.proxy_mode == "alternating")


def _flatten(settings, prefix=""):
  """Nested settings as {dotted.name: value} (tuples as lists, as in JSON)."""
  flat = {}
  for key, value in settings.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
  return flat


def record_settings(train_dir, settings, resumable, defaults=None):
  """Writes train_dir/recipe.json; on resume, refuses settings that change
  the run, naming them.

  Args:
    train_dir: the run folder.
    settings: the run's settings, nested dicts allowed (compared by dotted
      name).
    resumable: names (last component) that may change between runs.
    defaults: values of settings an older recipe.json lacks.
  """
  path = os.path.join(train_dir, RECIPE_FILE)
  if os.path.exists(path):
    with open(path) as f:
      previous = _flatten({**(defaults or {}), **json.load(f)})
    now = _flatten(settings)
    changed = sorted(key for key in set(previous) | set(now)
                     if key.rsplit(".", 1)[-1] not in resumable and
                     previous.get(key) != now.get(key))
    if changed:
      raise errors.ConfigError(
          f"{train_dir} was started with other settings: " +
          ", ".join(f"{k}={previous.get(k)!r} (now {now.get(k)!r})"
                    for k in changed) + "; use a new train_dir")
  os.makedirs(train_dir, exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(settings, f, indent=2)
  os.replace(path + ".tmp", path)


def _record_recipe(config):
  """Records the run's settings; settings added since a run started had
  their default value."""
  record_settings(config.train_dir, dataclasses.asdict(config),
                  RESUMABLE_CHANGES, dataclasses.asdict(TrainConfig()))


def train(config):
  """Runs (or resumes) the training run `config` describes."""
  config.check()
  _record_recipe(config)
  strategy = make_strategy(config.strategy, config.cpu_devices)
  if config.batch_size % strategy.num_replicas_in_sync:
    raise errors.ConfigError(
        f"batch_size {config.batch_size} does not split over "
        f"{strategy.num_replicas_in_sync} replicas")
  images = training_images(config.images, config.crop_size // 2)
  tf.keras.utils.set_random_seed(config.seed)
  with strategy.scope():
    codec = codecs.build_codec(codec_config(config))
    if config.init_from:
      warm_start.warm_start(codec, config.init_from)
    objective = build_objective(config)
  trainer = loop.Trainer(
      codec, objective, config.train_dir, strategy=strategy,
      learning_rate=config.learning_rate,
      final_learning_rate=config.final_learning_rate,
      final_steps=config.final_steps, total_steps=config.total_steps,
      weight_decay=config.weight_decay, log_every=config.log_every,
      checkpoint_every=config.checkpoint_every,
      max_nonfinite_steps=config.max_nonfinite_steps,
      learning_rates={"proxy": config.proxy_learning_rate})
  dataset = data.patch_dataset(images, config.batch_size, config.patch_size,
                               config.crop_size, seed=config.seed)
  return trainer.run(dataset)
