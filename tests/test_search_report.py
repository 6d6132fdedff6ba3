"""Report data of a study built from fixed trials: front, knee, hypervolume history, tables."""
import csv

import numpy as np
import optuna
import pytest

import search
from search import _report

# (accuracy, size_bytes, temperature, width) of completed trials, then one pruned trial.
POINTS = [(0.60, 50_000, 2.0, 0.5), (0.80, 260_000, 8.0, 1.0), (0.70, 300_000, 4.0, 1.2),
          (0.85, 1_000_000, 16.0, 2.0), (0.75, 120_000, 8.0, 0.7)]


def _trials():
  distributions = {'temperature': optuna.distributions.FloatDistribution(1, 64, log=True),
                   'width': optuna.distributions.FloatDistribution(0.5, 4, log=True)}
  trials = [optuna.trial.create_trial(values=[a, s], params={'temperature': t, 'width': w},
                                      distributions=distributions, user_attrs={'params': s // 4})
            for a, s, t, w in POINTS]
  trials.append(optuna.trial.create_trial(
      state=optuna.trial.TrialState.PRUNED, params={'temperature': 1.0, 'width': 3.0},
      distributions=distributions, user_attrs={'pruned_reason': 'cannot reach the front'}))
  trials.insert(2, optuna.trial.create_trial(  # Crashed: not counted as a trial in histories.
      state=optuna.trial.TrialState.FAIL, params={'temperature': 2.0, 'width': 1.0},
      distributions=distributions))
  study = optuna.create_study(directions=['maximize', 'minimize'])
  study.add_trials(trials)
  return study.trials


def test_front_info_marks_the_front_and_its_knee():
  info = _report.front_info(_trials())
  assert info.numbers == [0, 1, 3, 4, 5]
  assert info.on_front.tolist() == [True, True, False, True, True]  # (0.70, 300k) is dominated.
  assert info.knee == search.knee_index([p[:2] for p in POINTS], _report.ACC_SIZE)
  assert info.labels[1] == 'T=8 w=1.00'


def test_hypervolume_history_grows_to_the_hypervolume_of_all_trials():
  trials = _trials()
  reference = _report.reference_point(1_100_000)
  history = _report.hypervolume_history(trials, reference)
  assert len(history) == 6 and all(np.diff(history) >= 0)  # 5 completed, 1 pruned; not the failed.
  assert history[0] == pytest.approx(0.60 * (1_100_000 - 50_000))
  final = search.hypervolume_2d([p[:2] for p in POINTS], reference, _report.ACC_SIZE)
  assert history[-1] == pytest.approx(final)


def test_tables_hold_every_trial_and_the_front(tmp_path):
  trials = _trials()
  rows = _report.trial_rows(trials, ('accuracy', 'size'))
  assert [r['state'] for r in rows] == ['complete'] * 2 + ['failed'] + ['complete'] * 3 + ['pruned']
  assert rows[6]['pruned_reason'] == 'cannot reach the front' and rows[6]['accuracy'] == ''
  assert [r['on_front'] for r in rows] == [True, True, False, False, True, True, False]
  _report.write_pareto_csv(str(tmp_path / 'pareto.csv'), _report.front_info(trials), trials)
  with open(tmp_path / 'pareto.csv') as f:
    front = list(csv.DictReader(f))
  assert [int(r['size_bytes']) for r in front] == [50_000, 120_000, 260_000, 1_000_000]
  assert [r['number'] for r in front] == ['0', '5', '1', '4']
  assert sum(r['knee'] == 'True' for r in front) == 1


def test_write_report_writes_every_file_and_compares_with_the_grid(tmp_path):
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='toy')
  study.add_trials([optuna.trial.create_trial(values=list(t.values), params=t.params,
                                              distributions=t.distributions)
                    for t in _trials() if t.values])
  grid = optuna.create_study(directions=['maximize', 'minimize'], study_name='grid')
  grid.add_trials([optuna.trial.create_trial(values=[0.5, 260_000], params={}, distributions={}),
                   optuna.trial.create_trial(values=[0.7, 900_000], params={}, distributions={})])
  paths = _report.write_report(study, str(tmp_path), 1_100_000, baseline=grid)
  for name in ('trials.csv', 'pareto.csv', 'pareto.png', 'pareto.html', 'hypervolume.png',
               'report.md'):
    assert (tmp_path / name).stat().st_size > 0, name
  text = (tmp_path / 'report.md').read_text()
  grid_final = search.hypervolume_2d([(0.5, 260_000), (0.7, 900_000)], (0, 1_100_000),
                                     _report.ACC_SIZE)
  assert f'The grid (paper) baseline reached {grid_final:.6g} after 2 trials' in text
  # The first trial (0.60 at 50 kB) alone already beats the grid's hypervolume.
  assert 'reached the grid\'s final hypervolume after 1 trials' in text
  assert '| 4 | 75.00 | 120,000 | T=8 w=0.70 |' in text
  assert 'grid (paper) front' in (tmp_path / 'pareto.html').read_text()
  assert paths['report.md'] == str(tmp_path / 'report.md')
