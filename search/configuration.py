"""Checks a search config as a whole (the run config and `config.search`) before a study is
opened or anything trained, naming the field and what it accepts."""
from __future__ import annotations

from typing import Any, Mapping

from jaxfer import bounds
from jaxfer import configuration
from jaxfer import models
from search import pareto
from search import samplers
from search import space as space_lib
from search import storage as storage_lib

# config.search fields (see configs/search_default.py:search_settings).
FIELDS = ('study_name', 'storage', 'sampler', 'seed', 'n_trials', 'objectives', 'space',
          'folds_per_trial', 'replicates', 'paired_seeds', 'prune', 'latency_repeats',
          'heartbeat_interval', 'max_retry', 'ablation')
ABLATION_FIELDS = ('sizes', 'widths', 'poolings', 'temperatures', 'tuned_from', 'tuned',
                   'target_margin', 'noise_from')


def _ends(spec: Any) -> list[Any]:
  """Both ends of a range, every choice, or the fixed value."""
  if isinstance(spec, Mapping):
    return list(spec['choices']) if 'choices' in spec else [spec['low'], spec['high']]
  return [spec]


def _check_space_values(config: Any) -> None:
  """Every end of every range (and every choice) of the space gives a valid run config; a
  family's own ranges, with that family."""
  space = space_lib.plain(config.search.space)
  checks = [(f'config.search.space.{name}', {}, name, value)
            for name, spec in space.items() for value in _ends(spec)]
  for family, own in space_lib.family_spaces(space.get(space_lib.FAMILY)).items():
    checks += [(f'config.search.space.{space_lib.FAMILY}.{family}.{name}',
                {space_lib.FAMILY: family}, name, value)
               for name, spec in own.items() for value in _ends(spec)]
  for where, fixed, name, value in checks:
    try:
      configuration.validate(space_lib.apply(config, {**fixed, name: value}))
    except ValueError as error:
      raise ValueError(f'{where}: the value {value!r} gives a run config that is not allowed '
                       f'({error})') from None


def validate(config: Any) -> None:
  """Raises ValueError on the first field of the run or search config that is not allowed."""
  configuration.validate(config)
  if 'search' not in config:
    raise ValueError('config.search is missing; a search config derives from '
                     'configs/search_default.py, which sets it')
  search = config.search
  unknown = sorted(set(search.keys()) - set(FIELDS))
  missing = [field for field in FIELDS if field not in search]
  if unknown or missing:
    problem = (f'has the unknown field(s) {", ".join(unknown)}' if unknown
               else f'lacks {", ".join(missing)}')
    raise ValueError(f'config.search {problem}; its fields are: {", ".join(FIELDS)}')
  if not isinstance(search.study_name, str) or not search.study_name:
    raise ValueError(f'config.search.study_name = {search.study_name!r} is not allowed; '
                     'expected a non-empty name')
  if not isinstance(search.storage, str):
    raise ValueError('config.search.storage is not allowed; expected a string')
  storage_lib.check_url(search.storage)
  # A known name, its dependencies (gp: torch) and, for a grid, a space of choices only.
  samplers.make_sampler(search.sampler, 0, search.space)
  bounds.check_number('config.search.seed', search.seed, low=0, low_inclusive=True,
                       integer=True)
  bounds.check_number('config.search.n_trials', search.n_trials, low=1, low_inclusive=True,
                       integer=True)
  pareto.directions(tuple(search.objectives))
  space_lib.check(search.space)
  _check_space_values(config)
  bounds.check_number('config.search.folds_per_trial', search.folds_per_trial, low=1,
                       low_inclusive=True, integer=True)
  num_folds = config.data.num_folds
  if num_folds >= 2 and search.folds_per_trial > num_folds:
    raise ValueError(f'config.search.folds_per_trial = {search.folds_per_trial} is more than '
                     f'config.data.num_folds = {num_folds}')
  bounds.check_number('config.search.replicates', search.replicates, low=1, low_inclusive=True,
                       integer=True)
  for field in ('paired_seeds', 'prune'):
    if not isinstance(search[field], bool):
      raise ValueError(f'config.search.{field} = {search[field]!r} is not allowed; expected '
                       'True or False')
  check_ablation(search.ablation)
  bounds.check_number('config.search.latency_repeats', search.latency_repeats, low=1,
                       low_inclusive=True, integer=True)
  bounds.check_number('config.search.heartbeat_interval', search.heartbeat_interval, low=1,
                       low_inclusive=True, integer=True)
  bounds.check_number('config.search.max_retry', search.max_retry, low=0, low_inclusive=True,
                       integer=True)


def check_ablation(ablation: Any) -> None:
  """config.search.ablation: known fields, sizes, widths, poolings and temperatures that
  exist, a margin > 0 (in points) and study names as strings."""
  ablation = space_lib.plain(ablation) if hasattr(ablation, 'to_dict') else ablation
  if not isinstance(ablation, Mapping) or set(ablation) != set(ABLATION_FIELDS):
    got = sorted(ablation) if isinstance(ablation, Mapping) else repr(ablation)
    raise ValueError(f'config.search.ablation must have exactly the fields '
                     f'{", ".join(ABLATION_FIELDS)}, got {got}')
  choices = {'sizes': tuple(models.SIZES), 'poolings': models.POOLINGS}
  for field, allowed in choices.items():
    values = ablation[field]
    if not values or not set(values) <= set(allowed):
      raise ValueError(f'config.search.ablation.{field} = {tuple(values)!r} is not allowed; '
                       f'expected some of: {", ".join(allowed)}')
  for field in ('widths', 'temperatures'):
    for value in ablation[field]:
      bounds.check_number(f'config.search.ablation.{field}', value, low=0)
  if not isinstance(ablation['tuned_from'], str):
    raise ValueError(f'config.search.ablation.tuned_from = {ablation["tuned_from"]!r} is not '
                     "allowed; expected a study name, or '' for the config's temperature and "
                     'lambda')
  bounds.check_number('config.search.ablation.target_margin', ablation['target_margin'], low=0)
  if not isinstance(ablation['noise_from'], str):
    raise ValueError(f'config.search.ablation.noise_from = {ablation["noise_from"]!r} is not '
                     "allowed; expected a study name, or '' for none")
  if not ablation['temperatures']:
    raise ValueError('config.search.ablation.temperatures is empty; expected one or more '
                     'temperatures > 0')
