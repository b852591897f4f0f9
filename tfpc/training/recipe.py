"""A training run described by one flat config: `tfpc_train`'s flags.

`TrainConfig`'s fields are the binary's flags (their help texts live here, in
the field metadata), and a recipe in configs/ is a flagfile that sets them. A
flat run is one stage (`stages.run_stage`) in its own folder: the codec on
`rd` ("mse") or on ProxIQA ("<metric>p"), from the one objective registry.
"""

import dataclasses
import inspect
import os

from tfpc import codecs
from tfpc import data
from tfpc import errors
from tfpc.config import setting
from tfpc import losses
from tfpc import zoo
from tfpc.training import loop
from tfpc.training import run_folder
from tfpc.training import stages

SCHEDULE = loop.SCHEDULE_DEFAULTS


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
  proxy_mode: str = setting(losses.proxiqa.PROXY_MODES[0],
                            "alternating (the paper) or "
                            "pretrained_fixed (a frozen proxy; Fig. 6a).")
  proxy_init: str = setting(None, "Folder of a proxy from "
                            "tfpc_pretrain_proxy to start from (required "
                            "for pretrained_fixed).")
  learning_rate: float = setting(SCHEDULE["learning_rate"],
                                 "Learning rate of the codec.")
  final_learning_rate: float = setting(SCHEDULE["final_learning_rate"],
                                       "Learning rate of the last "
                                       "final_steps steps.")
  final_steps: int = setting(SCHEDULE["final_steps"],
                             "Steps at final_learning_rate.")
  total_steps: int = setting(SCHEDULE["total_steps"], "Total steps.")
  weight_decay: float = setting(SCHEDULE["weight_decay"],
                                "AdamW decoupled weight decay.")
  batch_size: int = setting(stages.DATA_DEFAULTS["batch_size"],
                            "Patches per (global) batch.")
  patch_size: int = setting(stages.DATA_DEFAULTS["patch_size"],
                            "Training patch side.")
  crop_size: int = setting(stages.DATA_DEFAULTS["crop_size"],
                           "Side of the random crop the patch is cut from.")
  seed: int = setting(stages.DATA_DEFAULTS["seed"],
                      "Seed of the data pipeline and initialization.")
  log_every: int = setting(SCHEDULE["log_every"],
                           "Steps per metrics.jsonl line.")
  checkpoint_every: int = setting(SCHEDULE["checkpoint_every"],
                                  "Steps per checkpoint.")
  max_nonfinite_steps: int = setting(SCHEDULE["max_nonfinite_steps"],
                                     "Consecutive skipped (non-finite) "
                                     "updates of one network before stopping.")
  strategy: str = setting("default",
                          f"Distribution: {stages.STRATEGIES}.")
  cpu_devices: int = setting(0, "Split the CPU into this many logical "
                             "devices (to run 'mirrored' without GPUs).")
  init_from: str = setting(None, "Start from the weights of an exported "
                           "model or a training run folder: every layer of "
                           "the same name and shapes (all of them for the "
                           "same codec: to fine-tune, e.g. to another lmbda "
                           "or objective; shared layers across "
                           "architectures, e.g. BLS2017 transforms into "
                           "BMSHJ2018). A resumed run continues from its own "
                           "checkpoint.")
  init_strict: bool = setting(False, "Fail unless init_from copies every "
                              "variable of the codec.")

  def check(self):
    """Raises ConfigError for settings that cannot work together."""
    problems = []
    if not self.train_dir:
      problems.append("train_dir is required")
    if not self.images:
      problems.append("images is required")
    if self.objective != "mse" and not losses.proxy_metric(self.objective):
      problems.append(f"objective must be mse or one of "
                      f"{sorted(n for n in losses.OBJECTIVES if losses.proxy_metric(n))}")
    if self.proxy_mode not in losses.proxiqa.PROXY_MODES:
      problems.append(f"proxy_mode must be one of "
                      f"{losses.proxiqa.PROXY_MODES}")
    if (self.objective != "mse" and self.proxy_mode == "pretrained_fixed"
        and not self.proxy_init):
      problems.append("proxy_mode=pretrained_fixed needs proxy_init")
    if self.strategy not in stages.STRATEGIES:
      problems.append(f"strategy must be one of {stages.STRATEGIES}")
    if self.alpha is not None and not 0.0 <= self.alpha < 1.0:
      problems.append("alpha must be in [0, 1)")
    if self.patch_size > self.crop_size:
      problems.append("patch_size must not exceed crop_size")
    problems += stages.number_problems(self.stage(), option_prefix="")
    if problems:
      raise errors.ConfigError("; ".join(problems))

  def stage(self):
    """The one stage this run is (`stages.STAGE_DEFAULTS` form)."""
    options, networks = {"lmbda": self.lmbda}, {}
    objective = "rd" if self.objective == "mse" else self.objective
    if self.objective != "mse":
      options.update(patch_size=self.patch_size,
                     proxy_weight=self.proxy_weight, alpha=self.alpha,
                     alpha_distortion_range=self.alpha_distortion_range,
                     m_max=self.m_max, proxy_mode=self.proxy_mode,
                     proxy_init=self.proxy_init or "")
      if self.proxy_mode == "alternating":
        networks = {"codec": {}, "proxy": {
            "learning_rate": self.proxy_learning_rate}}
    return {**stages.STAGE_DEFAULTS, "objective": objective,
            "options": options, "networks": networks,
            "strict_start": self.init_strict,
            **{key: getattr(self, key) for key in SCHEDULE}}

  def data(self):
    return {key: getattr(self, key) for key in stages.DATA_DEFAULTS}


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


def record_recipe(config):
  """Records the run's settings; settings added since a run started had
  their default value."""
  run_folder.record_settings(config.train_dir, dataclasses.asdict(config),
                             stages.RESUMABLE_CHANGES,
                             dataclasses.asdict(TrainConfig()))


def train(config):
  """Runs (or resumes) the training run `config` describes; returns its last
  log record."""
  config.check()
  record_recipe(config)
  strategy = stages.make_strategy(config.strategy, config.cpu_devices)
  images = data.training_images(config.images, config.crop_size)
  return stages.run_stage(None, config.stage(), codec_config(config),
                          config.data(), config.train_dir,
                          config.init_from or "", strategy, images)



@dataclasses.dataclass
class RunInfo:
  """What a run folder trained: its stage settings, codec config and start
  (a run folder or exported model; "" for scratch)."""
  stage: dict
  codec: dict
  start: str


def run_info(train_dir):
  """The `RunInfo` of a flat run, or of a stage folder of a staged recipe
  (its settings in the parent's record)."""
  try:
    settings = run_folder.read_settings(train_dir)
  except errors.ModelError:
    parent, name = os.path.split(os.path.normpath(train_dir))
    settings = run_folder.read_settings(parent)
    stage = dict(stages.stage_settings(settings)).get(name)
    if stage is None:
      raise errors.ModelError(f"{train_dir}: neither a run nor a stage of "
                              f"the recipe in {parent}") from None
    start = (os.path.join(parent, stage["start_from"]) if stage["start_from"]
             else settings.get("init_from") or "")
    return RunInfo(stage, settings["codec"], start)
  try:
    config = TrainConfig(**settings)
  except TypeError as e:
    raise errors.ModelError(f"{train_dir}: not a tfpc_train run ({e})") \
        from None
  return RunInfo(config.stage(), codec_config(config), config.init_from or "")


def _settings_text(settings, leave_out=()):
  return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in sorted(settings.items())
                   if k not in leave_out and v not in (None, ""))


def _hours(train_dir, step):
  """", N.N h wall clock[, N.N CPU h]" of the run's log up to `step` (first
  to last record; CPU hours where the records have them), or ""."""
  try:
    records = [r for r in run_folder.read_log(train_dir)
               if "time" in r and r.get("step", 0) <= step]
  except OSError:
    return ""
  if len(records) < 2:
    return ""
  text = f", {(records[-1]['time'] - records[0]['time']) / 3600:.1f} h wall clock"
  cpu = records[-1].get("cpu_seconds")  # cumulative: the last is the total
  return text + (f", {cpu / 3600:.2f} CPU h" if cpu else "")


def describe(train_dir, step=None):
  """How the run's checkpoint at `step` (default: its latest) was made, in
  one sentence (its start described the same way, at the step the warm
  start took, or by its exported description)."""
  info = run_info(train_dir)
  step = step or run_folder.trained_steps(train_dir)
  text = (f"{info.codec['architecture']} "
          f"({_settings_text(info.codec, ('architecture',))}), "
          f"{info.stage['objective']} "
          f"({_settings_text(info.stage['options'], ('proxy_init',))}): "
          f"{step} steps{_hours(train_dir, step)}")
  if run_folder.is_training_run(info.start):
    start = describe(info.start, run_folder.warm_start_step(train_dir))
    return f"{text} from [{start}]"
  if info.start:
    try:
      start = zoo.read_metadata(zoo.resolve(info.start)).get("description")
    except errors.ModelError:  # not in this model root: its name alone
      start = None
    return f"{text} from {info.start}" + (f" [{start}]" if start else "")
  return f"{text} from scratch"
