"""Where the commands write: checks, made before any work, that nothing a user has is replaced.

One rule for every command that writes: an existing target is refused with one line naming it,
unless the user asked for `--overwrite`; a folder is replaced only whole and only when it holds
what the command itself writes, and the old one is removed only once the new one is complete.
Only a regular file is ever replaced by a file, and only a folder by a folder: a device, a FIFO or
a socket (or a link to one) is refused even with `--overwrite`, and a write that fails (a full
disk) leaves no temporary behind and what was there as it was.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from typing import Callable, Iterable, NoReturn, TypeVar

T = TypeVar('T')

# What a path can be, in words, for the messages.
_KINDS = ((stat.S_ISREG, 'a file'), (stat.S_ISDIR, 'a folder'),
          (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
          (stat.S_ISFIFO, 'a FIFO (named pipe)'), (stat.S_ISSOCK, 'a socket'))


class WriteError(ValueError):
  """An output that could not be written (a full disk, a folder no longer writable), with the
  operating system's reason; what was there before is kept."""


def _kind(mode: int) -> str:
  """The file type in `mode` (from os.stat), in words."""
  return next((name for test, name in _KINDS if test(mode)), 'a special file')


def describe(path: str) -> str:
  """What is at `path`, in words ('a file', 'a folder', 'a character device', 'a FIFO (named
  pipe)', ...; a symbolic link says where it leads), or '' when nothing is there."""
  try:
    mode = os.lstat(path).st_mode
  except OSError:
    return ''
  if not stat.S_ISLNK(mode):
    return _kind(mode)
  try:
    return f'a symbolic link to {_kind(os.stat(path).st_mode)} ({os.path.realpath(path)})'
  except OSError:
    return f'a symbolic link to {os.readlink(path)}, which does not exist'


def _special(path: str) -> bool:
  """Whether `path` exists (links followed) and is neither a regular file nor a folder."""
  return os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path))


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
    return f'{parent} is {describe(parent)}, not a folder'
  if not os.access(parent, os.W_OK | os.X_OK):
    return f'{parent} is not writable by this user'
  return None


def check_new_file(path: str, flag: str, overwrite: bool = False,
                   inputs: Iterable[str] = ()) -> None:
  """ValueError unless `path` can be written as a new file (or replaced, with `overwrite`); an
  existing file that is one of the command's `inputs`, or lies in an input folder, is never
  replaced; nor is anything but a regular file (a device, a FIFO, a socket, or a link to one),
  which writing would replace by a file. A link to a regular file is replaced as a file (its
  target is left as it was)."""
  if _special(path):
    raise ValueError(f'{flag} {path} is {describe(path)}; expected a regular file or a new name '
                     '(--overwrite replaces only a regular file)')
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
    raise ValueError(f'{flag} {path} is {describe(path)}; expected a new or empty folder')
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


def _remove(path: str) -> None:
  """Removes a file or folder this module made, whatever it holds, if it is there."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  elif os.path.lexists(path):
    try:
      os.remove(path)
    except OSError:
      pass


def _first_missing(folder: str) -> str:
  """The outermost folder of `folder`'s path that does not exist yet ('' when it exists)."""
  missing = ''
  while not os.path.lexists(folder):
    missing, folder = folder, os.path.dirname(folder)
  return missing


def _remove_made(folder: str, first_made: str) -> None:
  """Removes `folder` and its parents up to `first_made`, the folders a failed write made, as
  long as they are empty."""
  if not first_made:
    return
  while True:
    try:
      os.rmdir(folder)
    except OSError:
      return
    if folder == first_made:
      return
    folder = os.path.dirname(folder)


def _write_error(path: str, error: OSError, staging: str, in_writer: bool) -> OSError:
  """`error` as a WriteError naming `path`, or as it is when the writer raised it naming a file
  outside `staging` (the temporary file or folder): an input it read, not the output."""
  names = [os.path.abspath(os.fspath(name)) for name in (error.filename, error.filename2)
           if isinstance(name, (str, bytes, os.PathLike))]
  if in_writer and names and not any(name == staging or name.startswith(staging + os.sep)
                                     for name in names):
    return error
  return WriteError(f'{path} could not be written: {error.strerror or error}; what was there '
                    'before, if anything, is kept as it was')


def _refuse_special(path: str, expected: str) -> None:
  """WriteError when `path` exists and is not `expected` ('a file' or 'a folder'), links
  followed: writing would replace a device, a FIFO or a socket by a file or a folder."""
  is_expected = os.path.isfile if expected == 'a file' else os.path.isdir
  if os.path.exists(path) and not is_expected(path):
    raise WriteError(f'{path} is {describe(path)}; expected {expected} or a new name (nothing '
                     'else is ever replaced)')


def write_dir(path: str, write: Callable[[str], T]) -> T:
  """Runs `write(folder)` on a new folder beside `path`, then puts it in place of `path`: the
  old folder, if any, is removed only after `write` has succeeded. Returns what `write` returns
  (paths inside the folder given to it are rewritten to `path` by the caller if needed).
  WriteError, with nothing left behind, when `path` is not a folder or writing fails."""
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  _refuse_special(path, 'a folder')
  staging, in_writer, first_made = '', False, _first_missing(parent)
  try:
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}.', dir=parent)
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's folder is private; the result should not be.
    in_writer = True
    result = write(staging)
    in_writer = False
    if os.path.isdir(path):
      retired = tempfile.mkdtemp(prefix=f'.{os.path.basename(path)}.old.', dir=parent)
      os.replace(path, os.path.join(retired, 'old'))
      try:
        os.replace(staging, path)
      except BaseException:
        os.replace(os.path.join(retired, 'old'), path)  # The old folder back in its place.
        os.rmdir(retired)
        raise
      shutil.rmtree(retired, ignore_errors=True)
    else:
      os.replace(staging, path)
  except BaseException as error:  # Ctrl-C too: nothing half-written is left.
    _undo(path, error, staging, parent, first_made, in_writer)
  return result


def _undo(path: str, error: BaseException, temporary: str, parent: str, first_made: str,
          in_writer: bool) -> NoReturn:
  """Removes what a failed write of `path` made (`temporary`, the folders from `first_made`),
  then raises: a WriteError for an OSError, `error` itself otherwise."""
  if temporary:
    _remove(temporary)
  _remove_made(parent, first_made)
  if isinstance(error, OSError):
    raise _write_error(path, error, temporary, in_writer) from error
  raise error


def write_file(path: str, write: Callable[[str], T]) -> T:
  """Runs `write(temporary)` on a temporary file beside `path`, then renames it to `path`: a
  failed or interrupted write leaves the old file (or none) as it was, and no temporary. A
  failure to write (a full disk) is a WriteError naming `path` and the reason; so is a `path`
  that exists and is not a regular file (a device, a FIFO, a socket, a folder)."""
  path = os.path.abspath(path)
  parent = os.path.dirname(path)
  _refuse_special(path, 'a file')
  temporary, in_writer, first_made = '', False, _first_missing(parent)
  try:
    os.makedirs(parent, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', dir=parent)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())  # As open() would have made it.
    in_writer = True
    result = write(temporary)
    in_writer = False
    os.replace(temporary, path)
  except BaseException as error:  # Ctrl-C too: nothing half-written is left.
    _undo(path, error, temporary, parent, first_made, in_writer)
  return result
