"""Checks a run's config before any work starts, naming the field and what it accepts."""
from __future__ import annotations

from typing import Any, Iterable

from jaxfer import distill
from jaxfer import models
from jaxfer.data import DATASETS
from jaxfer.data import preprocess

TARGETS = ('student', 'teacher')
SCHEDULES = ('constant', 'cosine', 'warmup_cosine')
DISTILL_SOURCES = ('teacher', 'soft_labels')


def _get(config: Any, field: str) -> Any:
  value = config
  for part in field.split('.'):
    if part not in value:
      raise ValueError(f'config.{field} is missing; start from configs/default.py, which sets it')
    value = value[part]
  return value


def _choice(config: Any, field: str, allowed: Iterable[str]) -> None:
  allowed = tuple(allowed)
  value = _get(config, field)
  if value not in allowed:
    raise ValueError(f'config.{field} = {value!r} is not allowed; choose one of: '
                     f'{", ".join(map(str, allowed))}')


def _number(config: Any, field: str, *, low: float, high: float = float('inf'),
            low_inclusive: bool = False, integer: bool = False) -> None:
  value = _get(config, field)
  ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
  in_range = (value >= low if low_inclusive else value > low) and value <= high
  if isinstance(value, bool) or not ok_type or not in_range:
    kind = 'an integer' if integer else 'a number'
    bound = '>=' if low_inclusive else '>'
    upper = f' and <= {high}' if high != float('inf') else ''
    raise ValueError(f'config.{field} = {value!r} is not allowed; expected {kind} {bound} {low}'
                     f'{upper}')


def validate(config: Any) -> None:
  """Raises ValueError on the first field whose value is not allowed."""
  _choice(config, 'target', TARGETS)
  _choice(config, 'data.name', DATASETS)
  _number(config, 'data.image_size', low=16, low_inclusive=True, integer=True)
  _number(config, 'data.num_folds', low=0, low_inclusive=True, integer=True)
  if _get(config, 'data.num_folds') == 1:
    raise ValueError('config.data.num_folds = 1 is not allowed; use 0 (the builder\'s splits) '
                     'or at least 2 folds')
  _number(config, 'data.fold', low=0, high=max(0, _get(config, 'data.num_folds') - 1),
          low_inclusive=True, integer=True)
  _number(config, 'data.fold_seed', low=0, low_inclusive=True, integer=True)
  _choice(config, 'data.crops', preprocess.CROPS)
  _choice(config, 'data.eval_crop', preprocess.EVAL_CROPS)
  _choice(config, 'distill.source', DISTILL_SOURCES)
  _choice(config, 'teacher.model', sorted(models.TEACHERS))
  _choice(config, 'student.pooling', models.POOLINGS)
  _choice(config, 'student.conv_impl', models.CONV_IMPLS)
  _choice(config, 'student.standardize', (False, True))
  _number(config, 'student.seed', low=-1, low_inclusive=True, integer=True)
  _number(config, 'student.squeeze', low=0)
  _number(config, 'student.width', low=0)
  _number(config, 'student.dropout', low=0, high=0.99, low_inclusive=True)
  _choice(config, 'distill.loss', distill.LOSSES)
  _number(config, 'distill.temperature', low=0)
  _number(config, 'distill.lam', low=0, high=1, low_inclusive=True)
  for role in ('teacher', 'student'):
    _number(config, f'{role}.num_epochs', low=1, low_inclusive=True, integer=True)
    _number(config, f'{role}.batch_size', low=1, low_inclusive=True, integer=True)
    _number(config, f'{role}.augment_shift', low=0, low_inclusive=True, integer=True)
    _choice(config, f'{role}.augment_flip', (False, True))
    _choice(config, f'{role}.optimizer.schedule', SCHEDULES)
    _number(config, f'{role}.optimizer.learning_rate', low=0)
    _number(config, f'{role}.optimizer.weight_decay', low=0, low_inclusive=True)
    _number(config, f'{role}.optimizer.warmup_epochs', low=0, low_inclusive=True, integer=True)
  for field in ('checkpoint_every_epochs', 'eval_every_epochs', 'eval_batch_size'):
    _number(config, field, low=1, low_inclusive=True, integer=True)


def changed_fields(previous: Any, current: Any, prefix: str = '') -> list[str]:
  """Dotted names of the settings of a recorded run (`previous`) that `current` changes.

  A field missing from `previous` was added to jaxfer after that run began; its default keeps
  the old behaviour, so it is not a change.
  """
  if not isinstance(previous, dict) or not isinstance(current, dict):
    return [] if previous == current else [prefix.rstrip('.')]
  changed = []
  for key in sorted(previous):
    if key not in current:
      changed.append(prefix + key)
    else:
      changed += changed_fields(previous[key], current[key], f'{prefix}{key}.')
  return changed
