"""The statistics of a study, read from its trials: the noise model, every trial's interval from
it, the fitted front with its band, and the comparisons of front points with their verdicts.

Pure: trials in, a `StudyStats` out, which report.py tabulates and draws. The trial attributes
recorded while the study ran (each trial's own t interval) are not used here: one noise model
for the whole study gives every trial far more degrees of freedom than its own 2 or 3 runs.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np
import optuna

from search import equivalence
from search import front_fit
from search import intervals
from search import noise
from search import pareto

# The default equivalence margin in accuracy points (config.search.ablation.target_margin).
MARGIN_POINTS = 2.0
# Fewest completed trials with modelled noise for a fitted front: below it the GP has more
# hyperparameters than trials.
MIN_FIT_TRIALS = 4
# Parameters that set the student's size: they enter the fit through size, not as a recipe.
SIZE_PARAMETERS = ('width', 'size')


def _log_name(name: str, distribution) -> str:
  return f'log_{name}' if getattr(distribution, 'log', False) else name


def recipe_names(trials: Sequence[optuna.trial.FrozenTrial]) -> list[str]:
  """The numeric searched parameters other than those that set the size, as the noise model
  and the fit name them ('log_temperature' where searched on a log scale)."""
  names = {}
  for trial in trials:
    for name, distribution in trial.distributions.items():
      numeric = isinstance(distribution, (optuna.distributions.FloatDistribution,
                                          optuna.distributions.IntDistribution))
      if numeric and name not in SIZE_PARAMETERS and distribution.low < distribution.high:
        names[name] = _log_name(name, distribution)
  return [names[name] for name in sorted(names)]


def covariates(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
  """A trial's covariates: log of its size in bytes and its numeric recipe parameters (log
  where searched on a log scale)."""
  found = {}
  if trial.values:
    found[noise.LOG_SIZE] = math.log(trial.values[1])
  elif trial.user_attrs.get('params'):  # A pruned trial: 4 bytes per float32 parameter.
    found[noise.LOG_SIZE] = math.log(4 * trial.user_attrs['params'])
  for name, value in trial.params.items():
    distribution = trial.distributions.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      log = getattr(distribution, 'log', False)
      found[_log_name(name, distribution)] = math.log(value) if log else float(value)
  return found


def _recipe_box(trials: Sequence[optuna.trial.FrozenTrial], names: Sequence[str]) -> np.ndarray:
  """[2, K] low and high of each recipe parameter's distribution (log where log)."""
  box = np.zeros((2, len(names)))
  for trial in trials:
    for name, distribution in trial.distributions.items():
      key = _log_name(name, distribution)
      if key in names:
        k = list(names).index(key)
        log = getattr(distribution, 'log', False)
        box[:, k] = [math.log(distribution.low) if log else distribution.low,
                     math.log(distribution.high) if log else distribution.high]
  return box


def run_groups(trial: optuna.trial.FrozenTrial) -> list[list[float]]:
  """A trial's runs by fold (seeds), or its fold accuracies as one-run groups."""
  runs = trial.user_attrs.get('run_accuracies')
  if runs is not None:
    return [list(fold) for fold in runs]
  return [[a] for a in trial.user_attrs.get('fold_accuracies', [])]


def run_count(trial: optuna.trial.FrozenTrial) -> int:
  """The runs (seeds x folds) behind a trial's mean accuracy; 1 when it recorded none."""
  return max(sum(len(fold) for fold in run_groups(trial)), 1)


class FrontComparison(NamedTuple):
  """Two front trials compared with the noise model, and the comparison's verdict."""
  first: int  # Trial numbers: the larger student first (first - second).
  second: int
  difference: noise.TrialDifference
  p_holm: float
  mde80: float  # Points of accuracy fraction: the least difference found with 80% power.
  low90: float
  high90: float
  equivalence_bound: float
  p_equivalence_holm: float
  verdict: str


class StudyStats(NamedTuple):
  """What report.py needs beyond the front itself."""
  model: noise.NoiseModel | None
  intervals: dict[int, intervals.Interval]  # By trial number, completed trials.
  fit: front_fit.FrontFit | None
  fit_note: str  # Why there is no fit, or ''.
  plateau: front_fit.Estimate | None
  halving: front_fit.Estimate | None
  knee: front_fit.Estimate | None
  neighbours: list[FrontComparison]
  extremes: FrontComparison | None  # Smallest and largest front points.
  margin: float  # Accuracy fraction.
  test_images: int  # Faces in the test set(s) of a trial (0 when not recorded).
  test_set_sd: float  # Binomial SD of the median accuracy on that many faces (NaN without).


def _compare(model: noise.NoiseModel, pairs: Sequence[tuple[Any, Any]],
             margin: float) -> list[FrontComparison]:
  """Each pair (larger trial, smaller trial) compared, Holm over the pairs for the difference
  and for the TOST. A trial comparison has a standard error and degrees of freedom rather than
  units; as n = df + 1 units of sd = se sqrt(n) it is the same t test, so the paired
  functions of search/equivalence.py apply unchanged."""
  found = [noise.compare(model, first[1:], second[1:]) for first, second in pairs]
  judged = equivalence.judge([(d.mean, d.se * math.sqrt(d.df + 1), d.df + 1, d.p_value)
                              for d in found], margin)
  fields = FrontComparison._fields[3:]
  comparisons = [FrontComparison(first[0], second[0], d, **{k: judgement[k] for k in fields})
                 for (first, second), d, judgement in zip(pairs, found, judged)]
  return comparisons


def study_noise(trials: Sequence[optuna.trial.FrozenTrial], info: pareto.FrontInfo
                ) -> tuple[noise.NoiseModel | None, dict[int, intervals.Interval]]:
  """The study's noise model (from every finished trial's runs) and the interval it gives each
  completed trial of `info`, by trial number ({} without a model)."""
  finished = [t for t in trials if t.state in pareto.FINISHED]
  groups = [noise.Group(runs, covariates(t)) for t in finished for runs in run_groups(t)]
  model = noise.fit([g for g in groups if noise.LOG_SIZE in g.covariates],
                    recipe_names(finished))
  found: dict[int, intervals.Interval] = {}
  if model is not None:
    by_number = {t.number: t for t in trials}
    for number, accuracy in zip(info.numbers, info.accuracy):
      trial = by_number[number]
      found[number] = noise.trial_interval(model, float(accuracy), run_count(trial),
                                           covariates(trial))
  return model, found


def analyse(trials: Sequence[optuna.trial.FrozenTrial], info: pareto.FrontInfo,
            margin_points: float = MARGIN_POINTS, draws: int = front_fit.DRAWS,
            seed: int = 0) -> StudyStats:
  """The study's noise model, intervals, fitted front and front comparisons (see the module
  docstring); `info` is `pareto.front_info(trials)`."""
  margin = margin_points / 100
  finished = [t for t in trials if t.state in pareto.FINISHED]
  names = recipe_names(finished)
  model, found = study_noise(trials, info)
  by_number = {t.number: t for t in trials}
  done = [by_number[n] for n in info.numbers]
  runs = [run_count(t) for t in done]
  images = [sum(t.user_attrs.get('test_images', [])) for t in done]
  test_images = max(set(images), key=images.count) if images else 0
  empty = StudyStats(model, found, None, '', None, None, None, [], None, margin, test_images,
                     noise.test_set_sd(float(np.median(info.accuracy)), test_images)
                     if len(done) else math.nan)
  if model is None:
    return empty._replace(fit_note='no trial has 2 or more runs on a fold, so there is no '
                          'seed noise to fit a front with; set config.search.replicates to 2')
  front = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  point = lambda p: (info.numbers[p], float(info.accuracy[p]), runs[p], covariates(done[p]))
  if len(front) >= 2:
    empty = empty._replace(
        neighbours=_compare(model, [(point(b), point(a)) for a, b in zip(front[:-1], front[1:])],
                            margin),
        extremes=_compare(model, [(point(front[-1]), point(front[0]))], margin)[0])
  if len(done) < MIN_FIT_TRIALS:
    return empty._replace(fit_note=f'{len(done)} completed trials; a front is fitted from '
                          f'{MIN_FIT_TRIALS}')
  sizes = np.array([t.values[1] for t in done])
  if np.ptp(sizes) == 0:
    return empty._replace(fit_note='every trial has the same size')
  recipes = np.array([[covariates(t).get(name, 0.0) for name in names] for t in done])
  variances = [front_fit.mean_variance(model.sd(covariates(t)), n, model.df(covariates(t)))
               for t, n in zip(done, runs)]
  fitted = front_fit.fit(sizes, recipes.reshape(len(done), len(names)),
                         [t.values[0] for t in done], variances, (sizes.min(), sizes.max()),
                         _recipe_box(finished, names), draws=draws, seed=seed)
  return empty._replace(fit=fitted, plateau=front_fit.plateau_size(fitted),
                        halving=front_fit.halving_cost(fitted),
                        knee=front_fit.knee_size(fitted))
