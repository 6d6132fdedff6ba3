"""The spread of a trial's accuracy over its student seeds and folds, as pure functions.

A trial trains its student with R seeds on each of F folds; its accuracy is the mean of those
R x F runs. Its 95% interval is Student's t over the runs: mean +- t(0.975, n-1) * s / sqrt(n).
The noise to capture is mostly the seed's (one grid point gave 46, 52 and 29% with three seeds),
which a bootstrap over test images would not see, and with a handful of runs a bootstrap over
them would understate the spread. Runs on different folds also differ by the folds' difficulty,
so the interval is that of the accuracy on a random fold and seed. A trial records this
interval as it runs; reports use the study's noise model instead (search/noise.py), through
`logit_interval`, which keeps an interval inside 0..1.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# Trial attributes (and table columns) that hold a trial's interval.
COLUMNS = ('accuracy_mean', 'accuracy_sem', 'accuracy_ci95_low', 'accuracy_ci95_high')


class Interval(NamedTuple):
  """Mean accuracy of `n` runs, its standard error and its 95% interval (NaN when n < 2)."""
  mean: float
  sem: float
  low: float
  high: float
  n: int


def accuracy_interval(accuracies: Sequence[float]) -> Interval:
  """Student's t interval of the mean of `accuracies` (one per run: seed and fold)."""
  values = np.asarray(accuracies, dtype=np.float64).ravel()
  if not len(values):
    raise ValueError('accuracy_interval needs at least one accuracy')
  mean = float(values.mean())
  if len(values) < 2:
    return Interval(mean, math.nan, math.nan, math.nan, 1)
  sem = float(stats.sem(values))
  if sem == 0.0:
    return Interval(mean, 0.0, mean, mean, len(values))
  low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=mean, scale=sem)
  return Interval(mean, sem, float(low), float(high), len(values))


def logit_interval(mean: float, sem: float, df: float, n: int = 0,
                   floor: float = 1e-3) -> Interval:
  """The 95% interval of an accuracy `mean` with standard error `sem` (t with `df` degrees of
  freedom), built on the logit scale and mapped back, so that it stays inside 0..1.

  The delta method gives the logit's standard error, sem / (p (1 - p)); clipping a symmetric
  interval at 0 and 1 instead would keep its width where the accuracy cannot go and break its
  coverage there. A mean of 0 or 1 is moved in by `floor` for the transform. NaN ends when `sem`
  or `df` is NaN or `df` < 1.
  """
  if math.isnan(sem) or math.isnan(df) or df < 1:
    return Interval(mean, sem, math.nan, math.nan, n)
  if sem == 0.0:
    return Interval(mean, 0.0, mean, mean, n)
  p = min(max(mean, floor), 1.0 - floor)
  half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * sem / (p * (1.0 - p))
  centre = math.log(p / (1.0 - p))
  low, high = (float(1.0 / (1.0 + math.exp(-(centre + sign * half)))) for sign in (-1, 1))
  return Interval(mean, sem, low, high, n)


def as_attrs(interval: Interval) -> dict[str, float | None]:
  """The interval as trial attributes named by `COLUMNS` (None for NaN: JSON has no NaN)."""
  values = (interval.mean, interval.sem, interval.low, interval.high)
  return {name: None if math.isnan(value) else value for name, value in zip(COLUMNS, values)}


def holm_rejections(p_values: Sequence[float], alpha: float = 1 - CONFIDENCE) -> list[bool]:
  """Which hypotheses Holm's step-down method rejects at family-wise level `alpha`.

  Holm's method controls the chance of any false 'distinguishable' among several comparisons,
  with more power than Bonferroni; NaN p-values are never rejected. Written here because
  scipy.stats offers Benjamini-Hochberg (`false_discovery_control`) but not Holm.
  """
  order = sorted((p, k) for k, p in enumerate(p_values) if not math.isnan(p))
  rejected = [False] * len(p_values)
  for rank, (p, k) in enumerate(order):
    if p > alpha / (len(order) - rank):
      break
    rejected[k] = True
  return rejected


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
  """Holm's adjusted p-values: p_(i) -> max over j <= i of min(1, (m - j + 1) p_(j)), in the
  input order; one is below `alpha` exactly when `holm_rejections` rejects it. NaN stays NaN."""
  order = sorted((p, k) for k, p in enumerate(p_values) if not math.isnan(p))
  adjusted, running = [math.nan] * len(p_values), 0.0
  for rank, (p, k) in enumerate(order):
    running = max(running, min(1.0, (len(order) - rank) * p))
    adjusted[k] = running
  return adjusted


class PooledNoise(NamedTuple):
  """One run's seed noise pooled over groups, and the least difference it makes significant."""
  sd: float  # Standard deviation of one run about its group's mean.
  df: int  # Degrees of freedom: sum over groups of (runs - 1).
  groups: int  # Groups with 2 or more runs.


def pooled_seed_noise(groups: Sequence[Sequence[float]]) -> PooledNoise:
  """The pooled standard deviation of runs about their group's mean,
  sqrt(sum_g sum_r (x_gr - mean_g)^2 / sum_g (n_g - 1)), over the groups with 2+ runs.

  A group is one trial's seeds on one fold, so the spread is the seed's alone, and pooling the
  study's trials gives it far more degrees of freedom than any one trial's 2 or 3 runs have. It
  assumes the seed noise is about the same at every point of the space. NaN when no group has
  2 runs.
  """
  squares, df, used = 0.0, 0, 0
  for group in groups:
    values = np.asarray(group, dtype=np.float64)
    if len(values) >= 2:
      squares += float(np.sum((values - values.mean())**2))
      df += len(values) - 1
      used += 1
  return PooledNoise(math.sqrt(squares / df) if df else math.nan, df, used)


class PairedDifference(NamedTuple):
  """Mean of first minus second over paired units, its 95% interval, and a paired t-test."""
  mean: float
  low: float
  high: float
  t: float
  p_value: float
  effect_size: float  # Cohen's d_z: mean difference / standard deviation of the differences.
  n: int  # Units: folds, or seeds when there is one fold.
  unit: str  # 'fold' or 'seed'.


def unit_differences(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]]
                     ) -> tuple[np.ndarray, str]:
  """The differences first - second per unit and the unit: per fold, the mean over the
  seed-paired differences (`first[k][r]` - `second[k][r]`); with one fold, per seed."""
  a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
  if a.shape != b.shape or a.ndim != 2:
    raise ValueError(f'paired_difference needs runs of the same [fold][seed] shape, got '
                     f'{a.shape} and {b.shape}')
  unit = 'fold' if a.shape[0] >= 2 else 'seed'
  return ((a - b).mean(axis=1) if unit == 'fold' else (a - b)[0]), unit


def paired_difference(first: Sequence[Sequence[float]],
                      second: Sequence[Sequence[float]]) -> PairedDifference:
  """The paired t-test of two cells' runs, `first[k][r]` and `second[k][r]` (fold k, seed r).

  Runs pair by fold and seed (ablation trials share their seeds: config.search.paired_seeds).
  With 2+ folds the unit is the fold: the seed-paired differences are averaged within each fold,
  and the test is Student's t on those F fold differences (F - 1 degrees of freedom), because
  folds are the independent draws (different test subjects) while seeds within a fold share
  them. With one fold the unit is the seed. A paired test, because the folds' difficulty (7
  points of spread on CK+48) cancels in a difference and would swamp an unpaired one. NaN
  statistics with fewer than 2 units; differences all equal give p 1 (zero) or 0 (non-zero),
  with the interval shrunk to the mean.
  """
  differences, unit = unit_differences(first, second)
  n, mean = len(differences), float(differences.mean())
  if n < 2:
    return PairedDifference(mean, math.nan, math.nan, math.nan, math.nan, math.nan, n, unit)
  sd = float(differences.std(ddof=1))
  if sd < 1e-12:  # Equal differences, up to the rounding of accuracies (k / test images).
    return PairedDifference(mean, mean, mean, math.copysign(math.inf, mean) if mean else 0.0,
                            0.0 if mean else 1.0, math.copysign(math.inf, mean) if mean else 0.0,
                            n, unit)
  sem = sd / math.sqrt(n)
  test = stats.ttest_1samp(differences, 0.0)
  low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=sem)
  return PairedDifference(mean, float(low), float(high), float(test.statistic),
                          float(test.pvalue), mean / sd, n, unit)
