"""What an ablation leaves behind: ablation_KIND.csv (the comparisons), ablation_KIND_cells.csv,
ablation_KIND.md and its figure, ablation_KIND.png.

`write_ablation` reads the study's cells and comparisons (`search.ablation`, plain data) and
writes them; `VIEWS` holds what each kind's figure and markdown show beyond the shared tables.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import optuna

from search import ablation
from search import equivalence
from search import figures
from search import intervals
from search import points
from search import report
from search import space as space_lib
from search.ablation import Cell
from search.ablation import Comparison


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


def comparison_rows(found: Sequence[Comparison]) -> list[dict[str, Any]]:
  """ablation_KIND.csv: one row per comparison, differences and intervals in points."""
  return [{
      'at': c.group, 'first': c.first, 'second': c.second,
      'difference_points': points.csv_cell(c.difference.mean),
      'ci95_low_points': points.csv_cell(c.difference.low),
      'ci95_high_points': points.csv_cell(c.difference.high),
      **{name: '' if math.isnan(value) else value for name, value in (
          ('t', c.difference.t), ('p', c.difference.p_value), ('p_holm', c.p_holm),
          ('d_z', c.difference.effect_size))},
      'units': c.difference.unit, 'n_units': c.difference.n,
      'mde80_points': points.csv_cell(c.mde80),
      'ci90_low_points': points.csv_cell(c.low90), 'ci90_high_points': points.csv_cell(c.high90),
      'equivalence_bound_points': points.csv_cell(c.equivalence_bound),
      'margin_points': points.csv_cell(c.margin),
      'p_equivalence_holm': '' if math.isnan(c.p_equivalence_holm) else c.p_equivalence_holm,
      'verdict': c.verdict} for c in found]


def markdown(kind: str, cells: Sequence[Cell], found: Sequence[Comparison],
             expected_cells: int) -> str:
  """ablation_KIND.md: the cells with their intervals, then the paired tests, their verdicts
  and what the verdicts mean."""
  kind_spec, view = ablation.kind_named(kind), _view(kind)
  runs = sorted({(len(c.runs), len(c.runs[0])) for c in cells})
  lines = [f'# Ablation: {kind}', '',
           f'{len(cells)} of {expected_cells} cells finished; '
           + ', '.join(f'{f} fold(s) x {s} seed(s)' for f, s in runs) + ' per cell.', '',
           'Accuracy: mean over folds and seeds (%), with the 95% Student t interval over the '
           'per-fold means (over the seeds with one fold), built on the logit scale so that it '
           'stays inside 0 to 100%.', '',
           '| size | bytes | cell | accuracy % | 95% interval |',
           '| --- | ---: | --- | ---: | --- |']
  for cell in cells:
    interval = cell.interval
    lines.append(f'| {cell.size_label} | {int(cell.size_bytes):,} | {kind_spec.cell_name(cell)} | '
                 f'{points.unsigned(interval.mean)} | {points.unsigned(interval.low)} to '
                 f'{points.unsigned(interval.high)} |')
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
      lines.append(f'| {c.group} | {c.first} | {c.second} | {points.signed(d.mean)} | '
                   f'{points.signed(d.low)} to {points.signed(d.high)} | {_number(d.t)} | '
                   f'{_number(d.p_value, 3)} | {_number(c.p_holm, 3)} | '
                   f'{_number(d.effect_size)} | {d.n} {d.unit}s | {points.unsigned(c.mde80)} | '
                   f'{points.signed(c.low90)} to {points.signed(c.high90)} | '
                   f'{points.signed(c.equivalence_bound)} | {_number(c.p_equivalence_holm, 3)} | '
                   f'{c.verdict} |')
    differing = [c for c in found if c.verdict in (equivalence.DIFFERS,
                                                    equivalence.DIFFERS_WITHIN_MARGIN)]
    unit = found[0].difference.unit  # 'fold', or 'seed' with one fold.
    lines += ['', f'{ablation.verdict_counts(found)}.' + (' Differences: ' + '; '.join(
        f'{c.group}: {c.first} - {c.second} = {points.signed(c.difference.mean)} points'
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
  lines += view.notes(cells, found)
  return '\n'.join(lines) + '\n'


def _plateaus(cells: Sequence[Cell], found: Sequence[Comparison]) -> str:
  """Per size: the best temperature and those its paired tests cannot tell from it."""
  parts = []
  for size, group in ablation.group_by(cells, lambda c: c.size_label).items():
    means = [c.interval.mean for c in group]
    best = ablation.best_temperature(group)
    same = [c.second for c in found if c.group == size
            and not c.p_holm < 1 - intervals.CONFIDENCE]
    parts.append(f'{size}: best T={best.params["temperature"]:g} '
                 f'({points.unsigned(best.interval.mean)}%), means span '
                 f'{100 * (max(means) - min(means)):.1f} points, not distinguishable from the '
                 f'best: {", ".join(same) or "none"}')
  return 'Where the optimum sits: ' + '; '.join(parts) + '.'


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


def _pooling_panels(panels, cells: Sequence[Cell], found: Sequence[Comparison]) -> None:
  """Accuracy against size, a line and band per pooling variant; a panel with and one without
  distillation."""
  del found
  losses = sorted({c.params['loss'] for c in cells}, key=lambda l: l == ablation.WITHOUT_KD)
  for ax, loss in zip(panels, losses):
    for k, (pooling, group) in enumerate(sorted(ablation.group_by(
        [c for c in cells if c.params['loss'] == loss], lambda c: c.params['pooling']).items())):
      _line(ax, [c.size_bytes / 1000 for c in group], [c.interval for c in group], pooling,
            figures.SERIES[k % len(figures.SERIES)])
    ax.set(xscale='log', xlabel='student size (KB)', title=ablation.kd_label(loss))
    figures.plain_log_ticks(ax, [c.size_bytes / 1000 for c in cells])
  panels[0].set_ylabel('test accuracy (%)')


def _kd_panel(panels, cells: Sequence[Cell], found: Sequence[Comparison]) -> None:
  """The distillation gain against size with its band, a line per pooling variant."""
  ax = panels[0]
  sizes = {ablation.size_and_pooling(c): c.size_bytes / 1000 for c in cells}
  poolings = {ablation.size_and_pooling(c): c.params.get('pooling', '') for c in cells}
  ax.axhline(0, color=figures.OTHER, lw=0.8)
  for k, pooling in enumerate(sorted(set(poolings.values()))):
    points_at = sorted((sizes[c.group], c.difference) for c in found
                       if poolings[c.group] == pooling)
    x = [size for size, _ in points_at]
    colour = figures.SERIES[k % len(figures.SERIES)]
    ax.plot(x, [100 * d.mean for _, d in points_at], 'o-', color=colour,
            label=f'{pooling + ": " if pooling else ""}distilled - not distilled')
    ax.fill_between(x, [100 * d.low for _, d in points_at],
                    [100 * d.high for _, d in points_at], color=colour, alpha=0.2)
  ax.plot([], [], lw=6, alpha=0.3, c=figures.OTHER, label='95% interval (paired)')
  # No comparison yet (one side of every pair unfinished): nothing to put on a log scale.
  ax.set(xscale='log' if found else 'linear', xlabel='student size (KB)',
         ylabel='distillation gain (points)')
  if found:
    figures.plain_log_ticks(ax, list(sizes.values()))


def _temperature_panel(panels, cells: Sequence[Cell], found: Sequence[Comparison]) -> None:
  """Accuracy against temperature, a line and band per size."""
  del found
  ax = panels[0]
  for k, (size, group) in enumerate(ablation.group_by(cells, lambda c: c.size_label).items()):
    group = sorted(group, key=lambda c: c.params['temperature'])
    _line(ax, [c.params['temperature'] for c in group], [c.interval for c in group], size,
          figures.SERIES[k % len(figures.SERIES)])
  ax.set(xscale='log', xlabel='temperature', ylabel='test accuracy (%)')


class View(NamedTuple):
  """What ablation_KIND.png and ablation_KIND.md show of one kind beyond the shared tables and
  forest plot."""
  # The cells -> how many panels stand side by side above the forest plot.
  columns: Callable[[Sequence[Cell]], int]
  # Draws them: (their axes, the cells, the comparisons).
  panels: Callable[[list, Sequence[Cell], Sequence[Comparison]], None]
  # The panels show accuracy, so their y limits come from the cells' intervals.
  accuracy: bool
  # The markdown's closing lines after the verdicts.
  notes: Callable[[Sequence[Cell], Sequence[Comparison]], list[str]]


VIEWS = {
    'pooling': View(lambda cells: 2 if len({c.params['loss'] for c in cells}) > 1 else 1,
                    _pooling_panels, True, lambda cells, found: []),
    'kd': View(lambda cells: 1, _kd_panel, False, lambda cells, found: []),
    'temperature': View(lambda cells: 1, _temperature_panel, True,
                        lambda cells, found: ['', _plateaus(cells, found)]),
}


def _view(kind: str) -> View:
  """The view of the ablation `kind`, refused with `ablation.kind_named`'s message."""
  return VIEWS[ablation.kind_named(kind).name]


def draw(kind: str, cells: Sequence[Cell], found: Sequence[Comparison], margin: float):
  """The figure of ablation_KIND.png. Above: pooling: accuracy against size, a line and band per
  variant (one panel with and one without distillation); kd: the gain against size with its
  band; temperature: accuracy against temperature, a line and band per size. Below: the forest
  plot of the comparisons, each difference with its 95% interval, the +-`margin` band and the
  verdict; its height grows with the comparisons so that their labels never overlap."""
  view = _view(kind)
  plt = figures.pyplot()
  columns = view.columns(cells)
  forest_height = ROW_HEIGHT * max(len(found), 1) + 1.2
  fig = plt.figure(figsize=(12, PANEL_HEIGHT + forest_height + 0.4))
  grid = fig.add_gridspec(2, columns, height_ratios=[PANEL_HEIGHT, forest_height])
  panels = [fig.add_subplot(grid[0, k]) for k in range(columns)]
  view.panels(panels, cells, found)
  if view.accuracy and cells:  # The y axis holds the data, inside 0..100%.
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
  """One series: mean accuracy against `x`, with its band where every interval is defined."""
  order = np.argsort(x)
  x = np.asarray(x)[order]
  found = [found[k] for k in order]
  ax.plot(x, [100 * i.mean for i in found], 'o-', label=label, color=colour)
  if all(not math.isnan(i.low) for i in found):
    ax.fill_between(x, [100 * i.low for i in found], [100 * i.high for i in found],
                    color=colour, alpha=0.2)


def write_ablation(study: optuna.Study, kind: str, out_dir: str,
                   margin: float | None = None) -> dict[str, str]:
  """Writes ablation_KIND.csv (the comparisons), ablation_KIND_cells.csv, .md and .png in
  `out_dir` (named by `ablation.output_name` after the study); returns their paths.

  `study` is an ablation's study; `kd` also reads a `pooling` ablation's (its cells hold both).
  `margin` (a fraction) defaults to the one the study recorded (`ablation.recorded_margin`).
  """
  needs = ablation.kind_named(kind).needs
  cells = ablation.cells_of(study.get_trials(deepcopy=False))
  lacking = sorted(needs - set(cells[0].params)) if cells else []
  if lacking:
    raise ValueError(f'the study {study.study_name!r} does not vary {", ".join(lacking)}, so it '
                     f'holds no {kind} ablation; report the study `jaxfer-search ablate {kind}` '
                     'made')
  expected_cells = space_lib.grid_size(study.user_attrs['search_config']['space'])
  margin = ablation.recorded_margin(study) if margin is None else margin
  found = ablation.comparisons(kind, cells, margin)
  stem = ablation.output_name(kind, study.study_name)
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
