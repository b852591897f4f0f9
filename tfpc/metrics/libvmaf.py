"""True VMAF from libvmaf, through the ffmpeg that the imageio-ffmpeg wheel ships.

Colour: RGB frames go to ffmpeg as raw `rgb24`; ffmpeg's swscale converts them
to YUV with the chosen matrix (`bt601` by default, or `bt709`), range (`tv`,
i.e. limited 16-235, by default, as VMAF's training videos; or `pc`) and
chroma layout (`444` by default, as the ProxIQA paper coded its images; or
`420`), with accurate rounding. Both images of a pair go through the same
conversion. VMAF's features (VIF, ADM, motion) read the luma plane only, so
the chroma layout does not change scores (tested); the matrix and range do.

Stills: each image is scored as a still picture. libvmaf's temporal motion
feature is forced to zero, so an image's score in a batch equals its score
alone, whatever else is in the batch.

Raw frames travel through files in a private temporary folder that is removed
afterwards, also on failure.
"""

import functools
import json
import os
import subprocess
import tempfile

import numpy as np

from tfpc import errors

MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg")
MIN_SIDE = 17  # measured: libvmaf crashes (SIGSEGV) on frames with a side <= 16


class VmafError(errors.TfpcError):
  """libvmaf could not score the images (reason and ffmpeg's stderr)."""


def ffmpeg_path():
  """The ffmpeg binary: $TFPC_FFMPEG, else the one imageio-ffmpeg ships."""
  path = os.environ.get("TFPC_FFMPEG")
  if path is None:
    try:
      import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
      path = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
      raise VmafError(f"no ffmpeg with libvmaf available ({e})") from None
  if not os.access(path, os.X_OK):
    raise VmafError(f"ffmpeg not found or not executable at {path}")
  return path


@functools.lru_cache(maxsize=None)
def ffmpeg_components(kind):
  """Names ffmpeg lists with -`kind` ("filters", "encoders"), as a set."""
  try:
    result = subprocess.run([ffmpeg_path(), "-hide_banner", f"-{kind}"],
                            capture_output=True, text=True, timeout=60,
                            check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise VmafError(f"ffmpeg could not run ({e})") from None
  return frozenset(line.split()[1] for line in result.stdout.splitlines()
                   if len(line.split()) > 1)


def check_available():
  """Raises `VmafError` unless ffmpeg has the libvmaf filter."""
  if "libvmaf" not in ffmpeg_components("filters"):
    raise VmafError(f"the ffmpeg at {ffmpeg_path()} has no libvmaf filter; "
                    "set $TFPC_FFMPEG to one built with --enable-libvmaf")


def _check(reference, distorted):
  reference, distorted = np.asarray(reference), np.asarray(distorted)
  if reference.shape != distorted.shape:
    raise ValueError(f"shape mismatch: {reference.shape} vs {distorted.shape}")
  if reference.dtype != np.uint8 or distorted.dtype != np.uint8:
    raise ValueError(f"expected uint8 images, got {reference.dtype} and "
                     f"{distorted.dtype}")
  single = reference.ndim == 3
  if single:
    reference, distorted = reference[None], distorted[None]
  if reference.ndim != 4 or reference.shape[-1] != 3 or not len(reference):
    raise ValueError(f"expected [N, H, W, 3] images, got {reference.shape}")
  if min(reference.shape[1:3]) < MIN_SIDE:
    raise ValueError(f"VMAF needs images of at least {MIN_SIDE}x{MIN_SIDE} "
                     f"pixels, got {reference.shape[2]}x{reference.shape[1]}")
  return reference, distorted, single


def _filter_graph(model, matrix, color_range, chroma, threads, log_path):
  convert = (f"scale=out_color_matrix={matrix}:out_range={color_range}:"
             f"flags=accurate_rnd+full_chroma_int,format=yuv{chroma}p")
  # Quoting matters: the model string holds a ':' that the filter-graph parser
  # must not take as an option separator, hence single quotes and '\:'.
  model_option = f"'version={model}\\:motion.motion_force_zero=true'"
  return (f"[0:v]{convert}[dis];[1:v]{convert}[ref];"
          f"[dis][ref]libvmaf=model={model_option}:n_threads={threads}:"
          f"log_fmt=json:log_path={log_path}")


def vmaf(reference, distorted, model="vmaf_v0.6.1", matrix="bt601",
         color_range="tv", chroma="444", threads=1, features=False,
         ffmpeg_threads=1):
  """VMAF of `distorted` against `reference`, one score per image.

  Args:
    reference, distorted: uint8 RGB, [H, W, 3] or [N, H, W, 3], same shape,
      sides of at least MIN_SIDE pixels.
    model: "vmaf_v0.6.1" or "vmaf_v0.6.1neg" (libvmaf built-in models).
    matrix, color_range, chroma: the RGB to YUV conversion (module docstring).
    threads: libvmaf worker threads (1 is fastest for training-sized inputs
      on 2 cores; see docs/results.md).
    features: also return libvmaf's elementary features per image.
    ffmpeg_threads: threads of ffmpeg's filter graph (the YUV conversion),
      or None for ffmpeg's default (one per core). 1 saves starting a
      thread pool, 10-30% of a call on training batches (docs/speed.md);
      scores do not depend on it.

  Returns:
    float64 scores [N] (a float for one image); with `features`, a tuple
    (scores, list of per-image dicts of feature values).
  """
  if model not in MODELS:
    raise ValueError(f"unknown VMAF model {model!r}; known: {MODELS}")
  reference, distorted, single = _check(reference, distorted)
  count, height, width, _ = reference.shape
  with tempfile.TemporaryDirectory(prefix="tfpc-vmaf-") as tmp:
    paths = {}
    for name, frames in (("dis", distorted), ("ref", reference)):
      paths[name] = os.path.join(tmp, f"{name}.rgb")
      frames.tofile(paths[name])
    log_path = os.path.join(tmp, "log.json")
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
    pools = ([] if ffmpeg_threads is None else
             ["-filter_complex_threads", str(ffmpeg_threads)])
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel",
               "error", *pools, *raw, "-i", paths["dis"], *raw, "-i",
               paths["ref"],
               "-lavfi", _filter_graph(model, matrix, color_range, chroma,
                                       threads, log_path), "-f", "null", "-"]
    try:
      result = subprocess.run(command, capture_output=True, text=True,
                              timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
      raise VmafError(f"ffmpeg could not run ({e})") from None
    if result.returncode < 0:
      raise VmafError(f"ffmpeg/libvmaf crashed (signal {-result.returncode})")
    if result.returncode != 0 or not os.path.exists(log_path):
      stderr = " | ".join(result.stderr.strip().splitlines()[-3:])[-400:]
      raise VmafError(f"ffmpeg/libvmaf failed (exit {result.returncode}): "
                      f"{stderr}")
    with open(log_path) as f:
      frames = json.load(f)["frames"]
  if len(frames) != count:
    raise VmafError(f"libvmaf scored {len(frames)} frames, expected {count}")
  scores = np.array([frame["metrics"]["vmaf"] for frame in frames],
                    np.float64)
  if single:
    scores = scores[0]
  if features:
    return scores, [dict(frame["metrics"]) for frame in frames]
  return scores


def vmaf_tf(reference, distorted, **options):
  """VMAF as a TF op for tf.function training steps: float [N, H, W, 3] in
  [0, 255] (rounded and clipped to uint8, as codec outputs are) in, float32
  scores [N] out. Runs ffmpeg on the host CPU through `tf.py_function`; it has
  no gradient (the result is wrapped in `tf.stop_gradient`).

  A failed call is retried once; if it fails again the error is logged and
  the scores are NaN, so that a training step's non-finite guard skips and
  reports that update instead of the run crashing or training on garbage.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top

  def to_uint8(x):
    return tf.saturate_cast(tf.round(tf.stop_gradient(x)), tf.uint8)

  def score(ref, dis):
    for attempt in (1, 2):
      try:
        return np.asarray(vmaf(ref.numpy(), dis.numpy(), **options),
                          np.float32).reshape(-1)
      except VmafError as e:
        logging.log(logging.WARNING if attempt == 1 else logging.ERROR,
                    "VMAF attempt %d of 2 failed: %s", attempt, e)
    return np.full(ref.shape[0], np.nan, np.float32)

  scores = tf.py_function(score, [to_uint8(reference), to_uint8(distorted)],
                          tf.float32)
  scores.set_shape(reference.shape[:1])
  return tf.stop_gradient(scores)
