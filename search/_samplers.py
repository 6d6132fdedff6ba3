"""Optuna samplers by name, all seeded; 'grid-paper' is the paper's 28-point grid as baseline."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import optuna

from search import _space

SAMPLERS = ('tpe', 'nsga2', 'gp', 'random', 'grid-paper')


def derived_seed(seed: int, number: int) -> int:
  """A seed in [0, 2**30) drawn from (`seed`, `number`), e.g. study seed and trial number."""
  return int(np.random.SeedSequence([seed, number]).generate_state(1)[0] % (2 ** 30))


def make_sampler(name: str, seed: int, space: Mapping[str, Any] | None = None,
                 population_size: int = 8) -> optuna.samplers.BaseSampler:
  """The sampler `name`, seeded with `seed`; `space` is only needed for grids."""
  if name == 'tpe':  # Multi-objective TPE when the study has several directions.
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=4)
  if name == 'nsga2':
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
  if name == 'random':
    return optuna.samplers.RandomSampler(seed=seed)
  if name == 'gp':
    try:
      import scipy  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
      import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    except ImportError as error:
      raise ValueError(f"config.search.sampler = 'gp' needs Optuna's GPSampler dependencies "
                       f'({error.name} is missing): pip install torch scipy, or choose tpe, '
                       'nsga2 or random') from None
    return optuna.samplers.GPSampler(seed=seed)
  if name == 'grid-paper':
    grid = _space.paper_grid(space or {})
    search_space = {key: list(spec['choices']) for key, spec in grid.items()
                    if isinstance(spec, Mapping)}
    return optuna.samplers.GridSampler(search_space, seed=seed)
  raise ValueError(f'config.search.sampler = {name!r} is not allowed; choose one of: '
                   f'{", ".join(SAMPLERS)}')


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
    self._sampler = make_sampler(self._name, derived_seed(self._seed, trial.number), self._space)
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
