"""Every shipped model at its own rate against JPEG, and the floor it meets.

A shipped model earns its place (issue 28) when, at its own rate on each
image, it beats ffmpeg's JPEG 4:2:0 in the metric it was trained for, and,
unless its objective trades PSNR on purpose, stays within 1 dB PSNR of the
default MSE family at that rate. The metric follows from the model's
objective (`floor_of`), which the model records about itself: the
`objective` of its metadata (`tfpc_export` writes it), else its family's in
`tfpc.families`.

JPEG at a model's rate: per image, a bisection over every ffmpeg scale
(`conventional.JPEG_SCALES`, rates only) finds the two whose files bracket
the model's bpp on that image; their metrics are interpolated linearly in
bpp (`matched`). Where JPEG cannot reach the rate (its coarsest scale still
takes more bits) its coarsest point stands in, which favours JPEG; the
table counts such images.

`tfpc_floors` runs it: the models, the JPEG points and every metric go
through `suite.Evaluation` (one cache, one record format: the output folder's
rd.json is a `tfpc_eval` result), then the table is written as Markdown and
JSON.
"""

import concurrent.futures
import dataclasses
import fnmatch
import json
import os

import numpy as np
from tqdm import tqdm

from tfpc import errors
from tfpc import families
from tfpc import metrics
from tfpc import zoo
from tfpc.config import setting
from tfpc.evaluation import conventional
from tfpc.evaluation import matched
from tfpc.evaluation import report
from tfpc.evaluation import suite

TABLE_METRICS = ("psnr", "msssim", "vmaf", "vmaf_neg")
JPEG_CODEC = "jpeg420"
PSNR_MARGIN_DB = 1.0
# Where JPEG cannot reach a model's rate on an image, its nearest point
# stands in, with more or with fewer bits than the model.
MORE_BITS, FEWER_BITS = "more bits", "fewer bits"


@dataclasses.dataclass
class FloorsConfig:
  """Settings of one floors table (the flags of `tfpc_floors`)."""
  images: str = setting(None, "Folder or glob of images; default: "
                        "../shared/data/kodak when present.")
  limit: int = setting(0, "Use only the first N images (sorted); 0: all.")
  models: str = setting("*", "Glob over the model root's names: the models "
                        "of the table (the MSE family and bases that the "
                        "floors compare with are evaluated too).")
  output_dir: str = setting(os.path.join("runs", "models"), "Folder of "
                            "the evaluation (as tfpc_eval's): "
                            "rd.json and the cache (a rerun computes only "
                            "new models and rates).")
  table: str = setting(os.path.join("docs", "models.md"), "The Markdown "
                       "table; its JSON goes beside it (.json).")
  mse_family: str = setting(None, "The MSE family of the 1 dB PSNR rule; "
                            "default: the default model's family.")
  workers: int = setting(2, "Parallel coding jobs.")


@dataclasses.dataclass(frozen=True)
class Floor:
  """What a model must do at its rate.

  Attributes:
    metrics: beat JPEG 4:2:0 in each of these (its mean over the images).
    trade: None when the objective is MSE alone (then PSNR within
      `PSNR_MARGIN_DB` of the MSE family); else what it trades PSNR for.
    base_psnr: also PSNR no lower than its base model's (a decoder tuned
      from a base, reading the base's files).
  """
  metrics: tuple
  trade: str = None
  base_psnr: bool = False

  def describe(self):
    labels = " and ".join(_short(m) for m in self.metrics)
    text = f"beats JPEG in {labels}"
    if self.base_psnr:
      text += ", PSNR not below its base's"
    if self.trade is None:
      return f"{text}; PSNR within {PSNR_MARGIN_DB:g} dB of the MSE family"
    return f"{text} (trades PSNR for {self.trade})"


def floor_of(objective, options):
  """The `Floor` of a model trained on `objective` with `options`, or None
  when no rule covers the objective."""
  options = options or {}
  if objective == "rd" or (objective == "eic_base" and
                           options.get("lmbda") is not None):
    return Floor(("psnr",))
  if objective == "eic_base":
    return Floor(("msssim",), "MS-SSIM")
  if objective == "eic_perceptual":
    return Floor(("niqe",), "realism (NIQE)", base_psnr=True)
  if objective == "dpc_rd":
    lpips = options.get("distance", "lpips") != "none"
    return Floor(("msssim",), "MS-SSIM and LPIPS" if lpips else "MS-SSIM")
  if objective in ("nlaic_rd", "nlaic_gan"):
    trades = [name for name, on in (
        ("DISTS", options.get("distance", "dists") != "none"),
        ("realism (GAN)", objective == "nlaic_gan")) if on]
    return Floor(("msssim", "psnr"), " and ".join(trades) or None)
  metric = objective[:-1]
  if objective.endswith("p") and metric in metrics.proxy_metrics():
    return Floor((metric,), metrics.get(metric).label)
  return None


def objective_of(metadata):
  """(objective, options) that a model records about itself: its metadata's
  `objective`, else its family's; None when neither is known."""
  recorded = metadata.get("objective")
  if recorded:
    return recorded["name"], recorded.get("options", {})
  family = families.of_model(metadata["name"])
  if family is not None:
    return family.objective, dict(family.options)
  return None


@dataclasses.dataclass
class Model:
  """A codec-form model of the model root and what it is judged by."""
  name: str
  path: str
  metadata: dict
  family: object  # a families.Family, or None for a system's demo
  objective: tuple  # objective_of(metadata)
  floor: Floor

  @property
  def curve(self):
    """Its curve label: its family (so families are RD curves), or it."""
    return self.family.name if self.family else self.name


def list_models(root=None, pattern="*"):
  """The codec-form models of `root` whose names match `pattern` (`Model`s,
  by name) and [(name, reason)] of the directories left out."""
  root = root or zoo.MODEL_ROOT
  models, skipped = [], []
  for name in sorted(os.listdir(root)):
    if name.startswith(".") or not fnmatch.fnmatch(name, pattern):
      continue
    try:
      path = zoo.resolve(name, root)
    except errors.ModelError as e:
      skipped.append((name, str(e)))
      continue
    if zoo.read_metadata(path).get("form") == "codec":
      models.append(_model(name, path))
    else:
      skipped.append((name, _serving_reason(name, root)))
  return models, skipped


def _model(name, path):
  metadata = zoo.read_metadata(path)
  objective = objective_of(metadata)
  return Model(name, path, metadata, families.of_model(name), objective,
               floor_of(*objective) if objective else None)


def _serving_reason(name, root):
  codec = name.removesuffix("-serving")
  return (f"the serving form of {codec} (same weights, no range coding): "
          "its codec form stands for it" if os.path.isdir(
              os.path.join(root, codec)) else
          "a serving form (no range coding, no real file size)")


def with_references(models, mse_family, root=None):
  """`models` and the models their floors compare with (`mse_family`'s and
  each tuned decoder's base), by name."""
  root = root or zoo.MODEL_ROOT
  by_name = {m.name: m for m in models}
  needed = [n for n in mse_family.model_names()
            if os.path.isdir(os.path.join(root, n))]
  needed += [m.metadata["base_model"].split("/")[0] for m in models
             if m.floor and m.floor.base_psnr and "base_model" in m.metadata]
  for name in needed:
    if name not in by_name:
      by_name[name] = _model(name, zoo.resolve(name, root))
  return sorted(by_name.values(), key=lambda m: m.name)


def _short(metric):
  return metrics.get(metric).label.split(" (")[0]


def _by_image(records):
  """{(setting, image): record}."""
  return {(r["setting"], r["image"]): r for r in records}


def jpeg_brackets(evaluation, jpeg, targets, workers):
  """Per image path, {target bpp: (low scale, high scale)} of JPEG (either
  None beyond its range), searched on rates alone."""

  def search(path):
    rates = {}

    def rate_of(scale):
      if scale not in rates:
        rates[scale] = evaluation.rate(jpeg, scale, path)
      return rates[scale]

    return path, {bpp: matched.bracket(rate_of, bpp, conventional.JPEG_SCALES)
                  for bpp in targets[path]}

  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return dict(tqdm(pool.map(search, targets), total=len(targets),
                     desc="JPEG scales", unit="image"))


def matched_values(record, brackets, jpeg_records, names):
  """JPEG's metrics at the rate of one learned record (interpolated), and
  where JPEG could not reach that rate: `MORE_BITS` (its lowest rate is
  above it), `FEWER_BITS` (its highest is below), else None."""
  low, high = brackets[record["bpp"]]
  points = [None if s is None else jpeg_records[(s, record["image"])]
            for s in (low, high)]
  values = {}
  for name in ("bpp", *names):
    ends = [None if p is None else
            (p["bpp"], p["bpp"] if name == "bpp" else p["metrics"][name])
            for p in points]
    values[name] = matched.interpolate(record["bpp"], *ends)
  return values, (MORE_BITS if low is None else
                  FEWER_BITS if high is None else None)


def _family_psnr(records, image, bpp):
  """(PSNR of the MSE family at `bpp` on `image`, whether `bpp` is outside
  its rates), interpolated linearly in bpp between its models."""
  points = sorted((r["bpp"], r["metrics"]["psnr"]) for r in records
                  if r["image"] == image)
  if not points:
    return None, True
  rates, values = zip(*points)
  return (float(np.interp(bpp, rates, values)),
          not rates[0] <= bpp <= rates[-1])


def _better(metric, value, other):
  return value > other if metrics.get(metric).higher_is_better else (
      value < other)


def row(model, records, jpeg_points, family_records, base_records, names):
  """The table's row of one model: its means, JPEG's at its rate, the
  checks of its floor and whether it meets them.

  Args:
    model: a `Model`.
    records: its per-image records.
    jpeg_points: per image, `matched_values` at its rate.
    family_records: the MSE family's records.
    base_records: its base's records, or None.
    names: the metrics of the records.
  """
  images = [r["image"] for r in records]
  mean = {name: float(np.mean([r["metrics"][name] for r in records]))
          for name in names}
  jpeg = {name: float(np.mean([jpeg_points[i][0][name] for i in images]))
          for name in ("bpp", *names)}
  family = [_family_psnr(family_records, r["image"], r["bpp"])
            for r in records]
  result = {
      "model": model.name,
      "family": model.family.name if model.family else None,
      "description": model.metadata.get("description"),
      "trained_steps": model.metadata.get("trained_steps"),
      "objective": (None if model.objective is None else
                    {"name": model.objective[0],
                     "options": model.objective[1]}),
      "images": len(records),
      "bpp": float(np.mean([r["bpp"] for r in records])),
      "metrics": mean, "jpeg": jpeg,
      "jpeg_clamped": {side: sum(jpeg_points[i][1] == side for i in images)
                       for side in (MORE_BITS, FEWER_BITS)},
      "mse_family_psnr": (None if None in [f[0] for f in family] else
                          float(np.mean([f[0] for f in family]))),
      "outside_mse_family": sum(f[1] for f in family),
      "floor": model.floor.describe() if model.floor else None,
      "checks": [], "meets": None}
  if model.floor is None:
    result["floor"] = ("no rule: no objective recorded" if
                       model.objective is None else
                       f"no rule for objective {model.objective[0]!r}")
    return result
  checks = result["checks"]
  for metric in model.floor.metrics:
    wins = sum(_better(metric, r["metrics"][metric],
                       jpeg_points[r["image"]][0][metric]) for r in records)
    sign = ">" if metrics.get(metric).higher_is_better else "<"
    met = _better(metric, mean[metric], jpeg[metric])
    # Against JPEG with more bits a loss decides nothing, nor a win against
    # JPEG with fewer.
    beyond = FEWER_BITS if met else MORE_BITS
    undecided = bool(result["jpeg_clamped"][beyond])
    checks.append({"check": f"{_short(metric)} {sign} JPEG", "metric": metric,
                   "value": mean[metric], "against": jpeg[metric],
                   "met": None if undecided else met,
                   "undecided_by": beyond if undecided else None,
                   "images_won": wins})
  if model.floor.base_psnr:
    base = (None if not base_records else
            float(np.mean([r["metrics"]["psnr"] for r in base_records])))
    checks.append({"check": "PSNR >= base", "metric": "psnr",
                   "value": mean["psnr"],
                   "against": base,
                   "met": base is not None and mean["psnr"] >= base})
  if model.floor.trade is None:
    against = result["mse_family_psnr"]
    checks.append({"check": f"PSNR >= MSE family - {PSNR_MARGIN_DB:g} dB",
                   "metric": "psnr", "value": mean["psnr"],
                   "against": against,
                   "met": (against is not None and
                           mean["psnr"] >= against - PSNR_MARGIN_DB)})
  states = [c["met"] for c in checks]
  result["meets"] = (False if False in states else
                     None if None in states else True)
  return result


def evaluate(config, command=None):
  """Runs the table's evaluation; writes the output folder (rd.json and its
  views, as `tfpc_eval`), the Markdown table and its JSON. Returns the
  table's data."""
  mse_family = families.get(config.mse_family or families.of_model(
      zoo.DEFAULT_MODEL).name)
  selected, skipped = list_models(pattern=config.models)
  if not selected:
    raise errors.ConfigError(f"no codec-form model matches {config.models!r}"
                             f" in {zoo.MODEL_ROOT}")
  models = with_references(selected, mse_family)
  machine = (f"{os.cpu_count()} CPUs, 1-minute load "
             f"{os.getloadavg()[0]:.1f} at the start")
  names = list(TABLE_METRICS) + sorted(
      {m for model in models if model.floor for m in model.floor.metrics} -
      set(TABLE_METRICS))
  curves = {}
  for model in models:
    curves.setdefault(model.curve, []).append(model.path)
  jpeg_label = conventional.CODECS[JPEG_CODEC].label
  evaluation = suite.Evaluation(suite.EvalConfig(
      images=config.images, output_dir=config.output_dir,
      models=";".join(f"{label}={'+'.join(paths)}"
                      for label, paths in curves.items()),
      codecs=JPEG_CODEC, anchor=jpeg_label, metrics=",".join(names),
      workers=config.workers))
  if config.limit:
    evaluation.images = evaluation.images[:config.limit]
  images = evaluation.read_images()
  learned = [c for c in evaluation.curves if c.kind == "learned"]
  records = evaluation.run([(c, s, p) for c in learned for s in c.settings
                            for p in images])
  jpeg = next(c for c in evaluation.curves if c.kind == JPEG_CODEC)
  paths = {os.path.basename(p): p for p in images}
  targets = {}
  for r in records:
    targets.setdefault(paths[r["image"]], set()).add(r["bpp"])
  brackets = jpeg_brackets(evaluation, jpeg, targets, config.workers)
  scales = sorted({(s, p) for p, found in brackets.items()
                   for pair in found.values() for s in pair if s is not None})
  jpeg.settings = sorted({s for s, _ in scales})
  jpeg_records = evaluation.run([(jpeg, s, p) for s, p in scales])
  suite.write_outputs(evaluation, records + jpeg_records, config.output_dir,
                      command)
  machine += f", {os.getloadavg()[0]:.1f} at the end"
  rows = _rows(models, records, _by_image(jpeg_records),
               {os.path.basename(p): found for p, found in brackets.items()},
               mse_family, names)
  table = {"command": command, "machine": machine,
           "images": [os.path.basename(p) for p in images],
           "mse_family": mse_family.name, "metrics": names,
           "rows": rows, "skipped": [{"model": n, "reason": r}
                                     for n, r in skipped],
           "families": _family_notes(rows),
           "failures": evaluation.failures,
           "run": evaluation.run_facts(command)}
  write_table(table, config.table)
  return table


def _rows(models, records, jpeg_records, brackets, mse_family, names):
  """The table's rows (`row`) of the models with records, by name.

  Args:
    models: the `Model`s.
    records: the learned models' records.
    jpeg_records: {(scale, image): record} of JPEG.
    brackets: per image, `jpeg_brackets` of its rates.
    mse_family: the family of the 1 dB rule.
    names: the metrics of the records.
  """
  by_model = {}
  for r in records:
    by_model.setdefault(r["setting"], []).append(r)
  family = [r for name in mse_family.model_names()
            for r in by_model.get(name, [])]
  rows = []
  for model in models:
    own = by_model.get(model.metadata["name"])
    if not own:
      continue  # every job failed: in failures.json
    points = {r["image"]: matched_values(r, brackets[r["image"]],
                                         jpeg_records, names) for r in own}
    base = model.metadata.get("base_model", "").split("/")[0]
    rows.append(row(model, own, points, family, by_model.get(base), names))
  return rows


def _family_notes(rows):
  """What the table's reader should know of the families table: the ones
  not shipped, and shipped ones with rates not exported."""
  present = {r["model"] for r in rows}
  notes = []
  for family in families.FAMILIES.values():
    missing = [n for n in family.model_names() if n not in present]
    if not family.shipped:
      notes.append({"family": family.name, "note": "not shipped "
                    "(recipe kept)"})
    elif missing and len(missing) < len(family.model_names()):
      notes.append({"family": family.name,
                    "note": f"not in this table: {', '.join(missing)}"})
  return notes


def markdown(table):
  """The table as Markdown: one row per model, then the notes."""
  names = table["metrics"]
  heads = [_short(m) for m in names]
  run = table.get("run", {})
  met = sum(bool(r["meets"]) for r in table["rows"])
  lines = [
      "# Every shipped model against JPEG at its own rate", "",
      f"Made by `{table.get('command')}`: {len(table['images'])} images "
      f"({', '.join(table['images'])}); finished {run.get('finished')}, "
      f"{run.get('wall_s', 0):.0f} s wall, jobs {run.get('jobs')}, "
      f"{table.get('machine')}. {met} of {len(table['rows'])} models meet "
      "their floor.", "",
      "Each model at its own rate, mean over the images. JPEG: ffmpeg's "
      "JPEG 4:2:0, on each image at the model's bpp on it (every scale "
      "searched on rate, metrics interpolated in bpp between the two that "
      "bracket it). ΔPSNR: the model's PSNR against the MSE family "
      f"`{table['mse_family']}` at the same rate. The floor follows from the "
      "objective the model records (`tfpc/evaluation/floors.py`).", "",
      "| model | bpp | " + " | ".join(heads) + " | JPEG " +
      " | JPEG ".join(heads) + " | ΔPSNR | floor | meets |",
      "|---|---:|" + "---:|" * (2 * len(names) + 1) + "---|---|"]
  for r in table["rows"]:
    delta = ("n/a" if r["mse_family_psnr"] is None else
             f"{r['metrics']['psnr'] - r['mse_family_psnr']:+.2f}" +
             ("†" if r["outside_mse_family"] else ""))
    clamped = "".join(mark for side, mark in ((MORE_BITS, "↑"),
                                              (FEWER_BITS, "↓"))
                      if r["jpeg_clamped"][side])
    lines.append(
        f"| {r['model']} | {r['bpp']:.3f} | " +
        " | ".join(_format(m, r["metrics"][m]) for m in names) + " | " +
        " | ".join(_format(m, r["jpeg"][m]) + clamped for m in names) +
        f" | {delta} | {r['floor']} | {_verdict(r)} |")
  lines += ["", "†: the model's rate is outside the MSE family's on some "
            "images (the family's nearest model stands in).",
            "↑ (↓): on some images JPEG cannot code at a rate as low (high) "
            "as the model's; its lowest (highest) rate point stands in, with "
            "more (fewer) bits. A loss against more bits, or a win against "
            "fewer, decides nothing: the check is undecided.", ""]
  lines += [f"- `{n['family']}`: {n['note']}" for n in table["families"]]
  lines += [f"- `{s['model']}` left out: {s['reason']}"
            for s in table["skipped"]]
  return "\n".join(lines) + "\n"


def _format(metric, value):
  return f"{value:.4f}" if metric in ("msssim", "ssim") else f"{value:.2f}"


def _verdict(row_data):
  """yes, no or undecided, with the checks that were not met."""
  if row_data["meets"]:
    return "yes"
  if not row_data["checks"]:
    return "?"
  shown = []
  for check in row_data["checks"]:
    if not check["met"]:
      against = ("n/a" if check["against"] is None else
                 _format(check["metric"], check["against"]))
      beyond = (f" with {check['undecided_by']}"
                if check.get("undecided_by") else "")
      shown.append(f"needs {check['check']}, has "
                   f"{_format(check['metric'], check['value'])} vs "
                   f"{against}{beyond}")
  verdict = "**no**" if row_data["meets"] is False else "undecided"
  return f"{verdict}: " + "; ".join(shown)


def write_table(table, path):
  """The Markdown table at `path` and its data at `path` with .json."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.write(markdown(table))
  with open(os.path.splitext(path)[0] + ".json", "w") as f:
    json.dump(report.json_safe(table), f, indent=1, allow_nan=False)
