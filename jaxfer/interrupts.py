"""Ctrl-C that is not lost: SIGINT remembered until a safe point of training acts on it.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. Raised inside
a garbage-collection callback (JAX registers one, and a training loop collects often), it is
printed as 'Exception ignored' with a traceback and dropped, and training goes on as if nothing
was pressed. The commands `install()` a handler that also remembers the signal, and keep such a
dropped interrupt from being printed; `check()`, called by the training loop after every step,
raises KeyboardInterrupt again when one was dropped. Inside `deferred()` (orbax's saves and
restores, whose threads hang or fail when interrupted halfway) Ctrl-C is only remembered.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

_requested = threading.Event()
_deferring = False


def _handler(signum, frame):  # pylint: disable=unused-argument
  _requested.set()
  if not _deferring:
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
  """Ctrl-C pressed while the block runs is remembered, not raised: the next `check()` raises
  it. (Without `install()`, Ctrl-C is raised as usual.)"""
  global _deferring
  previous, _deferring = _deferring, True
  try:
    yield
  finally:
    _deferring = previous


def _quiet_about_dropped_interrupts(previous_hook):
  """An unraisable hook that drops a KeyboardInterrupt silently (`check()` raises it again)
  and passes anything else on to `previous_hook`."""
  def hook(unraisable):
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
      return
    previous_hook(unraisable)
  hook.quiet_about_dropped_interrupts = True
  return hook


def install() -> None:
  """Makes Ctrl-C remembered as well as raised (from the main thread; elsewhere a no-op)."""
  if threading.current_thread() is threading.main_thread():
    _requested.clear()
    signal.signal(signal.SIGINT, _handler)
    if not getattr(sys.unraisablehook, 'quiet_about_dropped_interrupts', False):
      sys.unraisablehook = _quiet_about_dropped_interrupts(sys.unraisablehook)


def check() -> None:
  """Raises KeyboardInterrupt if Ctrl-C was pressed since `install()` (once per press)."""
  if _requested.is_set():
    _requested.clear()
    raise KeyboardInterrupt
