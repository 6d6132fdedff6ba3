"""JAX's persistent compilation cache, turned on by the commands.

Every run, fold and search trial builds a new optimizer and so traces and compiles its steps
again; compiling the teacher and student of one run takes 5 to 20 seconds on a CPU, often longer
than training a narrow student. With the cache, a program compiled once on this machine is read
from disk afterwards (same program, same result). It lives in $JAXFER_CACHE_DIR/xla (default
~/.cache/jaxfer/xla) and is capped at `MAX_BYTES`, oldest entries going first.
"""
from __future__ import annotations

import logging
import os

MAX_BYTES = 2**30


def cache_root() -> str:
  """$JAXFER_CACHE_DIR, or ~/.cache/jaxfer: where every cache of jaxfer lives, each in a folder
  of its own (xla here; dlib_resnet, onnx and teachers beside it)."""
  return os.environ.get('JAXFER_CACHE_DIR') or os.path.join(os.path.expanduser('~'), '.cache',
                                                            'jaxfer')


def cache_dir() -> str:
  """$JAXFER_CACHE_DIR/xla, or ~/.cache/jaxfer/xla."""
  return os.path.join(cache_root(), 'xla')


def enable() -> str | None:
  """Points JAX's compilation cache at `cache_dir()`; returns it, or None (with a warning) if
  it cannot be written (the commands then run without it)."""
  import jax  # pylint: disable=g-import-not-at-top  (only the commands call this)
  path = cache_dir()
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as error:
    logging.getLogger('jaxfer').warning('no compilation cache: %s cannot be created (%s); set '
                                        'JAXFER_CACHE_DIR to a writable folder', path,
                                        error.strerror)
    return None
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  jax.config.update('jax_compilation_cache_max_size', MAX_BYTES)
  return path
