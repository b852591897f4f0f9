"""Plumbing shared by the absl binaries in bin/.

Import this before TensorFlow: it quiets TF's C++ logging. `run(main)` parses
flags and runs `main`; any tfpc error, bad flag or unreadable file ends the
program with exit status 2 and one line on stderr, never a traceback (set
TFPC_DEBUG=1 to see one), and so does running out of memory
(`MemoryError`, TF's `ResourceExhaustedError`). Unexpected errors exit 1, also
in one line.
"""

import dataclasses
import logging as std_logging
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
from ml_collections import config_flags

import tensorflow as tf  # pylint: disable=g-import-not-at-top

from tfpc import errors
from tfpc import image as image_lib

USAGE_ERROR = errors.USAGE_ERROR


def _program():
  return os.path.basename(sys.argv[0])


def fail(message, status=USAGE_ERROR):
  print(errors.error_line(message), file=sys.stderr)
  sys.exit(status)


def _show_warning(message, category, *args, **kwargs):
  del args, kwargs
  if issubclass(category, image_lib.ImageConversionWarning):
    print(f"{_program()}: warning: {message}", file=sys.stderr)


def last_line(error):
  """The last non-empty line of an error's message: the reason, when the
  message embeds a traceback (ml_collections' config-file errors do)."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return lines[-1] if lines else type(error).__name__


def _flag_error(error):
  """Ends the program with an absl flag error's one line."""
  first = str(error).splitlines()[0].strip()
  if "Traceback (most recent call last)" in str(error):
    first = f"{first} {last_line(error)}"  # a config file's own error
  fail(first)


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _flag_error(e)
  except Exception as e:  # pylint: disable=broad-except
    # a config file (--config) is run while flags are parsed
    if os.environ.get("TFPC_DEBUG"):
      raise
    reason = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    if isinstance(e, OSError):  # a config file that is not there
      reason = f"cannot load a config file: {last_line(e)}"
    if isinstance(e, (AttributeError, KeyError)):
      # ml_collections: AttributeError(KeyError("'name'\nDid you mean ...?"))
      while e.args and isinstance(e.args[0], Exception):
        e = e.args[0]
      lines = str(e.args[0] if e.args else e).splitlines()
      reason = "; ".join([f"no such config field {lines[0]}", *lines[1:]])
    fail(reason)


class _KnownWarnings(std_logging.Filter):
  """Drops tfc's warning that a mean-scale model computes its quantization
  offsets inside a tf.function: it does so by design (the offsets follow the
  predicted means), once per trace."""

  def filter(self, record):
    return "offset heuristic within a tf.function" not in record.getMessage()


def run(main, positional=False):
  """Runs an absl `main(argv)` with tfpc's error handling; arguments other
  than flags are refused unless `positional`."""

  def guarded_main(argv):
    if len(argv) > 1 and not positional:
      fail(f"unexpected argument {argv[1]!r} (flags are --name=value)")
    logging.get_absl_logger().addFilter(_KnownWarnings())
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.ERROR)
    warnings.showwarning = _show_warning
    try:
      main(argv)
    except errors.TfpcError as e:
      if os.environ.get("TFPC_DEBUG"):
        raise
      fail(e)
    except KeyboardInterrupt:
      fail("interrupted", 130)
    except (MemoryError, tf.errors.ResourceExhaustedError) as e:
      if os.environ.get("TFPC_DEBUG"):
        raise
      reason = str(e).strip().splitlines()[:1] or [type(e).__name__]
      fail(f"out of memory ({reason[0][:200]}); try a smaller image or a "
           "machine with more memory")
    except Exception as e:  # pylint: disable=broad-except
      if os.environ.get("TFPC_DEBUG"):
        raise
      fail(f"internal error: {type(e).__name__}: {e} (TFPC_DEBUG=1 shows "
           "the traceback)", 1)

  app.run(guarded_main, flags_parser=_parse_flags)


def define_config_file(name, help_string):
  """ml_collections' config-file flag `name`. Defining it reads the command
  line's --flagfile files, so one that cannot be read ends here, in one line."""
  try:
    holder = config_flags.DEFINE_config_file(name, None, help_string)
  except flags.Error as e:
    _flag_error(e)
  flags.FLAGS.register_key_flag_for_module(sys.argv[0],
                                           flags.FLAGS[holder.name])


_DEFINE = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
           float: flags.DEFINE_float, bool: flags.DEFINE_bool}


def define_flags(config_class, flag_values=flags.FLAGS):
  """Defines one flag per field of a config dataclass (help from metadata)."""
  for field in dataclasses.fields(config_class):
    # the program's own flags, so that --help lists them
    _DEFINE[field.type](field.name, field.default, field.metadata["help"],
                        flag_values=flag_values, module_name=sys.argv[0])


def config_from_flags(config_class, flag_values=flags.FLAGS):
  """The config dataclass filled from the parsed flags."""
  return config_class(**{field.name: flag_values[field.name].value
                         for field in dataclasses.fields(config_class)})
