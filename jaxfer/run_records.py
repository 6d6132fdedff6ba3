"""What a model directory records about the settings that made it, and the comparison that lets
a run resume there only with the same settings.

Each trained thing (teacher, student, face net) writes `config.json` in its directory the first
time: its `fingerprint`, the settings that determine it as plain JSON. A later run compares its
own fingerprint with the recorded one and is refused, naming the fields, when they differ.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

from jaxfer import artifacts
from jaxfer import models

# Settings added to jaxfer after runs had been recorded without them, with the value that does
# what jaxfer did before each existed. A recorded run that lacks one was trained with that value,
# so resuming it (or joining its study) with another value is a change, not a new default.
ADDED_SETTINGS = {
    'teacher.ema_decay': 0.0, 'teacher.label_smoothing': 0.0,
    'student.ema_decay': 0.0, 'student.label_smoothing': 0.0,
    'search.replicates': 1, 'search.paired_seeds': False,
    'teacher.pretrain': 'none', 'student.pretrain': 'none',
    'student.family': 'microexpnet', 'student.depth': 4,
    'data.validation_fraction': 0.0, 'data.validation_seed': 0, 'data.train_fraction': 1.0,
}
# Where the data are, not what they are: the data's identity (`Dataset.identity`), compared
# separately, tells whether the files themselves are the same.
DATA_LOCATIONS = ('data_dir', 'manual_dir')


def _data(config: Any) -> dict[str, Any]:
  data = {key: value for key, value in config.data.to_dict().items()
          if key not in DATA_LOCATIONS}
  if not data.get('validation_fraction'):  # No validation set: recorded as before there was one.
    data.pop('validation_fraction', None)
    data.pop('validation_seed', None)
  if data.get('train_fraction', 1.0) == 1.0:  # All of the training side: recorded as before.
    data.pop('train_fraction', None)
  return data


def _face_net(config: Any) -> dict[str, Any]:
  section = config.facenet2expnet
  face_net = {'face_net': section.face_net}
  if section.face_net == 'identity':
    face_net['identity'] = section.identity.to_dict()
    face_net['architecture'] = config.teacher.get(section.identity.model, {}).to_dict()
  return {'seed': config.seed, 'data': _data(config), 'face_net': face_net}


def _stage1(config: Any) -> dict[str, Any]:
  section = config.facenet2expnet
  return {**_face_net(config)['face_net'], 'loss': section.loss,
          'standardize_targets': section.standardize_targets, 'stage1': section.stage1.to_dict()}


def _with_stage1(settings: dict[str, Any], config: Any, section: str) -> dict[str, Any]:
  """A pre-trained network is determined by its stage 1 too."""
  if config[section].pretrain != 'none':
    settings['facenet2expnet'] = _stage1(config)
  return settings


def _teacher(config: Any) -> dict[str, Any]:
  # Only the chosen architecture's settings: changing another's does not change this teacher.
  # Where a teacher comes from (`artifact`, `cache`) does not determine it.
  teacher = {key: value for key, value in config.teacher.to_dict().items()
             if key not in ('artifact', 'cache')
             and (key not in models.TEACHERS or key == config.teacher.model)}
  return _with_stage1({'seed': config.seed, 'data': _data(config), 'teacher': teacher,
                       'eval_batch_size': config.eval_batch_size}, config, 'teacher')


def _student_settings(config: Any) -> dict[str, Any]:
  student = config.student.to_dict()
  if student.get('family', 'microexpnet') == 'microexpnet':
    student.pop('depth', None)  # A MicroExpNet has no depth: changing it changes nothing.
  return student


def _student(config: Any, teacher_logits_sha256: str | None = None) -> dict[str, Any]:
  return _with_stage1({'seed': config.seed, 'data': _data(config),
                       'student': _student_settings(config), 'distill': config.distill.to_dict(),
                       'teacher_logits_sha256': teacher_logits_sha256}, config, 'student')


# The fingerprint of each thing a run directory holds, by name.
FINGERPRINTS: dict[str, Callable[..., dict[str, Any]]] = {
    'data': _data,  # What the data are (config.data without where they are).
    'face_net': _face_net,  # The face net's features: face net, its settings, seed and data.
    'stage1': _stage1,  # FaceNet2ExpNet's stage 1 of a network: the face net and stage 1.
    'teacher': _teacher,  # A teacher and its logits.
    'student': _student,  # A student: its settings, the data and its teacher's logits.
}


def fingerprint(section: str, config: Any, **known: Any) -> dict[str, Any]:
  """The settings that determine `section` (a name in `FINGERPRINTS`) of `config`, as plain
  JSON values; a student also takes `teacher_logits_sha256` (None without a teacher)."""
  return json.loads(json.dumps(FINGERPRINTS[section](config, **known)))


def record_or_compare(directory: str, settings: dict, what: str) -> None:
  """Writes `settings` to `directory`/config.json the first time; afterwards refuses (ValueError
  naming the fields) to train a `what` there with other settings."""
  path = os.path.join(directory, 'config.json')
  settings = json.loads(json.dumps(settings))
  if not os.path.exists(path):
    os.makedirs(directory, exist_ok=True)
    artifacts.write_json(path, settings)
    return
  with open(path) as f:
    changed = changed_fields(json.load(f), settings)
  if changed:
    raise ValueError(f'{directory} holds a {what} trained with other settings (config.'
                     f'{", config.".join(changed)} differ); delete it or use another directory')


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
