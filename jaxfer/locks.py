"""One lock across processes for whatever several runs may make in the same folder at once.

Teachers, face nets, students and dataset builds are each made by one process at a time: a
second process asking for the same one waits (one log line says for which folder), then finds
it made or resumes it. The lock is a `filelock` file lock (flock on POSIX, msvcrt on Windows),
released by the operating system when its process dies, so a killed run leaves no stale lock.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

import filelock

logger = logging.getLogger('jaxfer')

LOCK_FILE = '.lock'


def _file_lock(directory: str, lock_file: str) -> filelock.FileLock:
  """The lock `directory/lock_file`, its folder created if needed (not yet taken)."""
  os.makedirs(directory, exist_ok=True)
  return filelock.FileLock(os.path.join(directory, lock_file))


@contextlib.contextmanager
def held(directory: str, what: str, lock_file: str = LOCK_FILE) -> Iterator[None]:
  """Holds the lock `directory/lock_file` (created with the folder if needed) while the block
  runs; `what` names what is made there in the one line logged while another process holds it.
  """
  lock = _file_lock(directory, lock_file)
  try:
    lock.acquire(timeout=0)
  except filelock.Timeout:
    logger.info('%s: another process is working in %s; waiting for it to finish', what,
                directory)
    lock.acquire()
  try:
    yield
  finally:
    lock.release()


@contextlib.contextmanager
def claimed(directory: str, lock_file: str) -> Iterator[bool]:
  """Takes the lock `directory/lock_file` if no other process holds it, without waiting; yields
  whether it did (and holds it while the block runs)."""
  lock = _file_lock(directory, lock_file)
  try:
    lock.acquire(timeout=0)
  except filelock.Timeout:
    yield False
    return
  try:
    yield True
  finally:
    lock.release()
