"""The search space of a study: which run-config fields a trial sets, and how it samples them.

`config.search.space` maps a parameter name to a fixed value or to a range
(`dict(low=, high=, log=)`) or a choice (`dict(choices=(...))`). Names and the run-config
fields they set are in `FIELDS`; `size` picks one of the paper's sizes (M, S, XS, XXS) through
the squeeze coefficient. The paper's grid is its own space: `paper_grid`.

`family` chooses the student family, and may give each family its own ranges, sampled only in
that family's trials (a conditional space), under the name FAMILY.PARAM in the study:
`family=dict(choices=('microexpnet', 'separable'), separable=dict(width=..., depth=...))`.
"""
from __future__ import annotations

from typing import Any, Mapping

import ml_collections
import numpy as np

from jaxfer import models

# Search-parameter name -> the run-config field it sets.
FIELDS = {
    'temperature': 'distill.temperature',
    'lam': 'distill.lam',
    'width': 'student.width',
    'size': 'student.squeeze',
    'pooling': 'student.pooling',
    'learning_rate': 'student.optimizer.learning_rate',
    'loss': 'distill.loss',  # 'none' trains without distillation (the ablations' baseline).
    # How the student learns from larger nets (METHODS): sets student.pretrain and distill.loss.
    'method': 'student.pretrain',
    'family': 'student.family',  # models.FAMILIES; may hold each family's own ranges.
    'depth': 'student.depth',
}
FAMILY = 'family'
# The keys of a `family` entry that are not a family's own space.
_FAMILY_KEYS = ('choices',)
# method -> (student.pretrain, distill.loss; None keeps the config's loss).
METHODS = {
    'kd': ('none', None),  # Logit distillation from the teacher, as the paper.
    'facenet2expnet': ('facenet2expnet', 'none'),  # FaceNet2ExpNet's two stages, no teacher.
    'both': ('facenet2expnet', None),  # Pre-trained on the face net, then distilled.
}
# The paper's grid: 7 temperatures x the 4 original sizes (28 trials).
PAPER_TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
PAPER_SIZES = ('M', 'S', 'XS', 'XXS')
PAPER_GRID_TRIALS = len(PAPER_TEMPERATURES) * len(PAPER_SIZES)


def plain(space: Any) -> dict[str, Any]:
  """`space` (a dict or a ConfigDict) as plain nested dicts."""
  return space.to_dict() if hasattr(space, 'to_dict') else dict(space)


def _is_range(spec: Any) -> bool:
  return isinstance(spec, Mapping) and ('low' in spec or 'choices' in spec)


def family_spaces(spec: Any) -> dict[str, dict[str, Any]]:
  """{family: its own space} of a `family` entry (empty for a fixed family or plain choices)."""
  if not isinstance(spec, Mapping):
    return {}
  return {name: dict(own) for name, own in spec.items() if name not in _FAMILY_KEYS}


def check(space: Mapping[str, Any], where_prefix: str = 'config.search.space') -> None:
  """Raises ValueError naming the first parameter of `space` that is not usable."""
  for name, spec in plain(space).items():
    where = f'{where_prefix}.{name}'
    if name == FAMILY and isinstance(spec, Mapping):
      if 'choices' not in spec:
        raise ValueError(f'{where} = {dict(spec)} is neither a fixed family nor '
                         'dict(choices=(...)[, FAMILY=dict(...)])')
      for family, own in family_spaces(spec).items():
        if family not in spec['choices']:
          raise ValueError(f'{where}.{family}: {family!r} is not one of the choices '
                           f'{tuple(spec["choices"])}; a family\'s own space needs its choice')
        if not isinstance(own, Mapping) or FAMILY in own:
          raise ValueError(f'{where}.{family} = {own!r}: expected a space of that family\'s own '
                           'parameters, e.g. dict(width=dict(low=0.25, high=1.0, log=True))')
        check(own, f'{where}.{family}')
      spec = {'choices': spec['choices']}
    if name not in FIELDS:
      raise ValueError(f'{where} is not a search parameter; choose among: {", ".join(FIELDS)}')
    if isinstance(spec, Mapping) and not _is_range(spec):
      raise ValueError(f'{where} = {dict(spec)} is neither a fixed value, dict(low=, high=[, '
                       'log=True]) nor dict(choices=(...))')
    if isinstance(spec, Mapping) and 'low' in spec:
      low, high = spec['low'], spec.get('high')
      if high is None or not low < high or (spec.get('log') and low <= 0):
        raise ValueError(f'{where} = {dict(spec)}: expected 0 < low < high for log=True, '
                         'else low < high')
    values = spec['choices'] if isinstance(spec, Mapping) and 'choices' in spec else (
        [] if isinstance(spec, Mapping) else [spec])
    if name == 'size' and not set(values) <= set(models.SIZES):
      raise ValueError(f'{where}: sizes must be among {", ".join(models.SIZES)}, got {values}')
    if name == 'method' and not set(values) <= set(METHODS):
      raise ValueError(f'{where}: methods must be among {", ".join(METHODS)}, got {values}')
    if name == 'pooling' and not set(values) <= set(models.POOLINGS):
      raise ValueError(f'{where}: poolings must be among {", ".join(models.POOLINGS)}, '
                       f'got {values}')
    if name == FAMILY and not set(values) <= set(models.FAMILIES):
      raise ValueError(f'{where}: families must be among {", ".join(models.FAMILIES)}, '
                       f'got {values}')


def paper_grid(space: Mapping[str, Any]) -> dict[str, Any]:
  """The paper's space: temperature x size on the paper's grid, width 1, other fixed values kept.

  Parameters the study sampled (lam, learning rate, ...) are fixed at the run config's value.
  """
  grid = {name: spec for name, spec in plain(space).items() if not _is_range(spec)}
  grid.update(temperature={'choices': PAPER_TEMPERATURES}, size={'choices': PAPER_SIZES},
              width=1.0)
  return grid


def grid_choices(space: Mapping[str, Any]) -> dict[str, list[Any]]:
  """The choices of every chosen parameter of `space`, for a grid over them; ValueError naming
  a parameter given as a range, which a grid cannot enumerate."""
  choices = {}
  for name, spec in plain(space).items():
    if name == FAMILY and family_spaces(spec):
      raise ValueError(f'config.search.space.{name}: a grid cannot follow each family\'s own '
                       'space; give the family as dict(choices=(...)) and fix its parameters')
    if isinstance(spec, Mapping) and 'choices' not in spec:
      raise ValueError(f'config.search.space.{name} = {dict(spec)} is a range; a grid needs '
                       'dict(choices=(...)) or a fixed value')
    if isinstance(spec, Mapping):
      choices[name] = list(spec['choices'])
  return choices


def grid_size(space: Mapping[str, Any]) -> int:
  """Points of the grid over the choices of `space`."""
  return int(np.prod([len(values) for values in grid_choices(space).values()]))


def _suggest(trial, name: str, spec: Any) -> Any:
  """The value of one parameter: sampled as `name` when `spec` is a range or choice."""
  if isinstance(spec, Mapping) and 'choices' in spec:
    return trial.suggest_categorical(name, list(spec['choices']))
  if isinstance(spec, Mapping):
    return trial.suggest_float(name, spec['low'], spec['high'], log=bool(spec.get('log', False)))
  return spec


def suggest(trial, space: Mapping[str, Any]) -> dict[str, Any]:
  """Samples the ranged parameters with `trial`; returns every parameter's value.

  The family comes first; a family's own space then replaces the shared entries it names, and
  its parameters are sampled as FAMILY.PARAM (an Optuna parameter keeps one distribution, so
  each family's width range has a name of its own).
  """
  space = plain(space)
  values, own = {}, {}
  if FAMILY in space:
    values[FAMILY] = _suggest(trial, FAMILY, space[FAMILY])
    own = family_spaces(space[FAMILY]).get(values[FAMILY], {})
  for name, spec in space.items():
    if name != FAMILY and name not in own:
      values[name] = _suggest(trial, name, spec)
  for name, spec in own.items():
    values[name] = _suggest(trial, f'{values[FAMILY]}.{name}', spec)
  return values


def apply(config: ml_collections.ConfigDict,
          values: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A copy of the run `config` with the trial's parameter values set."""
  config = ml_collections.ConfigDict(config.to_dict())
  for name, value in values.items():
    if name == 'method':
      pretrain, loss = METHODS[value]
      config.student.pretrain = pretrain
      if loss is not None:
        config.distill.loss = loss
      continue
    if name == 'size':
      value = float(models.SIZES[value])
    *parents, leaf = FIELDS[name].split('.')
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = type(node[leaf])(value) if isinstance(node[leaf], (int, float)) else value
  return config


def _largest(spec: Any) -> Any:
  """The high end of a range, the largest choice, or the fixed value."""
  if isinstance(spec, Mapping):
    return spec['high'] if 'high' in spec else max(spec['choices'])
  return spec


def size_limit(config: ml_collections.ConfigDict) -> int:
  """Bytes of the largest student of the space or of the paper's grid (the hypervolume
  reference size), known from shapes alone: each family at its widest and deepest."""
  user = plain(config.search.space)
  families = user.get(FAMILY, config.student.family)
  choices = families['choices'] if isinstance(families, Mapping) else [families]
  sizes = []
  for family in choices:
    own = {**user, **family_spaces(families).get(family, {})}
    largest = {name: _largest(own.get(name, config.student[name])) for name in ('width', 'depth')}
    # The paper's largest (M at width 1, on its grid) and the space's widest.
    candidates = [{'size': 'M', 'width': 1.0}, {'width': largest['width']}]
    poolings = own.get('pooling', config.student.pooling)
    poolings = poolings['choices'] if isinstance(poolings, Mapping) else [poolings]
    sizes += [models.student_size_bytes(apply(config, {
        **values, FAMILY: family, 'depth': largest['depth'], 'pooling': pooling}).student,
                                        config.data.image_size)
              for values in candidates for pooling in poolings]
  return max(sizes)
