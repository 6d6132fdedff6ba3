"""On-disk cache of a teacher's logits on a fold's training images.

A student (every student of a fold, every search trial) reads the teacher's logits from here
instead of running the teacher again. The key hashes what determines the logits: the data
(dataset build, fold and its hash, preprocessing), the teacher's config and its checkpoint's
parameters. An entry stores its own checksum and is rebuilt if it is stale or corrupt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Callable

import numpy as np

logger = logging.getLogger('jaxfer')


def cache_dir(configured: str) -> str:
  """`config.cache_dir`, else $JAXFER_CACHE_DIR, else ~/.cache/jaxfer."""
  return configured or os.environ.get('JAXFER_CACHE_DIR') or os.path.expanduser('~/.cache/jaxfer')


def digest(value: Any) -> str:
  """sha256 of a JSON-able value (keys sorted) or of an array tree's bytes."""
  h = hashlib.sha256()
  if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
    for array in value:
      h.update(str((array.dtype, array.shape)).encode())
      h.update(np.ascontiguousarray(array).tobytes())
  else:
    h.update(json.dumps(value, sort_keys=True, default=str).encode())
  return h.hexdigest()


def cache_key(data_identity: dict, teacher_config: dict, checkpoint_digest: str) -> str:
  """The key of one teacher's logits on one training set (24 hex digits)."""
  return digest({'data': data_identity, 'teacher': teacher_config,
                 'checkpoint': checkpoint_digest})[:24]


def _path(directory: str, key: str) -> str:
  return os.path.join(directory, 'teacher_logits', f'{key}.npz')


def load(directory: str, key: str, num_examples: int) -> np.ndarray | None:
  """The cached logits for `key`, or None if absent, corrupt or not for `num_examples` images."""
  path = _path(directory, key)
  if not os.path.exists(path):
    return None
  try:
    with np.load(path) as entry:
      logits = entry['logits']
      stored_checksum = str(entry['checksum'])
      stored_key = str(entry['key'])
  except Exception as error:  # pylint: disable=broad-except  (any unreadable file is rebuilt)
    logger.warning('teacher-logit cache entry %s is unreadable (%s); recomputing it', path, error)
    return None
  if stored_key != key or digest([logits]) != stored_checksum or len(logits) != num_examples:
    logger.warning('teacher-logit cache entry %s is stale or corrupt; recomputing it', path)
    return None
  return logits


def save(directory: str, key: str, logits: np.ndarray, description: dict) -> str:
  """Writes an entry atomically (temporary file, then rename); returns its path."""
  path = _path(directory, key)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  temporary = f'{path}.{os.getpid()}.tmp'
  with open(temporary, 'wb') as f:
    np.savez(f, logits=logits, checksum=digest([logits]), key=key,
             description=json.dumps(description, sort_keys=True, default=str))
  os.replace(temporary, path)
  return path


def load_or_compute(directory: str, key: str, num_examples: int,
                    compute: Callable[[], np.ndarray], description: dict) -> np.ndarray:
  """The cached logits for `key`, computing and storing them first if needed."""
  logits = load(directory, key, num_examples)
  if logits is not None:
    logger.info('teacher logits: read from the cache (%s)', _path(directory, key))
    return logits
  logits = np.asarray(compute(), np.float32)
  path = save(directory, key, logits, description)
  logger.info('teacher logits: computed on %d images and cached in %s', len(logits), path)
  return logits
