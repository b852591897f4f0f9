"""Learned codecs next to JPEG at the same rate, on one image."""

from tfpc import coding
from tfpc import metrics
from tfpc.evaluation import jpeg


METRICS = ("psnr", "msssim", "vmaf")


def rate_and_quality(reference, reconstruction, num_bytes):
  """bpp from a real byte count, and the `METRICS` of one image."""
  height, width = reference.shape[:2]
  return {"bpp": 8.0 * num_bytes / (height * width),
          **{name: float(metrics.compute(name, reference, reconstruction))
             for name in METRICS}}


def learned_vs_jpeg(models, pixels, subsampling="4:2:0"):
  """Codes `pixels` with each model, and with JPEG at the first one's rate.

  Returns {"learned": [results, one per model], "jpeg": result}.
  """
  learned = []
  for model in models:
    data = coding.encode(model, pixels)
    learned.append(rate_and_quality(
        pixels, coding.decode(data, model).pixels, len(data)))
  quality, jpeg_data, jpeg_pixels = jpeg.at_bpp(pixels, learned[0]["bpp"],
                                                subsampling)
  baseline = rate_and_quality(pixels, jpeg_pixels, len(jpeg_data))
  baseline["quality"] = quality
  return {"learned": learned, "jpeg": baseline}
