"""What an ablation's paired comparisons can conclude: a difference, an equivalence within a
margin, or nothing yet, and how many seeds and folds it takes to conclude, as pure functions.

A paired t-test that is not significant cannot tell "no effect" from "too little data"; two
one-sided tests (TOST) against a margin fixed in advance can show the first, and the minimum
detectable effect with 80% power (MDE) says how large a difference the design could have seen.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats

from search import intervals

POWER = 0.8
# The four verdicts of a comparison, from its Holm-corrected difference and TOST p-values.
DIFFERS = 'differs'
DIFFERS_WITHIN_MARGIN = 'differs by less than the margin'
EQUIVALENT = 'equivalent within ±margin'
INCONCLUSIVE = 'inconclusive'
VERDICTS = (DIFFERS, DIFFERS_WITHIN_MARGIN, EQUIVALENT, INCONCLUSIVE)


def _check_sd(name: str, value: float) -> None:
  if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
    raise ValueError(f'{name} = {value!r} is not allowed; expected a standard deviation >= 0')


def mde(sd_of_unit_differences: float, n_units: int, alpha: float,
        power: float = POWER) -> float:
  """The smallest true mean difference a two-sided paired t-test over `n_units` detects with
  probability `power` at level `alpha`, in the units of `sd_of_unit_differences`.

  statsmodels' TTestPower solves the noncentral t for the standardized effect (Cohen's d_z),
  exact for small n where the normal approximation is several percent too small. NaN with
  fewer than 2 units (no test) or a NaN sd; 0 when the differences do not vary.
  """
  from statsmodels.stats import power as power_lib  # pylint: disable=g-import-not-at-top
  if n_units < 2 or math.isnan(sd_of_unit_differences):
    return math.nan
  if sd_of_unit_differences == 0:
    return 0.0
  effect = power_lib.TTestPower().solve_power(effect_size=None, nobs=n_units, alpha=alpha,
                                               power=power, alternative='two-sided')
  return float(np.asarray(effect).item()) * sd_of_unit_differences


def mde80(sd_of_unit_differences: float, n_units: int, alpha: float) -> float:
  """`mde` with 80% power, the convention for planning. Pass alpha / m for an ablation of m
  comparisons: the level Holm's method gives its first (smallest-p) step, so a difference of
  this size is found with 80% power even when it is the only real one."""
  return mde(sd_of_unit_differences, n_units, alpha, POWER)


class Tost(NamedTuple):
  """Two one-sided tests that the true difference lies inside (-margin, +margin)."""
  p_value: float  # The larger of the two one-sided p-values.
  low: float  # The 90% interval: TOST at 5% shows equivalence exactly when it is inside.
  high: float


def tost(differences_mean: float, sd: float, n: int, margin: float) -> Tost:
  """TOST on n paired unit differences of mean `differences_mean` and standard deviation `sd`:
  t = (mean + margin) / se against the lower bound and (mean - margin) / se against the upper,
  Student's t with n - 1 degrees of freedom, se = sd / sqrt(n).

  The p-value is the larger one-sided p: equivalence needs both bounds rejected. Its interval
  is the 90% one, mean +- t(0.95, n-1) se, because two 5% one-sided tests match it. NaN with
  fewer than 2 units; differences that do not vary give p 0 inside the margin, 1 outside.
  """
  if n < 2 or math.isnan(sd) or math.isnan(differences_mean):
    return Tost(math.nan, math.nan, math.nan)
  if sd == 0:
    mean = float(differences_mean)
    return Tost(0.0 if abs(mean) < margin else 1.0, mean, mean)
  se = sd / math.sqrt(n)
  above_lower = float(stats.t.sf((differences_mean + margin) / se, n - 1))
  below_upper = float(stats.t.cdf((differences_mean - margin) / se, n - 1))
  half = float(stats.t.ppf(0.95, n - 1)) * se
  return Tost(max(above_lower, below_upper), float(differences_mean - half),
              float(differences_mean + half))


def equivalence_bound(low90: float, high90: float) -> float:
  """The end of the 90% interval farther from zero, signed: the bound to hold against the
  margin, since TOST at 5% (unadjusted) shows equivalence exactly when |bound| < margin."""
  if math.isnan(low90) or math.isnan(high90):
    return math.nan
  return low90 if abs(low90) > abs(high90) else high90


def verdict(differs: bool, equivalent: bool) -> str:
  """The verdict of a comparison from its Holm-corrected difference test (`differs`) and its
  Holm-corrected TOST (`equivalent`): both can hold when a real difference is small."""
  if differs:
    return DIFFERS_WITHIN_MARGIN if equivalent else DIFFERS
  return EQUIVALENT if equivalent else INCONCLUSIVE


def unit_sd(unit_differences: Sequence[float]) -> float:
  """The standard deviation of per-unit differences (n - 1); 0 when they are equal up to the
  rounding of accuracies (as `intervals.paired_difference`), NaN with fewer than 2 units."""
  if len(unit_differences) < 2:
    return math.nan
  sd = float(np.std(unit_differences, ddof=1))
  return sd if sd >= 1e-12 else 0.0


def judge(tests: Sequence[tuple[float, float, int, float]], margin: float) -> list[dict]:
  """What each of m paired comparisons concludes, from (mean difference, sd of its unit
  differences, units, p-value of its difference test): the TOST against +-`margin` and the
  difference test, each Holm-corrected over the m, their `verdict`, and the MDE planned at
  alpha / m, the level of Holm's first step. Each a dict: p_holm, mde80, p_equivalence,
  p_equivalence_holm, low90, high90 (TOST's 90% interval), equivalence_bound, verdict."""
  alpha = 1 - intervals.CONFIDENCE
  tosts = [tost(mean, sd, n, margin) for mean, sd, n, _ in tests]
  differs = intervals.holm_adjusted([p for *_, p in tests])
  equivalent = intervals.holm_adjusted([t.p_value for t in tosts])
  return [dict(p_holm=p, mde80=mde80(sd, n, alpha / len(tests)), p_equivalence=t.p_value,
               p_equivalence_holm=p_eq, low90=t.low, high90=t.high,
               equivalence_bound=equivalence_bound(t.low, t.high),
               verdict=verdict(p < alpha, p_eq < alpha))
          for (_, sd, n, _), t, p, p_eq in zip(tests, tosts, differs, equivalent)]


class NoiseComponents(NamedTuple):
  """An ablation's noise, split for planning (accuracy as a fraction, like the runs)."""
  seed_sd: float  # One run about its (cell, fold) mean; NaN with one seed per fold.
  seed_df: int
  interaction_sd: float  # Fold-by-cell interaction of a difference; NaN when not identified.
  difference_sd: float  # Per-fold paired differences, pooled over the comparisons.
  difference_df: int
  folds: int
  seeds: int


def noise_components(runs: Sequence[Sequence[Sequence[float]]],
                     pairs: Sequence[tuple[int, int]]) -> NoiseComponents:
  """The seed SD and the fold-by-cell interaction SD of the cells `runs[cell][fold][seed]`,
  whose differences are the `pairs` (first, second) of cell indices.

  The seed SD is pooled within (cell, fold) (`intervals.pooled_seed_noise`). A pair's per-fold
  difference D_f = mean over the R seeds of first - second has, by the method of moments,
  Var(D_f) = sigma_int^2 + 2 sigma_seed^2 / R (the seeds of two cells taken as independent:
  one seed number gives two architectures unrelated weights), so sigma_int^2 = max(0, pooled
  var of the D_f - 2 sigma_seed^2 / R). The interaction is real: a variant that suits one
  fold's test subjects better than another's; more seeds do not average it away. With one seed
  per fold the two cannot be separated, and both are NaN (the pooled difference SD is not).
  """
  arrays = [np.asarray(cell, dtype=np.float64) for cell in runs]
  shapes = {a.shape for a in arrays}
  if len(shapes) != 1 or arrays[0].ndim != 2:
    raise ValueError(f'noise_components needs runs of one [fold][seed] shape, got '
                     f'{sorted(shapes)}')
  folds, seeds = arrays[0].shape
  seed = intervals.pooled_seed_noise([fold for cell in arrays for fold in cell])
  squares, df = 0.0, 0
  for first, second in pairs:
    per_fold = (arrays[first] - arrays[second]).mean(axis=1)
    if len(per_fold) >= 2:
      squares += float(np.sum((per_fold - per_fold.mean())**2))
      df += len(per_fold) - 1
  difference_var = squares / df if df else math.nan
  interaction = math.nan
  if seeds >= 2 and df and not math.isnan(seed.sd):
    interaction = math.sqrt(max(0.0, difference_var - 2 * seed.sd**2 / seeds))
  return NoiseComponents(seed.sd if seeds >= 2 else math.nan, seed.df, interaction,
                         math.sqrt(difference_var) if df else math.nan, df, folds, seeds)


def difference_sd(seed_sd: float, interaction_sd: float, seeds: int) -> float:
  """The SD of a per-fold paired difference with `seeds` seeds per fold:
  sqrt(interaction^2 + 2 seed^2 / seeds)."""
  return math.sqrt(interaction_sd**2 + 2 * seed_sd**2 / seeds)


def seeds_needed(seed_sd: float, interaction_sd: float, folds: int, margin: float,
                 alpha: float, power: float = POWER, max_seeds: int = 1000) -> int | None:
  """The fewest seeds per fold R with mde(difference_sd(seed, interaction, R), folds, alpha,
  power) <= margin; None when no number of seeds gets there.

  Seeds only shrink the seed part of the difference's variance: the fold-by-cell interaction
  stays, so when the interaction alone gives an MDE above the margin, only more folds help
  (`folds_needed`). None too when it would take more than `max_seeds`.
  """
  _check_sd('seed_sd', seed_sd)
  _check_sd('interaction_sd', interaction_sd)
  if folds < 2 or mde(interaction_sd, folds, alpha, power) >= margin:
    return None
  return _fewest(lambda seeds: mde(difference_sd(seed_sd, interaction_sd, seeds), folds, alpha,
                                   power) <= margin, 1, max_seeds)


def folds_needed(sd_of_unit_differences: float, margin: float, alpha: float,
                 power: float = POWER, max_folds: int = 1000) -> int | None:
  """The fewest folds (units) whose MDE with `sd_of_unit_differences` is within `margin`;
  None beyond `max_folds`. A dataset has the folds its subjects allow: this says how far off
  a design is, not that those folds exist."""
  _check_sd('sd_of_unit_differences', sd_of_unit_differences)
  return _fewest(lambda folds: mde(sd_of_unit_differences, folds, alpha, power) <= margin, 2,
                 max_folds)


def _fewest(enough, low: int, high: int) -> int | None:
  """The least n in low..high with enough(n), by bisection (an MDE only falls as n grows);
  None when even `high` is not enough."""
  if not enough(high):
    return None
  while low < high:
    middle = (low + high) // 2
    if enough(middle):
      high = middle
    else:
      low = middle + 1
  return low
