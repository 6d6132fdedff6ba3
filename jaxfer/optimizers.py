"""The optimizer of every trained network: Adam with decoupled weight decay and a learning-rate
schedule by name (`config.<section>.optimizer`)."""
from __future__ import annotations

import functools
from typing import Any

import optax

SCHEDULES = ('constant', 'cosine', 'warmup_cosine')


def make_optimizer(optimizer_config: Any, steps_per_epoch: int,
                   num_epochs: int) -> optax.GradientTransformation:
  """Adam with decoupled weight decay and the configured learning-rate schedule.

  The same settings give the same object: the optimizer is a static part of the train state, so
  runs of one process that share it (the folds, seeds and trials of a study) also share the
  compiled train step instead of tracing and lowering it again (seconds per run on a CPU).
  """
  return _optimizer(optimizer_config.schedule, float(optimizer_config.learning_rate),
                    float(optimizer_config.weight_decay), int(optimizer_config.warmup_epochs),
                    steps_per_epoch, num_epochs)


def learning_rate_schedule(optimizer_config: Any, steps_per_epoch: int,
                           num_epochs: int) -> optax.Schedule:
  """The learning rate by step (the count of updates made before) of the optimizer that
  `make_optimizer` makes from the same arguments."""
  return _schedule(optimizer_config.schedule, float(optimizer_config.learning_rate),
                   int(optimizer_config.warmup_epochs), steps_per_epoch, num_epochs)


def _schedule(schedule: str, lr: float, warmup_epochs: int, steps_per_epoch: int,
              num_epochs: int) -> optax.Schedule:
  total = steps_per_epoch * num_epochs
  schedules = {
      'constant': lambda: optax.constant_schedule(lr),
      'cosine': lambda: optax.cosine_decay_schedule(lr, total),
      'warmup_cosine': lambda: optax.warmup_cosine_decay_schedule(
          0.0, lr, min(steps_per_epoch * warmup_epochs, total - 1), total),
  }
  return schedules[schedule]()


@functools.lru_cache(maxsize=64)
def _optimizer(schedule: str, lr: float, weight_decay: float, warmup_epochs: int,
               steps_per_epoch: int, num_epochs: int) -> optax.GradientTransformation:
  return optax.adamw(_schedule(schedule, lr, warmup_epochs, steps_per_epoch, num_epochs),
                     weight_decay=weight_decay)
