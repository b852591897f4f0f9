"""The evaluation protocol of ProxIQA 4.1-4.4 as one run (`tfpc_eval`).

For every image, every codec and every rate point: the real coded size, the
decoded image's PSNR (RGB and Y), SSIM, MS-SSIM and VMAF (and, when asked,
the distances LPIPS and DISTS), and the encode and decode times. Learned
models are exported codec-form models (one per rate point, bitrate from the
real `.tfpc` bytes); conventional codecs run through ffmpeg (`conventional`). Results are cached per (codec, setting, image), so a
rerun, or a run with one more codec, computes only what is new. Outputs, in
`output_dir`: rd.json (every result: per image, per rate point, BD-rates,
crops and the run's facts), and views of it: report.html (`report`),
per_image.csv, bd_rate.md (Table 1 form), rd_*.png (Fig. 4), crops_*.png
(Fig. 5), timing.md (Table 2), failures.json.
"""

import concurrent.futures
import csv
import dataclasses
import fnmatch
import hashlib
import json
import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
import threading
import time

import numpy as np
from tqdm import tqdm

from tfpc import coding
from tfpc import data
from tfpc import errors
from tfpc import families
from tfpc import files
from tfpc.config import setting
from tfpc import image as image_lib
from tfpc import metrics
from tfpc import zoo
from tfpc.evaluation import bdrate
from tfpc.evaluation import conventional
from tfpc.evaluation import plots
from tfpc.evaluation import report

DEFAULT_METRICS = ("psnr", "psnr_y", "ssim", "msssim", "vmaf", "vmaf_neg")
KODAK = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 3, "shared",
    "data", "kodak"))
DEFAULT_MODELS = "tfpc mbt2018-mean-mse=mbt2018-mean-mse"
_CACHE_VERSION = 1


@dataclasses.dataclass
class EvalConfig:
  """Settings of one evaluation run (the flags of `tfpc_eval`)."""
  images: str = setting(None, "Folder or glob of images; default: "
                        "../shared/data/kodak when present.")
  output_dir: str = setting("eval", "Where results, plots and the cache go.")
  models: str = setting(DEFAULT_MODELS, "Learned RD curves: "
                        "'label=spec+spec...;label=...'. A spec names an "
                        "exported codec-form model (one rate point), a model "
                        "family of tfpc.families (its rates), or a glob over "
                        "model names. Empty: none.")
  codecs: str = setting("jpeg420", "Conventional codecs, comma-separated, or "
                        f"'all': {', '.join(conventional.CODECS)}.")
  anchor: str = setting(None, "Curve label the BD-rates are relative to; "
                        "default: the first learned curve, else the first "
                        "codec.")
  metrics: str = setting(",".join(DEFAULT_METRICS), "Metrics to compute, "
                         "of the registry `tfpc.metrics.METRICS`; lpips, "
                         "lpips_vgg and dists need backbones converted by "
                         "tfpc_weights.")
  workers: int = setting(2, "Parallel coding jobs.")
  report_bpp: float = setting(0.25, "Target rate of report.html's crops: "
                              "per image, each curve's rate point closest "
                              "to it.")
  report_crop: str = setting("256", "Crop of report.html: 'SIDE' (placed on "
                             "the most detailed region of each image) or "
                             "'TOP,LEFT,SIDE' in pixels.")


@dataclasses.dataclass
class Curve:
  """One RD curve: a label and its rate points (settings)."""
  label: str
  kind: str  # "learned" or a conventional codec name
  settings: list


def find_images(spec):
  """Sorted image paths from a folder or a glob (default: Kodak)."""
  return data.list_images(spec or KODAK)


def learned_curves(models, root=None):
  """Parses --models into Curves of model paths (sorted by name)."""
  curves = []
  for item in filter(None, (s.strip() for s in (models or "").split(";"))):
    label, _, specs = item.rpartition("=")
    paths = []
    for spec in specs.split("+"):
      paths += _expand_model_spec(spec.strip(), root)
    curves.append(Curve(label or specs, "learned", sorted(set(paths))))
  return curves


def _expand_model_spec(spec, root):
  """Paths of a model, a family of `tfpc.families` (its models in the root)
  or a glob over model names."""
  root = root or zoo.MODEL_ROOT
  if spec in families.FAMILIES:
    family = families.FAMILIES[spec]
    names = [n for n in family.model_names()
             if os.path.isdir(os.path.join(root, n))]
    if not names and not family.shipped:
      raise errors.ConfigError(
          f"family {spec!r} is not shipped (its recipe stays: train it, "
          f"then tfpc_export puts it in {root})")
    if not names:
      raise errors.ConfigError(f"no model of family {spec!r} in {root}")
    return [zoo.resolve(n, root) for n in names]
  if not any(c in spec for c in "*?["):
    return [zoo.resolve(spec, root)]
  names = sorted(n for n in os.listdir(root) if fnmatch.fnmatch(n, spec))
  paths = [zoo.resolve(n, root) for n in names]
  paths = [p for p in paths if zoo.read_metadata(p).get("form") == "codec"]
  if not paths:
    raise errors.ConfigError(f"no codec-form model matches {spec!r} in {root}")
  return paths


def conventional_curves(names):
  names = list(conventional.CODECS) if names == "all" else [
      n.strip() for n in (names or "").split(",") if n.strip()]
  unknown = [n for n in names if n not in conventional.CODECS]
  if unknown:
    raise errors.ConfigError(f"unknown codecs {unknown}; known: "
                             f"{', '.join(conventional.CODECS)}")
  return [Curve(conventional.CODECS[n].label, n,
                list(conventional.CODECS[n].settings)) for n in names]


def quality(reference, decoded, names):
  """The requested metrics of one decoded image (floats)."""
  return {name: float(metrics.compute(name, reference, decoded))
          for name in names}


class Evaluation:
  """Runs the jobs of a config, with the cache; `run()` writes everything."""

  def __init__(self, config):
    self.config = config
    self.metric_names = [m.strip() for m in config.metrics.split(",")
                         if m.strip()]
    unknown = set(self.metric_names) - set(metrics.METRICS)
    if unknown:
      raise errors.ConfigError(f"unknown metrics {sorted(unknown)}; known: "
                               f"{', '.join(metrics.METRICS)}")
    metrics.check_prerequisites(self.metric_names)
    self.images = find_images(config.images)
    self.curves = (learned_curves(config.models) +
                   conventional_curves(config.codecs))
    conventional.check_encoders([conventional.CODECS[c.kind]
                                 for c in self.curves if c.kind != "learned"])
    if not self.curves:
      raise errors.ConfigError("nothing to evaluate: no models, no codecs")
    labels = [c.label for c in self.curves]
    self.anchor = config.anchor or labels[0]
    if self.anchor not in labels:
      raise errors.ConfigError(f"anchor {self.anchor!r} is not one of "
                               f"{labels}")
    self.cache_dir = os.path.join(config.output_dir, "cache")
    self._metadata = {path: zoo.read_metadata(path) for curve in self.curves
                      if curve.kind == "learned" for path in curve.settings}
    self._models = {}
    self.failures = []
    self.crops = report.MatchedCrops(config.report_bpp, config.report_crop)
    self.jobs = {"computed": 0, "cached": 0}
    self._jobs_lock = threading.Lock()
    self._images = None
    self.wall_s = 0.0

  def _model(self, path):
    if path not in self._models:
      model = zoo.load(path)
      warm = np.zeros((model.metadata["stride"],) * 2 + (3,), np.uint8)
      coding.decode(coding.encode(model, warm), model)  # first-call costs
      self._models[path] = model
    return self._models[path]

  def _code(self, curve, setting, pixels):
    if curve.kind != "learned":
      return conventional.code(conventional.CODECS[curve.kind], setting,
                               pixels)
    model = self._model(setting)
    start = time.perf_counter()
    data = coding.encode(model, pixels)
    middle = time.perf_counter()
    decoded = coding.decode(data, model).pixels
    return {"num_bytes": len(data), "decoded": decoded,
            "encode_s": middle - start,
            "decode_s": time.perf_counter() - middle}

  def _job_key(self, curve, setting, image_digest):
    if curve.kind == "learned":
      # The weights, not the coding id that tuned decoders share.
      metadata = self._metadata[setting]
      what = ["learned", metadata.get("weights_id", metadata["model_id"])]
    else:
      codec = conventional.CODECS[curve.kind]
      what = [codec.name, codec.arguments(setting), codec.muxer]
    text = json.dumps([_CACHE_VERSION, what, image_digest])
    return hashlib.sha256(text.encode()).hexdigest()[:20]

  def _job(self, curve, setting, path, pixels, digest):
    """One (curve, setting, image) result, from the cache when there; offers
    its decoded image to the report's crops."""
    key = self._job_key(curve, setting, digest)
    result = self._cached(key)
    if result is None:
      result, decoded = self._compute(curve, setting, pixels, key)
    else:
      decoded = None
    self.crops.offer(curve.label, os.path.basename(path), setting,
                     result["bpp"], decoded, key)
    with self._jobs_lock:
      self.jobs["cached" if decoded is None else "computed"] += 1
    return result

  def _cached(self, key, metric_names=None):
    """The cached result of a job if it holds `metric_names` (default: the
    run's), else None."""
    names = self.metric_names if metric_names is None else metric_names
    try:
      with open(os.path.join(self.cache_dir, key + ".json")) as f:
        result = json.load(f)
      if set(names) <= set(result["metrics"]):
        return result
    except (OSError, json.JSONDecodeError, KeyError):
      pass  # not cached yet, or an unreadable entry: compute it again
    return None

  def _compute(self, curve, setting, pixels, key, metric_names=None):
    coded = self._code(curve, setting, pixels)
    height, width = pixels.shape[:2]
    names = self.metric_names if metric_names is None else metric_names
    result = {"num_bytes": coded["num_bytes"],
              "bpp": 8.0 * coded["num_bytes"] / (height * width),
              "metrics": quality(pixels, coded["decoded"], names),
              "encode_s": coded["encode_s"], "decode_s": coded["decode_s"]}
    os.makedirs(self.cache_dir, exist_ok=True)
    cache = os.path.join(self.cache_dir, key + ".json")
    with files.replacing(cache) as temporary, open(temporary, "w") as f:
      json.dump(result, f)
    return result, coded["decoded"]

  def rate(self, curve, setting, path):
    """The bpp of one job, for searches over settings: from the cache, else
    coded and cached without metrics (a later job with them replaces it)."""
    pixels, digest = self.read_images()[path]
    key = self._job_key(curve, setting, digest)
    result = self._cached(key, metric_names=())
    if result is None:
      result, _ = self._compute(curve, setting, pixels, key, metric_names=())
    return result["bpp"]

  def setting_name(self, setting):
    """A setting as records show it: a model's name, or the codec's value."""
    if setting in self._metadata:
      return self._metadata[setting]["name"]
    return setting

  def read_images(self):
    """{path: (pixels, digest)} of the readable images, read once (the
    unreadable ones go to the failures)."""
    if self._images is not None:
      return self._images
    loaded = {}
    for path in self.images:
      try:
        pixels = image_lib.read_image(path).pixels
      except errors.ImageReadError as e:
        self.failures.append({"image": path, "error": str(e)})
        continue
      loaded[path] = (pixels, hashlib.sha256(pixels.tobytes()).hexdigest())
      self.crops.add_image(os.path.basename(path), pixels)
    if not loaded:
      raise errors.ConfigError("none of the images could be read")
    self.images = list(loaded)  # the unreadable ones are in the failures
    self._images = loaded
    return loaded

  def run(self, jobs=None):
    """Computes (or reads) the results of `jobs`, (curve, setting, image
    path) triples (default: every curve's settings on every image); returns
    their records."""
    start = time.perf_counter()
    images = self.read_images()
    if jobs is None:
      jobs = [(curve, setting, path) for curve in self.curves
              for setting in curve.settings for path in images]
    records = []
    with concurrent.futures.ThreadPoolExecutor(self.config.workers) as pool:
      futures = {pool.submit(self._job, curve, setting, path,
                             *images[path]): (curve, setting, path)
                 for curve, setting, path in jobs}
      for future in tqdm(concurrent.futures.as_completed(futures),
                         total=len(futures), desc="tfpc_eval", unit="job"):
        curve, setting, path = futures[future]
        try:
          result = future.result()
        except (errors.TfpcError, ValueError) as e:
          self.failures.append({"curve": curve.label, "setting": str(setting),
                                "image": path, "error": str(e)})
          continue
        records.append({"curve": curve.label, "kind": curve.kind,
                        "setting": self.setting_name(setting),
                        "image": os.path.basename(path), **result})
    records.sort(key=lambda r: (r["curve"], r["image"], r["bpp"]))
    curves = {curve.label: curve for curve in self.curves}
    pixels = {os.path.basename(path): value[0]
              for path, value in images.items()}

    def decode(label, setting, image):
      return self._code(curves[label], setting, pixels[image])["decoded"]

    self.crops.complete(self.cache_dir, decode)
    self.wall_s += time.perf_counter() - start
    return records

  def run_facts(self, command):
    """The report's `run`: command, time, job counts, versions, models."""
    keys = ("name", "model_id", "weights_id", "trained_steps", "description")
    models = [{"curve": curve.label,
               **{key: self._metadata[path].get(key) for key in keys}}
              for curve in self.curves if curve.kind == "learned"
              for path in curve.settings]
    return {"command": command or _command_of(self.config),
            "finished": datetime.datetime.now(datetime.timezone.utc)
                        .isoformat(timespec="seconds"),
            "wall_s": self.wall_s, "workers": self.config.workers,
            "jobs": dict(self.jobs), "versions": _versions(), "models": models}


def rd_points(records, metric_names):
  """Per curve and setting: bpp and metrics averaged over the images."""
  points = {}
  for record in records:
    points.setdefault(record["curve"], {}).setdefault(
        str(record["setting"]), []).append(record)
  curves = {}
  for label, settings in points.items():
    rows = []
    for setting, group in settings.items():
      rows.append({
          "setting": group[0]["setting"], "images": len(group),
          "bpp": float(np.mean([r["bpp"] for r in group])),
          **{m: float(np.mean([r["metrics"][m] for r in group]))
             for m in metric_names},
          "encode_ms": 1000 * float(np.mean([r["encode_s"] for r in group])),
          "decode_ms": 1000 * float(np.mean([r["decode_s"] for r in group]))})
    curves[label] = sorted(rows, key=lambda r: r["bpp"])
  return curves


def _command_of(config):
  """The tfpc_eval command line that `config` stands for."""
  flags = [f"--{field.name}={getattr(config, field.name)}"
           for field in dataclasses.fields(config)
           if getattr(config, field.name) is not None]
  return shlex.join(["tfpc_eval", *flags])


def _versions():
  versions = {"python": platform.python_version()}
  for package in ("tfpc", "tensorflow", "tensorflow-compression", "numpy",
                  "imageio-ffmpeg", "bjontegaard"):
    try:
      versions[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      versions[package] = None
  try:
    versions["ffmpeg"] = subprocess.run(
        [conventional.ffmpeg_path(), "-version"], capture_output=True,
        text=True, timeout=30, check=True).stdout.split("\n")[0]
  except (OSError, subprocess.SubprocessError):
    versions["ffmpeg"] = None
  try:
    versions["git"] = subprocess.run(
        ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe",
         "--always", "--dirty"], capture_output=True, text=True, timeout=30,
        check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    versions["git"] = None
  return versions


def results_data(evaluation, records, crops, command=None):
  """The results of a run, as rd.json holds them and every view reads them;
  `crops` as `MatchedCrops.write` returns them."""
  names = evaluation.metric_names
  return report.json_safe({
      "images": [os.path.basename(p) for p in evaluation.images],
      "anchor": evaluation.anchor, "metrics": names,
      "labels": [curve.label for curve in evaluation.curves],
      "metric_labels": {m: metrics.get(m).label for m in names},
      "curves": rd_points(records, names),
      "bd_rate": {method: bdrate.table(records, evaluation.anchor, names,
                                       method) for method in bdrate.METHODS},
      "records": records,
      "crops": crops,
      "run": evaluation.run_facts(command),
      "failures": evaluation.failures})


def write_outputs(evaluation, records, output_dir, command=None):
  """rd.json and its views: report.html, per_image.csv, bd_rate.md,
  rd_<metric>.png, crops_<image>.png, timing.md."""
  names = evaluation.metric_names
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, "per_image.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["curve", "setting", "image", "bytes", "bpp", *names,
                     "encode_ms", "decode_ms"])
    for r in records:
      writer.writerow([r["curve"], r["setting"], r["image"], r["num_bytes"],
                       f"{r['bpp']:.5f}",
                       *(f"{r['metrics'][m]:.5f}" for m in names),
                       f"{1000 * r['encode_s']:.1f}",
                       f"{1000 * r['decode_s']:.1f}"])
  crops = evaluation.crops.write(output_dir,
                                 [c.label for c in evaluation.curves],
                                 evaluation.setting_name)
  results = results_data(evaluation, records, crops, command)
  curves, tables = results["curves"], results["bd_rate"]
  with open(os.path.join(output_dir, "rd.json"), "w") as f:
    json.dump(results, f, indent=1, allow_nan=False)
  with open(os.path.join(output_dir, "bd_rate.md"), "w") as f:
    f.write(bdrate.markdown(tables, evaluation.anchor, names))
  with open(os.path.join(output_dir, "timing.md"), "w") as f:
    f.write(_timing_markdown(curves))
  write_failures(evaluation, output_dir)
  for metric in names:
    plots.rd_curves(curves, metric, os.path.join(output_dir,
                                                 f"rd_{metric}.png"))
  for image in results["crops"]["images"]:
    plots.matched_crops(results, image, output_dir, os.path.join(
        output_dir, f"crops_{os.path.splitext(image)[0]}.png"))
  report.write(results, output_dir)
  return curves, tables


def write_failures(evaluation, output_dir):
  """failures.json: the jobs and images that failed, with their errors."""
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, "failures.json"), "w") as f:
    json.dump(evaluation.failures, f, indent=1)


def _timing_markdown(curves):
  lines = ["| codec | encode ms / image | decode ms / image |",
           "|---|---:|---:|"]
  for label, rows in curves.items():
    encode = np.mean([r["encode_ms"] for r in rows])
    decode = np.mean([r["decode_ms"] for r in rows])
    lines.append(f"| {label} | {encode:.0f} | {decode:.0f} |")
  return "\n".join(lines) + "\n"


def evaluate(config, command=None):
  """Runs `config`, writes its outputs; returns (curves, tables, failures).

  `command`: the command line for the report (default: one made of config).
  """
  evaluation = Evaluation(config)
  records = evaluation.run()
  if not records:
    write_failures(evaluation, config.output_dir)
    raise errors.TfpcError(f"every job failed; see "
                           f"{os.path.join(config.output_dir, 'failures.json')}")
  curves, tables = write_outputs(evaluation, records, config.output_dir,
                                 command)
  return curves, tables, evaluation.failures
