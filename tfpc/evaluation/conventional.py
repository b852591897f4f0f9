"""Conventional image codecs through the ffmpeg that imageio-ffmpeg ships.

Every codec codes one RGB image at one setting: raw `rgb24` frames go to
ffmpeg on a pipe, ffmpeg's swscale converts them to the codec's pixel format
(BT.601, limited range for the YUV formats; that conversion's loss is part of
the codec's error, as for any user of these encoders), the encoded file is
written, then decoded back to `rgb24`. The rate is the size of that file:

  jpeg444, jpeg420  whole JFIF file (markers, quantization and Huffman tables)
  jpeg2000          raw J2K codestream (no JP2 boxes), OpenJPEG, 9/7 wavelet
  hevc444, hevc420  raw Annex-B stream (VPS/SPS/PPS), x265 intra, no SEI
  vvc               raw Annex-B stream (parameter sets), vvenc, 10-bit 4:2:0
  av1               raw OBU stream (sequence header), libaom still picture 4:4:4
  jpegxl            naked JPEG XL codestream, libjxl
  webp              RIFF container (about 20 bytes), libwebp, 4:2:0

Encode and decode times are wall times of the ffmpeg processes, so they
include process start-up (`process_overhead` measures it).
"""

import dataclasses
import os
import subprocess
import tempfile
import time

import numpy as np

from tfpc import errors
from tfpc.metrics.libvmaf import ffmpeg_components
from tfpc.metrics.libvmaf import ffmpeg_path


class CodecError(errors.TfpcError):
  """An encoder or decoder failed on one image (ffmpeg's stderr, trimmed)."""


@dataclasses.dataclass(frozen=True)
class Codec:
  """A conventional codec: its ffmpeg arguments for one setting.

  `settings` run from the lowest to the highest rate; `arguments` maps a
  setting to the encoder options; `muxer` and `suffix` name the output.
  """
  name: str
  label: str
  settings: tuple
  arguments: object
  muxer: str
  suffix: str

  @property
  def encoder(self):
    """The ffmpeg encoder the codec runs."""
    arguments = self.arguments(self.settings[0])
    return arguments[arguments.index("-c:v") + 1]


def _x265(pix_fmt):
  return lambda qp: ["-c:v", "libx265", "-preset", "medium", "-x265-params",
                     "keyint=1:info=0:log-level=error", "-qp", str(qp),
                     "-pix_fmt", pix_fmt]


def _jpeg(pix_fmt):
  # ffmpeg caps -q:v at -qmax, 31 unless raised: the larger scales of
  # `JPEG_SCALES` reach the lower rates that Pillow's low qualities reach.
  return lambda q: ["-c:v", "mjpeg", "-q:v", str(q),
                    *(["-qmax", str(q)] if q > 31 else []), "-pix_fmt",
                    pix_fmt]


# Every -q:v of ffmpeg's JPEG, lowest rate first (beyond about 150 every
# quantizer saturates at 255 and the rate stops falling), for searches to a
# rate (`matched.bracket`).
JPEG_SCALES = tuple(range(255, 1, -1))


CODECS = {c.name: c for c in (
    Codec("jpeg444", "JPEG 4:4:4", (31, 24, 18, 13, 9, 6, 4, 3, 2),
          _jpeg("yuvj444p"), "image2", "jpg"),
    Codec("jpeg420", "JPEG 4:2:0", (31, 24, 18, 13, 9, 6, 4, 3, 2),
          _jpeg("yuvj420p"), "image2", "jpg"),
    # Setting: OpenJPEG's compression ratio (rate falls as it grows).
    Codec("jpeg2000", "JPEG2000", (240, 160, 96, 64, 40, 24, 16, 10, 6),
          lambda ratio: ["-c:v", "libopenjpeg", "-format", "j2k",
                         "-irreversible", "1", "-compression_level",
                         str(ratio)], "image2", "j2k"),
    Codec("hevc444", "HEVC 4:4:4 (x265)", (51, 47, 43, 39, 35, 31, 27, 23, 19),
          _x265("yuv444p"), "hevc", "hevc"),
    Codec("hevc420", "HEVC 4:2:0 (x265)", (51, 47, 43, 39, 35, 31, 27, 23, 19),
          _x265("yuv420p"), "hevc", "hevc"),
    Codec("vvc", "VVC (vvenc)", (55, 50, 45, 41, 37, 33, 29, 25, 21),
          lambda qp: ["-c:v", "libvvenc", "-preset", "faster", "-qp",
                      str(qp)], "vvc", "266"),
    Codec("av1", "AV1 (libaom)", (63, 56, 49, 42, 35, 28, 21, 14, 8),
          lambda crf: ["-c:v", "libaom-av1", "-still-picture", "1",
                       "-cpu-used", "6", "-crf", str(crf), "-b:v", "0",
                       "-pix_fmt", "yuv444p"], "obu", "obu"),
    Codec("jpegxl", "JPEG XL", (15, 10, 7, 5, 3.5, 2.5, 1.7, 1.2, 0.8),
          lambda d: ["-c:v", "libjxl", "-distance", str(d)], "image2", "jxl"),
    Codec("webp", "WebP", (0, 5, 15, 30, 50, 70, 85, 95),
          lambda q: ["-c:v", "libwebp", "-quality", str(q)], "webp", "webp"),
)}


def check_encoders(codecs):
  """Raises `CodecError` unless ffmpeg has the encoders of `codecs`."""
  missing = [c for c in codecs if c.encoder not in ffmpeg_components(
      "encoders")]
  if missing:
    raise CodecError(
        f"the ffmpeg at {ffmpeg_path()} has no encoder "
        f"{', '.join(f'{c.encoder} (for {c.name})' for c in missing)}; set "
        "$TFPC_FFMPEG to an ffmpeg built with it, or leave the codec out of "
        "--codecs")


def _ffmpeg(arguments, stdin=None):
  """Runs ffmpeg; returns (stdout bytes, seconds); CodecError on failure."""
  command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error",
             "-y", *arguments]
  start = time.perf_counter()
  try:
    result = subprocess.run(command, input=stdin, capture_output=True,
                            timeout=600, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise CodecError(f"ffmpeg could not run ({e})") from None
  seconds = time.perf_counter() - start
  if result.returncode:
    reason = result.stderr.decode(errors="replace").strip()[-300:]
    raise CodecError(f"ffmpeg failed (exit {result.returncode}): {reason}")
  return result.stdout, seconds


def _raw_input(height, width):
  return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
          "-i", "-"]


def code(codec, setting, pixels):
  """Encodes and decodes uint8 RGB [H, W, 3] at one setting.

  Returns dict(num_bytes, decoded (uint8 [H, W, 3]), encode_s, decode_s).
  """
  height, width = pixels.shape[:2]
  with tempfile.TemporaryDirectory(prefix="tfpc-eval-") as tmp:
    path = os.path.join(tmp, f"coded.{codec.suffix}")
    _, encode_s = _ffmpeg(
        [*_raw_input(height, width), *codec.arguments(setting), "-frames:v",
         "1", "-f", codec.muxer, path], stdin=pixels.tobytes())
    num_bytes = os.path.getsize(path)
    raw, decode_s = _ffmpeg(["-i", path, "-frames:v", "1", "-f", "rawvideo",
                             "-pix_fmt", "rgb24", "-"])
  if len(raw) != height * width * 3:
    raise CodecError(f"{codec.name} decoded {len(raw)} bytes, expected "
                     f"{height * width * 3}")
  decoded = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
  return {"num_bytes": num_bytes, "decoded": decoded, "encode_s": encode_s,
          "decode_s": decode_s}


def process_overhead(pixels):
  """Seconds of one ffmpeg run that copies the image: start-up and pipes."""
  height, width = pixels.shape[:2]
  _, seconds = _ffmpeg([*_raw_input(height, width), "-f", "rawvideo", "-"],
                       stdin=pixels.tobytes())
  return seconds
