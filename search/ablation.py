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
from search import equivalence
from search import figures
from search import intervals
from search import pareto
from search import report
from search import space as space_lib

KINDS = ('pooling', 'kd', 'temperature')
WITHOUT_KD = 'none'
# The pooling variant the others are compared with: no pooling, the paper's question.
NO_POOLING = 'v'
# The parameters a study's cells must vary to hold each ablation.
# config.search.ablation.target_margin's default, for studies made before it was recorded.
DEFAULT_MARGIN_POINTS = 2.0
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
    """The mean accuracy and its 95% interval, Student's t over the per-fold means (over the
    seeds with one fold): folds are the independent draws, as in the paired tests. Built on
    the logit scale (`intervals.logit_interval`), so it stays inside 0..100%."""
    runs = np.asarray(self.runs, dtype=np.float64)
    units = runs.mean(axis=1) if len(runs) >= 2 else runs.ravel()
    mean, n = float(units.mean()), len(units)
    sem = float(units.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    return intervals.logit_interval(mean, sem, n - 1, n)

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
  """first - second, paired over folds and seeds: the test of a difference and the test of
  equivalence within +-margin, each Holm-corrected over the ablation, and the verdict of both.
  Differences, intervals and the margin are accuracy fractions (x 100 for points)."""
  group: str  # The cells held equal: a size (and for pooling, with or without distillation).
  first: str
  second: str
  difference: intervals.PairedDifference
  p_holm: float
  mde80: float  # Detected with 80% power by the test at alpha / m, from the observed spread.
  p_equivalence: float  # TOST against +-margin.
  p_equivalence_holm: float
  low90: float  # The 90% interval, TOST's.
  high90: float
  equivalence_bound: float  # Its end farther from zero.
  margin: float
  verdict: str


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


def comparisons(kind: str, cells: Sequence[Cell],
                margin: float = DEFAULT_MARGIN_POINTS / 100) -> list[Comparison]:
  """The paired comparisons of the ablation `kind`, each a paired t-test of the difference and
  a TOST of equivalence within +-`margin` (a fraction), both families Holm-corrected:
    pooling:     at each size, with and without distillation, each variant - no pooling (v);
    kd:          at each size, distilled - not distilled (the distillation gain);
    temperature: at each size, the best temperature (highest mean) - each other temperature.
  A temperature's test against the size's best was chosen after seeing the means, so it
  overstates the differences a little; temperatures it cannot tell from the best are the
  plateau. The MDE is planned at alpha / m (m comparisons), the level of Holm's first step.
  """
  pairs = _pairs(kind, cells)
  alpha = 1 - intervals.CONFIDENCE
  units = [intervals.unit_differences(a.runs, b.runs)[0] for _, a, b, _, _ in pairs]
  differences = [intervals.paired_difference(a.runs, b.runs) for _, a, b, _, _ in pairs]
  # Equal differences, up to the rounding of accuracies, have no spread (as paired_difference).
  spreads = [(lambda sd: sd if sd >= 1e-12 else 0.0)(float(u.std(ddof=1))) if len(u) >= 2
             else math.nan for u in units]
  tests = [equivalence.tost(d.mean, sd, d.n, margin) for d, sd in zip(differences, spreads)]
  adjusted = intervals.holm_adjusted([d.p_value for d in differences])
  equivalent = intervals.holm_adjusted([t.p_value for t in tests])
  found = []
  for (group, _, _, first, second), d, sd, test, p, p_equivalent in zip(
      pairs, differences, spreads, tests, adjusted, equivalent):
    found.append(Comparison(
        group, first, second, d, p, equivalence.mde80(sd, d.n, alpha / len(pairs)),
        test.p_value, p_equivalent, test.low, test.high,
        equivalence.equivalence_bound(test.low, test.high), margin,
        equivalence.verdict(p < alpha, p_equivalent < alpha)))
  return found


def _pairs(kind: str, cells: Sequence[Cell]) -> list[tuple[str, Cell, Cell, str, str]]:
  """(group, first cell, second cell, first label, second label) of each comparison."""
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
  return pairs


def expected_comparisons(config: ml_collections.ConfigDict, kind: str) -> int:
  """How many comparisons the ablation `kind` of `config` makes once every cell is finished:
  the m of its Holm family."""
  settings = config.search.ablation
  sizes = len(settings.widths) if settings.widths else len(settings.sizes)
  if kind == 'pooling':
    others = len([p for p in settings.poolings if p != NO_POOLING])
    return sizes * 2 * (others if NO_POOLING in settings.poolings else 0)
  if kind == 'kd':
    return sizes
  return sizes * (len(settings.temperatures) - 1)


def kind_of(cells: Sequence[Cell]) -> str:
  """The ablation the cells hold, from the parameters they vary (a pooling study's cells
  vary the loss too; a tuned cell carries a temperature it did not vary)."""
  params = set(cells[0].params) if cells else set()
  if NEEDS['pooling'] <= params:
    return 'pooling'
  if 'loss' in params:
    return 'kd'
  return 'temperature'


def noise_of(cells: Sequence[Cell]) -> equivalence.NoiseComponents:
  """The seed and fold-by-cell noise of finished cells, over the comparisons they hold."""
  index = {id(cell): k for k, cell in enumerate(cells)}
  pairs = [(index[id(a)], index[id(b)]) for _, a, b, _, _ in _pairs(kind_of(cells), cells)]
  return equivalence.noise_components([cell.runs for cell in cells], pairs)


def power_plan(noise: equivalence.NoiseComponents | None, source: str, comparisons: int,
               folds: int, seeds: int, margin_points: float) -> list[str]:
  """The lines `ablate` prints before it trains: the noise it plans with and where it comes
  from, the Holm family and its planning level, the MDE with 80% power of this design, and the
  seeds per fold that reach `margin_points` (or why none do)."""
  alpha = 1 - intervals.CONFIDENCE
  level = alpha / max(comparisons, 1)
  margin = margin_points / 100
  lines = [f'Power plan: {comparisons} comparisons, Holm family; planning level 5% / '
           f'{max(comparisons, 1)} = {level:.3g} (the level of Holm\'s first step); target '
           f'margin ±{margin_points:g} points.']
  if noise is None:
    return lines + [f'No noise estimate yet: {source}. Set config.search.ablation.noise_from to '
                    'a finished ablation study in this storage (e.g. one run with 2 or more '
                    'seeds per fold), or run this one: a resumed ablation plans from its own '
                    'finished cells.']
  design = f'{noise.folds} fold(s) x {noise.seeds} seed(s)'
  if math.isnan(noise.seed_sd) or (folds >= 2 and math.isnan(noise.interaction_sd)):
    observed = equivalence.mde80(noise.difference_sd, noise.folds, level)
    return lines + [
        f'Noise from {source} ({design}): the SD of the per-fold paired differences is '
        f'{_percent(noise.difference_sd)} points ({noise.difference_df} df), an MDE with 80% '
        f'power of {_percent(observed)} points at that design. With one seed per fold the '
        'seed noise and the fold-by-cell interaction cannot be told apart, so the seeds '
        'needed are not known: a noise source with 2 or more seeds per fold '
        '(config.search.replicates) splits them.']
  lines.append(f'Noise from {source} ({design}): seed SD {_percent(noise.seed_sd)} points '
               f'(one run about its cell and fold mean, pooled, {noise.seed_df} df); '
               f'fold-by-cell interaction SD {_percent(noise.interaction_sd)} points (method of '
               'moments: the variance of the per-fold paired differences less 2 seed '
               'variances / seeds).')
  if folds < 2:
    unit_sd = math.sqrt(2) * noise.seed_sd
    return lines + [f'One fold: the seed is the unit. MDE with 80% power at {seeds} seed(s): '
                    f'{_percent(equivalence.mde80(unit_sd, seeds, level))} points.']
  found = equivalence.mde80(equivalence.difference_sd(noise.seed_sd, noise.interaction_sd,
                                                      seeds), folds, level)
  lines.append(f'MDE with 80% power at {folds} folds x {seeds} seed(s): {_percent(found)} '
               'points.')
  needed = equivalence.seeds_needed(noise.seed_sd, noise.interaction_sd, folds, margin, level)
  if needed is not None:
    return lines + [f'Seeds per fold to detect ±{margin_points:g} points: {needed}.']
  floor = equivalence.mde80(noise.interaction_sd, folds, level)
  more = equivalence.folds_needed(equivalence.difference_sd(
      noise.seed_sd, noise.interaction_sd, seeds), margin, level)
  return lines + [f'No number of seeds per fold detects ±{margin_points:g} points: the '
                  f'fold-by-cell interaction alone gives an MDE of {_percent(floor)} points at '
                  f'{folds} folds, and more seeds cannot average it away' + (
                      f'; {more} folds would at {seeds} seed(s).' if more else '.')]


def plan(config: ml_collections.ConfigDict, kind: str, run_dir: str) -> list[str]:
  """`power_plan` for the ablation study of `config` (as `study_config` made it): the noise
  of its own finished cells, else of the study `config.search.ablation.noise_from` in the same
  storage. Reads only: creates nothing."""
  from search import objective  # pylint: disable=g-import-not-at-top  (imports JAX)
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  settings = config.search.ablation
  noise, source = None, 'this study has no finished cell'
  try:
    own = storage_lib.load_study(config.search.study_name, run_dir, config.search.storage)
    cells = cells_of(own.get_trials(deepcopy=False))
  except ValueError:
    cells = []
  if cells:
    noise, source = noise_of(cells), f'this study\'s {len(cells)} finished cells'
  elif settings.noise_from:
    try:
      other = storage_lib.load_study(settings.noise_from, run_dir, config.search.storage)
    except ValueError as error:  # Named after the setting that asked for it.
      raise ValueError(f'config.search.ablation.noise_from = {settings.noise_from!r}: '
                       f'{error}') from None
    cells = cells_of(other.get_trials(deepcopy=False))
    if cells:
      noise, source = noise_of(cells), (f'the study {settings.noise_from!r} '
                                        f'({len(cells)} finished cells)')
    else:
      source += f', and neither has the study {settings.noise_from!r} (noise_from)'
  else:
    source += ' and config.search.ablation.noise_from names no other'
  return power_plan(noise, source, expected_comparisons(config, kind),
                    len(objective.fold_indices(config)), config.search.replicates,
                    settings.target_margin)


def cell_rows(kind: str, cells: Sequence[Cell]) -> list[dict[str, Any]]:
  """ablation_KIND_cells.csv: one row per cell with its parameters, size and 95% interval."""
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


def _points(value: float) -> float | str:
  return '' if math.isnan(value) else 100 * value


def comparison_rows(found: Sequence[Comparison]) -> list[dict[str, Any]]:
  """ablation_KIND.csv: one row per comparison, differences and intervals in points."""
  return [{
      'at': c.group, 'first': c.first, 'second': c.second,
      'difference_points': _points(c.difference.mean),
      'ci95_low_points': _points(c.difference.low), 'ci95_high_points': _points(c.difference.high),
      **{name: '' if math.isnan(value) else value for name, value in (
          ('t', c.difference.t), ('p', c.difference.p_value), ('p_holm', c.p_holm),
          ('d_z', c.difference.effect_size))},
      'units': c.difference.unit, 'n_units': c.difference.n, 'mde80_points': _points(c.mde80),
      'ci90_low_points': _points(c.low90), 'ci90_high_points': _points(c.high90),
      'equivalence_bound_points': _points(c.equivalence_bound),
      'margin_points': _points(c.margin),
      'p_equivalence_holm': '' if math.isnan(c.p_equivalence_holm) else c.p_equivalence_holm,
      'verdict': c.verdict} for c in found]


def verdict_counts(found: Sequence[Comparison]) -> str:
  """'2 differ, 5 equivalent within ±2 points, 17 inconclusive (MDE 2.4 to 5.1 points)': the
  comparisons per verdict (those with none left out) and the range of their MDEs."""
  if not found:
    return 'no comparison'
  margin = f'{100 * found[0].margin:g}'
  words = {equivalence.DIFFERS: 'differ',
           equivalence.DIFFERS_WITHIN_MARGIN: f'differ by less than ±{margin} points',
           equivalence.EQUIVALENT: f'equivalent within ±{margin} points',
           equivalence.INCONCLUSIVE: 'inconclusive'}
  counts = [f'{sum(c.verdict == v for c in found)} {words[v]}' for v in equivalence.VERDICTS
            if any(c.verdict == v for c in found)]
  mdes = [100 * c.mde80 for c in found if not math.isnan(c.mde80)]
  spread = (f' (MDE {min(mdes):.1f} to {max(mdes):.1f} points)' if len(set(mdes)) > 1
            else f' (MDE {mdes[0]:.1f} points)' if mdes else ' (MDE n/a)')
  return ', '.join(counts) + spread


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
  """ablation_KIND.md: the cells with their intervals, then the paired tests, their verdicts
  and what the verdicts mean."""
  runs = sorted({(len(c.runs), len(c.runs[0])) for c in cells})
  lines = [f'# Ablation: {kind}', '',
           f'{len(cells)} of {expected_cells} cells finished; '
           + ', '.join(f'{f} fold(s) x {s} seed(s)' for f, s in runs) + ' per cell.', '',
           'Accuracy: mean over folds and seeds (%), with the 95% Student t interval over the '
           'per-fold means (over the seeds with one fold), built on the logit scale so that it '
           'stays inside 0 to 100%.', '',
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
            'Cohen\'s d_z (mean difference / standard deviation of the differences). MDE: the '
            'difference the test finds with 80% power, from the observed spread, at 5% / '
            f'{max(len(found), 1)} (the level of Holm\'s first step). Equivalence: two one-sided '
            'tests against the margin (TOST), Holm-corrected too; the 90% interval is TOST\'s, '
            'and its bound is the end farther from zero.', '']
  if not found:
    lines.append('No comparison yet: it needs both cells of a pair to be finished.')
  else:
    lines += ['| at | first | second | difference (points) | 95% interval | t | p | p (Holm) '
              '| d_z | units | MDE (points) | 90% interval | bound | p equivalence (Holm) '
              '| verdict |',
              '| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- '
              '| ---: | ---: | --- |']
    for c in found:
      d = c.difference
      lines.append(f'| {c.group} | {c.first} | {c.second} | {_signed(d.mean)} | '
                   f'{_signed(d.low)} to {_signed(d.high)} | {_number(d.t)} | '
                   f'{_number(d.p_value, 3)} | {_number(c.p_holm, 3)} | '
                   f'{_number(d.effect_size)} | {d.n} {d.unit}s | {_percent(c.mde80)} | '
                   f'{_signed(c.low90)} to {_signed(c.high90)} | '
                   f'{_signed(c.equivalence_bound)} | {_number(c.p_equivalence_holm, 3)} | '
                   f'{c.verdict} |')
    differing = [c for c in found if c.verdict in (equivalence.DIFFERS,
                                                    equivalence.DIFFERS_WITHIN_MARGIN)]
    unit = found[0].difference.unit  # 'fold', or 'seed' with one fold.
    lines += ['', f'{verdict_counts(found)}.' + (' Differences: ' + '; '.join(
        f'{c.group}: {c.first} - {c.second} = {_signed(c.difference.mean)} points'
        for c in differing) + '.' if differing else ''), '',
        f'What the verdicts mean, with the margin of ±{100 * found[0].margin:g} points fixed '
        'before the data were seen (config.search.ablation.target_margin): "differs" is a '
        'difference significant at 5% after Holm\'s correction; "differs by less than the '
        'margin" is such a difference that TOST also places inside the margin (real but '
        'small); "equivalent within ±margin" is no significant difference and a TOST that '
        'rules out any difference as large as the margin; "inconclusive" is neither: the data '
        'cannot tell a difference of the margin\'s size from none, and the MDE says how large '
        'a difference this design could see. ' + (
            'The fold is the unit: the fold-by-cell interaction (a variant suiting one fold\'s '
            'test subjects better than another\'s) is real noise, and more seeds per fold '
            'cannot average it away; only more folds can.' if unit == 'fold' else
            'With one fold the seed is the unit: the verdicts hold for that fold\'s test '
            'subjects only.')]
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


# The colour of each verdict's row in the forest plot.
VERDICT_COLOURS = {equivalence.DIFFERS: figures.SERIES[1],
                   equivalence.DIFFERS_WITHIN_MARGIN: figures.SERIES[3],
                   equivalence.EQUIVALENT: figures.SERIES[2],
                   equivalence.INCONCLUSIVE: figures.OTHER}
# Inches: the panels of accuracy (or gain) above, and each comparison's row of the forest plot.
PANEL_HEIGHT, ROW_HEIGHT = 4.2, 0.26


def draw(kind: str, cells: Sequence[Cell], found: Sequence[Comparison], margin: float):
  """The figure of ablation_KIND.png. Above: pooling: accuracy against size, a line and band per
  variant (one panel with and one without distillation); kd: the gain against size with its
  band; temperature: accuracy against temperature, a line and band per size. Below: the forest
  plot of the comparisons, each difference with its 95% interval, the +-`margin` band and the
  verdict; its height grows with the comparisons so that their labels never overlap."""
  plt = figures.pyplot()
  columns = 2 if kind == 'pooling' and len({c.params['loss'] for c in cells}) > 1 else 1
  forest_height = ROW_HEIGHT * max(len(found), 1) + 1.2
  fig = plt.figure(figsize=(12, PANEL_HEIGHT + forest_height + 0.4))
  grid = fig.add_gridspec(2, columns, height_ratios=[PANEL_HEIGHT, forest_height])
  panels = [fig.add_subplot(grid[0, k]) for k in range(columns)]
  if kind == 'pooling':
    losses = sorted({c.params['loss'] for c in cells}, key=lambda l: l == WITHOUT_KD)
    for ax, loss in zip(panels, losses):
      for k, (pooling, group) in enumerate(sorted(_groups(
          [c for c in cells if c.params['loss'] == loss], lambda c: c.params['pooling']).items())):
        _line(ax, [c.size_bytes / 1000 for c in group], [c.interval for c in group], pooling,
              figures.SERIES[k % len(figures.SERIES)])
      ax.set(xscale='log', xlabel='student size (KB)', title=_kd_label(loss))
      figures.plain_log_ticks(ax, [c.size_bytes / 1000 for c in cells])
    panels[0].set_ylabel('test accuracy (%)')
  elif kind == 'kd':
    ax = panels[0]
    sizes = {_size_and_pooling(c): c.size_bytes / 1000 for c in cells}
    poolings = {_size_and_pooling(c): c.params.get('pooling', '') for c in cells}
    ax.axhline(0, color=figures.OTHER, lw=0.8)
    for k, pooling in enumerate(sorted(set(poolings.values()))):
      points = sorted((sizes[c.group], c.difference) for c in found
                      if poolings[c.group] == pooling)
      x = [size for size, _ in points]
      colour = figures.SERIES[k % len(figures.SERIES)]
      ax.plot(x, [100 * d.mean for _, d in points], 'o-', color=colour,
              label=f'{pooling + ": " if pooling else ""}distilled - not distilled')
      ax.fill_between(x, [100 * d.low for _, d in points], [100 * d.high for _, d in points],
                      color=colour, alpha=0.2)
    ax.plot([], [], lw=6, alpha=0.3, c=figures.OTHER, label='95% interval (paired)')
    # No comparison yet (one side of every pair unfinished): nothing to put on a log scale.
    ax.set(xscale='log' if found else 'linear', xlabel='student size (KB)',
           ylabel='distillation gain (points)')
    if found:
      figures.plain_log_ticks(ax, list(sizes.values()))
  else:
    ax = panels[0]
    for k, (size, group) in enumerate(_groups(cells, lambda c: c.size_label).items()):
      group = sorted(group, key=lambda c: c.params['temperature'])
      _line(ax, [c.params['temperature'] for c in group], [c.interval for c in group], size,
            figures.SERIES[k % len(figures.SERIES)])
    ax.set(xscale='log', xlabel='temperature', ylabel='test accuracy (%)')
  if kind != 'kd' and cells:  # Accuracy panels: the y axis holds the data, inside 0..100%.
    spans = [c.interval for c in cells]
    end = lambda i, k: 100 * (i.mean if math.isnan(i[k]) else i[k])
    limits = figures.percent_limits([end(i, 2) for i in spans], [end(i, 3) for i in spans])
    for ax in panels:
      ax.set_ylim(*limits)
  for ax in panels:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  _forest(fig.add_subplot(grid[1, :]), found, margin)
  units = sorted({f'{c.difference.n} {c.difference.unit}s' for c in found})
  figures.caption(fig, f'bands and bars: 95% intervals (bars: paired t over {", ".join(units)}); '
                  f'shaded: equivalence margin ±{100 * margin:g} points; cell bands: t over the '
                  'per-fold means, on the logit scale')
  fig.suptitle(f'Ablation: {kind}')
  fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
  return fig


def _forest(ax, found: Sequence[Comparison], margin: float) -> None:
  """One row per comparison, top to bottom in table order: its difference in points with its
  95% interval, the +-margin band, and its verdict at the right."""
  from matplotlib import transforms  # pylint: disable=g-import-not-at-top
  ax.axvspan(-100 * margin, 100 * margin, color=figures.BAND, alpha=0.25, lw=0)
  ax.axvline(0, color=figures.OTHER, lw=0.8)
  beside = transforms.blended_transform_factory(ax.transAxes, ax.transData)
  for row, c in enumerate(found):
    y = len(found) - 1 - row
    colour = VERDICT_COLOURS[c.verdict]
    d = c.difference
    if not math.isnan(d.low):
      ax.plot([100 * d.low, 100 * d.high], [y, y], color=colour, lw=2)
    ax.plot([100 * d.mean], [y], 'o', color=colour, ms=4)
    ax.text(1.01, y, c.verdict, transform=beside, fontsize=7, va='center', color=colour)
  ax.set_yticks(range(len(found)),
                [f'{c.group}: {c.first} - {c.second}' for c in reversed(found)], fontsize=7)
  ax.set_ylim(-0.7, max(len(found), 1) - 0.3)
  ax.set_xlabel('difference (points, first - second)')
  ax.set_title('paired differences, their verdicts and the equivalence margin', fontsize=9)
  ax.grid(alpha=0.3, axis='x')


def plot(kind: str, path: str, cells: Sequence[Cell], found: Sequence[Comparison],
         margin: float) -> list[str]:
  """Saves `draw`'s figure as ablation_KIND.png at `path`; returns the paths written."""
  return figures.save(draw(kind, cells, found, margin), path, vector=False)


def _line(ax, x: Sequence[float], found: Sequence[intervals.Interval], label: str,
          colour: str) -> None:
  order = np.argsort(x)
  x = np.asarray(x)[order]
  found = [found[k] for k in order]
  ax.plot(x, [100 * i.mean for i in found], 'o-', label=label, color=colour)
  if all(not math.isnan(i.low) for i in found):
    ax.fill_between(x, [100 * i.low for i in found], [100 * i.high for i in found],
                    color=colour, alpha=0.2)


def recorded_margin(study: optuna.Study) -> float:
  """The equivalence margin (a fraction) the ablation's study was started with, in points in
  its recorded config.search.ablation.target_margin; `DEFAULT_MARGIN_POINTS` for a study made
  before the margin was recorded."""
  recorded = study.user_attrs.get('search_config', {}).get('ablation', {})
  return float(recorded.get('target_margin', DEFAULT_MARGIN_POINTS)) / 100


def write_ablation(study: optuna.Study, kind: str, out_dir: str,
                   margin: float | None = None) -> dict[str, str]:
  """Writes ablation_KIND.csv (the comparisons), ablation_KIND_cells.csv, .md and .png in
  `out_dir` (named by `output_name` after the study); returns their paths.

  `study` is an ablation's study; `kd` also reads a `pooling` ablation's (its cells hold both).
  `margin` (a fraction) defaults to the one the study recorded (`recorded_margin`).
  """
  cells = cells_of(study.get_trials(deepcopy=False))
  lacking = sorted(NEEDS[kind] - set(cells[0].params)) if cells else []
  if lacking:
    raise ValueError(f'the study {study.study_name!r} does not vary {", ".join(lacking)}, so it '
                     f'holds no {kind} ablation; report the study `jaxfer-search ablate {kind}` '
                     'made')
  expected_cells = space_lib.grid_size(study.user_attrs['search_config']['space'])
  margin = recorded_margin(study) if margin is None else margin
  found = comparisons(kind, cells, margin)
  stem = output_name(kind, study.study_name)
  paths = {suffix: os.path.join(out_dir, f'{stem}.{suffix}')
           for suffix in ('csv', 'md', 'png')}
  paths['cells.csv'] = os.path.join(out_dir, f'{stem}_cells.csv')
  report.write_csv(paths['csv'], comparison_rows(found))
  report.write_csv(paths['cells.csv'], cell_rows(kind, cells))
  with open(paths['md'], 'w') as f:
    f.write(markdown(kind, cells, found, expected_cells))
  if cells:
    plot(kind, paths['png'], cells, found, margin)
  else:
    del paths['png']
  return paths
