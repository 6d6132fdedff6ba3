"""Epoch checkpoints of one model (orbax), and resuming from the newest one that is intact.

A run killed while writing, a truncated data file or an empty step folder must not block a
resume: a step that fails to restore is set aside (moved, never deleted) with a warning and the
next older step is used; with none left the model starts again from its first epoch.
"""
from __future__ import annotations

import gc
import logging
import os
import sys
import time
from typing import Any

import orbax.checkpoint as ocp

from jaxfer import interrupts

logger = logging.getLogger('jaxfer')

MAX_TO_KEEP = 2
DAMAGED = 'damaged_checkpoints'


def directory(model_dir: str) -> str:
  """Where the checkpoints of the model trained in `model_dir` live."""
  return os.path.abspath(os.path.join(model_dir, 'checkpoints'))


def manager(model_dir: str) -> ocp.CheckpointManager:
  """A manager that saves into (and creates) `model_dir/checkpoints`, keeping the last two."""
  return ocp.CheckpointManager(directory(model_dir), options=ocp.CheckpointManagerOptions(
      max_to_keep=MAX_TO_KEEP, create=True))


def latest_epoch(model_dir: str) -> int | None:
  """The newest saved step of `model_dir`, or None; creates nothing."""
  path = directory(model_dir)
  if not os.path.isdir(path):
    return None
  with interrupts.deferred(), ocp.CheckpointManager(path) as reader:
    return reader.latest_step()


def _collect_quietly() -> None:
  """Collects what a failed restore left behind without printing it.

  Orbax leaves the coroutines of a failed read pending; when they are garbage-collected later,
  Python prints each one's traceback ('Exception ignored in: <coroutine ...>'), long after the
  one-line warning that says what happened. They are collected here, with that hook silenced.
  """
  hook = sys.unraisablehook
  sys.unraisablehook = lambda unraisable: None
  try:
    gc.collect()
  finally:
    sys.unraisablehook = hook


def restore_newest_intact(model_dir: str, template: Any, name: str) -> tuple[Any, int]:
  """(state, epoch) of the newest checkpoint in `model_dir` that restores into `template`;
  (`template`, 0) when there is none. Damaged steps are moved to `model_dir/damaged_checkpoints`.
  """
  path = directory(model_dir)
  while os.path.isdir(path):
    # Uninterrupted (see `interrupts.deferred`): the next training step acts on a Ctrl-C.
    with interrupts.deferred(), ocp.CheckpointManager(path) as reader:
      step = reader.latest_step()
      if step is None:
        break
      try:
        return reader.restore(step, args=ocp.args.StandardRestore(template)), int(step)
      # Whatever the damage (tensorstore, missing metadata, wrong structure), the step is
      # unusable; it is kept aside for inspection and the next one is tried.
      except Exception as error:  # pylint: disable=broad-except
        reason = ' '.join(str(error).split())[:200] or type(error).__name__
    _collect_quietly()
    aside = os.path.join(model_dir, DAMAGED, f'{step}-{time.strftime("%Y%m%d-%H%M%S")}')
    os.makedirs(os.path.dirname(aside), exist_ok=True)
    os.replace(os.path.join(path, str(step)), aside)
    logger.warning('%s: the checkpoint of epoch %d cannot be restored (%s); moved it to %s and '
                   'trying the one before', name, step, reason, aside)
  return template, 0
