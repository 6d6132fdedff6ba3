"""Trials of workers that die (failed, retried) or are interrupted (queued again under their
numbers), resumed where they were."""
import os
import signal
import socket
import subprocess
import sys
import time

import optuna
import pytest

from conftest import run_in_process, search_worker_arguments, start_search_worker
from search import cli
from search import storage as storage_lib
from search import workers


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['sqlite', 'journal'])
def test_a_killed_workers_trial_fails_and_is_retried(tmp_path, data_dir, capfd, kind):
  # SQLite has heartbeats; a journal file has none, so the next worker sees that the trial's
  # process (recorded as host:pid) has exited.
  storage = (f'sqlite:///{tmp_path}/study.db' if kind == 'sqlite'
             else f'journal:{tmp_path}/journal.log')
  extra = ('--config.search.heartbeat_interval=1', '--config.student.num_epochs=20')
  first = start_search_worker(tmp_path, data_dir, storage, 'killed', 1, *extra)
  _wait_for_a_checkpoint(first, tmp_path / 'trials' / 'killed')
  first.send_signal(signal.SIGKILL)  # Mid-training: the student has saved a checkpoint.
  first.wait()
  output = _rerun(capfd, tmp_path, data_dir, storage, 'killed', *extra)
  study = optuna.load_study(study_name='killed', storage=storage_lib.make_storage(storage))
  _assert_resumed(study, output)


def _rerun(capfd, run_dir, data_dir, storage, study, *extra):
  """The output of the next worker on `study`, run to the end in the test's process (the worker
  that died or was interrupted was a process of its own)."""
  done = run_in_process(cli.main, capfd, *search_worker_arguments(run_dir, data_dir, storage,
                                                                   study, 1, *extra))
  assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
  return done.stdout + done.stderr


def _wait_for_a_checkpoint(worker, study_dir, timeout=300):
  """Waits until trial 0's student has saved its first epoch (orbax: a directory per step)."""
  checkpoints = study_dir / 'trial_0000' / 'fold_0' / 'student' / 'checkpoints'
  deadline = time.time() + timeout
  while not (checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())):
    assert time.time() < deadline and worker.poll() is None, worker.communicate()[0][-3000:]
    time.sleep(0.2)


def _assert_resumed(study, output):
  """Trial 0 failed; trial 1 ran its parameters in its directory, from its last checkpoint."""
  states = [t.state for t in study.trials]
  assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
  original, retry = study.trials
  with storage_lib.quiet_experimental_warnings():
    assert storage_lib.RETRY_CALLBACK.retried_trial_number(retry) == 0
  assert retry.params == original.params
  assert retry.user_attrs['origin_trial'] == 0
  assert retry.user_attrs['trial_dir'] == original.user_attrs['trial_dir']
  assert retry.user_attrs['config']['student']['seed'] == original.user_attrs['config'][
      'student']['seed']
  assert 'student: resumed from the checkpoint of epoch' in output


@pytest.mark.slow
def test_an_interrupted_trial_resumes_when_the_study_runs_again(tmp_path, data_dir, capfd):
  storage = f'sqlite:///{tmp_path}/study.db'
  extra = ('--config.student.num_epochs=20',)
  first = start_search_worker(tmp_path, data_dir, storage, 'interrupted', 1, *extra)
  _wait_for_a_checkpoint(first, tmp_path / 'trials' / 'interrupted')
  first.send_signal(signal.SIGINT)  # Ctrl-C.
  output = first.communicate(timeout=120)[0]
  assert first.returncode == 130, output[-3000:]
  assert 'run the same command again to resume' in output
  study = optuna.load_study(study_name='interrupted', storage=storage_lib.make_storage(storage))
  # Back in the queue under its own number, not failed and retried under another.
  assert [t.state for t in study.trials] == [optuna.trial.TrialState.WAITING]
  before = study.trials[0]
  output = _rerun(capfd, tmp_path, data_dir, storage, 'interrupted', *extra)
  study = optuna.load_study(study_name='interrupted', storage=storage_lib.make_storage(storage))
  assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]
  resumed = study.trials[0]
  assert resumed.params == before.params and resumed.user_attrs['origin_trial'] == 0
  assert resumed.user_attrs['trial_dir'] == before.user_attrs['trial_dir']
  assert 'student: resumed from the checkpoint of epoch' in output


def test_worker_alive_tells_live_dead_and_foreign_processes():
  live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
  host = socket.gethostname()
  try:
    assert workers.worker_alive(f'{host}:{live.pid}') is True
  finally:
    live.kill()
    live.wait()
  assert workers.worker_alive(f'{host}:{live.pid}') is False
  assert workers.worker_alive(f'another-{host}:{os.getpid()}') is None
  assert workers.worker_alive('') is None
