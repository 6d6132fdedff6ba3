"""Rows of accuracies over cross-validation folds compared with the first row, paired by fold.

Pure functions on plain data: `compare` gives each row's mean, 95% interval and paired
difference from the reference row, with a verdict against a margin fixed in advance (a
difference, an equivalence, or neither, and the smallest difference the folds could have
detected), `render` draws them as a markdown table, `check_summary` checks a saved summary.
`benchmarks/cv_compare.py` reads the rows from fold results, and `benchmarks/reproduction.py`
renders the saved ones in docs/reproduction.md.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from search import equivalence
from search import intervals

# The margin of equivalence, in accuracy: the ablations' default (search.ablation), 2 points.
DEFAULT_MARGIN = 0.02


def compare(rows: Sequence[tuple[str, dict[int, Any]]],
            margin: float = DEFAULT_MARGIN) -> list[dict[str, Any]]:
  """Each row's mean, 95% interval over its folds and standard deviation, and its difference
  from the first row paired over the folds both have (None for the first row itself).

  Each difference is also judged (`equivalence.judge`): its paired t-test and its TOST against
  +-`margin` (a fraction), both Holm-corrected over the table's rows, their verdict, and the
  difference the t-test detects with 80% power at alpha / m (m rows compared); the row's
  'judgement' holds them with the margin (None for the first row).

  A row is (label, {fold: accuracy}) or, with several seeds, (label, {fold: [accuracy per
  seed]}); a fold counts by the mean of its seeds, and `seed_std` is the seeds' pooled spread
  about their fold's mean (None with one seed a fold).
  """
  rows = [(label, {fold: np.atleast_1d(np.asarray(runs, dtype=np.float64))
                   for fold, runs in accuracies.items()}) for label, accuracies in rows]
  # Fold means on both sides of a pairing: the fold is the unit, and rows may differ in seeds.
  means = [{fold: float(runs.mean()) for fold, runs in runs_by_fold.items()}
           for _, runs_by_fold in rows]
  reference = means[0]
  out, fold_differences = [], []
  for k, (label, runs_by_fold) in enumerate(rows):
    folds = sorted(runs_by_fold)
    values = [means[k][fold] for fold in folds]
    interval = intervals.accuracy_interval(values)
    difference = None
    if k:
      common = [fold for fold in folds if fold in reference]
      if not common:
        raise ValueError(f'{label!r} shares no fold with the reference {rows[0][0]!r}')
      pair = ([[means[k][f]] for f in common], [[reference[f]] for f in common])
      difference = intervals.paired_difference(*pair)._asdict()
      fold_differences.append((k, intervals.unit_differences(*pair)[0]))
    seed_std = intervals.pooled_seed_noise([runs_by_fold[fold] for fold in folds]).sd
    out.append({'label': label, 'fold_numbers': folds, 'folds': values, 'mean': interval.mean,
                'low': interval.low, 'high': interval.high, 'std': float(np.std(values)),
                'difference': difference, 'seeds': [len(runs_by_fold[f]) for f in folds],
                'seed_std': None if math.isnan(seed_std) else seed_std, 'judgement': None})
  judged = equivalence.judge(
      [(out[k]['difference']['mean'], equivalence.unit_sd(units), out[k]['difference']['n'],
        out[k]['difference']['p_value']) for k, units in fold_differences], margin)
  for (k, _), judgement in zip(fold_differences, judged):
    out[k]['judgement'] = {**judgement, 'margin': margin}
  return out


def seeds_by_fold(runs: Sequence[dict[int, float]]) -> dict[int, list[float]]:
  """{fold: [accuracy of each seed that has the fold]}."""
  return {fold: [run[fold] for run in runs if fold in run]
          for fold in sorted(set().union(*runs))}


def render(kind: str, rows: Sequence[dict[str, Any]]) -> str:
  """One markdown table of `compare`'s rows; `kind` names what the rows are ('teacher',
  'student'). A row with fewer folds than the reference says how many, and shows '-' for the
  missing ones. The last column is each difference's verdict against the margin and the
  difference the folds could have detected ('-' in summaries saved before verdicts)."""
  reference = rows[0]
  margins = {j['margin'] for row in rows if (j := row.get('judgement'))}
  margin = f'±{100 * margins.pop():g} points' if len(margins) == 1 else 'the margin'
  lines = [f'| {kind} | accuracy % (95% interval over folds) | std | per fold | '
           f'paired difference from "{reference["label"]}", points (95% interval, p) | '
           f'verdict against {margin} (Holm; MDE at 80% power) |',
           '| --- | ---: | ---: | --- | --- | --- |']
  for row in rows:
    d = row['difference']
    versus = ('reference' if d is None else
              f'{100 * d["mean"]:+.1f} ({100 * d["low"]:+.1f} to {100 * d["high"]:+.1f}, '
              f'p {d["p_value"]:.2g})')
    judgement = row.get('judgement')
    verdict = ('' if d is None else '-' if not judgement else
               f'{judgement["verdict"]} (MDE {100 * judgement["mde80"]:.1f})')
    by_fold = dict(zip(row['fold_numbers'], row['folds']))
    shown = sorted(set(reference['fold_numbers']) | set(by_fold))
    label = row['label'] + ('' if len(by_fold) == len(shown) else
                            f' ({len(by_fold)} of {len(shown)} folds)') + _seeds_note(row)
    lines.append(f'| {label} | **{100 * row["mean"]:.1f}** ({100 * row["low"]:.1f} to '
                 f'{100 * row["high"]:.1f}) | {100 * row["std"]:.1f} | '
                 + ' '.join(f'{100 * by_fold[f]:.1f}' if f in by_fold else '-' for f in shown)
                 + f' | {versus} | {verdict} |')
  return '\n'.join(lines)


def _seeds_note(row: dict[str, Any]) -> str:
  seeds = row.get('seeds') or [1]  # Summaries written before seeds were counted had one.
  if max(seeds) == 1:
    return ''
  count = str(seeds[0]) if min(seeds) == max(seeds) else f'{min(seeds)} to {max(seeds)}'
  spread = '' if row.get('seed_std') is None else f', seed std {100 * row["seed_std"]:.1f}'
  return f' ({count} seeds a fold{spread})'


ROW_FIELDS = ('label', 'fold_numbers', 'folds', 'mean', 'low', 'high', 'std', 'difference')


def check_summary(summary: Any, needs: str = 'teacher') -> None:
  """Raises ValueError unless `summary` is what `benchmarks/cv_compare.py --json` writes
  with at least one row of the role `needs` ('teacher' or 'student'; benchmarks/reproduction.py
  reads it)."""
  if not isinstance(summary, dict) or not summary.get(needs):
    raise ValueError(f'expected {{"teacher": [rows...], "student": [rows...]}} with {needs} '
                     f'rows, as benchmarks/cv_compare.py --{needs} ... --json writes it')
  for role in ('teacher', 'student'):
    for row in summary.get(role, []):
      if not isinstance(row, dict) or any(field not in row for field in ROW_FIELDS):
        raise ValueError(f'a {role} row without the fields {", ".join(ROW_FIELDS)}: {row!r:.80}')
