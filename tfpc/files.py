"""Outputs written atomically: a reader sees the old file or the whole new
one, and a failed or interrupted write leaves nothing behind."""

import contextlib
import os
import threading


@contextlib.contextmanager
def replacing(path):
  """Yields a hidden temporary path next to `path`, with its suffix (image
  writers pick the format from it); it replaces `path` when the block ends,
  and is removed if the block raises."""
  folder, name = os.path.split(path)
  temporary = os.path.join(folder, f".{name}.{os.getpid()}-"
                           f"{threading.get_ident()}.tmp"
                           f"{os.path.splitext(name)[1]}")
  try:
    yield temporary
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)
