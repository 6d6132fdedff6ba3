"""Optuna samplers by name, all seeded; 'grid-paper' is the paper's 28-point grid as baseline.

'size-aware' is this project's own: it uses the fact that a student's size follows from its
width before it trains (see `SizeAwareSampler`).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np
import optuna

from search import space as space_lib

# The paper's 28-point grid (`space.paper_grid`), the baseline a search is compared with.
PAPER_GRID = 'grid-paper'
# The search parameter that sets the student's size; 'size-aware' spreads it, learns the rest.
# A family's own width range is FAMILY.width (search/space.py).
SPREAD_PARAM = 'width'


def _spread_param(name: str) -> bool:
  return name == SPREAD_PARAM or name.endswith(f'.{SPREAD_PARAM}')


def spread(number: int, low: float, high: float, log: bool = False) -> float:
  """Point `number` of the van der Corput sequence (base 2), scaled to [low, high].

  Trials 0 to 2**k - 1 put exactly one point in each of 2**k equal bins (of log values when
  `log`), whatever order they finish in: 0.5, 0.25, 0.75, 0.125, ... of the range.
  """
  index, fraction, scale = number + 1, 0.0, 0.5
  while index:
    fraction += scale * (index & 1)
    index, scale = index >> 1, scale / 2
  if log:
    return float(np.exp(np.log(low) + fraction * (np.log(high) - np.log(low))))
  return low + fraction * (high - low)


def size_adjusted(accuracy: Sequence[float], size_bytes: Sequence[float]) -> np.ndarray:
  """Accuracy minus the least-squares line of accuracy on log size: how much better a trial did
  than the trials around its size, so that trials of different sizes can be compared.

  With fewer than three trials, or all of one size, the line is flat (the mean accuracy).
  """
  accuracy = np.asarray(accuracy, dtype=np.float64)
  log_size = np.log(np.asarray(size_bytes, dtype=np.float64))
  if len(accuracy) < 3 or np.ptp(log_size) == 0:
    return accuracy - accuracy.mean() if len(accuracy) else accuracy
  slope, intercept = np.polyfit(log_size, accuracy, 1)
  return accuracy - (intercept + slope * log_size)


@contextlib.contextmanager
def _quiet_optuna():
  """Hides the 'study created in memory' line of the sampler's own scratch study."""
  optuna_logger = logging.getLogger('optuna')
  level = optuna_logger.level
  optuna_logger.setLevel(logging.WARNING)
  try:
    yield
  finally:
    optuna_logger.setLevel(level)


class SizeAwareSampler(optuna.samplers.BaseSampler):
  """Spreads student widths over their range; learns the other parameters from accuracy
  relative to size.

  Multi-objective TPE splits trials by Pareto rank, where a narrow student is 'good' whatever
  its temperature, so with few trials it follows the temperature of the smallest students. Here
  the width needs no model, since size follows from it: trial n takes point n of a van der
  Corput sequence over the width range (`spread`), covering the size axis evenly however the
  workers interleave; a family's own width range (search/space.py) is spread over that family's
  trials. The other parameters (temperature, lambda, ...) come from single-objective
  TPE on each finished trial's `size_adjusted` accuracy, so a temperature that does well on a
  wide student counts for a narrow one too; the first `n_startup_trials` are random.
  Accuracy and size are the study's first two values (see `pareto.directions`).
  """

  def __init__(self, seed: int | None = None, n_startup_trials: int = 4):
    self._seed = seed
    self._n_startup_trials = n_startup_trials
    self._random = optuna.samplers.RandomSampler(seed=seed)

  def reseed_rng(self) -> None:
    self._random.reseed_rng()

  def infer_relative_search_space(self, study, trial):
    space = optuna.search_space.intersection_search_space(
        study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return {name: distribution for name, distribution in space.items()
            if not _spread_param(name) and not distribution.single()}

  def sample_relative(self, study, trial, search_space):
    completed = [t for t in study.get_trials(deepcopy=False,
                                             states=(optuna.trial.TrialState.COMPLETE,))
                 if all(name in t.params for name in search_space)]
    if not search_space or len(completed) < self._n_startup_trials:
      return {}
    scores = size_adjusted([t.values[0] for t in completed], [t.values[1] for t in completed])
    with _quiet_optuna():
      scratch = optuna.create_study(direction='maximize', sampler=optuna.samplers.TPESampler(
          seed=self._seed, multivariate=True, n_startup_trials=0))
    scratch.add_trials([
        optuna.trial.create_trial(params={name: t.params[name] for name in search_space},
                                  distributions=search_space, value=float(score))
        for t, score in zip(completed, scores)])
    return scratch.ask(search_space).params

  def sample_independent(self, study, trial, param_name, param_distribution):
    if (_spread_param(param_name)
        and isinstance(param_distribution, optuna.distributions.FloatDistribution)):
      return spread(self._spread_index(study, trial, param_name), param_distribution.low,
                    param_distribution.high, param_distribution.log)
    return self._random.sample_independent(study, trial, param_name, param_distribution)

  @staticmethod
  def _spread_index(study, trial, param_name: str) -> int:
    """The trial's point of the sequence: its number, or for a family's own width (FAMILY.width)
    the number of earlier trials that sampled that width, so each family's sizes spread."""
    if param_name == SPREAD_PARAM:
      return trial.number
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.number < trial.number and param_name in t.params)


def derived_seed(seed: int, *numbers: int) -> int:
  """A seed in [0, 2**30) drawn from (`seed`, `numbers`), e.g. study seed and trial number."""
  return int(np.random.SeedSequence([seed, *numbers]).generate_state(1)[0] % (2 ** 30))


def _gp(seed: int, population_size: int) -> optuna.samplers.BaseSampler:
  del population_size
  try:
    import scipy  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError as error:
    raise ValueError(f"config.search.sampler = 'gp' needs Optuna's GPSampler dependencies "
                     f'({error.name} is missing): pip install -e ".[gp]", or choose tpe, '
                     'nsga2 or random') from None
  # 4 random trials before the Gaussian process, as TPE's; Optuna's default of 10 made every
  # trial of a 9-trial study random (benchmarks/RESULTS.md, CK+48 comparison).
  return optuna.samplers.GPSampler(seed=seed, n_startup_trials=4)


class SamplerEntry(NamedTuple):
  """How to make one sampler by name: `make(seed, population_size)`, or for a grid
  `grid(space)`, the space whose choices it visits, each point once, in a seeded order."""
  make: Callable[[int, int], optuna.samplers.BaseSampler] | None = None
  grid: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None


REGISTRY = {
    'size-aware': SamplerEntry(lambda seed, population_size: SizeAwareSampler(seed=seed)),
    # Multi-objective TPE when the study has several directions.
    'tpe': SamplerEntry(lambda seed, population_size: optuna.samplers.TPESampler(
        seed=seed, multivariate=True, n_startup_trials=4)),
    'nsga2': SamplerEntry(lambda seed, population_size: optuna.samplers.NSGAIISampler(
        seed=seed, population_size=population_size)),
    'gp': SamplerEntry(_gp),
    'random': SamplerEntry(lambda seed, population_size: optuna.samplers.RandomSampler(
        seed=seed)),
    PAPER_GRID: SamplerEntry(grid=space_lib.paper_grid),
    # Every combination of the space's choices (the ablations).
    'grid': SamplerEntry(grid=space_lib.plain),
}
SAMPLERS = tuple(REGISTRY)


def entry(name: str) -> SamplerEntry:
  """The registry's entry for `name`; ValueError naming the samplers there are."""
  if name not in REGISTRY:
    raise ValueError(f'config.search.sampler = {name!r} is not allowed; choose one of: '
                     f'{", ".join(SAMPLERS)}')
  return REGISTRY[name]


def trial_space(name: str, space: Mapping[str, Any]) -> Mapping[str, Any]:
  """The space the trials of the sampler `name` take their values from: a grid's (the paper's
  for 'grid-paper'), else `space` itself."""
  registered = entry(name)
  return registered.grid(space) if registered.grid is not None else space


def trial_limit(name: str, space: Mapping[str, Any]) -> int | None:
  """How many trials the sampler `name` has to give over `space`: a grid's points (the paper's
  grid: 28), None for a sampler without an end."""
  registered = entry(name)
  return space_lib.grid_size(registered.grid(space)) if registered.grid is not None else None


def make_sampler(name: str, seed: int, space: Mapping[str, Any] | None = None,
                 population_size: int = 8) -> optuna.samplers.BaseSampler:
  """The sampler `name`, seeded with `seed`; `space` is only needed for grids."""
  registered = entry(name)
  if registered.grid is not None:
    return optuna.samplers.GridSampler(space_lib.grid_choices(trial_space(name, space or {})),
                                       seed=seed)
  return registered.make(seed, population_size)


class TrialSeededSampler(optuna.samplers.BaseSampler):
  """The sampler `name`, made afresh for each trial with a seed from (`seed`, trial number).

  The storage gives every trial its own number, so workers that start trials at the same moment,
  seeing the same history, still suggest different points; and a study gives the same trials
  whether it ran in one go, was resumed, or was run again from scratch.
  """

  def __init__(self, name: str, seed: int, space: Mapping[str, Any] | None = None):
    self._name, self._seed, self._space = name, seed, space
    self._sampler = make_sampler(name, seed, space)

  def before_trial(self, study, trial):
    # The grid keeps the study seed: GridSampler already gives trial n point n of its seeded
    # order, which a seed per trial would break (two trials could take the same point).
    if entry(self._name).grid is None:
      self._sampler = make_sampler(self._name, derived_seed(self._seed, trial.number),
                                   self._space)
    self._sampler.before_trial(study, trial)

  def infer_relative_search_space(self, study, trial):
    return self._sampler.infer_relative_search_space(study, trial)

  def sample_relative(self, study, trial, search_space):
    return self._sampler.sample_relative(study, trial, search_space)

  def sample_independent(self, study, trial, param_name, param_distribution):
    return self._sampler.sample_independent(study, trial, param_name, param_distribution)

  def after_trial(self, study, trial, state, values):
    self._sampler.after_trial(study, trial, state, values)

  def reseed_rng(self) -> None:
    self._sampler.reseed_rng()
