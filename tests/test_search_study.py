"""A tiny study end to end: real trainings, real SQLite storage, resumption and pruning maths."""
import csv
import json
import os
import subprocess
import sys

import flax.serialization
import jax
import numpy as np
import optuna
import pytest

from conftest import REPO
from configs import search_test
from search import _study
from search import cli


@pytest.fixture(scope='module')
def study_run(tmp_path_factory, data_dir):
  run_dir = str(tmp_path_factory.mktemp('search'))
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.cache_dir = os.path.join(run_dir, 'cache')
  study = _study.run_study(config, run_dir)
  return config, run_dir, study


def test_a_study_finishes_its_trials_with_their_records(study_run):
  config, run_dir, study = study_run
  trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,
                                    optuna.trial.TrialState.PRUNED))
  assert [t.number for t in trials] == [0, 1, 2]
  assert os.path.exists(os.path.join(run_dir, 'study.db'))
  for trial in trials:
    recorded = trial.user_attrs['config']
    assert recorded['distill']['temperature'] == pytest.approx(trial.params['temperature'])
    assert recorded['student']['width'] == pytest.approx(trial.params['width'])
    assert trial.user_attrs['fold_hash'] and trial.user_attrs['versions']['optuna']
  complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
  for trial in complete:
    accuracies = trial.user_attrs['fold_accuracies']
    assert len(accuracies) == 2
    assert trial.values[0] == pytest.approx(sum(accuracies) / 2)
  # Each fold's teacher is trained once and shared by every trial.
  teachers = os.path.join(run_dir, 'teachers')
  assert sorted(d for d in os.listdir(teachers) if os.path.isdir(os.path.join(teachers, d))) == [
      'fold_0', 'fold_1']
  assert len(os.listdir(os.path.join(run_dir, 'cache', 'teacher_logits'))) == 2


def test_the_same_config_and_seed_give_the_same_trials(study_run, tmp_path):
  config, _, study = study_run
  again = _study.run_study(config, str(tmp_path), n_trials=3)  # A new run directory.
  first = [(t.params, t.state, t.values, t.user_attrs['config']['student']['seed'])
           for t in sorted(study.trials, key=lambda t: t.number)[:3]]
  second = [(t.params, t.state, t.values, t.user_attrs['config']['student']['seed'])
            for t in sorted(again.trials, key=lambda t: t.number)]
  assert second == first
  assert len({seed for *_, seed in first}) == 3  # Every trial's student has its own seed.


def test_studies_sharing_a_run_directory_keep_their_trials_apart(study_run):
  config, run_dir, study = study_run
  other = config.copy_and_resolve_references()
  other.search.update(study_name='other', seed=5, folds_per_trial=1)
  trial = _study.run_study(other, run_dir, n_trials=1).trials[0]
  # Its trial 0 has other parameters than the first study's trial 0, in its own directory.
  assert trial.state == optuna.trial.TrialState.COMPLETE
  assert trial.params != study.trials[0].params
  assert trial.user_attrs['trial_dir'] == os.path.join(run_dir, 'trials', 'other', 'trial_0000')
  assert study.trials[0].user_attrs['trial_dir'] == os.path.join(run_dir, 'trials', 'test',
                                                                 'trial_0000')


def test_running_again_resumes_and_continues_the_numbering(study_run):
  config, run_dir, _ = study_run
  study = _study.run_study(config, run_dir, n_trials=4)
  assert [t.number for t in study.trials] == [0, 1, 2, 3]
  config.search.seed = 99
  with pytest.raises(ValueError, match=r'other search settings \(config.search.seed differ'):
    _study.run_study(config, run_dir, n_trials=4)


def test_size_pruning_rule():
  front = [(0.9, 1000.0), (0.7, 200.0)]
  # A trial of 500 bytes that can still reach 0.8 is beaten by nothing at or below its size.
  assert _study.dominated_at_best(0.8, 500.0, front) is None
  assert _study.dominated_at_best(0.65, 500.0, front) == (0.7, 200.0)
  assert _study.dominated_at_best(0.95, 5000.0, front) is None


def test_reachable_accuracy_counts_every_remaining_fold_as_perfect():
  assert _study.reachable_accuracy([0.5], 4) == pytest.approx((0.5 + 3) / 4)
  assert _study.reachable_accuracy([0.5, 0.7], 2) == pytest.approx(0.6)


def test_replay_pruning_stops_trials_that_a_smaller_completed_trial_beats():
  trials = [
      (100.0, [0.9, 0.9, 0.9]),  # Completes: the front is (0.9, 100).
      (200.0, [0.5, 0.6, 0.7]),  # Larger; after 1 fold it can reach (0.5 + 2) / 3 < 0.9.
      (50.0, [0.1, 0.1, 0.1]),   # Smaller than every completed trial: never pruned.
      (300.0, [0.8, 0.9, 0.9]),  # Reachable after 1 fold 0.933, after 2 0.9 >= 0.9: pruned.
      (400.0, [1.0, 1.0, 0.2]),  # Reachable 1.0 until the last fold: runs every fold.
  ]
  assert _study.replay_pruning(trials) == [3, 1, 3, 2, 3]


def test_passwords_never_show():
  url = 'postgresql://alice:s3cret@db.example:5432/studies'
  assert _study.redact(url) == 'postgresql://alice:***@db.example:5432/studies'
  with pytest.raises(ValueError) as error:
    _study.make_storage('postgresql://alice:s3cret@127.0.0.1:1/none', '.')
  assert 's3cret' not in str(error.value) and 'alice:***@' in str(error.value)


def test_read_config_applies_overrides_not_on_the_command_line():
  # config_flags finds overrides in sys.argv unless told where; here sys.argv is pytest's.
  config = cli.read_config('configs/search_test.py', ['--config.search.sampler=random',
                                                      '--config.student.width=0.75'])
  assert (config.search.sampler, config.student.width) == ('random', 0.75)


def _search_command(*args):
  return [sys.executable, '-m', 'search.cli', *args]


def test_report_and_export_best_from_the_command_line(study_run, tmp_path):
  config, run_dir, study = study_run
  common = ['--config', 'configs/search_test.py', '--run_dir', run_dir,
            f'--config.data.data_dir={config.data.data_dir}',
            f'--config.cache_dir={config.cache_dir}']
  done = subprocess.run(_search_command('report', *common), cwd=REPO, capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  for name in ('trials.csv', 'pareto.csv', 'pareto.png', 'pareto.html', 'hypervolume.png',
               'report.md'):
    assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
  with open(os.path.join(run_dir, 'trials.csv')) as f:
    assert len(list(csv.DictReader(f))) == len(study.trials)
  best = _study.pick(optuna.load_study(study_name='test', storage=_study.storage_url('', run_dir)),
                     knee=True)
  done = subprocess.run(_search_command('export-best', *common, '--knee', '--out',
                                        str(tmp_path / 'best')),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(tmp_path / 'best' / 'result.json') as f:
    result = json.load(f)
  assert result['trial'] == best.number and result['size_bytes'] == best.values[1]
  with open(tmp_path / 'best' / 'params.msgpack', 'rb') as f:
    params = flax.serialization.msgpack_restore(f.read())
  assert 4 * sum(np.size(x) for x in jax.tree.leaves(params)) == best.values[1]
  done = subprocess.run(_search_command('export-best', *common, '--max_size=10', '--out',
                                        str(tmp_path / 'none')),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2 and 'no front trial is at most 10 bytes; the front:' in done.stderr


@pytest.mark.parametrize('prune', [True, False])
def test_a_trial_that_cannot_reach_the_front_is_pruned_after_its_first_fold(tmp_path, data_dir,
                                                                             prune):
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.cache_dir = str(tmp_path / 'cache')
  config.search.prune = prune
  study = _study.open_study(config, str(tmp_path))
  # A front point no real student can beat: 100% accuracy at 4 bytes.
  study.add_trial(optuna.trial.create_trial(values=[1.0, 4.0], params={}, distributions={}))
  study = _study.run_study(config, str(tmp_path), n_trials=2)
  trial = study.trials[1]
  folds_trained = len(os.listdir(tmp_path / 'trials' / 'test' / 'trial_0001'))
  if prune:
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert folds_trained == 1  # Only the first of the two folds was trained.
    assert 'cannot beat the front point (1.0000, 4 bytes)' in trial.user_attrs['pruned_reason']
  else:
    assert trial.state == optuna.trial.TrialState.COMPLETE and folds_trained == 2


def test_latency_objective_is_measured_in_milliseconds():
  config = search_test.get_config()
  assert _study.directions(('accuracy', 'size', 'latency')) == ['maximize', 'minimize',
                                                               'minimize']
  latency = _study.measure_latency_ms(config.student, 8, config.data.image_size, repeats=5)
  assert np.isfinite(latency) and latency > 0
  with pytest.raises(ValueError, match="config.search.objectives has 'speed'"):
    _study.directions(('accuracy', 'size', 'speed'))
