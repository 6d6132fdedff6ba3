"""Rows of fold accuracies compared with the first row (search/fold_comparison.py), checked
against the t statistics worked out by hand."""
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from search import fold_comparison

PLAIN = [0.90, 0.80, 0.95, 0.85]
PRETRAINED = [0.93, 0.84, 0.96, 0.90]
T_975_3 = 3.182446305284263  # Student's t, 97.5th percentile, 3 degrees of freedom.


def _rows():
  return fold_comparison.compare([('plain', dict(enumerate(PLAIN))),
                                  ('pretrained', dict(enumerate(PRETRAINED))),
                                  ('two folds', {1: 0.9, 3: 0.8})])


def test_a_rows_interval_is_its_mean_plus_or_minus_t_times_the_standard_error():
  row = _rows()[1]
  # Mean 0.9075; squares about it 0.0225^2 + 0.0675^2 + 0.0525^2 + 0.0075^2 = 0.007875.
  half = T_975_3 * math.sqrt(0.007875 / 3) / 2
  assert math.isclose(row['mean'], 0.9075)
  assert math.isclose(row['low'], 0.9075 - half) and math.isclose(row['high'], 0.9075 + half)
  assert math.isclose(row['std'], math.sqrt(0.007875 / 4))  # The spread of the folds (ddof 0).
  assert row['fold_numbers'] == [0, 1, 2, 3] and row['folds'] == PRETRAINED


def test_the_difference_from_the_first_row_is_a_paired_t_test_over_the_folds():
  rows = _rows()
  assert rows[0]['difference'] is None
  d = rows[1]['difference']
  # Differences +3, +4, +1, +5 points: mean 3.25, squares about it 8.75e-4 over 3 df.
  se = math.sqrt(8.75e-4 / 3) / 2
  t = 0.0325 / se
  assert math.isclose(d['mean'], 0.0325) and d['n'] == 4 and d['unit'] == 'fold'
  assert math.isclose(d['low'], 0.0325 - T_975_3 * se)
  assert math.isclose(d['high'], 0.0325 + T_975_3 * se)
  assert math.isclose(d['p_value'], 2 * stats.t.sf(t, 3))
  # A row with some folds is paired over those only: +10 and -5 points.
  partial = rows[2]['difference']
  assert partial['n'] == 2 and math.isclose(partial['mean'], 0.025)
  assert math.isclose(rows[2]['mean'], 0.85)


def test_a_folds_seeds_count_by_their_mean_and_their_pooled_spread_is_reported():
  runs = [{0: 0.90, 1: 0.80}, {0: 0.86, 1: 0.84, 2: 0.70}]
  by_fold = fold_comparison.seeds_by_fold(runs)
  assert by_fold == {0: [0.90, 0.86], 1: [0.80, 0.84], 2: [0.70]}
  rows = fold_comparison.compare([('one seed', {0: 0.8, 1: 0.8, 2: 0.8}), ('seeds', by_fold)])
  seeds = rows[1]
  assert seeds['seeds'] == [2, 2, 1] and rows[0]['seed_std'] is None
  assert seeds['folds'] == pytest.approx([0.88, 0.82, 0.70])
  # Squares about each fold's mean: 2 * 0.02^2 twice, over 2 degrees of freedom (1 per fold of
  # two seeds; the fold of one seed has none).
  assert math.isclose(seeds['seed_std'], math.sqrt(4 * 0.02**2 / 2))


def test_the_table_marks_missing_folds_and_the_seeds_of_a_row():
  table = fold_comparison.render('teacher', _rows())
  lines = table.splitlines()
  assert lines[0].startswith('| teacher | accuracy % (95% interval over folds) |')
  assert 'paired difference from "plain"' in lines[0] and len(lines) == 5
  assert '| plain | **87.5** (' in table and '| reference |' in table
  assert '| two folds (2 of 4 folds) | **85.0** (' in table and ' | - 90.0 - 80.0 | +2.5 (' in table
  seeded = fold_comparison.compare([('a', {0: [0.9, 0.8], 1: [0.7, 0.6]})])
  assert '| a (2 seeds a fold, seed std 7.1) | **75.0** (' in fold_comparison.render('x', seeded)


def test_a_summary_without_teacher_rows_or_with_incomplete_rows_is_refused():
  fold_comparison.check_summary({'teacher': _rows(), 'student': _rows()})
  with pytest.raises(ValueError, match='expected {"teacher"'):
    fold_comparison.check_summary({'student': _rows()})
  with pytest.raises(ValueError, match='a student row without the fields label, fold_numbers'):
    fold_comparison.check_summary({'teacher': _rows(), 'student': [{'label': 'x'}]})


def _judged_rows():
  reference = [0.80, 0.70, 0.90, 0.85, 0.75]
  shifted = {'better by 10 points': [0.10, 0.11, 0.09, 0.10, 0.10],
             'the same within 0.2 points': [0.001, -0.002, 0.000, 0.002, -0.001],
             'noisy': [0.05, -0.05, 0.06, -0.04, 0.0]}
  return fold_comparison.compare(
      [('reference', dict(enumerate(reference)))]
      + [(label, {k: a + d for k, (a, d) in enumerate(zip(reference, deltas))})
         for label, deltas in shifted.items()], margin=0.02)


def test_each_difference_gets_a_verdict_against_the_margin_holm_corrected_over_the_rows():
  rows = _judged_rows()
  assert rows[0]['judgement'] is None
  verdicts = {row['label']: row['judgement']['verdict'] for row in rows[1:]}
  assert verdicts == {'better by 10 points': 'differs',
                      'the same within 0.2 points': 'equivalent within ±margin',
                      'noisy': 'inconclusive'}
  # Holm over the 3 rows: the smallest p is multiplied by 3.
  p_values = [row['difference']['p_value'] for row in rows[1:]]
  smallest = min(range(3), key=p_values.__getitem__)
  assert math.isclose(rows[1 + smallest]['judgement']['p_holm'], 3 * p_values[smallest])
  # The noisy row's TOST by hand: differences of mean 0.004 and sd s over 5 folds; the 90%
  # interval is mean +- t(0.95, 4) s / sqrt(5), wider than the margin, so not equivalent.
  noisy = rows[3]['judgement']
  s = float(np.std([0.05, -0.05, 0.06, -0.04, 0.0], ddof=1))
  half = stats.t.ppf(0.95, 4) * s / math.sqrt(5)
  assert math.isclose(noisy['low90'], 0.004 - half) and math.isclose(noisy['high90'], 0.004 + half)
  assert noisy['margin'] == 0.02
  # The MDE: the difference d * s that the paired t at alpha 0.05 / 3 finds with 80% power.
  d = TTestPower().solve_power(nobs=5, alpha=0.05 / 3, power=0.8, alternative='two-sided')
  assert math.isclose(noisy['mde80'], d * s, rel_tol=1e-5)


def test_the_table_gives_each_rows_verdict_and_mde_and_a_dash_for_a_summary_without_one():
  table = fold_comparison.render('student', _judged_rows())
  assert 'verdict against ±2 points (Holm; MDE at 80% power) |' in table.splitlines()[0]
  assert '| differs (MDE ' in table and '| inconclusive (MDE ' in table
  old = _rows()
  for row in old:
    row.pop('judgement')  # As saved before verdicts were made.
  assert fold_comparison.render('teacher', old).splitlines()[3].endswith(' | - |')
