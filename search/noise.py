"""One model of a study's seed noise: the run-to-run variance as a smooth function of log size.

Seed noise belongs to the recipe and the data, not to a trial, so it is estimated once from
every trial (and fold) with two or more runs, and every trial's interval and every comparison
of trials use it instead of the trial's own 2 or 3 runs. The model and its degrees of freedom
are in `fit`'s docstring; `trial_interval` and `compare` use it.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple, Sequence

import numpy as np
from scipy import stats

from search import intervals

# The covariate every model has (when sizes vary): log of the student's bytes.
LOG_SIZE = 'log_size'
# Level of the likelihood-ratio test that lets another searched parameter into the model
# (Bonferroni over the candidates), and the fewest degrees of freedom before any is tried: with
# fewer, a second slope is estimated so poorly that one let in by chance (5% of the time per
# candidate) would widen the intervals of the trials at its extremes far more than it helps.
ENTRY_LEVEL = 0.05
ENTRY_DF = 30
# A group whose runs are all equal (accuracies are multiples of 1 / test images, so two seeds
# can tie) is floored at this fraction of the pooled variance: log 0 is minus infinity, and one
# tie must not pull the fitted variance to zero.
TIE_FLOOR = 0.01


class Group(NamedTuple):
  """The runs of one trial on one fold (seeds), and the trial's covariates (raw values)."""
  runs: Sequence[float]
  covariates: dict[str, float]


class NoiseModel(NamedTuple):
  """log variance of one run = coefficients . (1, standardised covariates)."""
  covariates: tuple[str, ...]  # Names, LOG_SIZE first when present.
  centre: np.ndarray  # Of the raw covariates, to standardise them.
  scale: np.ndarray
  coefficients: np.ndarray  # Intercept first.
  covariance: np.ndarray  # Of the coefficients.
  within_df: int  # Sum over groups of (runs - 1).
  groups: int  # Groups with 2 or more runs.
  pooled_sd: float  # The constant model's SD (intervals.pooled_seed_noise), for reference.
  rejected: tuple[str, ...]  # Other parameters tried and left out (no evidence at ENTRY_LEVEL).

  def _design(self, covariates: dict[str, float]) -> np.ndarray:
    raw = np.array([covariates[name] for name in self.covariates], dtype=np.float64)
    return np.concatenate([[1.0], (raw - self.centre) / self.scale])

  def sd(self, covariates: dict[str, float]) -> float:
    """The modelled standard deviation of one run at these covariates."""
    return float(math.exp(0.5 * self._design(covariates) @ self.coefficients))

  def df(self, covariates: dict[str, float]) -> float:
    """Degrees of freedom of the modelled variance here (Satterthwaite: 2 / Var(log s^2)).

    A pooled variance of nu degrees of freedom has Var(log s^2) = 2 / nu, so the constant model
    gives every trial the study's within_df; a slope in log size estimates the variance less
    well far from the centre of the sizes, and the t quantile there grows with it.
    """
    x = self._design(covariates)
    return float(min(self.within_df, 2.0 / max(float(x @ self.covariance @ x), 1e-12)))

  def describe(self) -> str:
    """The model in words, for reports: 'log variance = -6.9 + 0.31 z(log size) (...)'."""
    terms = [f'{self.coefficients[0]:.2f}'] + [
        f'{c:+.2f} z({name.replace("_", " ")})'
        for c, name in zip(self.coefficients[1:], self.covariates)]
    return (f'log of one run\'s variance = {" ".join(terms)}, z the covariate standardised over '
            f'the study; Gamma GLM with log link on {self.groups} trial folds\' seed variances '
            f'({self.within_df} degrees of freedom)')


def _design_matrix(groups: Sequence[Group], names: Sequence[str]):
  raw = np.array([[g.covariates[n] for n in names] for g in groups], dtype=np.float64)
  raw = raw.reshape(len(groups), len(names))
  centre = raw.mean(0) if len(names) else np.zeros(0)
  scale = raw.std(0) if len(names) else np.ones(0)
  scale = np.where(scale > 0, scale, 1.0)
  return np.column_stack([np.ones(len(groups)), (raw - centre) / scale]), centre, scale


def _glm(variances: np.ndarray, df: np.ndarray, design: np.ndarray):
  import statsmodels.api as sm  # pylint: disable=g-import-not-at-top  (statistics only)
  family = sm.families.Gamma(link=sm.families.links.Log())
  # s^2 = sigma^2 chi2_nu / nu: Gamma with mean sigma^2 and Var = 2 sigma^4 / nu, i.e. a GLM
  # with variance weights nu and the dispersion known to be 2, not estimated.
  with warnings.catch_warnings():
    # Seed variances that are all alike (a slope of 0 fits them exactly) make statsmodels warn
    # of 'perfect prediction'; the fit is still the right one, and a report is no place for it.
    warnings.simplefilter('ignore')
    return sm.GLM(variances, design, family=family, var_weights=df).fit(scale=2.0)


def fit(groups: Sequence[Group], candidates: Sequence[str] = ()) -> NoiseModel | None:
  """The study's noise model from its groups (trial x fold) with 2 or more runs; None without.

  Model: log sigma^2(x) = b0 + b1 z(log size) [+ b_k z(x_k) ...]. Each group's sample variance
  s^2 with nu = runs - 1 degrees of freedom is sigma^2 chi2_nu / nu, a Gamma variable, so the
  coefficients are a Gamma GLM's with log link, weights nu and dispersion 2 (exact maximum
  likelihood, not a regression of log s^2, which is biased for small nu). Log size is always in
  (the noise is known to grow as students shrink: about 1.9 points at width 1, more below); with
  ENTRY_DF degrees of freedom or more, each other parameter in `candidates` joins only when a
  likelihood-ratio test at ENTRY_LEVEL (Bonferroni over them) says the data show it. Groups
  are a trial's seeds on one fold, so the folds' difficulty is never mistaken for seed noise.
  """
  used = [g for g in groups if len(g.runs) >= 2]
  if not used:
    return None
  variances = np.array([np.var(g.runs, ddof=1) for g in used], dtype=np.float64)
  df = np.array([len(g.runs) - 1 for g in used], dtype=np.float64)
  pooled = intervals.pooled_seed_noise([g.runs for g in used])
  floor = TIE_FLOOR * pooled.sd**2 if pooled.sd > 0 else 1e-12
  variances = np.maximum(variances, floor)

  def varies(name: str) -> bool:
    values = [g.covariates.get(name) for g in used]
    return all(v is not None and math.isfinite(v) for v in values) and np.ptp(values) > 1e-12

  names = [LOG_SIZE] if varies(LOG_SIZE) and len(used) >= 3 else []
  rejected = []
  fitted = _glm(variances, df, _design_matrix(used, names)[0])
  candidates = [name for name in candidates if name != LOG_SIZE and varies(name)]
  for name in candidates if df.sum() >= ENTRY_DF else ():
    if len(used) < len(names) + 3:
      continue
    bigger = _glm(variances, df, _design_matrix(used, names + [name])[0])
    # Deviance over the known dispersion is the likelihood-ratio statistic, chi2 with 1 df.
    if stats.chi2.sf((fitted.deviance - bigger.deviance) / 2.0, 1) < ENTRY_LEVEL / len(
        candidates):
      names, fitted = names + [name], bigger
    else:
      rejected.append(name)
  _, centre, scale = _design_matrix(used, names)
  return NoiseModel(tuple(names), centre, scale, np.asarray(fitted.params),
                    np.asarray(fitted.cov_params()), int(df.sum()), len(used), pooled.sd,
                    tuple(rejected))


def trial_interval(model: NoiseModel, mean: float, runs: int,
                   covariates: dict[str, float]) -> intervals.Interval:
  """A trial's 95% interval from the study's noise model: the mean of `runs` runs with standard
  error sigma(x) / sqrt(runs), t with the model's degrees of freedom there, on the logit scale
  (inside 0..100%). It is conditional on the test set: another set of test faces would move
  every trial's accuracy too (`test_set_sd`)."""
  sem = model.sd(covariates) / math.sqrt(runs)
  return intervals.logit_interval(mean, sem, model.df(covariates), runs)


class TrialDifference(NamedTuple):
  """first - second of two trials' mean accuracies, with the noise model's standard error."""
  mean: float
  se: float
  df: float
  low: float
  high: float
  p_value: float


def compare(model: NoiseModel, first: tuple[float, int, dict[str, float]],
            second: tuple[float, int, dict[str, float]]) -> TrialDifference:
  """The difference of two trials (mean, runs, covariates each), Welch-like with the modelled
  variances: se^2 = sigma1^2 / n1 + sigma2^2 / n2, and the smaller of the two places' degrees
  of freedom (conservative: the two variances come from one model, so they are not independent
  estimates that Welch-Satterthwaite would combine)."""
  (m1, n1, x1), (m2, n2, x2) = first, second
  se = math.sqrt(model.sd(x1)**2 / n1 + model.sd(x2)**2 / n2)
  df = min(model.df(x1), model.df(x2))
  mean = m1 - m2
  half = float(stats.t.ppf(0.5 + intervals.CONFIDENCE / 2, df)) * se
  p = float(2 * stats.t.sf(abs(mean) / se, df)) if se > 0 else (0.0 if mean else 1.0)
  return TrialDifference(mean, se, df, mean - half, mean + half, p)


def test_set_sd(accuracy: float, test_images: int) -> float:
  """The binomial standard deviation of an accuracy measured on `test_images` faces:
  sqrt(p (1 - p) / n), the spread another test set of that size would add, which the seed
  noise intervals leave out."""
  return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / test_images) if test_images else math.nan
