"""Per-epoch training metrics as TensorBoard event files (`config.log.tensorboard`).

tensorboardX writes the files without TensorFlow; it is imported only when a run asks for logs,
so jaxfer itself never needs it. Every training call writes event files of its own in the model's
`tensorboard` folder, and the first file of a resumed call tells TensorBoard to drop what the
interrupted call had logged from the epoch it resumes at, so a resumed run reads as one.
"""
from __future__ import annotations

import importlib
import os
import time
from typing import Any, Mapping

FOLDER = 'tensorboard'
INSTALL = 'pip install -e ".[tensorboard]"'

# The tags, one value per epoch (the step); the evaluation's is `accuracy_tag(evaluated_on)`.
TRAIN_LOSS = 'train/loss'
TRAIN_ACCURACY = 'train/accuracy'
LEARNING_RATE = 'train/learning_rate'


def accuracy_tag(evaluated_on: str) -> str:
  """The tag of the evaluation accuracy, named for the split it is measured on: 'validation'
  or 'test' (`Dataset.evaluated_on`)."""
  return f'{evaluated_on}/accuracy'


def directory(model_dir: str) -> str:
  """Where the event files of the model trained in `model_dir` go."""
  return os.path.join(model_dir, FOLDER)


def require() -> None:
  """ValueError, in one line naming the setting and the install command, unless tensorboardX
  can be imported: the config check calls it, so a run that cannot log never starts."""
  try:
    importlib.import_module('tensorboardX')
  except ImportError as error:
    raise ValueError(f'config.log.tensorboard = True needs tensorboardX ({error}); install it '
                     f'with {INSTALL}, or set config.log.tensorboard=False') from None


def _summary_writer(model_dir: str, purge_from: int | None) -> Any:
  """A tensorboardX SummaryWriter on a new event file in `directory(model_dir)`.

  tensorboardX names a file by the second it was opened and the host, and truncates a file of
  the same name: the suffix (the time in nanoseconds, then the process) keeps two files of one
  second apart and in the order they were opened, which is the order TensorBoard reads them in.
  """
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  suffix = f'.{time.time_ns()}.{os.getpid()}'
  return SummaryWriter(directory(model_dir), purge_step=purge_from, filename_suffix=suffix)


class EpochLog:
  """The event file of one training call, opened at its first epoch's `write` (a call that
  trains no epoch makes no file and no folder)."""

  def __init__(self, model_dir: str, first_epoch: int):
    self.model_dir = model_dir
    # Epochs from `first_epoch` on in files of earlier calls were interrupted and trained again.
    self._purge_from = first_epoch if first_epoch > 1 else None
    self._writer = None

  def write(self, epoch: int, scalars: Mapping[str, float]) -> None:
    """`scalars` {tag: value} at step `epoch`, flushed: the file is complete after each epoch,
    so a killed run loses nothing it trained and TensorBoard shows a run as it goes."""
    if self._writer is None:
      self._writer = _summary_writer(self.model_dir, self._purge_from)
    for tag, value in scalars.items():
      self._writer.add_scalar(tag, float(value), epoch)
    self._writer.flush()

  def close(self) -> None:
    """Flushes and closes the file, if one was opened."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def append(model_dir: str, epoch: int, scalars: Mapping[str, float]) -> None:
  """`scalars` at step `epoch` in a file of their own: for what is known only after training
  returns (the final epoch's evaluation)."""
  log = EpochLog(model_dir, first_epoch=1)
  try:
    log.write(epoch, scalars)
  finally:
    log.close()
