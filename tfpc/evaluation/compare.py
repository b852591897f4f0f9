"""A learned codec next to JPEG at the same rate, on one image."""

from tfpc import coding
from tfpc import metrics
from tfpc.evaluation import jpeg


def rate_and_quality(reference, reconstruction, num_bytes):
  """bpp from a real byte count, PSNR and MS-SSIM of one image."""
  height, width = reference.shape[:2]
  return {"bpp": 8.0 * num_bytes / (height * width),
          "psnr": float(metrics.compute("psnr", reference, reconstruction)),
          "msssim": float(metrics.compute("msssim", reference, reconstruction))}


def learned_vs_jpeg(model, pixels, subsampling="4:2:0"):
  """Codes `pixels` with `model` and with JPEG at the closest rate."""
  data = coding.encode(model, pixels)
  learned = rate_and_quality(pixels, coding.decode(data, model).pixels,
                             len(data))
  quality, jpeg_data, jpeg_pixels = jpeg.at_bpp(pixels, learned["bpp"],
                                                subsampling)
  baseline = rate_and_quality(pixels, jpeg_pixels, len(jpeg_data))
  baseline["quality"] = quality
  return {"learned": learned, "jpeg": baseline}
