"""Ablations: the paper's comparisons as grid studies of replicated cells, paired by fold and seed.

`jaxfer-search ablate KIND` runs the study `ablation_KIND` in the run directory's storage
(`study_config`: sampler 'grid' over the cells, seeds shared by every cell, no pruning), so its
cells run on many workers and a rerun skips the finished ones. What sets each kind apart is its
entry in `KINDS`. `cells_of` reads the finished cells and `comparisons` pairs them
(`intervals.paired_difference`, Holm's correction over the ablation): plain data, which
`search.ablation_report` writes as ablation_KIND.csv, ablation_KIND.md and a figure.
"""
from __future__ import annotations

import math
import urllib.parse
from typing import Any, Callable, NamedTuple, Sequence

import ml_collections
import numpy as np
import optuna

from jaxfer import models
from search import configuration
from search import equivalence
from search import intervals
from search import points
from search import space as space_lib

WITHOUT_KD = 'none'
# The pooling variant the others are compared with: no pooling, the paper's question.
NO_POOLING = 'v'
# config.search.ablation.target_margin's default, for studies made before it was recorded.
DEFAULT_MARGIN_POINTS = 2.0


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


class Pair(NamedTuple):
  """The two cells of one comparison, first - second, and what they are called."""
  group: str  # The cells held equal: a size (and for pooling, with or without distillation).
  first: Cell
  second: Cell
  first_label: str
  second_label: str


def group_by(cells: Sequence[Cell], key) -> dict[Any, list[Cell]]:
  """The cells by `key(cell)`, in the order each key first appears."""
  groups: dict[Any, list[Cell]] = {}
  for cell in cells:
    groups.setdefault(key(cell), []).append(cell)
  return groups


def size_and_pooling(cell: Cell) -> str:
  """'S', or 'S, p12' where the pooling variant is one of the cell's parameters."""
  return cell.size_label + (f', {cell.params["pooling"]}' if 'pooling' in cell.params else '')


def kd_label(loss: str) -> str:
  """'without distillation', or 'distilled (LOSS)'."""
  return 'without distillation' if loss == WITHOUT_KD else f'distilled ({loss})'


def best_temperature(group: Sequence[Cell]) -> Cell:
  """The cell of the highest mean accuracy among cells of one size; the lower temperature of
  two alike."""
  return max(group, key=lambda c: (c.interval.mean, -c.params['temperature']))


def _pooling_space(settings: ml_collections.ConfigDict, loss: str) -> dict[str, Any]:
  return {'pooling': {'choices': tuple(settings.poolings)},
          'loss': {'choices': (loss, WITHOUT_KD)}}


def _pooling_pairs(cells: Sequence[Cell]) -> list[Pair]:
  """At each size, with and without distillation: each variant - no pooling (v)."""
  pairs = []
  for (size, loss), group in group_by(cells, lambda c: (c.size_label,
                                                        c.params['loss'])).items():
    base = next((c for c in group if c.params['pooling'] == NO_POOLING), None)
    for cell in group:
      if base is not None and cell is not base:
        pairs.append(Pair(f'{size}, {kd_label(loss)}', cell, base, cell.params['pooling'],
                          NO_POOLING))
  return pairs


def _pooling_comparisons(settings: ml_collections.ConfigDict) -> int:
  others = len([p for p in settings.poolings if p != NO_POOLING])
  return 2 * (others if NO_POOLING in settings.poolings else 0)


def _kd_space(settings: ml_collections.ConfigDict, loss: str) -> dict[str, Any]:
  del settings
  return {'loss': {'choices': (loss, WITHOUT_KD)}}


def _kd_pairs(cells: Sequence[Cell]) -> list[Pair]:
  """At each size: distilled - not distilled (the distillation gain)."""
  pairs = []
  # Read from a pooling ablation's study, the gain is given for each pooling variant too.
  for at, group in group_by(cells, size_and_pooling).items():
    distilled = [c for c in group if c.params['loss'] != WITHOUT_KD]
    plain = [c for c in group if c.params['loss'] == WITHOUT_KD]
    if distilled and plain:
      pairs.append(Pair(at, distilled[0], plain[0], 'distilled', 'not distilled'))
  return pairs


def _kd_cell_name(cell: Cell) -> str:
  pooling = f'{cell.params["pooling"]}, ' if 'pooling' in cell.params else ''
  return pooling + kd_label(cell.params['loss'])


def _temperature_space(settings: ml_collections.ConfigDict, loss: str) -> dict[str, Any]:
  del loss
  return {'temperature': {'choices': tuple(float(t) for t in settings.temperatures)}}


def _temperature_pairs(cells: Sequence[Cell]) -> list[Pair]:
  """At each size: the best temperature (highest mean) - each other temperature."""
  pairs = []
  for size, group in group_by(cells, lambda c: c.size_label).items():
    best = best_temperature(group)
    for cell in sorted(group, key=lambda c: c.params['temperature']):
      if cell is not best:
        pairs.append(Pair(size, best, cell, f'T={best.params["temperature"]:g}',
                          f'T={cell.params["temperature"]:g}'))
  return pairs


class Kind(NamedTuple):
  """What sets one ablation apart: what its cells vary and which of them it compares."""
  name: str
  # The parameters a study's cells must vary to hold this ablation.
  needs: frozenset[str]
  # (config.search.ablation, the config's distillation loss) -> what it adds to the grid of
  # sizes (or widths).
  space: Callable[[ml_collections.ConfigDict, str], dict[str, Any]]
  # The finished cells -> the comparisons, in table order.
  pairs: Callable[[Sequence[Cell]], list[Pair]]
  # A cell as the tables name it beside its size.
  cell_name: Callable[[Cell], str]
  # config.search.ablation -> the comparisons at each size once every cell is finished.
  comparisons_per_size: Callable[[ml_collections.ConfigDict], int]


# Looked up in this order by `kind_of`: a pooling study's cells vary the loss too, and a tuned
# cell carries a temperature it did not vary.
KINDS = {kind.name: kind for kind in (
    Kind('pooling', frozenset({'pooling', 'loss'}), _pooling_space, _pooling_pairs,
         lambda cell: f'{cell.params["pooling"]}, {kd_label(cell.params["loss"])}',
         _pooling_comparisons),
    Kind('kd', frozenset({'loss'}), _kd_space, _kd_pairs, _kd_cell_name, lambda settings: 1),
    Kind('temperature', frozenset({'temperature'}), _temperature_space, _temperature_pairs,
         lambda cell: f'T={cell.params["temperature"]:g}',
         lambda settings: len(settings.temperatures) - 1),
)}


def kind_named(name: str) -> Kind:
  """The ablation `name`; ValueError naming the ablations there are."""
  if name not in KINDS:
    raise ValueError(f'the ablation {name!r} does not exist; choose one of: {", ".join(KINDS)}')
  return KINDS[name]


def kind_of(cells: Sequence[Cell]) -> Kind:
  """The ablation the cells hold: the first of `KINDS` whose parameters they vary
  (temperature when none is)."""
  params = set(cells[0].params) if cells else set()
  return next((kind for kind in KINDS.values() if kind.needs <= params), KINDS['temperature'])


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
  spec = kind_named(kind)
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
  space.update(spec.space(settings, loss))
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


def expected_comparisons(config: ml_collections.ConfigDict, kind: str) -> int:
  """How many comparisons the ablation `kind` of `config` makes once every cell is finished:
  the m of its Holm family."""
  settings = config.search.ablation
  sizes = len(settings.widths) if settings.widths else len(settings.sizes)
  return sizes * kind_named(kind).comparisons_per_size(settings)


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
  pairs = kind_named(kind).pairs(cells)
  differences = [intervals.paired_difference(p.first.runs, p.second.runs) for p in pairs]
  spreads = [equivalence.unit_sd(intervals.unit_differences(p.first.runs, p.second.runs)[0])
             for p in pairs]
  judged = equivalence.judge([(d.mean, sd, d.n, d.p_value)
                              for d, sd in zip(differences, spreads)], margin)
  found = [Comparison(pair.group, pair.first_label, pair.second_label, d, margin=margin,
                      **judgement) for pair, d, judgement in zip(pairs, differences, judged)]
  return found


def noise_of(cells: Sequence[Cell]) -> equivalence.NoiseComponents:
  """The seed and fold-by-cell noise of finished cells, over the comparisons they hold."""
  index = {id(cell): k for k, cell in enumerate(cells)}
  pairs = [(index[id(pair.first)], index[id(pair.second)])
           for pair in kind_of(cells).pairs(cells)]
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
        f'{points.unsigned(noise.difference_sd)} points ({noise.difference_df} df), an MDE '
        f'with 80% power of {points.unsigned(observed)} points at that design. With one seed '
        'per fold the seed noise and the fold-by-cell interaction cannot be told apart, so the '
        'seeds needed are not known: a noise source with 2 or more seeds per fold '
        '(config.search.replicates) splits them.']
  lines.append(f'Noise from {source} ({design}): seed SD {points.unsigned(noise.seed_sd)} '
               f'points (one run about its cell and fold mean, pooled, {noise.seed_df} df); '
               'fold-by-cell interaction SD '
               f'{points.unsigned(noise.interaction_sd)} points (method of moments: the '
               'variance of the per-fold paired differences less 2 seed variances / seeds).')
  if folds < 2:
    unit_sd = math.sqrt(2) * noise.seed_sd
    return lines + [f'One fold: the seed is the unit. MDE with 80% power at {seeds} seed(s): '
                    f'{points.unsigned(equivalence.mde80(unit_sd, seeds, level))} points.']
  found = equivalence.mde80(equivalence.difference_sd(noise.seed_sd, noise.interaction_sd,
                                                      seeds), folds, level)
  lines.append(f'MDE with 80% power at {folds} folds x {seeds} seed(s): {points.unsigned(found)} '
               'points.')
  needed = equivalence.seeds_needed(noise.seed_sd, noise.interaction_sd, folds, margin, level)
  if needed is not None:
    return lines + [f'Seeds per fold to detect ±{margin_points:g} points: {needed}.']
  floor = equivalence.mde80(noise.interaction_sd, folds, level)
  more = equivalence.folds_needed(equivalence.difference_sd(
      noise.seed_sd, noise.interaction_sd, seeds), margin, level)
  return lines + [f'No number of seeds per fold detects ±{margin_points:g} points: the '
                  'fold-by-cell interaction alone gives an MDE of '
                  f'{points.unsigned(floor)} points at {folds} folds, and more seeds cannot '
                  'average it away' + (
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


def recorded_margin(study: optuna.Study) -> float:
  """The equivalence margin (a fraction) the ablation's study was started with, in points in
  its recorded config.search.ablation.target_margin; `DEFAULT_MARGIN_POINTS` for a study made
  before the margin was recorded."""
  recorded = study.user_attrs.get('search_config', {}).get('ablation', {})
  return float(recorded.get('target_margin', DEFAULT_MARGIN_POINTS)) / 100
