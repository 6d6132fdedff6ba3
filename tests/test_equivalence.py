"""Equivalence, power and planning (search/equivalence.py) against statsmodels and by hand, and
the four verdicts an ablation's comparisons reach from constructed cells."""
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import power as power_lib
from statsmodels.stats import weightstats

from search import ablation
from search import equivalence


def test_mde80_is_statsmodels_effect_size_times_sd_and_near_the_normal_formula_for_large_n():
  effect = power_lib.TTestPower().solve_power(effect_size=None, nobs=10, alpha=0.05 / 24,
                                              power=0.8, alternative='two-sided')
  assert equivalence.mde80(0.03, 10, 0.05 / 24) == pytest.approx(0.03 * effect)
  # Large n: the t-test approaches the z-test, (z_{1-a/2} + z_{0.8}) sd / sqrt(n).
  n, sd, alpha = 2000, 0.05, 0.01
  normal = (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)) * sd / math.sqrt(n)
  assert equivalence.mde80(sd, n, alpha) == pytest.approx(normal, rel=0.01)
  # Small n: the t-test needs a larger difference than the normal formula says.
  assert equivalence.mde80(sd, 5, alpha) > 1.2 * (stats.norm.ppf(1 - alpha / 2)
                                                  + stats.norm.ppf(0.8)) * sd / math.sqrt(5)
  assert math.isnan(equivalence.mde80(sd, 1, alpha))
  assert equivalence.mde80(0.0, 10, alpha) == 0.0


def test_tost_matches_statsmodels_ttost_paired_and_the_one_sided_t_tests_by_hand():
  first = np.array([0.71, 0.64, 0.80, 0.69, 0.75, 0.66, 0.72])
  second = np.array([0.70, 0.65, 0.78, 0.66, 0.75, 0.67, 0.70])
  d = first - second
  mean, sd, n, margin = d.mean(), d.std(ddof=1), len(d), 0.02
  found = equivalence.tost(mean, sd, n, margin)
  p_statsmodels = weightstats.ttost_paired(first, second, -margin, margin)[0]
  assert found.p_value == pytest.approx(p_statsmodels)
  se = sd / math.sqrt(n)
  by_hand = max(1 - stats.t.cdf((mean + margin) / se, n - 1),
                stats.t.cdf((mean - margin) / se, n - 1))
  assert found.p_value == pytest.approx(by_hand)
  # The 90% interval: mean +- t(0.95, 6) se, t(0.95, 6) = 1.943180.
  assert (found.low, found.high) == pytest.approx((mean - 1.943180 * se, mean + 1.943180 * se),
                                                  abs=1e-6)
  # TOST at 5% shows equivalence exactly when the 90% interval is inside the margin.
  for margin in (0.005, 0.01, 0.02, 0.05):
    test = equivalence.tost(mean, sd, n, margin)
    bound = equivalence.equivalence_bound(test.low, test.high)
    assert (test.p_value < 0.05) == (abs(bound) < margin)


def test_the_equivalence_bound_is_the_end_of_the_interval_farther_from_zero():
  assert equivalence.equivalence_bound(-0.01, 0.03) == 0.03
  assert equivalence.equivalence_bound(-0.04, 0.03) == -0.04
  assert equivalence.equivalence_bound(-0.05, -0.01) == -0.05
  assert math.isnan(equivalence.equivalence_bound(math.nan, 0.01))


def test_verdict_reads_both_tests():
  assert equivalence.verdict(True, False) == 'differs'
  assert equivalence.verdict(True, True) == 'differs by less than the margin'
  assert equivalence.verdict(False, True) == 'equivalent within ±margin'
  assert equivalence.verdict(False, False) == 'inconclusive'


def _kd_cells(gains):
  """A kd ablation of one size per entry of `gains`: undistilled at 0.6 on every fold, distilled
  at 0.6 + the fold's gain, one seed."""
  cells = []
  for size, fold_gains in zip(('M', 'S', 'XS', 'XXS'), gains):
    cells.append(ablation.Cell(len(cells), {'size': size, 'loss': 'none'}, 100.0,
                               [[0.6] for _ in fold_gains]))
    cells.append(ablation.Cell(len(cells), {'size': size, 'loss': 'microexpnet'}, 100.0,
                               [[0.6 + g] for g in fold_gains]))
  return cells


def test_constructed_comparisons_reach_each_of_the_four_verdicts():
  wobble = np.array([1, -1] * 5)
  found = ablation.comparisons('kd', _kd_cells([
      0.05 + 0.005 * wobble,  # 5 points, tight: differs, and 5 > 2 is outside the margin.
      0.01 + 0.001 * wobble,  # 1 point, tight: differs, inside the margin.
      0.003 * wobble,  # Nothing, tight: equivalent within +-2 points.
      0.05 * wobble,  # Nothing, noisy: neither.
  ]), margin=0.02)
  assert [c.verdict for c in found] == [
      equivalence.DIFFERS, equivalence.DIFFERS_WITHIN_MARGIN, equivalence.EQUIVALENT,
      equivalence.INCONCLUSIVE]
  noisy = found[3]
  sd = float(np.std(0.05 * wobble, ddof=1))
  # The MDE is planned at 5% / 4 comparisons, the level Holm gives its first step.
  assert noisy.mde80 == pytest.approx(equivalence.mde80(sd, 10, 0.05 / 4))
  assert noisy.mde80 > 0.02  # Why it is inconclusive: this design cannot see 2 points.
  test = equivalence.tost(0.0, sd, 10, 0.02)
  assert noisy.p_equivalence == pytest.approx(test.p_value)
  assert noisy.equivalence_bound == pytest.approx(test.high)  # Mean 0: the ends tie; high.
  assert ablation.verdict_counts(found) == (
      '1 differ, 1 differ by less than ±2 points, 1 equivalent within ±2 points, '
      f'1 inconclusive (MDE {100 * min(c.mde80 for c in found):.1f} to '
      f'{100 * noisy.mde80:.1f} points)')


def test_noise_components_split_seed_and_interaction_by_the_method_of_moments():
  # Two cells, 3 folds, 2 seeds. Seed deviations +-0.01 in every (cell, fold): seed var 2e-4.
  base = [[0.60, 0.62], [0.70, 0.72], [0.50, 0.52]]
  shifted = [[0.64, 0.66], [0.70, 0.72], [0.53, 0.55]]  # Per-fold differences 0.04, 0, 0.03.
  found = equivalence.noise_components([shifted, base], [(0, 1)])
  assert found.seed_sd == pytest.approx(math.sqrt(2e-4))
  assert found.seed_df == 6
  differences = np.array([0.04, 0.0, 0.03])
  var = differences.var(ddof=1)
  assert found.difference_sd == pytest.approx(math.sqrt(var))
  assert found.interaction_sd == pytest.approx(math.sqrt(max(0.0, var - 2 * 2e-4 / 2)))
  # With one seed per fold the parts cannot be told apart.
  one_seed = equivalence.noise_components([[[r[0]] for r in shifted], [[r[0]] for r in base]],
                                          [(0, 1)])
  assert math.isnan(one_seed.seed_sd) and math.isnan(one_seed.interaction_sd)
  assert one_seed.difference_sd == pytest.approx(math.sqrt(var))


def test_seeds_needed_is_the_fewest_that_reach_the_margin_and_none_when_the_interaction_alone_exceeds_it():
  alpha, folds, margin = 0.05 / 24, 10, 0.02
  seeds = equivalence.seeds_needed(0.025, 0.005, folds, margin, alpha)
  def reach(r):
    return equivalence.mde80(math.sqrt(0.005**2 + 2 * 0.025**2 / r), folds, alpha)
  assert seeds is not None and seeds > 1
  assert reach(seeds) <= margin < reach(seeds - 1)
  # The interaction alone: an MDE above the margin that no number of seeds removes.
  assert equivalence.mde80(0.02, folds, alpha) > margin
  assert equivalence.seeds_needed(0.001, 0.02, folds, margin, alpha) is None
  folds_more = equivalence.folds_needed(0.02, margin, alpha)
  assert equivalence.mde80(0.02, folds_more, alpha) <= margin < equivalence.mde80(
      0.02, folds_more - 1, alpha)
  with pytest.raises(ValueError, match='seed_sd = nan is not allowed'):
    equivalence.seeds_needed(math.nan, 0.01, folds, margin, alpha)


def test_judge_holm_corrects_both_tests_over_its_comparisons():
  judged = equivalence.judge([(0.05, 0.01, 10, 0.001), (0.0, 0.01, 10, 0.9)], margin=0.02)
  # Holm over 2: the smaller p doubled, the larger kept (no smaller than the one before it).
  assert judged[0]['p_holm'] == pytest.approx(0.002) and judged[1]['p_holm'] == pytest.approx(0.9)
  outside, inside = (equivalence.tost(0.05, 0.01, 10, 0.02), equivalence.tost(0.0, 0.01, 10, 0.02))
  assert judged[1]['p_equivalence_holm'] == pytest.approx(2 * inside.p_value)
  assert judged[0]['p_equivalence_holm'] == pytest.approx(outside.p_value)
  assert [j['verdict'] for j in judged] == [equivalence.DIFFERS, equivalence.EQUIVALENT]
  # statsmodels' solver stops within about 1e-6 of the root, by its own path each call.
  assert judged[0]['mde80'] == pytest.approx(equivalence.mde80(0.01, 10, 0.05 / 2), rel=1e-5)


def test_unit_sd_counts_differences_equal_up_to_rounding_as_no_spread():
  assert equivalence.unit_sd([0.02, 0.02 + 1e-15, 0.02]) == 0.0
  assert equivalence.unit_sd([0.0, 0.02]) == pytest.approx(0.02 / math.sqrt(2))
  assert math.isnan(equivalence.unit_sd([0.1]))
