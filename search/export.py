"""Choosing a student on a study's front and writing it out for use outside the study."""
from __future__ import annotations

import json
import os

import numpy as np
import optuna

from jaxfer import checkpoints
from search import pareto
from search import storage as storage_lib


def pick(study: optuna.Study, *, knee: bool = False, max_size: float | None = None,
         min_accuracy: float | None = None) -> optuna.trial.FrozenTrial:
  """A front trial: the knee, the most accurate within `max_size` bytes, or the smallest with at
  least `min_accuracy`; ValueError saying what the front offers if none qualifies."""
  trials = {t.number: t for t in study.get_trials(deepcopy=False)}
  info = pareto.front_info(list(trials.values()))
  if not info.numbers:
    raise ValueError(f'the study {study.study_name!r} has no completed trial yet')
  front = [trials[info.numbers[k]] for k in np.flatnonzero(info.on_front)]
  offer = ', '.join(f'{100 * t.values[0]:.1f}% at {t.values[1]:,.0f} bytes (trial {t.number})'
                    for t in sorted(front, key=lambda t: t.values[1]))
  if knee:
    return trials[info.numbers[info.knee]]
  if max_size is not None:
    fitting = [t for t in front if t.values[1] <= max_size]
    if not fitting:
      raise ValueError(f'no front trial is at most {max_size:,.0f} bytes; the front: {offer}')
    return max(fitting, key=lambda t: (t.values[0], -t.values[1]))
  if min_accuracy is not None:
    fitting = [t for t in front if t.values[0] >= min_accuracy]
    if not fitting:
      raise ValueError(f'no front trial reaches accuracy {min_accuracy}; the front: {offer}')
    return min(fitting, key=lambda t: (t.values[1], -t.values[0]))
  raise ValueError('choose the trial with --knee, --max_size=BYTES or --min_accuracy=X')


# What export-best writes (batch_stats.msgpack for a student with BatchNorm, model.onnx with
# --format onnx): --overwrite replaces only a folder holding nothing else.
FILES = ('params.msgpack', 'config.json', 'result.json', 'batch_stats.msgpack', 'model.onnx')


def student_dir(trial: optuna.trial.FrozenTrial) -> str:
  """The trial's student checkpoint folder (first fold); FileNotFoundError if it has none."""
  trial_dir = trial.user_attrs.get('trial_dir', '')
  folds = sorted(f for f in os.listdir(trial_dir) if f.startswith('fold_')) if os.path.isdir(
      trial_dir) else []
  fold_dir = os.path.join(trial_dir, folds[0], 'student') if folds else ''
  if not fold_dir or checkpoints.latest_epoch(fold_dir) is None:
    raise FileNotFoundError(f'trial {trial.number} has no student checkpoint in {trial_dir!r}; '
                            'was the run directory moved or cleaned?')
  return fold_dir


def held_out_test(trial: optuna.trial.FrozenTrial, fold_dir: str, fold: int) -> dict | None:
  """The test result of the trial's student in `fold_dir`, trained on fold `fold` (evaluated
  once, see `jaxfer.train.evaluate_held_out_test`) when its study chose on a validation set,
  else None."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  from jaxfer import data as data_lib  # pylint: disable=g-import-not-at-top
  from jaxfer import train  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict(trial.user_attrs['config'])
  if data_lib.validation_fraction(config.data) <= 0:
    return None
  return train.evaluate_held_out_test(train.fold_config(config, fold), os.path.dirname(fold_dir))


def export(trial: optuna.trial.FrozenTrial, out_dir: str) -> dict[str, str]:
  """Writes the trial's student (first fold) as params.msgpack, with config.json and result.json
  (and batch_stats.msgpack when the network has BatchNorm).

  When the study's config has a validation set (its values are validation accuracies), the
  student is evaluated once on the held-out test split and result.json records both
  accuracies (`validation_accuracy`, `test_accuracy`). Returns the written paths by name.
  """
  import flax.serialization  # pylint: disable=g-import-not-at-top
  from jaxfer import model_files  # pylint: disable=g-import-not-at-top
  fold_dir = student_dir(trial)
  variables = model_files.restore_variables(fold_dir)
  os.makedirs(out_dir, exist_ok=True)
  paths = {name: os.path.join(out_dir, name) for name in FILES[:3]}
  for collection, name in (('params', 'params.msgpack'),
                           ('batch_stats', model_files.BATCH_STATS_FILE)):
    if collection in variables:  # batch_stats: only a student with BatchNorm has them.
      paths[name] = os.path.join(out_dir, name)
      with open(paths[name], 'wb') as f:
        f.write(flax.serialization.msgpack_serialize(variables[collection]))
  with open(paths['config.json'], 'w') as f:
    # Recorded with passwords masked; masked again for trials recorded before they were.
    f.write(storage_lib.redact(json.dumps(trial.user_attrs['config'], indent=2)))
  with open(os.path.join(fold_dir, 'result.json')) as f:
    result = json.load(f)
  result.update(trial=trial.number, values=list(trial.values), params_search=trial.params)
  # The fold the student was trained on, as its run recorded it (none without folds: 0).
  test = held_out_test(trial, fold_dir, result.get('data', {}).get('fold', 0))
  if test is not None:
    result.update(validation_accuracy=result['accuracy'], test_accuracy=test['accuracy'],
                  test_images=test['test_images'],
                  test_per_class_accuracy=test['per_class_accuracy'])
  with open(paths['result.json'], 'w') as f:
    json.dump(result, f, indent=2)
  return paths
