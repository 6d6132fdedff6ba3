"""Several `jaxfer-search worker` processes on one study: journal file, run --workers (two workers
on PostgreSQL: tests/test_secrets.py, which also looks for the password everywhere they write)."""
import json
import os
import shutil
import subprocess
import sys

import optuna
import pytest

from conftest import REPO, assert_finished_exactly, finish, start_search_worker
from search import storage as storage_lib


def _assert_teacher_trained_once(run_dir, outputs):
  """The fold's teacher was trained by one worker, once; every trial read that artifact."""
  assert sum(output.count('teacher epoch   1/') for output in outputs) == 1
  teacher = run_dir / 'teachers' / 'fold_0' / 'teacher'
  manifest = json.loads((teacher / 'artifact.json').read_text())
  results = list((run_dir / 'trials').glob('*/trial_*/fold_0/result.json'))
  assert results
  for path in results:
    result = json.loads(path.read_text())
    assert result['teacher_artifact'] == str(teacher)
    assert result['teacher_logits_sha256'] == manifest['logits_sha256']


@pytest.mark.slow
def test_two_workers_on_one_journal_file_finish_exactly_n_trials(tmp_path, data_dir):
  storage = f'journal:{tmp_path}/journal.log'
  outputs = finish([start_search_worker(tmp_path, data_dir, storage, 'shared', 4)
                    for _ in range(2)])
  study = optuna.load_study(study_name='shared', storage=storage_lib.make_storage(
      storage_lib.storage_url(storage, tmp_path)))
  assert_finished_exactly(study, 4)
  _assert_teacher_trained_once(tmp_path, outputs)


@pytest.mark.slow
def test_run_starts_one_worker_per_core_by_default_and_they_share_the_study(tmp_path, data_dir):
  cores = sorted(os.sched_getaffinity(0))
  if len(cores) < 2 or not shutil.which('taskset'):
    pytest.skip(f'needs 2 usable cores ({len(cores)} here) and taskset to see a second worker')
  run = subprocess.run(
      ['taskset', '-c', f'{cores[0]},{cores[1]}',  # Two cores: two workers.
       sys.executable, '-m', 'search.cli', 'run', '--config', 'configs/search_test.py',
       '--workdir', str(tmp_path), '--n_trials=4',
       f'--config.data.data_dir={data_dir}', '--config.search.folds_per_trial=1'],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
  assert run.returncode == 0, run.stdout[-3000:]
  assert '2 worker(s) on this machine (one per core' in run.stdout
  assert not (tmp_path / 'worker_2.log').exists()
  study = optuna.load_study(study_name='test', storage=storage_lib.storage_url('', tmp_path))
  assert_finished_exactly(study, 4)
  helper_log = (tmp_path / 'worker_1.log').read_text()
  assert 'worker done: study test has' in helper_log
  _assert_teacher_trained_once(tmp_path, [run.stdout, helper_log])
  # Every trial records the process that ran it (host:pid).
  for trial in study.trials:
    host, pid = trial.user_attrs['worker'].rsplit(':', 1)
    assert host and int(pid) > 0
  assert (tmp_path / 'report.md').exists()


URL = 'postgresql://alice:Zq6 sp@ce@127.0.0.1/db'


@pytest.mark.parametrize('given', [
    ['--storage', URL], [f'--storage={URL}'], ['-storage', URL], [f'-storage={URL}'],
    [f'--config.search.storage={URL}'], ['--config.search.storage', URL],
    [f'--config.search.storage={URL}', f'--storage={URL}'],
])
def test_helper_workers_get_the_storage_through_the_environment_not_their_arguments(given):
  from search import cli  # pylint: disable=g-import-not-at-top
  argv = ['run', '--config', 'configs/search_test.py', '--workdir', 'runs/x', *given,
          '--workers', '2', '--n_trials=4']
  arguments = cli._worker_arguments(argv)  # pylint: disable=protected-access
  assert arguments == ['--config', 'configs/search_test.py', '--workdir', 'runs/x',
                       '--n_trials=4', f'--storage=env:{storage_lib.HELPER_VARIABLE}']
