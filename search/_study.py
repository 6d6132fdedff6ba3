"""Running a study: storage, the objective (one `train_and_evaluate` per fold) and size pruning.

Every trial trains a student with `jaxfer.train.train_and_evaluate`, the same function as the
`jaxfer` command, on `folds_per_trial` folds; the teacher of each fold is trained once, in
RUN_DIR/teachers/fold_k, and its logits are read from the shared cache by every trial.
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import re
import socket
import time
from typing import Any, Sequence
import warnings

import ml_collections
import numpy as np
import optuna

from jaxfer import configuration
from jaxfer import train
from search import _report
from search import _samplers
from search import _space

logger = logging.getLogger('jaxfer.search')

OBJECTIVES = {'accuracy': 'maximize', 'size': 'minimize', 'latency': 'minimize'}
# Optuna 4.9 renamed RetryFailedTrialCallback; the old name still works with a warning.
RETRY_CALLBACK = getattr(optuna.storages, 'RetryHeartbeatStaleTrialCallback',
                         optuna.storages.RetryFailedTrialCallback)
# fail_dead_workers_trials leaves trials younger than this alone (see there).
DEAD_WORKER_GRACE_S = 30
PACKAGES = ('jaxfer', 'jax', 'flax', 'optax', 'optuna', 'orbax-checkpoint', 'numpy')


def redact(url: str) -> str:
  """`url` with any password replaced by ***, for logs, errors and reports."""
  return re.sub(r'(://[^:/@]+:)[^@]*@', r'\1***@', url)


def storage_url(storage: str, run_dir: str) -> str:
  """The storage of a study: '' means an SQLite file in `run_dir`."""
  return storage or f'sqlite:///{os.path.abspath(os.path.join(run_dir, "study.db"))}'


def make_storage(storage: str, run_dir: str, *, heartbeat_interval: int = 60,
                 max_retry: int = 2) -> optuna.storages.BaseStorage:
  """An Optuna storage: 'journal:PATH' (a journal file), or an RDB URL (sqlite, postgresql).

  RDB storages get heartbeats, so a trial whose worker died becomes FAIL after
  2 x `heartbeat_interval` seconds and is retried (at most `max_retry` times).
  """
  url = storage_url(storage, run_dir)
  if url.startswith('journal:'):
    path = url[len('journal:'):]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(path)
    return optuna.storages.JournalStorage(backend)
  if url.startswith('postgresql://'):  # psycopg 3, whatever SQLAlchemy's default driver.
    url = 'postgresql+psycopg://' + url[len('postgresql://'):]
  if url.startswith('sqlite:///'):
    os.makedirs(os.path.dirname(url[len('sqlite:///'):]) or '.', exist_ok=True)
  # Heartbeats are marked experimental in Optuna; they are the documented way to fail the trials
  # of dead workers, so the warning would only repeat at every trial.
  warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)
  for attempt in range(3):
    try:
      return optuna.storages.RDBStorage(
          url, heartbeat_interval=heartbeat_interval, grace_period=2 * heartbeat_interval,
          heartbeat_stale_trial_callback=RETRY_CALLBACK(max_retry=max_retry))
    except Exception as error:  # pylint: disable=broad-except  (drivers raise many kinds)
      # Workers started together on a new database race to create its tables; the loser
      # fails on a unique constraint and finds the tables made when it tries again.
      message = str(error).lower()
      if attempt < 2 and ('unique constraint' in message or 'already exists' in message):
        time.sleep(1 + attempt)
        continue
      raise ValueError(f'cannot open the study storage {redact(url)}: '
                       f'{redact(str(error)).splitlines()[0]}') from None


def directions(objectives: Sequence[str]) -> list[str]:
  """Optuna directions of the configured objectives, or ValueError naming the bad one."""
  for name in objectives:
    if name not in OBJECTIVES:
      raise ValueError(f'config.search.objectives has {name!r}; choose among: '
                       f'{", ".join(OBJECTIVES)}')
  if list(objectives[:2]) != ['accuracy', 'size']:
    raise ValueError(f'config.search.objectives = {tuple(objectives)}; expected accuracy and '
                     'size first (latency may follow)')
  return [OBJECTIVES[name] for name in objectives]


def package_versions() -> dict[str, str]:
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = 'not installed'
  return versions


def trial_config(config: ml_collections.ConfigDict, values: dict[str, Any], trial_number: int,
                 run_dir: str) -> ml_collections.ConfigDict:
  """The run config of one trial: its parameter values, its seed, the study's shared teachers."""
  run = _space.apply(config, values)
  # The student's random keys and data order derive from (study seed, trial number); the
  # teachers keep `config.seed`, so every trial shares them.
  run.student.seed = _samplers.derived_seed(config.search.seed, trial_number)
  run.teacher.workdir = os.path.join(os.path.abspath(run_dir), 'teachers', 'fold_{fold}')
  return run


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
  info = _report.front_info(study.get_trials(deepcopy=False))
  return list(zip(info.accuracy[info.on_front], info.size_bytes[info.on_front]))


@dataclasses.dataclass
class Objective:
  """The study's objective: trains the trial's student on each fold, prunes by size."""
  config: ml_collections.ConfigDict
  run_dir: str
  target: int

  def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
    search_config = self.config.search
    # First, so that a trial whose process dies can be told apart from one still running.
    trial.set_user_attr('worker', this_worker())
    _check_not_surplus(trial, self.target)
    values = _space.suggest(trial, self.space)
    # A retry (of a dead worker's or an interrupted trial) carries the original's attributes:
    # it takes the original's seeds and directory and resumes from its last checkpoints.
    origin = trial.user_attrs.get('origin_trial', trial.number)
    trial.set_user_attr('origin_trial', origin)
    run = trial_config(self.config, values, origin, self.run_dir)
    trial.set_user_attr('config', json.loads(run.to_json()))
    trial.set_user_attr('versions', package_versions())
    folds = _fold_indices(run, search_config.folds_per_trial)
    # Studies may share a run directory (and its teachers), e.g. a search and its grid baseline.
    trial_dir = os.path.join(os.path.abspath(self.run_dir), 'trials', trial.study.study_name,
                             f'trial_{origin:04d}')
    trial.set_user_attr('trial_dir', trial_dir)
    accuracies, result = [], None
    for index, fold in enumerate(folds):
      run.data.fold = fold
      prepare_teacher(run)
      workdir = os.path.join(trial_dir, f'fold_{fold}')
      result = train.train_and_evaluate(run, workdir)
      accuracies.append(result.accuracy)
      trial.set_user_attr('fold_hash', result.fold_hash)
      trial.set_user_attr('fold_accuracies', accuracies)
      trial.set_user_attr('params', result.params)
      remaining = len(folds) - index - 1
      if search_config.prune and remaining:
        bound = reachable_accuracy(accuracies, len(folds))
        better = dominated_at_best(bound, result.size_bytes, completed_front(trial.study))
        if better is not None:
          reason = (f'after {index + 1} of {len(folds)} folds its best reachable accuracy '
                    f'{bound:.4f} at {result.size_bytes} bytes cannot beat the front point '
                    f'({better[0]:.4f}, {better[1]:.0f} bytes)')
          trial.set_user_attr('pruned_reason', reason)
          logger.info('trial %d pruned: %s', trial.number, reason)
          raise optuna.TrialPruned(reason)
    objectives = [float(np.mean(accuracies)), float(result.size_bytes)]
    if 'latency' in search_config.objectives:
      objectives.append(_latency_ms(run, result))
    return tuple(objectives)

  @property
  def space(self):
    if self.config.search.sampler == 'grid-paper':
      return _space.paper_grid(self.config.search.space)
    return self.config.search.space


def prepare_teacher(run: ml_collections.ConfigDict) -> None:
  """Trains the fold's shared teacher (and prepares the dataset) once, under a file lock, so
  that workers started together do not train it twice in the same directory."""
  if run.distill.loss == 'none' or run.distill.source != 'teacher':
    return
  import fcntl  # pylint: disable=g-import-not-at-top  (POSIX only)
  teacher_dir = run.teacher.workdir.format(fold=run.data.fold)
  os.makedirs(os.path.dirname(teacher_dir), exist_ok=True)
  with open(teacher_dir + '.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      # result.json is written once the teacher has finished; the study's settings, checked by
      # open_study, are the teacher's, so a finished teacher needs no second look here.
      if os.path.exists(os.path.join(teacher_dir, 'result.json')):
        return
      teacher = ml_collections.ConfigDict(run.to_dict())
      teacher.target = 'teacher'
      train.train_and_evaluate(teacher, teacher_dir)
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


class SurplusTrial(Exception):
  """A worker asked for a trial after the others had already claimed all of them."""


def _check_not_surplus(trial: optuna.Trial, target: int) -> None:
  """Raises SurplusTrial (the trial is recorded as FAIL, never run) if `target` trials numbered
  before this one are finished, running or waiting: two workers raced for the last one."""
  claimed = sum(t.number < trial.number and t.state in CLAIMED
                for t in trial.study.get_trials(deepcopy=False))
  if claimed >= target:
    trial.set_user_attr('surplus', True)
    raise SurplusTrial(f'trial {trial.number}: the study already has {target} trials')


def _fold_indices(run: ml_collections.ConfigDict, folds_per_trial: int) -> list[int]:
  if run.data.num_folds < 2:
    return [0]
  return list(range(min(folds_per_trial, run.data.num_folds)))


def _latency_ms(run: ml_collections.ConfigDict, result: train.Result) -> float:
  return measure_latency_ms(run.student, len(result.class_names), run.data.image_size,
                            run.search.latency_repeats)


def measure_latency_ms(student_config: ml_collections.ConfigDict, num_classes: int,
                       image_size: int, repeats: int) -> float:
  """Median milliseconds of one batch-1 inference of the student, compile time excluded.

  Latency depends on the architecture only, so freshly initialised parameters are timed.
  """
  import time  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  model = models.make_student(student_config, num_classes)
  image = jnp.zeros((1, image_size, image_size, 1), jnp.float32)
  variables = model.init(jax.random.key(0), image)
  apply = jax.jit(model.apply)
  apply(variables, image).block_until_ready()  # Compile outside the timing.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    apply(variables, image).block_until_ready()
    times.append(time.perf_counter() - start)
  return float(np.median(times) * 1000)


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
CLAIMED = FINISHED + (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)


def this_worker() -> str:
  """This process as trials record their worker: 'host:pid'."""
  return f'{socket.gethostname()}:{os.getpid()}'


def worker_alive(worker: str) -> bool | None:
  """Whether the process `worker` ('host:pid', as trials record it) is running; None when it is
  on another host, or unknown."""
  host, _, pid = worker.rpartition(':')
  if host != socket.gethostname() or not pid.isdigit():
    return None
  try:
    os.kill(int(pid), 0)  # Signal 0 only checks that the process exists.
  except ProcessLookupError:
    return False
  except PermissionError:  # Exists, run by another user.
    return True
  return True


def _just_started(trial: optuna.trial.FrozenTrial) -> bool:
  # A retry starts with its original's attributes, dead worker included, until its own worker
  # records itself a moment later.
  age = datetime.datetime.now() - (trial.datetime_start or datetime.datetime.now())
  return age.total_seconds() < DEAD_WORKER_GRACE_S


def fail_dead_workers_trials(study: optuna.Study, max_retry: int) -> list[int]:
  """Journal files have no heartbeats: fails the running trials whose worker process, on this
  host, has exited, and queues each again as the heartbeat callback of RDB storages does.
  Returns the numbers of the trials failed here."""
  failed = []
  for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
    if _just_started(trial) or worker_alive(trial.user_attrs.get('worker', '')) is not False:
      continue
    try:
      study._storage.set_trial_state_values(  # pylint: disable=protected-access
          trial._trial_id, optuna.trial.TrialState.FAIL)  # pylint: disable=protected-access
    except optuna.exceptions.UpdateFinishedTrialError:
      continue  # Another worker failed it first, and queued it again.
    logger.warning('trial %d: its worker %s has exited; failed and queued again', trial.number,
                   trial.user_attrs['worker'])
    RETRY_CALLBACK(max_retry=max_retry)(
        study, study._storage.get_trial(trial._trial_id))  # pylint: disable=protected-access
    failed.append(trial.number)
  return failed


def requeue_interrupted(study: optuna.Study, max_retry: int) -> int | None:
  """Queues again the last trial this process ran if it failed (as Optuna marks a trial
  stopped by Ctrl-C), so that running the study again resumes it from its checkpoints.
  Returns its number, or None."""
  mine = [t for t in study.get_trials(deepcopy=False)
          if t.user_attrs.get('worker') == this_worker()]
  if not mine or mine[-1].state != optuna.trial.TrialState.FAIL or mine[-1].user_attrs.get(
      'surplus'):
    return None
  RETRY_CALLBACK(max_retry=max_retry)(study, mine[-1])
  return mine[-1].number


def open_study(config: ml_collections.ConfigDict, run_dir: str,
               storage: str | None = None) -> optuna.Study:
  """Creates the study of `config.search`, or loads it if it exists in the storage."""
  search_config = config.search
  _space.check(search_config.space)
  url = storage_url(search_config.storage if storage is None else storage, run_dir)
  study = optuna.create_study(
      study_name=search_config.study_name,
      storage=make_storage(url, run_dir, heartbeat_interval=search_config.heartbeat_interval,
                           max_retry=search_config.max_retry),
      directions=directions(search_config.objectives), load_if_exists=True,
      sampler=_samplers.TrialSeededSampler(search_config.sampler, search_config.seed,
                                           search_config.space))
  settings = json.loads(search_config.to_json())
  settings.pop('storage', None)  # May hold a password; where the study lives is not a setting.
  previous = study.user_attrs.get('search_config')
  if previous is None:
    study.set_user_attr('search_config', settings)
    study.set_user_attr('run_config', json.loads(config.to_json()))
    return study
  # More (or fewer) trials continue the same study.
  changed = [field for field in configuration.changed_fields(previous, settings)
             if field != 'n_trials']
  if changed:
    raise ValueError(f'the study {search_config.study_name!r} in {redact(url)} was started with '
                     f'other search settings (config.search.{", config.search.".join(changed)} '
                     'differ); use another --config.search.study_name or run directory')
  return study


def run_study(config: ml_collections.ConfigDict, run_dir: str, *, n_trials: int | None = None,
              storage: str | None = None) -> optuna.Study:
  """Runs (or resumes) the study until `n_trials` (default config.search.n_trials) trials have
  finished, counting those of other workers; returns the study.

  Each trial's sampler is seeded from (study seed, trial number): a study run in one process gives
  the same trials whether or not it was interrupted and resumed, and concurrent workers differ.
  """
  os.makedirs(run_dir, exist_ok=True)
  study = open_study(config, run_dir, storage)
  target = n_trials or config.search.n_trials
  if config.search.sampler == 'grid-paper':  # The grid is finished after its 28 points.
    target = min(target, _space.PAPER_GRID_TRIALS)
  objective = Objective(config, run_dir, target)
  journal = storage_url(config.search.storage if storage is None else storage,
                        run_dir).startswith('journal:')
  while True:
    # Trials of dead workers become FAIL here and are queued again: by their heartbeats (RDB
    # storages), or by their process having exited (journal files, one host).
    optuna.storages.fail_stale_trials(study)
    if journal:
      fail_dead_workers_trials(study, config.search.max_retry)
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in FINISHED for t in trials)
    claimed = sum(t.state in CLAIMED for t in trials)
    if finished >= target:
      return study
    if claimed >= target and not any(t.state == optuna.trial.TrialState.WAITING for t in trials):
      if journal and not any(_just_started(t) or worker_alive(t.user_attrs.get('worker', ''))
                             for t in trials if t.state == optuna.trial.TrialState.RUNNING):
        return study  # The running trials belong to other hosts: nothing to wait for here.
      # Wait for the other workers' trials: done, or failed and queued again for us to take.
      time.sleep(min(config.search.heartbeat_interval, 10))
      continue
    logger.info('trial %d of %d (study %s)', finished + 1, target, study.study_name)
    try:
      study.optimize(objective, n_trials=1, catch=(FloatingPointError, SurplusTrial))
    except KeyboardInterrupt:
      number = requeue_interrupted(study, config.search.max_retry)
      if number is not None:
        logger.warning('trial %d interrupted: it is queued again and resumes from its last '
                       'checkpoint when the study runs again', number)
      raise


def student_bytes(config: ml_collections.ConfigDict, num_classes: int = 8) -> int:
  """Bytes of the float32 parameters of `config.student` at `config.data.image_size`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  model = models.make_student(config.student, num_classes)
  image = jnp.zeros((1, config.data.image_size, config.data.image_size, 1))
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), image))
  return 4 * models.count_params(shapes['params'])


def size_limit(config: ml_collections.ConfigDict) -> int:
  """The largest student of the space or of the paper's grid: the hypervolume reference size."""
  candidates = [{'size': 'M', 'width': 1.0}]
  user = config.search.space.to_dict()
  widths = user.get('width', config.student.width)
  width = widths['high'] if isinstance(widths, dict) and 'high' in widths else (
      max(widths['choices']) if isinstance(widths, dict) else widths)
  candidates.append({'width': width})
  poolings = user.get('pooling', config.student.pooling)
  poolings = poolings['choices'] if isinstance(poolings, dict) else [poolings]
  return max(student_bytes(_space.apply(config, {**values, 'pooling': pooling}))
             for values in candidates for pooling in poolings)


def pick(study: optuna.Study, *, knee: bool = False, max_size: float | None = None,
         min_accuracy: float | None = None) -> optuna.trial.FrozenTrial:
  """A front trial: the knee, the most accurate within `max_size` bytes, or the smallest with at
  least `min_accuracy`; ValueError saying what the front offers if none qualifies."""
  trials = {t.number: t for t in study.get_trials(deepcopy=False)}
  info = _report.front_info(list(trials.values()))
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


def export(trial: optuna.trial.FrozenTrial, out_dir: str) -> dict[str, str]:
  """Writes the trial's student (first fold) as params.msgpack, with config.json and result.json.

  Returns the written paths by name.
  """
  import flax.serialization  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  trial_dir = trial.user_attrs.get('trial_dir', '')
  folds = sorted(f for f in os.listdir(trial_dir) if f.startswith('fold_')) if os.path.isdir(
      trial_dir) else []
  if not folds:
    raise FileNotFoundError(f'trial {trial.number} has no student checkpoints in {trial_dir!r}; '
                            'was the run directory moved or cleaned?')
  fold_dir = os.path.join(trial_dir, folds[0], 'student')
  manager = ocp.CheckpointManager(os.path.join(fold_dir, 'checkpoints'))
  try:
    restored = manager.restore(manager.latest_step())
  finally:
    manager.close()
  os.makedirs(out_dir, exist_ok=True)
  paths = {name: os.path.join(out_dir, name) for name in
           ('params.msgpack', 'config.json', 'result.json')}
  with open(paths['params.msgpack'], 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(restored['params']))
  with open(paths['config.json'], 'w') as f:
    json.dump(trial.user_attrs['config'], f, indent=2)
  with open(os.path.join(fold_dir, 'result.json')) as f:
    result = json.load(f)
  result.update(trial=trial.number, values=list(trial.values), params_search=trial.params)
  with open(paths['result.json'], 'w') as f:
    json.dump(result, f, indent=2)
  return paths


def load_study(name: str, run_dir: str, storage: str) -> optuna.Study:
  """An existing study by name, or ValueError listing the studies the storage holds."""
  url = storage_url(storage, run_dir)
  backend = make_storage(url, run_dir)
  names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
  if name not in names:
    raise ValueError(f'no study {name!r} in {redact(url)}; it holds: {", ".join(names) or "none"}')
  return optuna.load_study(study_name=name, storage=backend)
