"""What trained artifacts (teachers, face nets) share on disk: a lock across processes, atomic
JSON files and checksums of arrays."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from typing import Any, Iterator

import numpy as np

logger = logging.getLogger('jaxfer')


def sha256_of_arrays(arrays) -> str:
  """sha256 over the dtype, shape and bytes of each array, in order."""
  digest = hashlib.sha256()
  for array in arrays:
    array = np.asarray(array)
    digest.update(str((array.dtype, array.shape)).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()


@contextlib.contextmanager
def locked(directory: str, what: str) -> Iterator[None]:
  """An exclusive lock on `directory` (a file inside it), held across processes on this host;
  `what` names the artifact in the message logged while another process holds it."""
  with open(os.path.join(directory, '.lock'), 'a') as lock:  # 'a': reuse changes no mtime.
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      logger.info('%s: another process is training the %s in %s; waiting for it', what, what,
                  directory)
      fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def save_array(path: str, name: str, array: np.ndarray) -> str:
  """Writes `array` as `name` in the .npz file `path` atomically; returns its sha256
  (`sha256_of_arrays`), for the manifest that vouches for it."""
  temporary = f'{path}.{os.getpid()}.tmp.npz'
  np.savez(temporary, **{name: array})
  os.replace(temporary, path)
  return sha256_of_arrays([array])


def load_checked(path: str, name: str, sha256: str | None) -> np.ndarray | None:
  """The array `name` of the .npz file `path` if it matches `sha256`; None if it is missing,
  unreadable or does not match."""
  try:
    with np.load(path) as stored:
      array = stored[name]
  except (OSError, KeyError, ValueError):
    return None
  return array if sha256_of_arrays([array]) == sha256 else None


def write_json(path: str, value: Any) -> None:
  """Writes `value` atomically (a temporary file, then a rename)."""
  temporary = f'{path}.{os.getpid()}.tmp'
  with open(temporary, 'w') as f:
    json.dump(value, f, indent=2)
  os.replace(temporary, path)
