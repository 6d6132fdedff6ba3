"""Ctrl-C that is not lost: SIGINT remembered until a safe point of training acts on it.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. Raised inside
a garbage-collection callback (JAX registers one, and a training loop collects often), it is
printed as 'Exception ignored' with a traceback and dropped, and training goes on as if nothing
was pressed. The commands `install()` a handler that also remembers the signal, and keep such a
dropped interrupt from being printed; `check()`, called by the training loop after every step,
raises KeyboardInterrupt again when one was dropped. Inside `deferred()` (orbax's saves and
restores, whose threads hang or fail when interrupted halfway, and a search worker's writes to
its study's storage) Ctrl-C is only remembered, and `immediate()` raises it again where it lands
within such a block; so it is while a module is imported. Once one Ctrl-C has been raised, the
next ones are only remembered: the command is already stopping, and a second press must not
break its cleaning up.
"""
from __future__ import annotations

import builtins
import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator

_requested = threading.Event()
_deferring = False
_stopping = False  # A Ctrl-C was raised: the command is on its way out.


def _handler(signum, frame):  # pylint: disable=unused-argument
  global _stopping
  _requested.set()
  if not _deferring and not _stopping:
    _stopping = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
  """Ctrl-C pressed while the block runs is remembered, not raised: the next `check()` raises
  it. (Without `install()`, Ctrl-C is raised as usual.)"""
  global _deferring
  if not _in_main_thread():  # Signals are handled there: other threads change nothing.
    yield
    return
  previous, _deferring = _deferring, True
  try:
    yield
  finally:
    _deferring = previous


def _in_main_thread() -> bool:
  return threading.get_ident() == threading.main_thread().ident


@contextlib.contextmanager
def immediate() -> Iterator[None]:
  """Inside a `deferred()` block, Ctrl-C raised where it lands again (a remembered one as the
  block starts), for long work that checkpoints what it has done: training."""
  global _deferring
  if not _in_main_thread():
    yield
    return
  previous, _deferring = _deferring, False
  try:
    check()
    yield
  finally:
    _deferring = previous


def sleep(seconds: float) -> None:
  """`time.sleep` that a Ctrl-C ends at once, in or out of a `deferred()` block."""
  if _requested.wait(seconds):
    check()


def _whole_import(name, globals=None, locals=None, fromlist=(), level=0):  # pylint: disable=redefined-builtin
  """`__import__` with Ctrl-C deferred until the outermost import is done: compiled libraries
  crash the interpreter (jaxlib: a segmentation fault, then or later) or fail to import
  (tensorstore) when a KeyboardInterrupt cuts their loading short."""
  # Other threads import too (orbax saves in its own): Ctrl-C is the main thread's business.
  if _deferring or not _in_main_thread():
    return _import(name, globals, locals, fromlist, level)
  with deferred():
    module = _import(name, globals, locals, fromlist, level)
  check()
  return module


_import = builtins.__import__


def end_process(program: str, command: Callable[[], int]) -> int:
  """`command()`'s exit status, for a process of its own: a Ctrl-C before the command's own
  handling (while its modules load) is one line, and after any Ctrl-C (status 130) the process
  ends at once, without the interpreter's teardown, which can crash (a segmentation fault) over
  a compiled library whose import was cut short. What the command wrote is closed by then; only
  the standard streams are still buffered."""
  try:
    status = command()
  except KeyboardInterrupt:
    print(f'{program}: interrupted', file=sys.stderr)
    status = 130
  if status != 130:
    return status
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (OSError, ValueError):
      pass
  os._exit(status)  # pylint: disable=protected-access


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
  global _stopping
  if threading.current_thread() is threading.main_thread():
    if signal.getsignal(signal.SIGINT) is not _handler:  # Once: a press already made counts.
      _requested.clear()
      _stopping = False
      signal.signal(signal.SIGINT, _handler)
      # A process started with SIGINT blocked (a search's helper workers) gets the Ctrl-C
      # pressed while it started, now that it can end cleanly.
      signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # No import hook of importlib sees a whole import (a package and all it imports) as one.
    builtins.__import__ = _whole_import
    if not getattr(sys.unraisablehook, 'quiet_about_dropped_interrupts', False):
      sys.unraisablehook = _quiet_about_dropped_interrupts(sys.unraisablehook)


def check() -> None:
  """Raises KeyboardInterrupt if Ctrl-C was pressed since `install()` (once per press), in the
  main thread (where Python raises it too; another thread's work must not stop halfway)."""
  global _stopping
  if _requested.is_set() and _in_main_thread():
    _requested.clear()
    _stopping = True
    raise KeyboardInterrupt
