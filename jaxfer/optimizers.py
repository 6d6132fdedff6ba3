"""The optimizer of every trained network: Adam with decoupled weight decay and a learning-rate
schedule by name (`config.<section>.optimizer`)."""
from __future__ import annotations

from typing import Any

import optax

SCHEDULES = ('constant', 'cosine', 'warmup_cosine')


def make_optimizer(optimizer_config: Any, steps_per_epoch: int,
                   num_epochs: int) -> optax.GradientTransformation:
  """Adam with decoupled weight decay and the configured learning-rate schedule."""
  lr = optimizer_config.learning_rate
  total = steps_per_epoch * num_epochs
  schedules = {
      'constant': lambda: optax.constant_schedule(lr),
      'cosine': lambda: optax.cosine_decay_schedule(lr, total),
      'warmup_cosine': lambda: optax.warmup_cosine_decay_schedule(
          0.0, lr, min(steps_per_epoch * optimizer_config.warmup_epochs, total - 1), total),
  }
  return optax.adamw(schedules[optimizer_config.schedule](),
                     weight_decay=optimizer_config.weight_decay)
