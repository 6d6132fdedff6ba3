"""Ctrl-C on a search: one line and exit status 130 from `run`, its workers and `ablate` at any
moment, the workers it started stopped, the storage left consistent, and a rerun that resumes to
the study an uninterrupted run gives, trial by trial.

The signals are real: sent to the command's process group, as a terminal sends Ctrl-C, or to
its main process alone. The reruns that finish a study run in the test's process.
"""
import os
import signal
import subprocess
import time

import optuna
import pytest

from conftest import REPO, assert_finished_exactly, run_in_process, search_command
from search import cli
from search import pareto
from search import storage as storage_lib

N_TRIALS = 5  # Past the size-aware sampler's 4 random trials: the 5th learns from the others.
# Long enough that a Ctrl-C sent once a model has saved a checkpoint lands while it trains.
LONGER = ('--config.student.num_epochs=20', '--config.teacher.num_epochs=12')
INTERRUPTED = 'jaxfer-search {}: interrupted; run the same command again to resume'
# What a Ctrl-C must never print, in the command's output or in its workers' logs.
NEVER = ('traceback', 'exception', 'error', 'should not reach', 'database is locked')


def _arguments(command, workdir, data_dir, workers, *extra):
  return [command, '--config', 'configs/search_test.py', '--workdir', str(workdir),
          f'--workers={workers}', f'--config.data.data_dir={data_dir}', *LONGER, *extra]


def _start(arguments):
  """The command as a user starts it from a terminal: a process group of its own."""
  return subprocess.Popen(search_command(*arguments), cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(process, predicate, timeout=300):
  deadline = time.time() + timeout
  while not predicate():
    if process.poll() is not None:
      raise AssertionError(f'it ended first: {process.communicate()[1][-3000:]}')
    assert time.time() < deadline, 'timed out'
    time.sleep(0.02)


def _has_checkpoint(directory):
  return lambda: directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())


def _processes_in(workdir):
  """The running processes whose command line names `workdir`."""
  found = []
  for entry in os.listdir('/proc'):
    try:
      with open(f'/proc/{entry}/cmdline', 'rb') as f:
        if str(workdir).encode() in f.read():
          found.append(int(entry))
    except (OSError, ValueError):
      continue
  return found


def _assert_stopped_cleanly(process, workdir, command='run'):
  """Ctrl-C ended `process` with one line and 130; its workers are gone and said so in their
  logs, and no trial is left running."""
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, stderr[-3000:]
  assert stdout == ''  # No report: the study did not finish.
  assert [line for line in stderr.splitlines() if line.strip()][-1] == INTERRUPTED.format(
      command)
  logs = [p.read_text() for p in workdir.glob('worker_*.log')]
  for text in (stderr, *logs):
    assert not any(words in text.lower() for words in NEVER), text[-3000:]
  for log in logs:  # Each helper stopped itself (killed, it would have written nothing more).
    assert not log.strip() or log.strip().splitlines()[-1] == INTERRUPTED.format('worker'), log
  assert _processes_in(workdir) == []
  assert 'did not stop within' not in stderr
  try:
    study = _study(workdir)
  except KeyError:  # Pressed before the study was made: the storage holds none.
    return stderr
  assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
  assert not study.get_trials(states=(optuna.trial.TrialState.FAIL,))
  return stderr


def _study(workdir, name='test'):
  return optuna.load_study(study_name=name,
                           storage=storage_lib.make_storage(f'sqlite:///{workdir}/study.db'))


def _record(study):
  """Every trial as a comparison of two studies sees it: what it is, not where or when."""
  return [(t.number, t.state, t.params, t.values, t.user_attrs['run_accuracies'],
           t.user_attrs['config']['student']['seed']) for t in study.trials]


def _front(study):
  return [(point.number, point.accuracy, point.size_bytes, point.params)
          for point in pareto.front_points(study.trials)]


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, data_dir):
  """The trials and the front of the study run in one go with one worker."""
  workdir = tmp_path_factory.mktemp('uninterrupted')
  done = subprocess.run(search_command(*_arguments('run', workdir, data_dir, 1,
                                                   f'--n_trials={N_TRIALS}')),
                        cwd=REPO, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  study = _study(workdir)
  return _record(study), _front(study)


@pytest.mark.slow
def test_a_study_interrupted_at_several_moments_resumes_to_the_uninterrupted_trials(
    tmp_path, data_dir, uninterrupted, capfd):
  """Ctrl-C while the teacher trains, then in trial 1, then in trial 3's second fold: each rerun
  resumes the interrupted trial under its own number, and the study ends with the trials,
  parameters, accuracies and front of the run that was never interrupted."""
  arguments = _arguments('run', tmp_path, data_dir, 1, f'--n_trials={N_TRIALS}')
  trials = tmp_path / 'trials' / 'test'
  moments = [(tmp_path / 'teachers' / 'fold_0' / 'teacher' / 'checkpoints', None),
             (trials / 'trial_0001' / 'fold_0' / 'student' / 'checkpoints', 1),
             (trials / 'trial_0003' / 'fold_1' / 'student' / 'checkpoints', 3)]
  for checkpoints, number in moments:
    process = _start(arguments)
    _wait_for(process, _has_checkpoint(checkpoints))
    os.killpg(process.pid, signal.SIGINT)
    log = _assert_stopped_cleanly(process, tmp_path)
    study = _study(tmp_path)
    if number is not None:  # Back in the queue under its number, the trials before it done.
      assert f'trial {number} interrupted: it waits in the study under its number' in log
      assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * number + [
          optuna.trial.TrialState.WAITING]

  done = run_in_process(cli.main, capfd, *arguments)
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'student: resumed from the checkpoint of epoch' in done.stderr
  study = _study(tmp_path)
  assert (_record(study), _front(study)) == uninterrupted
  assert len(uninterrupted[1]) >= 2  # A front, not a single point, was compared.


# Seconds after the start at which Ctrl-C is pressed: while the command line is read, JAX loads,
# the study is opened, the helper starts, teachers train, trials train, and trials change.
MOMENTS_S = (0.3, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 11.0)


@pytest.mark.slow
def test_ctrl_c_on_two_workers_at_any_moment_is_one_line_and_the_rerun_finishes_the_study(
    tmp_path, data_dir, capfd):
  arguments = _arguments('run', tmp_path, data_dir, 2, f'--n_trials={N_TRIALS}')
  for moment in MOMENTS_S:
    process = _start(arguments)
    time.sleep(moment)
    assert process.poll() is None, process.communicate()[1][-3000:]
    os.killpg(process.pid, signal.SIGINT)  # Both workers get it, as from a terminal.
    if (tmp_path / 'study.db').exists():
      _assert_stopped_cleanly(process, tmp_path)
    else:  # Pressed before the study existed: nothing was made.
      stdout, stderr = process.communicate(timeout=120)
      assert process.returncode == 130 and stdout == ''
      assert stderr.strip().splitlines()[-1] in (INTERRUPTED.format('run'),
                                                 'jaxfer-search: interrupted')
  done = run_in_process(cli.main, capfd, *arguments)
  assert done.returncode == 0, done.stderr[-3000:]
  assert_finished_exactly(_study(tmp_path), N_TRIALS)


@pytest.mark.slow
def test_ctrl_c_to_the_main_process_alone_stops_the_worker_it_started(tmp_path, data_dir):
  """A SIGINT that reaches `run` only (sent by `kill -INT`, or a scheduler) is passed on to the
  worker it started, which puts its trial back in the queue and ends as on Ctrl-C."""
  process = _start(_arguments('run', tmp_path, data_dir, 2, f'--n_trials={N_TRIALS}'))
  trials = tmp_path / 'trials' / 'test'
  _wait_for(process, lambda: all(_has_checkpoint(trials / f'trial_000{k}' / 'fold_0' / 'student'
                                                 / 'checkpoints')() for k in (0, 1)))
  process.send_signal(signal.SIGINT)
  _assert_stopped_cleanly(process, tmp_path)
  log = (tmp_path / 'worker_1.log').read_text()
  assert 'interrupted: it waits in the study under its number' in log
  assert len(_study(tmp_path).get_trials(states=(optuna.trial.TrialState.WAITING,))) == 2


@pytest.mark.slow
def test_ctrl_c_on_ablate_is_one_line_and_the_rerun_finishes_its_cells(tmp_path, data_dir,
                                                                       capfd):
  arguments = _arguments('ablate', tmp_path, data_dir, 2, "--config.search.ablation.sizes=('XXS',)")
  arguments.insert(1, 'kd')
  process = _start(arguments)
  _wait_for(process, lambda: any(_has_checkpoint(p)() for p in tmp_path.glob(
      'trials/ablation_kd/trial_*/fold_0/student/checkpoints')))
  os.killpg(process.pid, signal.SIGINT)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, stderr[-3000:]
  assert stderr.strip().splitlines()[-1] == INTERRUPTED.format('ablate')
  assert not any(words in stderr.lower() for words in NEVER), stderr[-3000:]
  study = _study(tmp_path, 'ablation_kd')
  assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
  done = run_in_process(cli.main, capfd, *arguments)
  assert done.returncode == 0, done.stderr[-3000:]
  study = _study(tmp_path, 'ablation_kd')
  assert sorted(t.params['loss'] for t in study.trials
                if t.state == optuna.trial.TrialState.COMPLETE) == ['microexpnet', 'none']
  assert not study.get_trials(states=(optuna.trial.TrialState.FAIL,))
