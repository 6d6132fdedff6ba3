"""Ctrl-C that is not lost: SIGINT remembered until a safe point of training acts on it.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. Raised inside
a garbage-collection callback (JAX registers one, and a training loop collects often), it is
printed as 'Exception ignored' and dropped, and training goes on as if nothing was pressed.
The commands `install()` a handler that also remembers the signal; `check()`, called by the
training loop after every step, raises KeyboardInterrupt again when one was dropped.
"""
from __future__ import annotations

import signal
import threading

_requested = threading.Event()


def _handler(signum, frame):  # pylint: disable=unused-argument
  _requested.set()
  raise KeyboardInterrupt


def install() -> None:
  """Makes Ctrl-C remembered as well as raised (from the main thread; elsewhere a no-op)."""
  if threading.current_thread() is threading.main_thread():
    _requested.clear()
    signal.signal(signal.SIGINT, _handler)


def check() -> None:
  """Raises KeyboardInterrupt if Ctrl-C was pressed since `install()` (once per press)."""
  if _requested.is_set():
    _requested.clear()
    raise KeyboardInterrupt
