"""The study's objective: one `train_and_evaluate` per fold and seed, and the pruning rule.

Every trial trains a student with `jaxfer.train.train_and_evaluate`, the same function as the
`jaxfer` command, with `replicates` student seeds on each of `folds_per_trial` folds, distilled
from the fold's teacher artifact in RUN_DIR/teachers/fold_k/teacher (trained once, by
`prepare_teachers`, before the first trial). Its accuracy is the mean over those runs, with a
95% interval (search/intervals.py).
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
import socket
from typing import Any, Sequence

import ml_collections
import numpy as np
import optuna

from jaxfer import interrupts
from jaxfer import locks
from jaxfer import loop
from jaxfer import models
from jaxfer import train
from search import intervals
from search import pareto
from search import samplers
from search import space as space_lib
from search import storage as storage_lib
from search import tuning

logger = logging.getLogger('jaxfer.search')

PACKAGES = ('jaxfer', 'jax', 'flax', 'optax', 'optuna', 'orbax-checkpoint', 'numpy')
CLAIMED = pareto.FINISHED + (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
# Run-config fields that say where things are, how many trials, or what is logged beside the
# runs, not what is trained: they may differ between the machines (and runs) of one study.
LOCATION_FIELDS = ('search.storage', 'search.n_trials', 'data.data_dir', 'data.manual_dir',
                   'teacher.artifact', 'log.tensorboard')


def this_worker() -> str:
  """This process as trials record their worker: 'host:pid'."""
  return f'{socket.gethostname()}:{os.getpid()}'


def package_versions() -> dict[str, str]:
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = 'not installed'
  return versions


def public_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`config` as plain JSON values with any storage password masked: what is recorded."""
  record = json.loads(config.to_json())
  if 'search' in record:
    record['search']['storage'] = storage_lib.public_url(record['search'].get('storage', ''))
  return record


def comparable_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The recorded config without `LOCATION_FIELDS`, the ablation's cells (they are its
  study's space already) and where its power plan takes its noise from: what must match for
  trials to compare. The margin stays: fixed before the data, a resume may not change it."""
  record = public_config(config)
  for field in ('sizes', 'widths', 'poolings', 'temperatures', 'noise_from'):
    record.get('search', {}).get('ablation', {}).pop(field, None)
  for field in LOCATION_FIELDS:
    *parents, leaf = field.split('.')
    node = record
    for parent in parents:
      node = node.get(parent, {})
    node.pop(leaf, None)
  return record


def fold_indices(config: ml_collections.ConfigDict) -> list[int]:
  """The folds every trial trains on: the first `folds_per_trial` (fold 0 without folds)."""
  if config.data.num_folds < 2:
    return [0]
  return list(range(min(config.search.folds_per_trial, config.data.num_folds)))


def teachers_template(run_dir: str) -> str:
  """Where the study's teacher artifact of fold k lives ('{fold}' is k)."""
  return os.path.join(os.path.abspath(run_dir), 'teachers', 'fold_{fold}', 'teacher')


def face_nets_template(run_dir: str) -> str:
  """Where the study's face net of fold k lives for FaceNet2ExpNet students ('{fold}': k)."""
  return os.path.join(os.path.abspath(run_dir), 'teachers', 'fold_{fold}', 'face_net')


# Held by the worker training a fold's teacher, so that other workers train other folds' meanwhile.
TEACHER_CLAIM = '.teacher_claim'


def prepare_teachers(config: ml_collections.ConfigDict, run_dir: str) -> None:
  """Trains the teacher of every fold the trials use, once: each worker first trains the folds
  no other worker has claimed, in parallel with them, then waits for (or reads) the rest. A
  finished teacher is only read, and one in the teacher store (`jaxfer.teacher`) is copied."""
  if not train.needs_teacher(config):
    return
  teacher_config = ml_collections.ConfigDict(config.to_dict())
  teacher_config.update(target='teacher')
  teacher_config.teacher.artifact = ''
  waiting = []
  for fold in fold_indices(config):
    # The teacher's own run, as `jaxfer train-teacher` makes it: the artifact is WORKDIR/teacher.
    workdir = os.path.dirname(teachers_template(run_dir).format(fold=fold))
    with locks.claimed(workdir, TEACHER_CLAIM) as mine:
      if mine:
        logger.info('teacher of fold %d: %s', fold, workdir)
        train.train_and_evaluate(train.fold_config(teacher_config, fold), workdir)
      else:
        waiting.append((fold, workdir))
  for fold, workdir in waiting:  # Trained by other workers: wait for them, then read them.
    logger.info('teacher of fold %d: %s (trained by another worker)', fold, workdir)
    train.train_and_evaluate(train.fold_config(teacher_config, fold), workdir)


def trial_config(config: ml_collections.ConfigDict, values: dict[str, Any], trial_number: int,
                 run_dir: str, replicate: int = 0) -> ml_collections.ConfigDict:
  """The run config of one replicate of a trial: its parameter values, its student seed, the
  study's teachers."""
  run = space_lib.apply(config, values)
  # The student's random keys and data order derive from (study seed, trial number) for the
  # first replicate, and from (study seed, trial number, replicate) for the others; the
  # teachers keep `config.seed`, so every trial shares them.
  # With `paired_seeds` (ablations) they derive from (study seed, replicate) alone: replicate r
  # of every trial starts from the same key and sees the data in the same order, so two trials'
  # runs pair by fold and seed.
  if config.search.paired_seeds:
    numbers = (replicate,)
  else:
    numbers = (trial_number, replicate) if replicate else (trial_number,)
  run.student.seed = samplers.derived_seed(config.search.seed, *numbers)
  run.teacher.artifact = teachers_template(run_dir) if train.needs_teacher(config) else ''
  if not run.facenet2expnet.artifact:  # One face net per fold for every trial, as teachers.
    run.facenet2expnet.artifact = face_nets_template(run_dir)
  return run


def replicate_dir(trial_dir: str, fold: int, replicate: int) -> str:
  """Work directory of one run of a trial (the first replicate's is `fold_k`, as without
  replicates)."""
  name = f'fold_{fold}' + (f'_replicate_{replicate}' if replicate else '')
  return os.path.join(trial_dir, name)


def dominated_at_best(accuracy_upper_bound: float, size: float,
                      front: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
  """A front point at most `size` with accuracy at least `accuracy_upper_bound`, if any.

  Such a point dominates (or equals) anything this trial can still reach, so it may stop.
  """
  for accuracy, other_size in front:
    if other_size <= size and accuracy >= accuracy_upper_bound:
      return accuracy, other_size
  return None


def reachable_accuracy(fold_accuracies: Sequence[float], num_folds: int) -> float:
  """The best mean accuracy a trial can still reach: every remaining fold at 100%."""
  return (sum(fold_accuracies) + num_folds - len(fold_accuracies)) / num_folds


def replay_pruning(trials: Sequence[tuple[float, Sequence[float]]]) -> list[int]:
  """Folds each trial would have run with size pruning, from an unpruned study's records.

  `trials` are (size, fold accuracies) in the order they finished. The rule is the objective's:
  after each fold but the last, stop if a completed trial at most as large reaches the best
  accuracy still reachable. A replay cannot know which other points the sampler would have
  chosen once trials were pruned; it measures the rule on the same trials.
  """
  completed, folds_run = [], []
  for size, accuracies in trials:
    run = len(accuracies)
    for done in range(1, len(accuracies)):
      if dominated_at_best(reachable_accuracy(accuracies[:done], len(accuracies)), size,
                           completed):
        run = done
        break
    folds_run.append(run)
    if run == len(accuracies):
      completed.append((float(np.mean(accuracies)), size))
  return folds_run


def completed_front(study: optuna.Study) -> list[tuple[float, float]]:
  """(accuracy, size) of the completed trials on the current Pareto front."""
  info = pareto.front_info(study.get_trials(deepcopy=False))
  return list(zip(info.accuracy[info.on_front], info.size_bytes[info.on_front]))


class TrialInterrupted(BaseException):
  """Ctrl-C stopped the trial `trial_id` (number `number`) while it ran.

  A BaseException that is not a KeyboardInterrupt passes through Optuna's `optimize`, which would
  record the trial as failed (logging a traceback) and have it retried under a new number: the
  worker loop puts it back in the queue under its own number instead (`workers.run_study`)."""

  def __init__(self, number: int, trial_id: int):
    super().__init__(number, trial_id)
    self.number, self.trial_id = number, trial_id


class SurplusTrial(Exception):
  """A worker asked for a trial after the others had already claimed all of them."""


def check_not_surplus(trial: optuna.Trial, target: int) -> None:
  """Raises SurplusTrial (the trial is recorded as FAIL, never run) if `target` trials numbered
  before this one are finished, running or waiting: two workers raced for the last one."""
  claimed = sum(t.number < trial.number and t.state in CLAIMED
                for t in trial.study.get_trials(deepcopy=False))
  if claimed >= target:
    trial.set_user_attr('surplus', True)
    raise SurplusTrial(f'trial {trial.number}: the study already has {target} trials')


@dataclasses.dataclass
class Objective:
  """Trains the trial's student on each fold; stops it early when it cannot reach the front."""
  config: ml_collections.ConfigDict
  run_dir: str
  target: int

  def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
    try:
      return self._run(trial)
    except KeyboardInterrupt:
      # Optuna keeps no public handle on a trial's storage id; its storages take it.
      raise TrialInterrupted(trial.number, trial._trial_id) from None  # pylint: disable=protected-access

  def _run(self, trial: optuna.Trial) -> tuple[float, ...]:
    """The trial's objective values. The worker loop writes to the storage with Ctrl-C deferred
    (`workers.run_study`); training, which checkpoints what it has done, is stopped at once."""
    search_config = self.config.search
    # First, so that a trial whose process dies can be told apart from one still running.
    trial.set_user_attr('worker', this_worker())
    check_not_surplus(trial, self.target)
    values = space_lib.suggest(trial, self.space)
    tuned = tuning.tuned_values(self.config, values)  # Per size, from a finished study.
    if tuned:
      trial.set_user_attr('tuned', tuned)
      values.update(tuned)
    # A retry (of a dead worker's or an interrupted trial) carries the original's attributes:
    # it takes the original's seeds and directory and resumes from its last checkpoints.
    origin = trial.user_attrs.get('origin_trial', trial.number)
    trial.set_user_attr('origin_trial', origin)
    run = trial_config(self.config, values, origin, self.run_dir)
    trial.set_user_attr('config', public_config(run))
    trial.set_user_attr('versions', package_versions())
    folds = fold_indices(run)
    replicates = search_config.replicates
    # Studies may share a run directory (and its teachers), e.g. a search and its grid baseline.
    trial_dir = os.path.join(os.path.abspath(self.run_dir), 'trials', trial.study.study_name,
                             f'trial_{origin:04d}')
    trial.set_user_attr('trial_dir', trial_dir)
    # run_accuracies[k][r]: fold k, student seed r. Pruning looks after every run.
    run_accuracies, result = [], None
    test_images = [0] * len(folds)
    total = len(folds) * replicates
    for index, fold in enumerate(folds):
      run_accuracies.append([])
      for replicate in range(replicates):
        replicate_run = trial_config(self.config, values, origin, self.run_dir, replicate)
        with interrupts.immediate():
          result = train.train_and_evaluate(train.fold_config(replicate_run, fold),
                                            replicate_dir(trial_dir, fold, replicate))
        # XLA keeps every compiled program mapped: bounded here, so that a worker of hundreds
        # of students stays far below the kernel's limit of memory maps.
        loop.release_compiled_programs()
        run_accuracies[-1].append(result.accuracy)
        trial.set_user_attr('fold_hash', result.fold_hash)
        trial.set_user_attr('run_accuracies', run_accuracies)
        trial.set_user_attr('fold_accuracies', [float(np.mean(a)) for a in run_accuracies])
        # Faces in the fold's test set: the size of the test set's own sampling error.
        test_images[index] = int(np.sum(result.confusion_matrix))
        trial.set_user_attr('test_images', test_images[:index + 1])
        trial.set_user_attr('params', result.params)
        done = [a for fold_runs in run_accuracies for a in fold_runs]
        if search_config.prune and len(done) < total:
          bound = reachable_accuracy(done, total)
          better = dominated_at_best(bound, result.size_bytes, completed_front(trial.study))
          if better is not None:
            reason = (f'after {len(done)} of {total} runs ({index + 1} of {len(folds)} folds, '
                      f'{replicates} seeds each) its best reachable accuracy {bound:.4f} at '
                      f'{result.size_bytes} bytes cannot beat the front point '
                      f'({better[0]:.4f}, {better[1]:.0f} bytes)')
            trial.set_user_attr('pruned_reason', reason)
            logger.info('trial %d pruned: %s', trial.number, reason)
            raise optuna.TrialPruned(reason)
    interval = intervals.accuracy_interval(done)  # Every run, after the last.
    for name, value in intervals.as_attrs(interval).items():
      trial.set_user_attr(name, value)
    objectives = [interval.mean, float(result.size_bytes)]
    if 'latency' in search_config.objectives:
      objectives.append(models.latency_ms(run.student, run.data.image_size,
                                          len(result.class_names),
                                          search_config.latency_repeats))
    return tuple(objectives)

  @property
  def space(self):
    return samplers.trial_space(self.config.search.sampler, self.config.search.space)
