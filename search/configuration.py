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

# The upper bounds of the study's numbers, each far above any setting that makes sense here.
MAX_TRIALS = 10_000  # The paper's grid has 28; at a minute or more a trial, 10,000 take weeks.
MAX_REPLICATES = 100  # Student seeds per fold; the configs use 1 to 3.
# Batch-1 inferences timed per student: at the largest students' tens of milliseconds, 10,000
# are minutes a trial.
MAX_LATENCY_REPEATS = 10_000
# Seconds between a worker's heartbeats; a stopped worker's trial waits twice this before it is
# queued again, so an hour's interval leaves it waiting two.
MAX_HEARTBEAT_INTERVAL = 3600
MAX_RETRY = 100  # Runs of a trial whose worker stopped, after the first.

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


def _check_space_types(space: Mapping[str, Any], where: str = 'config.search.space') -> None:
  """The ends of every range are numbers, `log` True or False and `choices` a tuple, in
  `space` and in each family's own space, before `space_lib.check` compares them."""
  for name, spec in space.items():
    if not isinstance(spec, Mapping):
      continue
    for end in ('low', 'high'):
      value = spec.get(end, 0.0)
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{where}.{name}.{end} = {value!r} is not allowed; expected a number')
    if 'log' in spec and not isinstance(spec['log'], bool):
      raise ValueError(f'{where}.{name}.log = {spec["log"]!r} is not allowed; expected True or '
                       'False')
    if 'choices' in spec:
      _sequence(f'{where}.{name}.choices', spec['choices'], 'e.g. (1.0, 8.0)')
    if name == space_lib.FAMILY:
      for family, own in space_lib.family_spaces(spec).items():
        if isinstance(own, Mapping):
          _check_space_types(own, f'{where}.{name}.{family}')


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
  _check_space_types(space_lib.plain(search.space))  # The grid sampler reads it.
  # A known name, its dependencies (gp: torch) and, for a grid, a space of choices only.
  samplers.make_sampler(search.sampler, 0, search.space)
  bounds.check_number('config.search.seed', search.seed, low=0, high=configuration.MAX_SEED,
                       low_inclusive=True, integer=True)
  bounds.check_number('config.search.n_trials', search.n_trials, low=1, high=MAX_TRIALS,
                       low_inclusive=True, integer=True)
  _sequence('config.search.objectives', search.objectives, "e.g. ('accuracy', 'size')")
  pareto.directions(tuple(search.objectives))
  space_lib.check(search.space)
  _check_space_values(config)
  bounds.check_number('config.search.folds_per_trial', search.folds_per_trial, low=1,
                       high=configuration.MAX_FOLDS, low_inclusive=True, integer=True)
  num_folds = config.data.num_folds
  if num_folds >= 2 and search.folds_per_trial > num_folds:
    raise ValueError(f'config.search.folds_per_trial = {search.folds_per_trial} is more than '
                     f'config.data.num_folds = {num_folds}')
  bounds.check_number('config.search.replicates', search.replicates, low=1,
                       high=MAX_REPLICATES, low_inclusive=True, integer=True)
  for field in ('paired_seeds', 'prune'):
    if not isinstance(search[field], bool):
      raise ValueError(f'config.search.{field} = {search[field]!r} is not allowed; expected '
                       'True or False')
  check_ablation(search.ablation)
  bounds.check_number('config.search.latency_repeats', search.latency_repeats, low=1,
                       high=MAX_LATENCY_REPEATS, low_inclusive=True, integer=True)
  bounds.check_number('config.search.heartbeat_interval', search.heartbeat_interval, low=1,
                       high=MAX_HEARTBEAT_INTERVAL, low_inclusive=True, integer=True)
  bounds.check_number('config.search.max_retry', search.max_retry, low=0, high=MAX_RETRY,
                       low_inclusive=True, integer=True)


def _sequence(name: str, value: Any, example: str) -> None:
  """ValueError unless `value` is a tuple or list (a string is one value, not a sequence)."""
  if not isinstance(value, (tuple, list)):
    raise ValueError(f'{name} = {value!r} is not allowed; expected a tuple, {example}')


def check_ablation(ablation: Any) -> None:
  """config.search.ablation: known fields, sizes, widths, poolings and temperatures that
  exist, a margin above 0 and at most 100 (in points) and study names as strings."""
  ablation = space_lib.plain(ablation) if hasattr(ablation, 'to_dict') else ablation
  if not isinstance(ablation, Mapping) or set(ablation) != set(ABLATION_FIELDS):
    got = sorted(ablation) if isinstance(ablation, Mapping) else repr(ablation)
    raise ValueError(f'config.search.ablation must have exactly the fields '
                     f'{", ".join(ABLATION_FIELDS)}, got {got}')
  examples = {'sizes': "('M', 'XXS')", 'widths': '(0.5, 1.0) or () for none',
              'poolings': "('v', 'p12')", 'temperatures': '(1.0, 8.0)',
              'tuned': '() (the ablation fills it)'}
  for field, example in examples.items():
    _sequence(f'config.search.ablation.{field}', ablation[field], example)
  choices = {'sizes': tuple(models.SIZES), 'poolings': models.POOLINGS}
  for field, allowed in choices.items():
    values = ablation[field]
    if not values or not set(values) <= set(allowed):
      raise ValueError(f'config.search.ablation.{field} = {tuple(values)!r} is not allowed; '
                       f'expected some of: {", ".join(allowed)}')
  for value in ablation['widths']:  # The student's own bounds (jaxfer/configuration.py).
    bounds.check_number('config.search.ablation.widths', value, low=0,
                        high=configuration.MAX_WIDTH)
  for value in ablation['temperatures']:
    bounds.check_number('config.search.ablation.temperatures', value,
                        low=configuration.MIN_TEMPERATURE, high=configuration.MAX_TEMPERATURE,
                        low_inclusive=True)
  if not isinstance(ablation['tuned_from'], str):
    raise ValueError(f'config.search.ablation.tuned_from = {ablation["tuned_from"]!r} is not '
                     "allowed; expected a study name, or '' for the config's temperature and "
                     'lambda')
  # In accuracy points: 100 is the whole scale.
  bounds.check_number('config.search.ablation.target_margin', ablation['target_margin'], low=0,
                      high=100)
  if not isinstance(ablation['noise_from'], str):
    raise ValueError(f'config.search.ablation.noise_from = {ablation["noise_from"]!r} is not '
                     "allowed; expected a study name, or '' for none")
  if not ablation['temperatures']:
    raise ValueError('config.search.ablation.temperatures is empty; expected one or more '
                     'temperatures > 0')
