"""Where the commands write: checks, made before any work, that nothing a user has is replaced.

One rule for every command that writes: an existing target is refused with one line naming it,
unless the user asked for `--overwrite`; a folder is replaced only whole and only when it holds
what the command itself writes, and the old one is removed only once the new one is complete.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable, Iterable, TypeVar

T = TypeVar('T')


def make_writable_dir(path: str, what: str) -> str:
  """Creates `path` if needed and checks that files can be written there; ValueError naming
  `what` and the path otherwise."""
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as error:
    raise ValueError(f'{what} {path} cannot be used: {error.strerror or error}; choose a '
                     'directory you can write to') from None
  return path


def inside(path: str, folder: str) -> bool:
  """Whether `path` is `folder` or lies below it (links resolved)."""
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return os.path.commonpath([path, folder]) == folder


def _parent_problem(path: str) -> str | None:
  """Why the folder that would hold `path` cannot, or None (a missing one is made later)."""
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    return f'{parent} is a file, not a folder'
  if not os.access(parent, os.W_OK | os.X_OK):
    return f'{parent} is not writable by this user'
  return None


def check_new_file(path: str, flag: str, overwrite: bool = False,
                   inputs: Iterable[str] = ()) -> None:
  """ValueError unless `path` can be written as a new file (or replaced, with `overwrite`); an
  existing file that is one of the command's `inputs`, or lies in an input folder, is never
  replaced."""
  if os.path.isdir(path):
    raise ValueError(f'{flag} {path} is a folder; expected a file name')
  if os.path.lexists(path):
    for item in inputs:
      if inside(path, item):
        raise ValueError(f'{flag} {path} would replace the input {item}; choose a name outside '
                         'the inputs (--overwrite never replaces an input)')
  if os.path.lexists(path) and not overwrite:
    raise ValueError(f'{flag} {path} exists; choose a new name, or add --overwrite to replace '
                     'it')
  problem = _parent_problem(path)
  if problem:
    raise ValueError(f'{flag} {path} cannot be written: {problem}')


def check_new_dir(path: str, flag: str, overwrite: bool = False,
                  expected: Iterable[str] = ()) -> None:
  """ValueError unless `path` is a new or empty folder; with `overwrite`, a folder that holds
  only names in `expected` (what the command writes) may be replaced too."""
  if os.path.lexists(path) and not os.path.isdir(path):
    raise ValueError(f'{flag} {path} is a file; expected a new or empty folder')
  problem = _parent_problem(path)
  if problem:
    raise ValueError(f'{flag} {path} cannot be made: {problem}')
  present = sorted(os.listdir(path)) if os.path.isdir(path) else []
  if not present:
    return
  if not overwrite:
    raise ValueError(f'{flag} {path} is not empty; choose a new folder, or add --overwrite to '
                     'replace what is there')
  foreign = [name for name in present if name not in set(expected)]
  if foreign:
    raise ValueError(f'{flag} {path} holds files this command does not write ('
                     f'{", ".join(foreign[:3])}{", ..." if len(foreign) > 3 else ""}); '
                     '--overwrite replaces only a folder this command wrote. Choose a new folder')


def _umask() -> int:
  umask = os.umask(0)  # The only way to read it is to set it.
  os.umask(umask)
  return umask


def write_dir(path: str, write: Callable[[str], T]) -> T:
  """Runs `write(folder)` on a new folder beside `path`, then puts it in place of `path`: the
  old folder, if any, is removed only after `write` has succeeded. Returns what `write` returns
  (paths inside the folder given to it are rewritten to `path` by the caller if needed)."""
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}.', dir=parent)
  os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's folder is private; the result should not be.
  try:
    result = write(staging)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  if os.path.isdir(path):
    retired = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}.old.', dir=parent)
    os.replace(path, os.path.join(retired, 'old'))
    os.replace(staging, path)
    shutil.rmtree(retired, ignore_errors=True)
  else:
    os.replace(staging, path)
  return result


def write_file(path: str, write: Callable[[str], T]) -> T:
  """Runs `write(temporary)` on a temporary file beside `path`, then renames it to `path`: a
  failed or interrupted write leaves the old file (or none) as it was."""
  path = os.path.abspath(path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  handle, temporary = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.',
                                       dir=os.path.dirname(path))
  os.close(handle)
  os.chmod(temporary, 0o666 & ~_umask())  # As open() would have made it.
  try:
    result = write(temporary)
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise
  return result
