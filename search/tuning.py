"""The temperature and lambda an ablation's cells distill with when tuned by a finished study.

With `config.search.ablation.tuned_from`, `tuned_table` takes, for each size of the ablation,
the temperature and lambda of that study's front point nearest in size (the command fills
`config.search.ablation.tuned` with its rows), and the objective sets them on each trial with
`tuned_values`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import ml_collections
import numpy as np
import optuna

from jaxfer import models
from search import pareto
from search import space as space_lib


def _cell_key(values: dict[str, Any]) -> str:
  """The size of a cell as `tuned` names it: 'XXS', or the width ('0.5')."""
  return str(values['size']) if 'size' in values else f'{float(values["width"]):g}'


def tuned_values(config: ml_collections.ConfigDict, values: dict[str, Any]) -> dict[str, Any]:
  """The temperature and lambda `config.search.ablation.tuned` gives the cell `values`, for
  those the ablation's grid does not vary; {} without a row for the cell's size."""
  ablation_config = config.search.get('ablation')
  rows = {row[0]: row for row in (ablation_config.tuned if ablation_config else ())}
  if not rows or ('size' not in values and 'width' not in values):
    return {}
  row = rows.get(_cell_key(values))
  if row is None:
    return {}
  varied = {name for name, spec in space_lib.plain(config.search.space).items()
            if isinstance(spec, dict)}
  return {name: float(value) for name, value in zip(('temperature', 'lam'), row[1:])
          if name not in varied}


def tuned_table(config: ml_collections.ConfigDict,
                trials: Sequence[optuna.trial.FrozenTrial]) -> tuple[tuple[str, float, float],
                                                                     ...]:
  """(size, temperature, lambda) for each size of the ablation: those of the completed front
  trial nearest to that size's student in log size (a trial without a sampled temperature or
  lambda had the config's)."""
  info = pareto.front_info(trials)
  by_number = {t.number: t for t in trials}
  front = [by_number[info.numbers[k]] for k in np.flatnonzero(info.on_front)]
  if not front:
    raise ValueError('config.search.ablation.tuned_from: that study has no completed trial to '
                     'take a temperature and lambda from')
  settings = config.search.ablation
  cells = ([{'width': float(w)} for w in settings.widths] if settings.widths
           else [{'size': s, 'width': 1.0} for s in settings.sizes])
  rows = []
  for values in cells:
    size = models.student_size_bytes(space_lib.apply(config, values).student,
                                     config.data.image_size)
    nearest = min(front, key=lambda t: abs(math.log(t.values[1] / size)))
    rows.append((_cell_key(values),
                 float(nearest.params.get('temperature', config.distill.temperature)),
                 float(nearest.params.get('lam', config.distill.lam))))
  return tuple(rows)
