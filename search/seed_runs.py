"""Final models trained with several seeds on a validation protocol: validation and test
accuracy over the seeds, with 95% intervals, and the size targets they are held to.

Pure functions on plain data, except `read_run`, which reads one run directory's JSON files.
`benchmarks/seed_runs.py` gathers the runs, `benchmarks/reproduction.py` renders the saved rows in
docs/reproduction.md.
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

from jaxfer import artifacts
from search import intervals

# What the FER2013 rows are held to (issue: faces in the wild): float32 bytes, test accuracy.
TARGETS = (
    dict(label='a student of at most 1 MB at 66% or more', max_bytes=1_000_000, accuracy=0.66,
         target='student'),
    dict(label='a student of at most 250 KB at 63% or more', max_bytes=250_000, accuracy=0.63,
         target='student'),
    dict(label='the teacher at 65% or more', max_bytes=None, accuracy=0.65, target='teacher'),
)
MET, NOT_MET, NOT_MEASURED = 'met', 'not met', 'not measured'


def _read_json(path: str) -> dict[str, Any]:
  try:
    return artifacts.read_json(path)
  except FileNotFoundError:
    raise ValueError(f'{path}: no such file; train the model first (`jaxfer distill` writes it)'
                     ) from None


def read_run(run_dir: str, target: str = 'student') -> dict[str, Any]:
  """{'validation', 'test', 'params', 'size_bytes', 'epochs'} of the `target` of a `jaxfer
  distill` (or `train-teacher`) run directory; ValueError naming the file that is missing or
  damaged, or that was not measured on a validation set with a held-out test."""
  model_dir = os.path.join(run_dir, target)
  result = _read_json(os.path.join(model_dir, 'result.json'))
  if result.get('evaluated_on') != 'validation':
    raise ValueError(f'{os.path.join(model_dir, "result.json")}: evaluated on '
                     f'{result.get("evaluated_on", "test")!r}, not on a validation set; train '
                     'with config.data.validation_fraction > 0')
  test = _read_json(os.path.join(model_dir, 'test_result.json'))
  return {'validation': float(result['accuracy']), 'test': float(test['accuracy']),
          'params': int(result['params']), 'size_bytes': int(result['size_bytes']),
          'epochs': int(result['epochs'])}


def summarize(label: str, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """One row: the runs' (seeds') validation and test accuracies, each with its mean and 95% t
  interval, and the model's size (ValueError if the runs are not of one size)."""
  sizes = {(run['params'], run['size_bytes']) for run in runs}
  if len(sizes) != 1:
    raise ValueError(f'{label!r}: its runs have different sizes {sorted(sizes)}; a row is one '
                     'model trained with several seeds')
  (params, size_bytes), = sizes
  row = {'label': label, 'params': params, 'size_bytes': size_bytes, 'seeds': len(runs)}
  for split in ('validation', 'test'):
    values = [run[split] for run in runs]
    interval = intervals.accuracy_interval(values)
    row[split] = {'runs': values, 'mean': interval.mean, 'low': interval.low,
                  'high': interval.high}
  return row


def _percent(cell: dict[str, Any]) -> str:
  if math.isnan(cell['low']):
    return f'**{100 * cell["mean"]:.1f}** (one seed)'
  return f'**{100 * cell["mean"]:.1f}** ({100 * cell["low"]:.1f} to {100 * cell["high"]:.1f})'


def render(rows: Sequence[dict[str, Any]]) -> str:
  """A markdown table of `summarize`'s rows."""
  lines = ['| model | parameters | float32 size | validation % (95% interval over seeds) | '
           'test % (95% interval over seeds) | test, per seed | seeds |',
           '| --- | ---: | ---: | ---: | ---: | --- | ---: |']
  for row in rows:
    per_seed = ' '.join(f'{100 * v:.1f}' for v in row['test']['runs'])
    lines.append(f'| {row["label"]} | {row["params"]:,} | {row["size_bytes"] / 1000:,.0f} KB | '
                 f'{_percent(row["validation"])} | {_percent(row["test"])} | {per_seed} | '
                 f'{row["seeds"]} |')
  return '\n'.join(lines)


def target_verdicts(students: Sequence[dict[str, Any]], teachers: Sequence[dict[str, Any]]
                    ) -> list[tuple[str, str, str]]:
  """(target, verdict, what was measured) for each of `TARGETS`: met when some row within the
  size reaches the accuracy with its mean test accuracy over seeds; the best such row is
  named, with its interval."""
  out = []
  for target in TARGETS:
    rows = teachers if target['target'] == 'teacher' else students
    within = [row for row in rows
              if target['max_bytes'] is None or row['size_bytes'] <= target['max_bytes']]
    if not within:
      out.append((target['label'], NOT_MEASURED, 'no row of that size'))
      continue
    best = max(within, key=lambda row: row['test']['mean'])
    measured = (f'best: {best["label"]} ({best["size_bytes"] / 1000:,.0f} KB), test '
                f'{_percent(best["test"]).replace("**", "")}')
    gap = best['test']['mean'] - target['accuracy']
    if gap < 0:
      measured += f', {100 * -gap:.1f} points short'
    out.append((target['label'], MET if gap >= 0 else NOT_MET, measured))
  return out


def check_summary(summary: Any) -> None:
  """ValueError unless `summary` is what benchmarks/seed_runs.py --json writes."""
  if not isinstance(summary, dict) or not isinstance(summary.get('students'), list):
    raise ValueError('expected {"students": [...], "teachers": [...]} as written by '
                     'benchmarks/seed_runs.py --json')
  for row in summary['students'] + summary.get('teachers', []):
    if not isinstance(row, dict) or not {'label', 'test', 'validation', 'size_bytes'} <= set(row):
      raise ValueError(f'a row {row!r} lacks label, test, validation or size_bytes')
