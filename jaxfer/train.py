"""Training and evaluation: `train_and_evaluate(config, workdir)` is the one entry point.

For a student it takes the teacher as an artifact (`jaxfer.teacher`): the one named by
`config.teacher.artifact`, or one trained once in WORKDIR/teacher, whose logits on the training
images are fed to every student step as data. Every epoch is checkpointed with orbax, so a
killed run restarts where it stopped and ends with the same numbers. Each model folder is held
by one process at a time (`jaxfer.locks`): two runs on one work directory train each model
once, the later one waiting and then reusing (or resuming) what the first made.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os

import jax
import ml_collections
import numpy as np

from jaxfer import artifacts
from jaxfer import checkpoints
from jaxfer import configuration
from jaxfer import data as data_lib
from jaxfer import facenet2expnet
from jaxfer import locks
from jaxfer import loop
from jaxfer import model_files
from jaxfer import models
from jaxfer import outputs
from jaxfer import run_records
from jaxfer import teacher as teacher_lib

logger = logging.getLogger('jaxfer')


def needs_teacher(config: ml_collections.ConfigDict) -> bool:
  """Whether the student of `config` is distilled from a teacher network."""
  return (config.target == 'student' and config.distill.loss != 'none'
          and config.distill.source == 'teacher')


def teacher_artifact_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Where the student's teacher is: `config.teacher.artifact` ('{fold}' is the fold number),
  or WORKDIR/teacher."""
  if config.teacher.artifact:
    return config.teacher.artifact.format(fold=config.data.fold)
  return os.path.join(workdir, 'teacher')


def require_teacher(config: ml_collections.ConfigDict, workdir: str) -> None:
  """FileNotFoundError, creating nothing, if the run is to read a teacher trained elsewhere
  (`config.teacher.artifact`) and there is none."""
  if needs_teacher(config) and config.teacher.artifact:
    teacher_lib.require(teacher_artifact_dir(config, workdir))


def fold_config(config: ml_collections.ConfigDict, fold: int) -> ml_collections.ConfigDict:
  """`config` with `data.fold` set to `fold`."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.data.fold = fold
  return config


def preflight(config: ml_collections.ConfigDict, workdir: str, *, cv: bool = False,
              workdir_name: str = 'the work directory') -> None:
  """The checks of a run before it starts, creating nothing but the work directory: the config,
  the teacher artifact of each fold it trains (with `cv`, of every fold) and a work directory
  that can be written. The doors (`train_and_evaluate`, `crossval.cross_validate`) call it
  first, and the `jaxfer` command before its logging starts."""
  configuration.validate(config)
  if cv and config.data.num_folds < 2:
    raise ValueError(f'config.data.num_folds = {config.data.num_folds}: cross-validation needs '
                     'at least 2 folds (the paper used 10)')
  for fold in range(config.data.num_folds) if cv else [config.data.fold]:
    require_teacher(fold_config(config, fold), workdir)  # Before anything is created.
  outputs.make_writable_dir(workdir, workdir_name)


def _write_result(result: loop.Result, *paths: str) -> None:
  for path in paths:  # Atomically: a run on the same work directory may be reading it.
    artifacts.write_json(path, dataclasses.asdict(result))


def _soft_label_logits(dataset: data_lib.Dataset) -> np.ndarray:
  """Log-probabilities of the dataset's soft labels (FER+ votes), used as teacher logits."""
  if 'soft_label' not in dataset.train:
    raise ValueError(f'config.distill.source = \'soft_labels\' needs a dataset with soft labels; '
                     f'{dataset.identity.get("dataset")} has none (fer2013 with '
                     'builder_kwargs.ferplus=\'soft\' has)')
  return np.log(np.maximum(dataset.train['soft_label'].astype(np.float32), 1e-6))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> loop.Result:
  """Trains `config.target` and evaluates it on the test split (or test fold).

  The teacher is an artifact (see `jaxfer.teacher`): trained once in WORKDIR/teacher, or read
  from `config.teacher.artifact`. A student with a distillation loss gets the teacher's logits
  on the training images (or, with `config.distill.source='soft_labels'`, the dataset's soft
  labels) with every step. Writes `result.json` in `workdir` and in the model's directory.

  Args:
    config: a config as returned by `configs/default.py:get_config()`.
    workdir: directory for checkpoints and results; reusing it resumes the run.

  Returns:
    The `Result` of the trained model.
  """
  preflight(config, workdir)
  dataset = data_lib.load(config.data)
  if config.target == 'teacher':
    result = teacher_lib.train(config, os.path.join(workdir, 'teacher'), dataset).result
    _write_result(result, os.path.join(workdir, 'result.json'))
    return result

  teacher, teacher_logits = None, None
  if needs_teacher(config):
    directory = teacher_artifact_dir(config, workdir)
    if config.teacher.artifact:
      teacher = teacher_lib.load(directory, dataset)
      logger.info('teacher: logits read from the artifact %s (%s accuracy %.4f)', directory,
                  teacher.result.evaluated_on, teacher.result.accuracy)
    else:
      teacher = teacher_lib.train(config, directory, dataset)
    teacher_logits = teacher.logits
  elif config.distill.loss != 'none':
    teacher_logits = _soft_label_logits(dataset)

  student_dir = os.path.join(workdir, 'student')
  # A second run on the same work directory waits here, then finds the student finished (it
  # is only evaluated again, to the same result) or resumes it from the last checkpoint.
  with locks.held(student_dir, 'student'):
    run_records.record_or_compare(student_dir, run_records.fingerprint(
        'student', config, teacher_logits_sha256=teacher.logits_sha256 if teacher else None),
                                  'student')
    spec = facenet2expnet.with_pretraining(loop.fit_spec(config, 'student', dataset.num_classes),
                                           config, dataset, student_dir)
    per_example = {} if teacher_logits is None else {'teacher_logits': teacher_logits}
    state, seconds = loop.fit(spec, dataset, student_dir, per_example)
    extra = {}
    if teacher is not None:
      extra = dict(teacher_accuracy=teacher.result.accuracy, teacher_params=teacher.result.params,
                   teacher_artifact=teacher.directory, teacher_logits_sha256=teacher.logits_sha256)
    result = loop.summarize(spec, state, dataset, student_dir, seconds, **extra)
    _write_result(result, os.path.join(student_dir, 'result.json'),
                  os.path.join(workdir, 'result.json'))
  logger.info('student: %s accuracy %.4f, %d parameters (%d bytes)', result.evaluated_on,
              result.accuracy, result.params, result.size_bytes)
  return result


def has_checkpoint(workdir: str, target: str) -> bool:
  """Whether WORKDIR/TARGET holds a checkpoint (reads only)."""
  return checkpoints.latest_epoch(os.path.join(workdir, target)) is not None


def require_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                       target: str | None = None) -> str:
  """The directory of `target` (default `config.target`) in `workdir`; FileNotFoundError saying
  what to run if it has no checkpoint. Creates nothing."""
  target = target or config.target
  model_dir = os.path.join(workdir, target)
  if not has_checkpoint(workdir, target):
    command = 'train-teacher' if target == 'teacher' else 'distill'
    raise FileNotFoundError(f'no {target} checkpoint in {checkpoints.directory(model_dir)};'
                            f' train one first with `jaxfer {command} --config ... --workdir '
                            f'{workdir}`')
  return model_dir


def _restore_newest(config: ml_collections.ConfigDict, workdir: str, target: str):
  """(dataset, spec, state, epoch, model directory) of the newest intact checkpoint of `target`
  in `workdir`; FileNotFoundError, creating nothing, if there is none."""
  model_dir = require_checkpoint(config, workdir, target)
  dataset = data_lib.load(config.data)
  spec = loop.fit_spec(config, target, dataset.num_classes)
  state, _ = loop.initial_state(spec, dataset)
  state, epoch = checkpoints.restore_newest_intact(model_dir, state, spec.name)
  if not epoch:
    raise FileNotFoundError(f'no intact {target} checkpoint in '
                            f'{checkpoints.directory(model_dir)}')
  return dataset, spec, state, epoch, model_dir


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> loop.Result:
  """Evaluates the latest checkpoint of `config.target` in `workdir` on the test split.

  Writes `evaluation.json` in `workdir`; raises FileNotFoundError, creating nothing, if nothing
  was trained there.
  """
  configuration.validate(config)
  dataset, spec, state, epoch, model_dir = _restore_newest(config, workdir, config.target)
  result = loop.summarize(spec, state, dataset, model_dir, 0.0)
  result.epochs = epoch
  _write_result(result, os.path.join(workdir, 'evaluation.json'))
  return result


TEST_RESULT = 'test_result.json'


def evaluate_held_out_test(config: ml_collections.ConfigDict, workdir: str,
                           target: str = 'student') -> dict:
  """Evaluates the trained `target` ('student' or 'teacher') of `workdir` once on the test split
  that its validation set kept aside (`Dataset.held_out_test`).

  Model choices are made on validation accuracy; this is a trained model's one look at the test
  split. Writes `test_result.json` (accuracy, per-class accuracy, confusion matrix, the epoch and
  the data) in WORKDIR/TARGET atomically, and reads it back instead of evaluating again while
  the checkpoint and data are the same. `train_and_evaluate` never calls it (nor do search
  trials).

  Returns:
    The contents of `test_result.json`.
  """
  configuration.validate(config)
  if data_lib.validation_fraction(config.data) <= 0:
    raise ValueError(f'config.data.validation_fraction = {config.data.validation_fraction}: '
                     'there is no held-out test split (the test split is what every evaluation '
                     'reads already); set it above 0 to keep the test split for the final model')
  dataset, _, state, epoch, model_dir = _restore_newest(config, workdir, target)
  path = os.path.join(model_dir, TEST_RESULT)
  identity = json.loads(json.dumps(dataset.identity))
  if os.path.exists(path):
    with open(path) as f:
      recorded = json.load(f)
    if recorded.get('epoch') == epoch and recorded.get('data') == identity:
      return recorded
  metrics = loop.evaluate_logits(
      loop.predict(state, dataset.held_out_test['image'], config.eval_batch_size),
      dataset.held_out_test['label'], dataset.class_names)
  validation_accuracy = None
  result_path = os.path.join(model_dir, 'result.json')
  if os.path.exists(result_path):
    with open(result_path) as f:
      validation_accuracy = json.load(f).get('accuracy')
  test_result = {'target': target, 'evaluated_on': 'test', **metrics,
                 'validation_accuracy': validation_accuracy,
                 'test_images': len(dataset.held_out_test['label']),
                 'class_names': list(dataset.class_names), 'epoch': epoch,
                 'checkpoint_dir': checkpoints.directory(model_dir), 'data': identity}
  artifacts.write_json(path, test_result)
  logger.info('%s: test accuracy %.4f on the held-out test split (%d images; validation '
              'accuracy %s)', target, metrics['accuracy'], test_result['test_images'],
              'unknown' if validation_accuracy is None else f'{validation_accuracy:.4f}')
  return test_result


def evaluate_model(student: model_files.Student,
                   config: ml_collections.ConfigDict) -> loop.Result:
  """Scores a student on disk (trained, exported or imported) on the test split of `config.data`.

  The test images are given the student's own input size and test-time view (its config.json),
  whatever `config.data` says, so an imported MicroExpNet sees the original's 224/256 window.
  Writes nothing; ValueError when the student's classes are not the dataset's.
  """
  configuration.validate(config)
  model_files.check_classes(student, config.data)  # Before the dataset is prepared.
  data_config = ml_collections.ConfigDict(config.data.to_dict())
  data_config.update(image_size=student.image_size, eval_crop=student.eval_crop)
  dataset = data_lib.load(data_config)
  logits = model_files.logits(student, dataset.test['image'], config.eval_batch_size)
  metrics = loop.evaluate_logits(logits, dataset.test['label'], dataset.class_names)
  return loop.Result(target='student', params=models.count_params(student.params),
                     size_bytes=int(sum(x.nbytes for x in jax.tree.leaves(student.params))),
                     epochs=0, train_seconds=0.0, workdir=student.directory, checkpoint_dir='',
                     class_names=list(dataset.class_names), fold_hash=dataset.fold_hash,
                     data=dataset.identity, evaluated_on=dataset.evaluated_on, **metrics)
