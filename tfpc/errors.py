"""Exceptions raised by tfpc. Every one carries a one-line, user-facing reason."""

import os
import sys

USAGE_ERROR = 2  # the exit status of a tfpc program refusing its input
STOPPED = 75  # tfpc_train stopped by a signal, resumable (EX_TEMPFAIL)


def error_line(message):
  """The one line a tfpc program prints on an error: "PROGRAM: error: ..."."""
  return f"{os.path.basename(sys.argv[0])}: error: {message}"


class TfpcError(Exception):
  """Base class of all tfpc errors."""


class ImageReadError(TfpcError):
  """An input image is missing, unreadable or of a kind tfpc refuses."""


class ConfigError(TfpcError):
  """Settings that cannot work, alone or together."""


class ModelError(TfpcError):
  """A model directory is missing, incomplete or inconsistent."""


class BitstreamError(TfpcError):
  """A `.tfpc` file cannot be decoded."""


class EmptyFileError(BitstreamError):
  """The file holds no bytes."""


class NotATfpcFileError(BitstreamError):
  """The file does not start with the `.tfpc` magic bytes."""


class UnsupportedVersionError(BitstreamError):
  """The file was written by a newer format version than this reader knows."""


class TruncatedFileError(BitstreamError):
  """The file ends before its header says it should."""


class CorruptedFileError(BitstreamError):
  """The checksum or a header field does not hold."""


class ImageTooLargeError(BitstreamError):
  """The header claims an image larger than the configured limit."""


class DecodeTooCostlyError(BitstreamError):
  """Decoding the file would take more memory or time than the budget."""


class WrongModelError(BitstreamError):
  """The file was written by another model than the one asked to decode it."""


class WeightsError(TfpcError):
  """A network's weights are missing, or a weight file cannot be used."""


class UnsafeFileError(WeightsError):
  """A weight file's pickle asks for something outside the allow-list."""
