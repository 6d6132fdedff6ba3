"""What trained artifacts (teachers, face nets) share on disk: atomic JSON files and checksums of
arrays (their lock across processes is `jaxfer.locks`)."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from typing import Any

import numpy as np

from jaxfer import outputs


def sha256_of_arrays(arrays) -> str:
  """sha256 over the dtype, shape and bytes of each array, in order."""
  digest = hashlib.sha256()
  for array in arrays:
    array = np.asarray(array)
    digest.update(str((array.dtype, array.shape)).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()


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
  # A damaged zip raises BadZipFile, a truncated array EOFError.
  except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
    return None
  return array if sha256_of_arrays([array]) == sha256 else None


def read_json(path: str) -> dict:
  """The JSON object in `path`; ValueError naming the file when it is not one (a missing file
  raises FileNotFoundError)."""
  try:
    with open(path) as f:
      value = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise ValueError(f'{path} is not valid JSON ({error}); expected the file jaxfer wrote '
                     'there') from None
  if not isinstance(value, dict):
    raise ValueError(f'{path} holds a JSON {type(value).__name__}; expected an object')
  return value


def write_json(path: str, value: Any) -> None:
  """Writes `value` atomically (`outputs.write_file`: a temporary file, then a rename)."""
  def dump(temporary: str) -> None:
    with open(temporary, 'w') as f:
      json.dump(value, f, indent=2)
  outputs.write_file(path, dump)
