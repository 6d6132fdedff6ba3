"""Reading a config file (`get_config()`) and its `--config.FIELD=VALUE` overrides.

Every mistake (a missing file, a syntax error, a field the config does not have, a value of the
wrong type) is a `ConfigError` with one line naming the file or field; both commands print it
and exit with status 2. Overrides are parsed by ml_collections' config flags, as usual.
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import re
import sys
from typing import Any, Callable, Sequence

from absl import flags
import ml_collections
from ml_collections import config_flags

from jaxfer import interrupts

_CONFIG = re.compile(r'^-{1,2}config(?:=(.*))?$')
_OVERRIDE = re.compile(r'^-{1,2}(?:no)?config\.([^=]+)')


class ConfigError(ValueError):
  """A config file or an override that cannot be used; the message is one line."""


class UsageError(Exception):
  """The command line itself is wrong (no command, a missing flag); shown with the usage."""


HELP_ARGUMENTS = ('-h', '--help', '-help', '--helpshort', '--helpfull')


class HelpRequested(Exception):
  """--help (or -h) was given after a command; carries the flags the command defined."""

  def __init__(self, flag_values: flags.FlagValues):
    super().__init__('help')
    self.flag_values = flag_values


def usage_error(program: str, command: str | None, error: Exception, commands) -> str:
  """The one line for a mistake in the command line: what is wrong and where the help is."""
  if command:
    return f'{program} {command}: {error}; see `{program} {command} --help`'
  return (f'{program}: {error}; the commands: {", ".join(commands)} (`{program} COMMAND --help` '
          'for one)')


def wants_help(argv: Sequence[str]) -> bool:
  """Whether `argv` asks for help."""
  return any(argument in HELP_ARGUMENTS for argument in argv)


def version() -> str:
  """The installed jaxfer's version."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  try:
    return metadata.version('jaxfer')
  except metadata.PackageNotFoundError:  # Run from a checkout that was never installed.
    return 'unknown (not installed; pip install -e .)'


_FLAG = re.compile(r'^(--?)([A-Za-z][\w-]*)(=.*)?$')


def respell(argv: Sequence[str], renamed: dict[str, str], program: str) -> list[str]:
  """`argv` with the old spellings of flags in their current form, and one line on stderr for
  each old spelling used (it keeps working).

  Flags are spelled with underscores, as absl and the config fields are (`--batch_size`,
  `--nodetect` for a boolean's negation); a hyphenated spelling (`--no-detect`,
  `--whole-image-fallback`) and the names in `renamed` ({old: new}) are read as the current one.
  """
  respelled, noted = [], set()
  for argument in argv:
    match = _FLAG.match(argument)
    if match is None or match.group(2).startswith('config'):
      respelled.append(argument)
      continue
    name = match.group(2)
    new = renamed.get(name)
    if new is None and '-' in name:
      new = ('no' + name[3:] if name.startswith('no-') else name).replace('-', '_')
    if new is None or new == name:
      respelled.append(argument)
      continue
    if name not in noted:
      noted.add(name)
      print(f'{program}: deprecated: --{name} is now --{new}; the old spelling still works '
            'for now', file=sys.stderr)
    respelled.append(f'--{new}{match.group(3) or ""}')
  return respelled


# How much a command logs on stderr: -1 warnings and errors only, 0 progress, 1 debug lines too.
VERBOSITY_FLAGS = {'-q': -1, '--quiet': -1, '-v': 1, '--verbose': 1}


def take_verbosity(argv: Sequence[str]) -> tuple[int, list[str]]:
  """(the verbosity of the last -q/--quiet or -v/--verbose anywhere in `argv`, else 0; `argv`
  without them)."""
  verbosity = 0
  for argument in argv:
    verbosity = VERBOSITY_FLAGS.get(argument, verbosity)
  return verbosity, [argument for argument in argv if argument not in VERBOSITY_FLAGS]


def front_door(argv: Sequence[str], program: str, usage: str, renamed: dict[str, str],
               show_help: Callable[[list[str]], int | None],
               ) -> tuple[int | None, list[str], int]:
  """What every command line meets first: (the exit status, when the general --help,
  --version or a command's --help (`show_help`) answered it, else None; `argv` with old flag
  spellings respelled and -q/-v taken out; the verbosity they asked for).

  `show_help` returns None for a command line whose command is unknown: --help is then dropped,
  so that the command refuses it with the same line and status as without --help.
  """
  verbosity, argv = take_verbosity(argv)
  if not argv or (len(argv) == 1 and argv[0] in ('help', *HELP_ARGUMENTS)):
    print(usage)
    return 0, [], verbosity
  if argv[0] in ('--version', '-V', 'version'):
    print(f'{program} {version()}')
    return 0, [], verbosity
  if argv[0] == 'help':  # `help COMMAND ...` is `COMMAND ... --help`.
    argv = [*argv[1:], '--help']
  argv = respell(argv, renamed, program)
  if wants_help(argv):
    status = show_help(argv)
    if status is not None:
      return status, [], verbosity
    # An unknown command: refused below exactly as it is without --help.
    argv = [argument for argument in argv if argument not in HELP_ARGUMENTS]
  return None, argv, verbosity


def print_help(argv: Sequence[str], usage: str, synopses: dict[str, str],
               usages: dict[str, str], examples: dict[str, str],
               parse_command_line: Callable[[str, list[str]], Any],
               config_example: Callable[[str], str | None]) -> int | None:
  """Prints the help of the command in `argv` (`usage`, the general one, without one); returns 0,
  or None without printing when `argv` names a command that is not in `synopses` (for the
  caller to refuse it as it does without --help).

  `parse_command_line(command, argv)` is the command's own parser: it defines the command's
  flags and stops at --help (HelpRequested), so the help lists exactly the flags it reads.
  """
  command = next((argument for argument in argv if argument in synopses), None)
  if command is None:
    if first_positional(argv) is not None:
      return None
    print(usage)
    return 0
  try:
    parse_command_line(command, list(argv))
  except HelpRequested as request:
    print(help_text(request.flag_values, usages[command], synopses[command],
                    config_example(command), [examples[command]]))
    return 0
  raise AssertionError(f'{command} did not stop at --help')


def first_positional(argv: Sequence[str]) -> str | None:
  """The first argument of `argv` that is neither a flag nor the value of the flag before it
  (`--flag VALUE`), else None: where a command line names its command.

  Read without the command's parser, which an unknown command does not have: a word after a
  boolean flag (`--cv WORD`) is taken for its value.
  """
  previous = ''
  for argument in argv:
    takes_value = (previous.startswith('-') and '=' not in previous
                   and previous not in HELP_ARGUMENTS)
    if not argument.startswith('-') and not takes_value:
      return argument
    previous = argument
  return None


def _flag_lines(flag: flags.Flag) -> list[str]:
  """A flag's entry in the help: its spelling, its default and its help text."""
  if flag.flag_type() == 'bool':
    spelling, default = f'--[no]{flag.name}', str(bool(flag.default)).lower()
  else:
    spelling, default = f'--{flag.name}={flag.name.upper().split("_")[-1]}', flag.default
  text = ' '.join(flag.help.split()) + ('' if default in (None, '') else f' (default: {default})')
  lines = _wrap(text, 60)
  if len(spelling) >= 28:
    return [f'  {spelling}'] + [f'  {"":28s} {line}' for line in lines]
  return [f'  {spelling:28s} {lines[0]}'] + [f'  {"":28s} {line}' for line in lines[1:]]


def _wrap(text: str, width: int) -> list[str]:
  import textwrap  # pylint: disable=g-import-not-at-top
  return textwrap.wrap(text, width) or ['']


def help_text(flag_values: flags.FlagValues, usage: str, summary: str,
              config_example: str | None = None, examples: Sequence[str] = ()) -> str:
  """The help of one command: its usage line, what it does, every flag it defined with its
  default, and (for commands that read a config) the `--config.FIELD=VALUE` convention."""
  seen, lines = set(), [usage, '', *('  ' + line for line in _wrap(summary, 90)), '', 'flags:']
  for module_flags in flag_values.flags_by_module_dict().values():
    for flag in sorted(module_flags, key=lambda f: f.name):
      if flag.name not in seen and flag.name != 'config':
        seen.add(flag.name)
        lines += _flag_lines(flag)
  if config_example:
    lines += ['', 'config:',
              f'  {"--config=PATH":28s} a Python file whose get_config() returns the run\'s '
              'settings,',
              f'  {"":28s} e.g. configs/default.py (configs/test.py runs in seconds)',
              f'  {"--config.FIELD=VALUE":28s} change one field of that config for this run, e.g.',
              f'  {"":28s} {config_example}',
              f'  {"":28s} (an unknown field is refused, naming the fields there are)']
  if examples:
    lines += ['', 'example:' if len(examples) == 1 else 'examples:',
              *(f'  {example}' for example in examples)]
  lines += ['', 'Flags are spelled with underscores (--batch_size); --FLAG=VALUE and --FLAG VALUE '
            'are the same.',
            'Exit status: 0 done, 1 a run failed, 2 a mistake in the input (one line on stderr), '
            '130 interrupted.']
  return '\n'.join(lines)


def split_config_path(argv: Sequence[str]) -> tuple[str | None, list[str]]:
  """(the value of --config, the other arguments); the value may follow as its own argument."""
  path, rest, arguments = None, [], list(argv)
  while arguments:
    argument = arguments.pop(0)
    match = _CONFIG.match(argument)
    if match is None:
      rest.append(argument)
    elif match.group(1) is not None:
      path = match.group(1)
    elif arguments:
      path = arguments.pop(0)
    else:
      raise ConfigError('--config needs a path, e.g. --config configs/default.py')
  return path, rest


def load(path: str) -> ml_collections.ConfigDict:
  """The ConfigDict that `get_config()` of the Python file `path` returns."""
  if not os.path.exists(path):
    raise ConfigError(f'--config {path}: no such file; expected a Python file with '
                      'get_config(), such as configs/default.py')
  if os.path.isdir(path):
    raise ConfigError(f'--config {path} is a folder; expected a Python file with get_config(), '
                      'such as configs/default.py')
  name = f'jaxfer_config_{abs(hash(os.path.abspath(path)))}'
  try:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
      raise ConfigError(f'--config {path} is not a Python file; expected one with get_config()')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  except SyntaxError as error:
    raise ConfigError(f'--config {path}, line {error.lineno}: {error.msg}') from None
  except ConfigError:
    raise
  except Exception as error:  # pylint: disable=broad-except  (anything a config file may raise)
    raise ConfigError(f'--config {path} failed to load: {type(error).__name__}: {error}') from None
  if not callable(getattr(module, 'get_config', None)):
    raise ConfigError(f'--config {path} has no get_config() function')
  try:
    config = module.get_config()
  except Exception as error:  # pylint: disable=broad-except
    raise ConfigError(f'--config {path}: get_config() raised {type(error).__name__}: '
                      f'{error}') from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f'--config {path}: get_config() returned {type(config).__name__}; '
                      'expected an ml_collections.ConfigDict')
  return config


def check_fields(config: ml_collections.ConfigDict, path: str, argv: Sequence[str]) -> None:
  """Raises ConfigError for an override whose field `config` does not have."""
  for argument in argv:
    match = _OVERRIDE.match(argument)
    if match is None:
      continue
    node, walked = config, []
    for part in match.group(1).split('.'):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        known = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        where = 'config' + ''.join(f'.{p}' for p in walked)
        close = difflib.get_close_matches(part, known, n=1)
        hint = (f'did you mean {where}.{close[0]}?' if close else
                f'{where} has: {", ".join(known)}' if known else f'{where} has no fields')
        raise ConfigError(f'--config.{match.group(1)}: {path} has no field {where}.{part}; '
                          f'{hint}')
      node = node[part]
      walked.append(part)


def define(flag_values: flags.FlagValues, argv: Sequence[str]) -> list[str]:
  """Loads the config given by --config in `argv` and defines the flag `config` (with its
  overrides) in `flag_values`; returns `argv` without --config, for `flag_values` to parse.

  Leaves the flag undefined when `argv` has no --config.
  """
  path, rest = split_config_path(argv)
  if path is None or wants_help(argv):  # Help needs no config, nor a working one.
    return rest
  config = load(path)
  check_fields(config, path, rest)
  config_flags.DEFINE_config_dict('config', config, f'The config of {path}.',
                                  flag_values=flag_values, lock_config=True,
                                  sys_argv=[sys.argv[0], *rest])
  return rest


def parse(flag_values: flags.FlagValues, argv: Sequence[str]) -> list[str]:
  """Parses `argv` (no program name) into `flag_values`; returns the positional arguments.

  Raises ConfigError with absl's one-line message for a bad flag or override value, and
  HelpRequested (with `flag_values`) when `argv` asks for help.
  """
  if wants_help(argv):
    raise HelpRequested(flag_values)
  try:
    return flag_values([sys.argv[0], *argv])[1:]
  except flags.Error as error:
    raise ConfigError(' '.join(str(error).split())) from None
  except (AttributeError, KeyError, TypeError, ValueError) as error:  # From an override.
    raise ConfigError(f'cannot apply the overrides: {" ".join(str(error).split())}') from None


def parse_command(flag_values: flags.FlagValues, argv: Sequence[str], commands: Sequence[str],
                  required: str, example: str) -> str:
  """Parses `argv` into `flag_values` (see `parse`); returns its one command, a name in
  `commands`. UsageError if there is none, or without --config or the flag `required` (the
  message shows `example`)."""
  positional = parse(flag_values, argv)
  if len(positional) != 1 or positional[0] not in commands:
    raise UsageError(f'expected one command, got {positional or "none"}')
  if 'config' not in flag_values or flag_values[required].value is None:
    raise UsageError(f'--config and --{required} are required, e.g. {example}')
  config = flag_values.config
  config.unlock()
  return positional[0]


def read(path: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """The config file `path` with `--config.FIELD=VALUE` overrides, as the commands read it."""
  flag_values = flags.FlagValues()
  rest = define(flag_values, ['--config', path, *overrides])
  positional = parse(flag_values, rest)
  if positional:
    raise ConfigError(f'expected only --config.FIELD=VALUE overrides, got {positional}')
  config = flag_values.config
  config.unlock()
  return config


def parse_script_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                      ) -> tuple[argparse.Namespace, ml_collections.ConfigDict, list[str]]:
  """A script's own arguments (`parser`, which has --config), the config file they name read as
  the commands read it with the `--config.FIELD=VALUE` overrides that follow, and those
  overrides; anything else, or a config that does not read, is `parser.error` (one line, exit
  2)."""
  args, overrides = parser.parse_known_args(argv)
  bad = [arg for arg in overrides if not arg.startswith('--config.')]
  if bad:
    parser.error(f'unrecognized arguments: {" ".join(bad)}')
  try:
    return args, read(args.config, overrides), overrides
  except ConfigError as error:
    parser.error(str(error))


class StandardOutputError(OSError):
  """Standard output could not be written (a full disk, say); a closed pipe stays a
  BrokenPipeError."""


class _StandardOutput:
  """`sys.stdout` whose failures to write are told apart from other OSErrors (which name no
  file either when an open file's write fails): they are StandardOutputErrors."""

  def __init__(self, stream):
    self.stream = stream

  def _checked(self, operation, *args):
    try:
      return operation(*args)
    except BrokenPipeError:
      raise
    except OSError as error:
      raise StandardOutputError(error.errno, error.strerror) from error

  def write(self, text):
    return self._checked(self.stream.write, text)

  def flush(self):
    return self._checked(self.stream.flush)

  def __getattr__(self, name):
    return getattr(self.stream, name)


def guarded(program: str, commands: Sequence[str], run: Callable[[list[str]], int],
            argv: Sequence[str], resumable: Sequence[str] = ()) -> int:
  """`run(argv)`'s exit status, with what stops a command from outside said in one line: Ctrl-C
  at any moment (130; the `resumable` commands are told to run again to resume), standard output
  closed by its reader (`| head`: 0, quietly) or unwritable (a full disk: 2, naming the
  problem). The line names the one of `commands` in `argv`."""
  command = [argument for argument in argv if argument in commands][:1]
  name = ' '.join([program, *command])
  resume = ('; run the same command again to resume' if set(command) & set(resumable)
            else '')
  stdout = sys.stdout
  sys.stdout = _StandardOutput(stdout)
  try:
    interrupts.install()  # From the start: a second Ctrl-C never breaks the first one's ending.
    status = run(list(argv))
    sys.stdout.flush()  # Here, where a failure is caught: not in the interpreter's last flush.
    return status
  except KeyboardInterrupt:
    print(f'{name}: interrupted{resume}', file=sys.stderr)
    return 130
  except BrokenPipeError:  # The reader has what it wanted.
    discard_stdout(stdout)
    return 0
  except StandardOutputError as error:
    discard_stdout(stdout)
    print(f'{name}: error: cannot write to standard output: {error.strerror or error}; '
          'redirect it to a file on a disk with free space', file=sys.stderr)
    return 2
  finally:
    sys.stdout = stdout


def discard_stdout(stdout) -> None:
  """What is still buffered for standard output `stdout`, and whatever comes later, goes
  nowhere: the interpreter's last flush would otherwise fail with a traceback (after a reader
  has gone, or a full disk)."""
  try:
    os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
  except (OSError, ValueError):
    pass
