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
from search import noise
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


def _study_model():
  """The noise model the report fits: one group per trial and fold, covariate log size."""
  return noise.fit([noise.Group(fold, {noise.LOG_SIZE: math.log(size)})
                    for size, runs in RUNS.items() for fold in runs])


def test_tables_carry_each_trials_interval_from_the_study_noise_model(tmp_path):
  study = _replicated_study()
  report.write_report(study, str(tmp_path), 1_000_000)
  model = _study_model()
  assert model.within_df == 6 and model.covariates == (noise.LOG_SIZE,)
  for table in ('trials.csv', 'pareto.csv'):
    with open(tmp_path / table) as f:
      rows = {int(r['size_bytes']): r for r in csv.DictReader(f)}
    assert set(rows) == set(RUNS)  # All three are on the front.
    for size, runs in RUNS.items():
      at = {noise.LOG_SIZE: math.log(size)}
      mean = float(np.mean(runs))
      sem = model.sd(at) / 2  # 2 folds x 2 seeds.
      # By hand on the logit scale: expit(logit(p) +- t(df) sem / (p (1 - p))).
      half = stats.t.ppf(0.975, model.df(at)) * sem / (mean * (1 - mean))
      logit = math.log(mean / (1 - mean))
      expected = (mean, sem, 1 / (1 + math.exp(-(logit - half))),
                  1 / (1 + math.exp(-(logit + half))))
      got = [float(rows[size][name]) for name in intervals.COLUMNS]
      assert got == pytest.approx(expected), table
      assert 0 < got[2] < got[3] < 1


def test_report_says_which_neighbouring_front_points_differ_with_verdicts(tmp_path):
  report.write_report(_replicated_study(), str(tmp_path), 1_000_000)
  text = (tmp_path / 'report.md').read_text()
  model = _study_model()
  low, high = noise.trial_interval(model, 0.43, 4, {noise.LOG_SIZE: math.log(50_000)})[2:4]
  assert f'| 1 | 0 | 43.00 | {100 * low:.1f} to {100 * high:.1f} |' in text
  # 44% and 43% (1 point apart, the noise about 2 points): no verdict either way at a margin of
  # 2 points with 6 degrees of freedom; 81.5% and 44%: they differ, even after Holm.
  neighbours = [line for line in text.splitlines() if line.startswith('- trial ')]
  assert neighbours[0].startswith('- trial 1 (44.0%, 120 KB) - trial 0 (43.0%, 50 KB): +1.0 '
                                  'points')
  assert neighbours[0].endswith('**inconclusive**')
  assert neighbours[1].startswith('- trial 2 (81.5%, 400 KB) - trial 1 (44.0%, 120 KB)')
  assert neighbours[1].endswith('**differs**')
  # The two ends, alone.
  assert neighbours[2].startswith('- trial 2 (81.5%, 400 KB) - trial 0 (43.0%, 50 KB)')
  assert neighbours[2].endswith('**differs**')


def _blue_pixels(path):
  """Pixels of the front's blue (Okabe-Ito #0072B2)."""
  image = np.asarray(PIL.Image.open(path).convert('RGB')).astype(int)
  return int(np.sum(np.all(np.abs(image - np.array((0x00, 0x72, 0xb2))) <= 12, axis=-1)))


def _single_run_study():
  """The trials of `_replicated_study` with one run each: no seed noise, so no intervals."""
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='single')
  for trial in _replicated_study().trials:
    study.add_trial(optuna.trial.create_trial(
        values=trial.values, params=trial.params, distributions=trial.distributions,
        user_attrs={'run_accuracies': [[trial.values[0]]]}))
  return study


def test_figures_draw_the_intervals_as_error_bars(tmp_path):
  with_bars, without = tmp_path / 'with', tmp_path / 'without'
  with_bars.mkdir(), without.mkdir()
  report.write_report(_replicated_study(True), str(with_bars), 1_000_000)
  report.write_report(_single_run_study(), str(without), 1_000_000)
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
  empty = intervals.pooled_seed_noise([[0.5], [0.7]])
  assert math.isnan(empty.sd) and empty.df == 0


def test_report_gives_the_pooled_seed_noise_and_its_model(tmp_path):
  report.write_report(_replicated_study(), str(tmp_path), 1_000_000)
  text = (tmp_path / 'report.md').read_text()
  groups = [fold for runs in RUNS.values() for fold in runs]
  squares = sum(sum((a - np.mean(g)) ** 2 for a in g) for g in groups)
  df = sum(len(g) - 1 for g in groups)
  sd = math.sqrt(squares / df)
  assert (f'pooled over {len(groups)} trial folds with 2 or more seeds ({df} degrees of '
          f"freedom), one student's accuracy varies by {100 * sd:.2f} points") in text
  assert _study_model().describe() in text
  assert 'Bars: 95% interval of each trial from the study\'s seed-noise model (6 df' in text


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
