"""Several `jaxfer-search worker` processes on one study: journal file, PostgreSQL, a killed one."""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import optuna
import pytest

from conftest import REPO
from search import _study

POSTGRES = 'postgresql://postgres@127.0.0.1:5432/test'


def _worker(run_dir, data_dir, storage, study, n_trials, *extra):
  command = [sys.executable, '-m', 'search.cli', 'worker', '--config', 'configs/search_test.py',
             '--run_dir', str(run_dir), f'--storage={storage}', f'--study={study}',
             f'--n_trials={n_trials}', f'--config.data.data_dir={data_dir}',
             f'--config.cache_dir={run_dir}/cache', '--config.search.folds_per_trial=1', *extra]
  return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def _finish(workers, timeout=900):
  outputs = [worker.communicate(timeout=timeout)[0] for worker in workers]
  for worker, output in zip(workers, outputs):
    assert worker.returncode == 0, output[-3000:]
  return outputs


def _assert_exactly(study, n_trials):
  finished = [t for t in study.trials if t.state in _study.FINISHED]
  assert len(finished) == n_trials
  assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
  points = [tuple(sorted(t.params.items())) for t in finished]
  assert len(set(points)) == n_trials  # No trial was run twice.
  surplus = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
  assert all(t.user_attrs.get('surplus') for t in surplus)


def test_two_workers_on_one_journal_file_finish_exactly_n_trials(tmp_path, data_dir):
  storage = f'journal:{tmp_path}/journal.log'
  workers = [_worker(tmp_path, data_dir, storage, 'shared', 4) for _ in range(2)]
  _finish(workers)
  study = optuna.load_study(study_name='shared', storage=_study.make_storage(storage, tmp_path))
  _assert_exactly(study, 4)
  # Both folds' teachers were trained once, not once per worker.
  assert os.listdir(tmp_path / 'teachers' / 'fold_0' / 'checkpoints')


def test_run_with_workers_starts_helpers_that_share_the_study(tmp_path, data_dir):
  run = subprocess.run(
      [sys.executable, '-m', 'search.cli', 'run', '--config', 'configs/search_test.py',
       '--run_dir', str(tmp_path), '--workers', '2', '--n_trials=4',
       f'--config.data.data_dir={data_dir}', f'--config.cache_dir={tmp_path}/cache',
       '--config.search.folds_per_trial=1'],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
  assert run.returncode == 0, run.stdout[-3000:]
  study = optuna.load_study(study_name='test', storage=_study.make_storage('', tmp_path))
  _assert_exactly(study, 4)
  helper_log = (tmp_path / 'worker_1.log').read_text()
  assert 'worker done: study test has' in helper_log
  # Every trial records the process that ran it (host:pid).
  for trial in study.trials:
    host, pid = trial.user_attrs['worker'].rsplit(':', 1)
    assert host and int(pid) > 0
  assert (tmp_path / 'report.md').exists()


def _postgres_reachable():
  try:
    optuna.get_all_study_summaries(_study.make_storage(POSTGRES, '.'))
    return True
  except Exception:  # pylint: disable=broad-except
    return False


@pytest.mark.skipif(not _postgres_reachable(), reason=f'no PostgreSQL server at {POSTGRES}')
def test_two_workers_on_postgresql_finish_exactly_n_trials(tmp_path, data_dir):
  name = f'jaxfer-test-{uuid.uuid4().hex[:8]}'
  workers = [_worker(tmp_path / f'host{k}', data_dir, POSTGRES, name, 3) for k in range(2)]
  try:
    _finish(workers)
    study = optuna.load_study(study_name=name, storage=_study.make_storage(POSTGRES, '.'))
    _assert_exactly(study, 3)
  finally:
    optuna.delete_study(study_name=name, storage=_study.make_storage(POSTGRES, '.'))


@pytest.mark.parametrize('kind', ['sqlite', 'journal'])
def test_a_killed_workers_trial_fails_and_is_retried(tmp_path, data_dir, kind):
  # SQLite has heartbeats; a journal file has none, so the next worker sees that the trial's
  # process (recorded as host:pid) has exited.
  storage = (f'sqlite:///{tmp_path}/study.db' if kind == 'sqlite'
             else f'journal:{tmp_path}/journal.log')
  extra = ('--config.search.heartbeat_interval=1', '--config.student.num_epochs=30')
  first = _worker(tmp_path, data_dir, storage, 'killed', 1, *extra)
  _wait_for_a_checkpoint(first, tmp_path / 'trials' / 'killed')
  first.send_signal(signal.SIGKILL)  # Mid-training: the student has saved a checkpoint.
  first.wait()
  second = _worker(tmp_path, data_dir, storage, 'killed', 1, *extra)
  output, = _finish([second])
  study = optuna.load_study(study_name='killed', storage=_study.make_storage(storage, tmp_path))
  _assert_resumed(study, output)


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
  assert _study.RETRY_CALLBACK.retried_trial_number(retry) == 0
  assert retry.params == original.params
  assert retry.user_attrs['origin_trial'] == 0
  assert retry.user_attrs['trial_dir'] == original.user_attrs['trial_dir']
  assert retry.user_attrs['config']['student']['seed'] == original.user_attrs['config'][
      'student']['seed']
  assert 'student: resumed from the checkpoint of epoch' in output


def test_an_interrupted_trial_resumes_when_the_study_runs_again(tmp_path, data_dir):
  storage = f'sqlite:///{tmp_path}/study.db'
  extra = ('--config.student.num_epochs=30',)
  first = _worker(tmp_path, data_dir, storage, 'interrupted', 1, *extra)
  _wait_for_a_checkpoint(first, tmp_path / 'trials' / 'interrupted')
  first.send_signal(signal.SIGINT)  # Ctrl-C.
  output = first.communicate(timeout=120)[0]
  assert first.returncode == 130, output[-3000:]
  assert 'run the same command again to resume' in output
  study = optuna.load_study(study_name='interrupted',
                            storage=_study.make_storage(storage, tmp_path))
  assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL,
                                             optuna.trial.TrialState.WAITING]
  output, = _finish([_worker(tmp_path, data_dir, storage, 'interrupted', 1, *extra)])
  study = optuna.load_study(study_name='interrupted',
                            storage=_study.make_storage(storage, tmp_path))
  _assert_resumed(study, output)


def test_worker_alive_tells_live_dead_and_foreign_processes():
  live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
  host = socket.gethostname()
  try:
    assert _study.worker_alive(f'{host}:{live.pid}') is True
  finally:
    live.kill()
    live.wait()
  assert _study.worker_alive(f'{host}:{live.pid}') is False
  assert _study.worker_alive(f'another-{host}:{os.getpid()}') is None
  assert _study.worker_alive('') is None
