"""Ablations: the paper's comparisons as grid studies of replicated cells, paired by fold and seed.

`jaxfer-search ablate KIND` runs the study `ablation_KIND` in the run directory's storage
(`study_config`: sampler 'grid' over the cells, seeds shared by every cell, no pruning), so its
cells run on many workers and a rerun skips the finished ones. `cells_of` reads the finished
cells, `comparisons` pairs them (`intervals.paired_difference`, Holm's correction over the
ablation), and `write_ablation` writes ablation_KIND.csv, ablation_KIND.md and a figure.
"""
from __future__ import annotations

import math
import os
import urllib.parse
from typing import Any, NamedTuple, Sequence

import ml_collections
import numpy as np
import optuna

from jaxfer import models
from search import configuration
from search import intervals
from search import pareto
from search import report
from search import space as space_lib

KINDS = ('pooling', 'kd', 'temperature')
WITHOUT_KD = 'none'
# The pooling variant the others are compared with: no pooling, the paper's question.
NO_POOLING = 'v'
# The parameters a study's cells must vary to hold each ablation.
NEEDS = {'pooling': {'pooling', 'loss'}, 'kd': {'loss'}, 'temperature': {'temperature'}}


def study_config(config: ml_collections.ConfigDict, kind: str,
                 study_name: str | None = None) -> ml_collections.ConfigDict:
  """The search config of the ablation `kind` of `config`: its cells as a grid study.

  Cells are sizes (`config.search.ablation.sizes`, the paper's squeeze coefficients at width 1)
  or, when `widths` is set, widths at the config's squeeze; then per kind
    pooling:     x the pooling variants x (distilled, not distilled),
    kd:          x (distilled, not distilled),
    temperature: x the temperatures (distilled).
  Distillation uses the config's loss, temperature and lambda; every cell trains
  `config.search.replicates` seeds on each of `folds_per_trial` folds.
  """
  if kind not in KINDS:
    raise ValueError(f'the ablation {kind!r} does not exist; choose one of: {", ".join(KINDS)}')
  configuration.check_ablation(config.search.ablation)  # Named as given, before the cells.
  settings = config.search.ablation
  loss = config.distill.loss
  if loss == WITHOUT_KD:
    raise ValueError(f"config.distill.loss = 'none': the ablation {kind} compares distilled "
                     'students, so it needs a distillation loss (e.g. microexpnet)')
  space: dict[str, Any] = {'lam': config.distill.lam, 'temperature': config.distill.temperature,
                           'pooling': config.student.pooling}
  if settings.widths:
    space['width'] = {'choices': tuple(settings.widths)}
  else:
    space.update(size={'choices': tuple(settings.sizes)}, width=1.0)
  if kind == 'pooling':
    space.update(pooling={'choices': tuple(settings.poolings)},
                 loss={'choices': (loss, WITHOUT_KD)})
  elif kind == 'kd':
    space['loss'] = {'choices': (loss, WITHOUT_KD)}
  else:
    space['temperature'] = {'choices': tuple(float(t) for t in settings.temperatures)}
  ablation = ml_collections.ConfigDict(config.to_dict())
  ablation.search.update(study_name=study_name or f'ablation_{kind}', sampler='grid',
                         paired_seeds=True, prune=False)
  ablation.search.space = space
  ablation.search.n_trials = space_lib.grid_size(space)
  return ablation


def output_name(kind: str, study_name: str) -> str:
  """The stem of the ablation's files: 'ablation_KIND' for the study `ablate KIND` makes by
  default, 'ablation_KIND_STUDY' for any other, so two studies in one run directory never
  share a file. The study name is %-quoted where a file name could not hold it."""
  default = f'ablation_{kind}'
  if study_name == default:
    return default
  return f'{default}_{urllib.parse.quote(study_name, safe="")}'


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


class Cell(NamedTuple):
  """One finished cell: its trial, parameters, student size and runs[fold][seed]."""
  number: int
  params: dict[str, Any]
  size_bytes: float
  runs: list[list[float]]

  @property
  def interval(self) -> intervals.Interval:
    return intervals.accuracy_interval([a for fold in self.runs for a in fold])

  @property
  def size_label(self) -> str:
    """The paper's size name, or the width."""
    return str(self.params['size']) if 'size' in self.params else f'width {self.params["width"]:g}'


def cells_of(trials: Sequence[optuna.trial.FrozenTrial]) -> list[Cell]:
  """The completed cells in reading order: largest size first (the paper's size, else the
  width), then pooling variant (v, p1, p2, p12), without distillation before with, and
  temperature; ties by trial number."""
  cells = [Cell(t.number, {**t.params, **t.user_attrs.get('tuned', {})}, float(t.values[1]),
                [list(fold) for fold in t.user_attrs['run_accuracies']])
           for t in trials if t.state == optuna.trial.TrialState.COMPLETE
           and 'run_accuracies' in t.user_attrs]
  def order(cell: Cell):
    params = cell.params
    size = (list(models.SIZES).index(params['size']) if params.get('size') in models.SIZES
            else -float(params.get('width', 0)))
    pooling = (models.POOLINGS.index(params['pooling']) if params.get('pooling')
               in models.POOLINGS else 0)
    return (size, -cell.size_bytes if 'size' not in params else 0, pooling,
            params.get('loss', '') != WITHOUT_KD, float(params.get('temperature', 0)),
            cell.number)
  return sorted(cells, key=order)


class Comparison(NamedTuple):
  """first - second, paired over folds and seeds, with the Holm-adjusted p-value."""
  group: str  # The cells held equal: a size (and for pooling, with or without distillation).
  first: str
  second: str
  difference: intervals.PairedDifference
  p_holm: float


def _groups(cells: Sequence[Cell], key) -> dict[Any, list[Cell]]:
  groups: dict[Any, list[Cell]] = {}
  for cell in cells:
    groups.setdefault(key(cell), []).append(cell)
  return groups


def _size_and_pooling(cell: Cell) -> str:
  """'S', or 'S, p12' where the pooling variant is one of the cell's parameters."""
  return cell.size_label + (f', {cell.params["pooling"]}' if 'pooling' in cell.params else '')


def _kd_label(loss: str) -> str:
  return 'without distillation' if loss == WITHOUT_KD else f'distilled ({loss})'


def comparisons(kind: str, cells: Sequence[Cell]) -> list[Comparison]:
  """The paired comparisons of the ablation `kind`, Holm-corrected together:
    pooling:     at each size, with and without distillation, each variant - no pooling (v);
    kd:          at each size, distilled - not distilled (the distillation gain);
    temperature: at each size, the best temperature (highest mean) - each other temperature.
  A temperature's test against the size's best was chosen after seeing the means, so it
  overstates the differences a little; temperatures it cannot tell from the best are the
  plateau.
  """
  pairs: list[tuple[str, Cell, Cell, str, str]] = []
  if kind == 'pooling':
    for (size, loss), group in _groups(cells, lambda c: (c.size_label,
                                                         c.params['loss'])).items():
      base = next((c for c in group if c.params['pooling'] == NO_POOLING), None)
      for cell in group:
        if base is not None and cell is not base:
          pairs.append((f'{size}, {_kd_label(loss)}', cell, base, cell.params['pooling'],
                        NO_POOLING))
  elif kind == 'kd':
    # Read from a pooling ablation's study, the gain is given for each pooling variant too.
    for at, group in _groups(cells, _size_and_pooling).items():
      distilled = [c for c in group if c.params['loss'] != WITHOUT_KD]
      plain = [c for c in group if c.params['loss'] == WITHOUT_KD]
      if distilled and plain:
        pairs.append((at, distilled[0], plain[0], 'distilled', 'not distilled'))
  elif kind == 'temperature':
    for size, group in _groups(cells, lambda c: c.size_label).items():
      best = max(group, key=lambda c: (c.interval.mean, -c.params['temperature']))
      for cell in sorted(group, key=lambda c: c.params['temperature']):
        if cell is not best:
          pairs.append((size, best, cell, f'T={best.params["temperature"]:g}',
                        f'T={cell.params["temperature"]:g}'))
  else:
    raise ValueError(f'the ablation {kind!r} does not exist; choose one of: {", ".join(KINDS)}')
  differences = [intervals.paired_difference(a.runs, b.runs) for _, a, b, _, _ in pairs]
  adjusted = intervals.holm_adjusted([d.p_value for d in differences])
  return [Comparison(group, first, second, difference, p)
          for (group, _, _, first, second), difference, p in zip(pairs, differences, adjusted)]


def cell_rows(kind: str, cells: Sequence[Cell]) -> list[dict[str, Any]]:
  """ablation_KIND.csv: one row per cell with its parameters, size and 95% interval."""
  rows = []
  for cell in cells:
    interval = cell.interval
    rows.append({
        'ablation': kind, 'trial': cell.number, 'size': cell.params.get('size', ''),
        'width': cell.params.get('width', 1.0), 'pooling': cell.params.get('pooling', ''),
        'loss': cell.params.get('loss', ''), 'temperature': cell.params.get('temperature', ''),
        'lam': cell.params.get('lam', ''), 'size_bytes': int(cell.size_bytes),
        'folds': len(cell.runs), 'seeds': len(cell.runs[0]) if cell.runs else 0,
        **{name: '' if math.isnan(value) else value
           for name, value in zip(intervals.COLUMNS, interval[:4])}})
  return rows


def _percent(value: float) -> str:
  return 'n/a' if math.isnan(value) else f'{100 * value:.1f}'


def _cell_name(kind: str, cell: Cell) -> str:
  if kind == 'pooling':
    return f'{cell.params["pooling"]}, {_kd_label(cell.params["loss"])}'
  if kind == 'kd':
    pooling = f'{cell.params["pooling"]}, ' if 'pooling' in cell.params else ''
    return pooling + _kd_label(cell.params['loss'])
  return f'T={cell.params["temperature"]:g}'


def markdown(kind: str, cells: Sequence[Cell], found: Sequence[Comparison],
             expected_cells: int) -> str:
  """ablation_KIND.md: the cells with their intervals, then the paired tests."""
  runs = sorted({(len(c.runs), len(c.runs[0])) for c in cells})
  lines = [f'# Ablation: {kind}', '',
           f'{len(cells)} of {expected_cells} cells finished; '
           + ', '.join(f'{f} fold(s) x {s} seed(s)' for f, s in runs) + ' per cell.', '',
           'Accuracy: mean over folds and seeds (%), with the 95% Student t interval over the '
           'runs (the accuracy of one run on a random fold and seed).', '',
           '| size | bytes | cell | accuracy % | 95% interval |', '| --- | ---: | --- | ---: | --- |']
  for cell in cells:
    interval = cell.interval
    lines.append(f'| {cell.size_label} | {int(cell.size_bytes):,} | {_cell_name(kind, cell)} | '
                 f'{_percent(interval.mean)} | {_percent(interval.low)} to '
                 f'{_percent(interval.high)} |')
  lines += ['', '## Paired tests', '',
            'Difference in accuracy points (first - second), paired by fold and seed: every cell '
            'trains replicate r with the same seed on the same fold. The test is Student\'s t on '
            'the per-fold mean differences (on the per-seed differences when there is one fold): '
            'folds are the independent draws, and pairing cancels their difficulty. p-values are '
            f'adjusted with Holm\'s method over the {len(found)} comparisons; effect size is '
            'Cohen\'s d_z (mean difference / standard deviation of the differences).', '']
  if not found:
    lines.append('No comparison yet: it needs both cells of a pair to be finished.')
  else:
    lines += ['| at | first | second | difference (points) | 95% interval | t | p | p (Holm) '
              '| d_z | units |', '| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: '
              '| ---: |']
    for c in found:
      d = c.difference
      lines.append(f'| {c.group} | {c.first} | {c.second} | {_signed(d.mean)} | '
                   f'{_signed(d.low)} to {_signed(d.high)} | {_number(d.t)} | '
                   f'{_number(d.p_value, 3)} | {_number(c.p_holm, 3)} | '
                   f'{_number(d.effect_size)} | {d.n} {d.unit}s |')
    significant = [c for c in found if c.p_holm < 1 - intervals.CONFIDENCE]
    lines += ['', f'{len(significant)} of {len(found)} differences are significant at 5% after '
              'Holm\'s correction' + (': ' + '; '.join(
                  f'{c.group}: {c.first} - {c.second} = {_signed(c.difference.mean)} points'
                  for c in significant) if significant else '') + '.']
  if kind == 'temperature':
    lines += ['', _plateaus(cells, found)]
  return '\n'.join(lines) + '\n'


def _plateaus(cells: Sequence[Cell], found: Sequence[Comparison]) -> str:
  """Per size: the best temperature and those its paired tests cannot tell from it."""
  parts = []
  for size, group in _groups(cells, lambda c: c.size_label).items():
    means = [c.interval.mean for c in group]
    best = max(group, key=lambda c: (c.interval.mean, -c.params['temperature']))
    same = [c.second for c in found if c.group == size
            and not c.p_holm < 1 - intervals.CONFIDENCE]
    parts.append(f'{size}: best T={best.params["temperature"]:g} '
                 f'({_percent(best.interval.mean)}%), means span '
                 f'{100 * (max(means) - min(means)):.1f} points, not distinguishable from the '
                 f'best: {", ".join(same) or "none"}')
  return 'Where the optimum sits: ' + '; '.join(parts) + '.'


def _signed(value: float) -> str:
  return 'n/a' if math.isnan(value) else f'{100 * value:+.1f}'


def _number(value: float, digits: int = 2) -> str:
  return 'n/a' if math.isnan(value) else f'{value:.{digits}g}' if digits == 3 else (
      f'{value:.{digits}f}')


def plot(kind: str, path: str, cells: Sequence[Cell], found: Sequence[Comparison]) -> None:
  """ablation_KIND.png: pooling: accuracy against size, a line and band per variant (one panel
  with and one without distillation); kd: the gain against size with its band; temperature:
  accuracy against temperature, a line and band per size."""
  plt = report._pyplot()  # pylint: disable=protected-access
  if kind == 'pooling':
    losses = sorted({c.params['loss'] for c in cells}, key=lambda l: l == WITHOUT_KD)
    fig, axes = plt.subplots(1, len(losses), figsize=(6 * len(losses), 4.2), squeeze=False,
                             sharey=True)
    for ax, loss in zip(axes[0], losses):
      for pooling, group in sorted(_groups([c for c in cells if c.params['loss'] == loss],
                                           lambda c: c.params['pooling']).items()):
        _line(ax, [c.size_bytes for c in group], [c.interval for c in group], pooling)
      ax.set(xscale='log', xlabel='student size (bytes)', title=_kd_label(loss))
    axes[0][0].set_ylabel('test accuracy (%)')
  elif kind == 'kd':
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sizes = {_size_and_pooling(c): c.size_bytes for c in cells}
    poolings = {_size_and_pooling(c): c.params.get('pooling', '') for c in cells}
    ax.axhline(0, color='0.6', lw=0.8)
    for pooling in sorted(set(poolings.values())):
      points = sorted((sizes[c.group], c.difference) for c in found
                      if poolings[c.group] == pooling)
      x = [size for size, _ in points]
      line, = ax.plot(x, [100 * d.mean for _, d in points], 'o-',
                      label=f'{pooling + ": " if pooling else ""}distilled - not distilled')
      ax.fill_between(x, [100 * d.low for _, d in points], [100 * d.high for _, d in points],
                      color=line.get_color(), alpha=0.2)
    ax.plot([], [], lw=6, alpha=0.3, c='0.5', label='95% interval (paired)')
    ax.set(xscale='log', xlabel='student size (bytes)', ylabel='distillation gain (points)')
  else:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for size, group in _groups(cells, lambda c: c.size_label).items():
      group = sorted(group, key=lambda c: c.params['temperature'])
      _line(ax, [c.params['temperature'] for c in group], [c.interval for c in group], size)
    ax.set(xscale='log', xlabel='temperature', ylabel='test accuracy (%)')
  for ax in fig.axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.suptitle(f'Ablation: {kind} (bands: 95% intervals)')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _line(ax, x: Sequence[float], found: Sequence[intervals.Interval], label: str) -> None:
  order = np.argsort(x)
  x = np.asarray(x)[order]
  found = [found[k] for k in order]
  line, = ax.plot(x, [100 * i.mean for i in found], 'o-', label=label)
  if all(not math.isnan(i.low) for i in found):
    ax.fill_between(x, [100 * i.low for i in found], [100 * i.high for i in found],
                    color=line.get_color(), alpha=0.2)


def write_ablation(study: optuna.Study, kind: str, out_dir: str) -> dict[str, str]:
  """Writes ablation_KIND.csv, .md and .png in `out_dir` (named by `output_name` after the
  study); returns their paths.

  `study` is an ablation's study; `kd` also reads a `pooling` ablation's (its cells hold both).
  """
  cells = cells_of(study.get_trials(deepcopy=False))
  lacking = sorted(NEEDS[kind] - set(cells[0].params)) if cells else []
  if lacking:
    raise ValueError(f'the study {study.study_name!r} does not vary {", ".join(lacking)}, so it '
                     f'holds no {kind} ablation; report the study `jaxfer-search ablate {kind}` '
                     'made')
  expected_cells = space_lib.grid_size(study.user_attrs['search_config']['space'])
  found = comparisons(kind, cells)
  stem = output_name(kind, study.study_name)
  paths = {suffix: os.path.join(out_dir, f'{stem}.{suffix}')
           for suffix in ('csv', 'md', 'png')}
  report.write_csv(paths['csv'], cell_rows(kind, cells))
  with open(paths['md'], 'w') as f:
    f.write(markdown(kind, cells, found, expected_cells))
  if cells:
    plot(kind, paths['png'], cells, found)
  else:
    del paths['png']
  return paths

