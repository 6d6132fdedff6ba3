"""Running a study: opening it, the worker loop, and recovering the trials of dead workers.

Any number of processes (`jaxfer-search worker`, or `run --workers N`) share one study through
its storage; each runs trials until the study has `n_trials` finished ones. A worker that dies
leaves its trial to be failed and queued again: by heartbeats (SQLite, PostgreSQL) or, for
journal files, by the next worker on the same host seeing that the trial's process has exited.
"""
from __future__ import annotations

import datetime
import logging
import os
import signal
import socket
import subprocess
import time
from typing import Sequence

import ml_collections
import optuna

from jaxfer import interrupts
from jaxfer import outputs
from jaxfer import run_records
from search import configuration as search_configuration
from search import objective as objective_lib
from search import pareto
from search import samplers
from search import storage as storage_lib

logger = logging.getLogger('jaxfer.search')

# fail_dead_workers_trials leaves trials younger than this alone: a retried trial carries its
# original's worker until the worker that took it records itself, the first thing the objective
# does (only the sampler's relative sampling, well under a second, comes before).
DEAD_WORKER_GRACE_S = 10
# How long `run` waits for the workers it started to stop after Ctrl-C: a worker acts on it at
# its next training step, or once the XLA compilation in progress ends.
HELPER_STOP_S = 20


def usable_cores() -> list[int]:
  """The CPU cores this process may run on."""
  usable = getattr(os, 'sched_getaffinity', None)
  return sorted(usable(0)) if usable else list(range(os.cpu_count() or 1))


def default_worker_count() -> int:
  """How many workers `jaxfer-search run` starts when not told: one per usable core on the CPU.

  One XLA:CPU training process keeps only part of the machine busy: on the 2-core CPU, two
  processes train 1.25-1.3 times the images per second of one process on both cores
  (benchmarks/RESULTS.md, `speed.py --all-cores`). They are not pinned to a core each, though
  that adds 5-10%: a worker training a teacher while the others wait for it uses every core.
  An accelerator is one device, used by one worker.
  """
  import jax  # pylint: disable=g-import-not-at-top
  return len(usable_cores()) if jax.default_backend() == 'cpu' else 1


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


def start_helper(helpers: list[subprocess.Popen], command: Sequence[str], log_path: str,
                 environment: dict[str, str]) -> None:
  """Starts the worker process `command`, logging to `log_path`, and adds it to `helpers` (which
  the caller stops on Ctrl-C, `stop_helpers`).

  It starts with SIGINT blocked: a Ctrl-C that lands while its interpreter starts waits for its
  handler (`interrupts.install` unblocks it) instead of ending it with a traceback. Ctrl-C is
  deferred here meanwhile, so that no started process is left out of `helpers`.
  """
  with interrupts.deferred(), open(log_path, 'w') as log:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # What the child inherits.
    try:
      helpers.append(subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT,
                                      env=environment))
    finally:
      signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
  interrupts.check()


def stop_helpers(helpers: Sequence[subprocess.Popen], grace_s: float = HELPER_STOP_S) -> None:
  """Stops the worker processes `helpers` as Ctrl-C would (each puts its trial back in the queue
  and exits), killing those still running after `grace_s` seconds (their trials are then
  retried as a dead worker's)."""
  for helper in helpers:
    if helper.poll() is None:
      helper.send_signal(signal.SIGINT)
  deadline = time.monotonic() + grace_s
  for helper in helpers:
    try:
      helper.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      logger.warning('worker process %d did not stop within %.0f s of Ctrl-C; killed (its trial '
                     'is retried when the study runs again)', helper.pid, grace_s)
      helper.kill()
      helper.wait()


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
      frozen = study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    # ValueError: it was no longer running when read; UpdateFinishedTrialError: another worker
    # finished it in between. Either way another worker failed it first, and queued it again.
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
      continue
    logger.warning('trial %d: its worker %s has exited; failed and queued again', trial.number,
                   trial.user_attrs['worker'])
    storage_lib.queue_again(study, frozen, max_retry)
    failed.append(trial.number)
  return failed


def open_study(config: ml_collections.ConfigDict, run_dir: str,
               storage: str | None = None) -> optuna.Study:
  """Creates the study of `config.search`, or loads it if the storage has it; the run config
  must then be the one it was started with (apart from where things are and how many trials).
  """
  search_configuration.validate(config)
  # Its writes are made whole: a Ctrl-C among them is acted on after.
  with interrupts.deferred():
    study = _open_study(config, run_dir, storage)
  interrupts.check()
  return study


def _open_study(config: ml_collections.ConfigDict, run_dir: str,
                storage: str | None) -> optuna.Study:
  search_config = config.search
  url = storage_lib.storage_url(search_config.storage if storage is None else storage, run_dir)
  study = optuna.create_study(
      study_name=search_config.study_name,
      storage=storage_lib.make_storage(url, heartbeat_interval=search_config.heartbeat_interval,
                                       max_retry=search_config.max_retry),
      directions=pareto.directions(search_config.objectives), load_if_exists=True,
      sampler=samplers.TrialSeededSampler(search_config.sampler, search_config.seed,
                                          search_config.space))
  current = objective_lib.comparable_config(config)
  previous = study.user_attrs.get('run_config')
  if study.metric_names is None:  # New, or made before studies named their objectives.
    with storage_lib.quiet_experimental_warnings():
      study.set_metric_names([pareto.METRIC_NAMES[name] for name in search_config.objectives])
  if previous is None:
    # Where its trials and report are: `report` of the study elsewhere would replace another's.
    study.set_user_attr('run_dir', os.path.abspath(run_dir))
    study.set_user_attr('run_config', current)
    study.set_user_attr('search_config', current['search'])
    return study
  changed = run_records.changed_fields(previous, current)
  if changed:
    raise ValueError(f'the study {search_config.study_name!r} in {storage_lib.redact(url)} was '
                     f'started with another run config (config.{", config.".join(changed)} '
                     'differ); its trials would not compare with new ones. Name another '
                     'study with --study NAME, or use another run directory or the settings it '
                     'was started with')
  return study


def run_study(config: ml_collections.ConfigDict, run_dir: str, *, n_trials: int | None = None,
              storage: str | None = None) -> optuna.Study:
  """Runs (or resumes) the study until `n_trials` (default config.search.n_trials) trials have
  finished, counting those of other workers; returns the study.

  Each trial's sampler is seeded from (study seed, trial number): a study run in one process gives
  the same trials whether or not it was interrupted and resumed, and concurrent workers differ.
  """
  if n_trials is not None and n_trials < 1:
    raise ValueError(f'n_trials = {n_trials} is not allowed; expected an integer >= 1')
  outputs.make_writable_dir(run_dir, 'the run directory')
  study = open_study(config, run_dir, storage)
  target = n_trials or config.search.n_trials
  limit = samplers.trial_limit(config.search.sampler, config.search.space)
  if limit is not None:  # A grid is finished after its points.
    target = min(target, limit)
  objective = objective_lib.Objective(config, run_dir, target)
  journal = storage_lib.storage_url(config.search.storage if storage is None else storage,
                                    run_dir).startswith(storage_lib.JOURNAL)
  teachers_ready = False
  # Writes to the storage are not cut halfway by Ctrl-C: it is acted on in training, in waits and
  # between trials (`interrupts`), so a stopped worker leaves the study consistent.
  with interrupts.deferred():
    while True:
      interrupts.check()
      # Trials of dead workers become FAIL here and are queued again: by their heartbeats (RDB
      # storages), or by their process having exited (journal files, one host).
      with storage_lib.quiet_experimental_warnings():
        optuna.storages.fail_stale_trials(study)
      if journal:
        fail_dead_workers_trials(study, config.search.max_retry)
      trials = study.get_trials(deepcopy=False)
      finished = sum(t.state in pareto.FINISHED for t in trials)
      claimed = sum(t.state in objective_lib.CLAIMED for t in trials)
      if finished >= target:
        return study
      waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
      if claimed >= target and not waiting:
        if journal and not any(_just_started(t) or worker_alive(t.user_attrs.get('worker', ''))
                               for t in trials if t.state == optuna.trial.TrialState.RUNNING):
          return study  # The running trials belong to other hosts: nothing to wait for here.
        # Wait for the other workers' trials: done, or failed and queued again for us to take.
        interrupts.sleep(min(config.search.heartbeat_interval, 10))
        continue
      if not teachers_ready:
        with interrupts.immediate():
          objective_lib.prepare_teachers(config, run_dir)
        teachers_ready = True
      storage_lib.refresh_heartbeats(study, waiting)
      logger.info('trial %d of %d (study %s)', finished + 1, target, study.study_name)
      try:
        study.optimize(objective, n_trials=1,
                       catch=(FloatingPointError, objective_lib.SurplusTrial))
      except objective_lib.TrialInterrupted as interrupted:
        storage_lib.queue_in_place(study, interrupted.trial_id)
        logger.warning('trial %d interrupted: it waits in the study under its number and resumes '
                       'from its last checkpoint when the study runs again', interrupted.number)
        raise KeyboardInterrupt from None
