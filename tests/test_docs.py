"""Every command README.md, docs/*.md and the recipe headers show still works.

Each `tfpc_*` command is checked against its binary: the program exists, every
flag it names is defined, and a command without placeholders parses (values,
enums and flagfiles included). Training and proxy pre-training commands also
run, at toy size (a few steps of small patches), so a documented command
cannot silently break.
"""

import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import BIN, REPO

SOURCES = (["README.md"] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
           + sorted(glob.glob(os.path.join(REPO, "configs", "*.flags")))
           + sorted(glob.glob(os.path.join(REPO, "configs", "*.py"))))
COMMAND = re.compile(r"^(?:\.venv/bin/)?(tfpc_[a-z_]+)(?:\s+(.*))?$")
PLACEHOLDER = re.compile(r"[<>{}|]|\.\.\.|DIR_OR_GLOB|=[A-Z]\b")
TOY = {"tfpc_train": ["--images=skimage", "--total_steps=2", "--log_every=1",
                      "--checkpoint_every=1", "--batch_size=2",
                      "--patch_size=64", "--crop_size=64"],
       "tfpc_pretrain_proxy": ["--images=skimage", "--num_patches=24",
                               "--epochs=1", "--batch_size=8",
                               "--patch_size=32"]}
# Flags whose documented value names an output folder or a model that only
# exists where the documented run happened: replaced in toy runs.
TOY_OUTPUT = {"tfpc_train": "--train_dir", "tfpc_pretrain_proxy": "--output_dir"}


def _snippets(path):
  """(is_block, text) of a markdown file's code blocks and inline code spans,
  or of a recipe's comment header, with line continuations joined."""
  with open(os.path.join(REPO, path)) as f:
    text = f.read()
  if path.endswith(".py"):
    import ast  # pylint: disable=g-import-not-at-top
    return [(True, ast.get_docstring(ast.parse(text)).replace("\\\n", " "))]
  if path.endswith(".flags"):
    header = "\n".join(line[1:].strip() for line in text.splitlines()
                       if line.startswith("#"))
    return [(True, header.replace("\\\n", " "))]
  blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
  text = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
  return [(True, b.replace("\\\n", " ")) for b in blocks] + [
      (False, " ".join(s.split())) for s in re.findall(r"`([^`]+)`", text)]


def documented_commands():
  """(source, program, flags, concrete) of every documented tfpc command.

  A command is a code-block line, or an inline span with arguments, that
  starts with a tfpc program; synopsis brackets are dropped, and a command
  with placeholders is not `concrete` (only its flag names are checked)."""
  found = []
  for source in SOURCES:
    for is_block, snippet in _snippets(source):
      for line in snippet.splitlines():
        match = COMMAND.match(line.split(" #")[0].strip())
        if not match or not (is_block or match.group(2)):
          continue
        program, args = match.group(1), match.group(2) or ""
        try:
          argv = shlex.split(re.sub(r"[\[\]]", " ", args))
        except ValueError:  # an unbalanced quote in a synopsis
          argv = args.split()
        argv = [a for a in argv if a.startswith("--")]
        concrete = not PLACEHOLDER.search(args) and not any(
            PLACEHOLDER.search(a.split("=", 1)[-1]) for a in argv)
        found.append((os.path.relpath(source, REPO), program, argv,
                      concrete))
  return found


_CHECKER = r"""
import json, runpy, sys
from absl import flags
program, commands = sys.argv[1], json.loads(sys.argv[2])
runpy.run_path(program, run_name="tfpc_docs_check")
names = set(flags.FLAGS)
problems = []
for argv, concrete in commands:
  special = {"flagfile", "help", "helpfull"}
  # --config.FIELD overrides exist once --config has loaded its file
  undefined = sorted({a[2:].split("=")[0] for a in argv
                      if not a.startswith("--config.")} - names -
                     {"no" + n for n in names} - special)
  if undefined:
    problems.append(f"{argv}: undefined flags {undefined}")
  elif concrete and argv:
    # --config.FIELD overrides: checked against the loaded config file
    overrides = [a[9:].split("=")[0] for a in argv
                 if a.startswith("--config.")]
    try:
      flags.FLAGS(["prog"] + [a for a in argv if a[2:] not in special and
                              not a.startswith("--config.")])
      for field in overrides:
        value = flags.FLAGS.config
        for part in field.split("."):
          value = value[part]
    except flags.IllegalFlagValueError as e:
      if "must have a value other than None" not in str(e):
        problems.append(f"{argv}: {e}")  # a partial command may omit some
    except flags.Error as e:
      problems.append(f"{argv}: {e}")
    except KeyError as e:
      problems.append(f"{argv}: no config field {e}")
    flags.FLAGS.unparse_flags()
print(json.dumps(problems))
"""


def test_documents_show_commands_of_every_binary():
  programs = {program for _, program, _, _ in documented_commands()}
  assert {"tfpc_train", "tfpc_eval", "tfpc_export", "tfpc_compress",
          "tfpc_decompress", "tfpc_pretrain_proxy"} <= programs


def test_every_documented_command_names_real_flags():
  by_program = {}
  for source, program, argv, concrete in documented_commands():
    by_program.setdefault(program, []).append((source, argv, concrete))
  problems = []
  for program, commands in sorted(by_program.items()):
    path = os.path.join(REPO, "bin", program)
    if not os.path.exists(path):
      problems.append(f"{commands[0][0]}: no program {program}")
      continue
    result = subprocess.run(
        [sys.executable, "-c", _CHECKER, path,
         json.dumps([[argv, concrete] for _, argv, concrete in commands])],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    problems += [f"{program} ({commands[0][0]}...): {p}"
                 for p in json.loads(result.stdout.splitlines()[-1])]
  assert not problems, "\n".join(problems)


def _without_proxies(recipe):
  """A recipe argument without its pre-trained proxies (`proxies=DIR`, made
  where the documented run happened): toy runs train fresh ones, as they
  write to their own output folder."""
  return re.sub(r",proxies=[^,]*", "", recipe)


def _toy_runs():
  """The concrete training commands; a staged recipe once per recipe
  argument: its toy run sets every stage's steps, so the documented variants
  of one recipe differ only in overrides, which the flag test checks."""
  runs, recipes = [], set()
  for source, program, argv, concrete in documented_commands():
    if program in TOY and concrete and argv and argv != ["--helpfull"]:
      recipe = next((_without_proxies(a) for a in argv
                     if a.startswith("--config=")), None)
      if recipe in recipes:
        continue
      recipes.update([recipe] if recipe else [])
      runs.append(pytest.param(program, argv, id=f"{source}:{program}"))
  return runs


def _toy_staged_run(argv, output):
  """A staged recipe's command at toy size: every stage 2 steps."""
  import runpy  # pylint: disable=g-import-not-at-top
  argv = [_without_proxies(a) if a.startswith("--config=") else a
          for a in argv]
  path = next(a.split("=", 1)[1] for a in argv if a.startswith("--config="))
  path, _, arg = path.partition(":")
  get_config = runpy.run_path(os.path.join(REPO, path))["get_config"]
  config = get_config(arg) if arg else get_config()
  toy = ["--config.images=skimage", "--config.data.batch_size=1",
         "--config.data.patch_size=64", "--config.data.crop_size=64"]
  for name in config.stages:
    toy += [f"--config.stages.{name}.{key}={value}" for key, value in
            (("total_steps", 2), ("log_every", 1), ("checkpoint_every", 2))]
  argv = [a for a in argv if not a.startswith(("--config.train_dir=",
                                               "--config.images="))]
  result = subprocess.run(
      [os.path.join(BIN, "tfpc_train"), *argv, *toy,
       f"--config.train_dir={output}"], capture_output=True, text=True,
      cwd=REPO, timeout=1200, check=False)
  assert result.returncode == 0, result.stderr[-1500:]
  for name in config.stages:
    with open(os.path.join(output, name, "metrics.jsonl")) as f:
      assert json.loads(f.readlines()[-1])["step"] == 2


@pytest.mark.parametrize("program,argv", _toy_runs())
def test_documented_training_command_runs_at_toy_size(tmp_path, program,
                                                       argv):
  if any(a.startswith("--config=") for a in argv):
    _toy_staged_run(argv, f"{tmp_path}/out")
    return
  output = TOY_OUTPUT[program]
  argv = [a for a in argv if not a.startswith(output + "=")]
  result = subprocess.run(
      [os.path.join(BIN, program), *argv, *TOY[program],
       f"{output}={tmp_path}/out"], capture_output=True, text=True,
      cwd=REPO, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-1500:]
  if program == "tfpc_train":
    with open(tmp_path / "out" / "metrics.jsonl") as f:
      assert json.loads(f.readlines()[-1])["step"] == 2
  else:
    assert os.path.exists(tmp_path / "out" / "proxy.weights.h5")


BENCHMARK = re.compile(r"\bpython\S*\s+(benchmarks/[a-z_0-9]+\.py)(.*)$")


def _defined_flags(script, seen=()):
  """Flag names a benchmark script defines (absl or argparse), or a script
  of its folder that it imports, read from their sources without running
  them."""
  with open(os.path.join(REPO, script)) as f:
    text = f.read()
  folder = os.path.dirname(script)
  imported = {os.path.join(folder, f"{name}.py")
              for name in re.findall(r"^import (\w+)", text, re.M)}
  return set().union(
      re.findall(r"flags\.DEFINE_\w+\(\s*\"(\w+)\"", text),
      re.findall(r"add_argument\(\s*\"--(\w+)\"", text),
      re.findall(r"startswith\(\"--(\w+)=", text),
      *(_defined_flags(other, (*seen, script)) for other in imported
        if other not in (*seen, script) and
        os.path.exists(os.path.join(REPO, other))))


def test_documented_benchmark_commands_name_shipped_scripts_and_flags():
  """Every table's command in the docs runs a script that ships, with flags
  it defines (the scripts of removed measurements are named with their
  commit, not as commands)."""
  problems, commands = [], 0
  for source in SOURCES:
    if not source.endswith(".md"):
      continue
    for _, snippet in _snippets(source):
      for line in snippet.splitlines():
        match = BENCHMARK.search(line.split(" #")[0])
        if not match:
          continue
        commands += 1
        script, args = match.groups()
        args = args.split(" -- ")[0]  # what follows goes to another program
        if not os.path.exists(os.path.join(REPO, script)):
          problems.append(f"{source}: {script} does not exist")
          continue
        named = {a[2:].split("=")[0] for a in re.sub(r"[\[\]]", " ",
                                                      args).split()
                 if a.startswith("--") and len(a) > 2}
        undefined = named - _defined_flags(script) - {"helpfull"}
        if undefined:
          problems.append(f"{source}: {script} has no flags {undefined}")
  assert commands >= 10
  assert not problems, "\n".join(problems)


def test_every_shipped_model_path_the_readme_loads_exists():
  with open(os.path.join(REPO, "README.md")) as f:
    paths = set(re.findall(r"[\"'](saved_models/[\w.-]+/\d+)[\"']", f.read()))
  assert len(paths) >= 2  # the import examples load both forms
  assert [p for p in sorted(paths)
          if not os.path.isdir(os.path.join(REPO, p))] == []
