"""Accuracy intervals over seeds and folds, the tests between front points, and how reports show
them: checked against hand computations."""
import csv
import math

import numpy as np
import optuna
import PIL.Image
import pytest
from scipy import stats

from search import intervals
from search import pareto
from search import report

T_975_DF2 = 4.302652729749464  # Student's t, 97.5% quantile, 2 degrees of freedom (tables).


def test_interval_is_students_t_over_the_runs():
  interval = intervals.accuracy_interval([0.5, 0.6, 0.7])
  sem = 0.1 / math.sqrt(3)  # Sample standard deviation 0.1 over 3 runs.
  assert interval.n == 3
  assert interval.mean == pytest.approx(0.6)
  assert interval.sem == pytest.approx(sem)
  assert interval.low == pytest.approx(0.6 - T_975_DF2 * sem)
  assert interval.high == pytest.approx(0.6 + T_975_DF2 * sem)


def test_one_run_has_a_mean_and_no_interval():
  interval = intervals.accuracy_interval([0.42])
  assert interval.mean == 0.42 and interval.n == 1
  assert math.isnan(interval.sem) and math.isnan(interval.low) and math.isnan(interval.high)
  assert intervals.as_attrs(interval) == {'accuracy_mean': 0.42, 'accuracy_sem': None,
                                          'accuracy_ci95_low': None, 'accuracy_ci95_high': None}


def test_equal_runs_have_an_interval_of_zero_width():
  interval = intervals.accuracy_interval([0.25, 0.25])
  assert (interval.sem, interval.low, interval.high) == (0.0, 0.25, 0.25)


def test_welch_p_value_follows_welchs_statistic_and_degrees_of_freedom():
  a, b = [0.5, 0.6, 0.7], [0.8, 0.85, 0.9]
  va, vb = 0.01 / 3, 0.0025 / 3  # Sample variances over n = 3.
  t = (0.6 - 0.85) / math.sqrt(va + vb)
  df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)  # Welch-Satterthwaite.
  assert intervals.welch_p_value(a, b) == pytest.approx(2 * stats.t.sf(abs(t), df))
  assert math.isnan(intervals.welch_p_value([0.5], b))


def test_holm_rejects_step_down_and_stops_at_the_first_failure():
  # Sorted: 0.01 <= 0.05/3 rejected; 0.03 > 0.05/2 stops, so 0.04 is kept too.
  assert intervals.holm_rejections([0.01, 0.04, 0.03]) == [True, False, False]
  assert intervals.holm_rejections([0.001, 0.02, 0.04]) == [True, True, True]
  assert intervals.holm_rejections([math.nan, 0.001]) == [False, True]


# (size, runs) of three completed trials with two seeds on two folds each ([fold][seed]).
RUNS = {50_000: [[0.40, 0.44], [0.42, 0.46]], 120_000: [[0.41, 0.45], [0.43, 0.47]],
        400_000: [[0.80, 0.82], [0.81, 0.83]]}


def _replicated_study(with_intervals=True):
  distributions = {'width': optuna.distributions.FloatDistribution(0.5, 4, log=True)}
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='replicated')
  for k, (size, runs) in enumerate(RUNS.items()):
    flat = [a for fold in runs for a in fold]
    attrs = {'run_accuracies': runs, 'fold_accuracies': [float(np.mean(f)) for f in runs]}
    if with_intervals:
      attrs.update(intervals.as_attrs(intervals.accuracy_interval(flat)))
    study.add_trial(optuna.trial.create_trial(
        values=[float(np.mean(flat)), size], params={'width': 0.5 + k},
        distributions=distributions, user_attrs=attrs))
  return study


def _hand_interval(flat):
  mean = sum(flat) / len(flat)
  sem = math.sqrt(sum((a - mean) ** 2 for a in flat) / (len(flat) - 1) / len(flat))
  half = stats.t.ppf(0.975, len(flat) - 1) * sem
  return mean, sem, mean - half, mean + half


def test_tables_carry_each_trials_interval(tmp_path):
  study = _replicated_study()
  report.write_report(study, str(tmp_path), 1_000_000)
  for table in ('trials.csv', 'pareto.csv'):
    with open(tmp_path / table) as f:
      rows = {int(r['size_bytes']): r for r in csv.DictReader(f)}
    assert set(rows) == set(RUNS)  # All three are on the front.
    for size, runs in RUNS.items():
      expected = _hand_interval([a for fold in runs for a in fold])
      got = [float(rows[size][name]) for name in intervals.COLUMNS]
      assert got == pytest.approx(expected), table


def test_report_says_which_neighbouring_front_points_are_distinguishable(tmp_path):
  report.write_report(_replicated_study(), str(tmp_path), 1_000_000)
  text = (tmp_path / 'report.md').read_text()
  low, high = _hand_interval([0.40, 0.44, 0.42, 0.46])[2:]
  assert f'| 0 | 43.00 | {100 * low:.1f} to {100 * high:.1f} | 50,000 |' in text
  # 43% and 44% with a spread of 2.6 points: no; 44% and 81.5%: yes, even after Holm.
  assert 'trial 0 (43.0%) and trial 1 (44.0%): not distinguishable' in text
  assert 'trial 1 (44.0%) and trial 2 (81.5%): distinguishable, p = ' in text


def _blue_pixels(path):
  image = np.asarray(PIL.Image.open(path).convert('RGB')).astype(int)
  return int(np.sum(np.all(np.abs(image - np.array((0x1f, 0x77, 0xb4))) <= 12, axis=-1)))


def test_figures_draw_the_intervals_as_error_bars(tmp_path):
  with_bars, without = tmp_path / 'with', tmp_path / 'without'
  with_bars.mkdir(), without.mkdir()
  report.write_report(_replicated_study(True), str(with_bars), 1_000_000)
  report.write_report(_replicated_study(False), str(without), 1_000_000)
  info = pareto.front_info(_replicated_study(True).trials)
  assert not np.isnan(info.accuracy_low).any()
  # The front's bars are drawn in its blue: thin vertical lines of 4-8 points with caps (the
  # same figure without intervals has 284 blue pixels, with them 332).
  assert _blue_pixels(with_bars / 'pareto.png') > _blue_pixels(without / 'pareto.png') + 30
  html = (with_bars / 'pareto.html').read_text()
  assert '95% interval' in html and '"error_y"' in html
  assert '95% interval' not in (without / 'pareto.html').read_text()


def test_pooled_seed_noise_by_hand():
  # Groups (trial x fold) of seeds: squares about each mean are 2*0.01^2 = 0.0002, then
  # (0.02^2 + 0 + 0.02^2) = 0.0008; the single run adds nothing. df = 1 + 2 = 3.
  noise = intervals.pooled_seed_noise([[0.50, 0.52], [0.60, 0.62, 0.64], [0.9]])
  assert noise.df == 3 and noise.groups == 2
  assert noise.sd == pytest.approx(math.sqrt((0.0002 + 0.0008) / 3))
  # t(0.975, 3) = 3.1824; two means of 2 runs each: sd * sqrt(2 / 2).
  assert intervals.least_significant_difference(noise, 2) == pytest.approx(
      3.18245 * noise.sd, rel=1e-4)
  empty = intervals.pooled_seed_noise([[0.5], [0.7]])
  assert math.isnan(empty.sd) and empty.df == 0
  assert math.isnan(intervals.least_significant_difference(empty, 2))


def test_report_gives_the_pooled_seed_noise_and_least_significant_difference(tmp_path):
  report.write_report(_replicated_study(), str(tmp_path), 1_000_000)
  text = (tmp_path / 'report.md').read_text()
  groups = [fold for runs in RUNS.values() for fold in runs]
  squares = sum(sum((a - np.mean(g)) ** 2 for a in g) for g in groups)
  df = sum(len(g) - 1 for g in groups)
  sd = math.sqrt(squares / df)
  lsd = stats.t.ppf(0.975, df) * sd * math.sqrt(2 / 4)  # Front points have 2 folds x 2 seeds.
  assert (f'({len(groups)} trial folds with 2 or more seeds, {df} degrees of freedom): one '
          f"student's accuracy varies by {100 * sd:.2f} points") in text
  assert f'Two trials of 4 runs each differ by less than {100 * lsd:.2f} points' in text


def test_logit_interval_stays_inside_0_and_1_and_matches_the_delta_method():
  # Near 0.5 the logit is almost linear, so the interval is about the symmetric t interval.
  middle = intervals.logit_interval(0.5, 0.01, 20)
  half = stats.t.ppf(0.975, 20) * 0.01
  assert middle.low == pytest.approx(0.5 - half, abs=2e-4)
  assert middle.high == pytest.approx(0.5 + half, abs=2e-4)
  # Hand computation at p = 0.9: logit 2.1972, its se 0.05 / 0.09 = 0.5556.
  high_p = intervals.logit_interval(0.9, 0.05, 8)
  t = stats.t.ppf(0.975, 8)
  expit = lambda z: 1 / (1 + np.exp(-z))
  assert high_p.low == pytest.approx(expit(np.log(9) - t * 0.05 / 0.09))
  assert high_p.high == pytest.approx(expit(np.log(9) + t * 0.05 / 0.09))
  assert 0 < high_p.low < 0.9 < high_p.high < 1  # A symmetric one would pass 100%.
  assert 0.9 + t * 0.05 > 1
  wide = intervals.logit_interval(0.1, 0.3, 1)
  assert 0 <= wide.low < wide.high <= 1  # t(1) is 12.7: nearly all of 0..1, never past it.
  assert np.isnan(intervals.logit_interval(0.5, float('nan'), 3).low)
