"""Settings dataclasses: each field carries its help text, so `cli` can turn
a dataclass into absl flags (`cli.define_flags`) and back."""

import dataclasses


def setting(default, help_text):
  """A dataclass field with a default and the help text of its flag."""
  return dataclasses.field(default=default, metadata={"help": help_text})
