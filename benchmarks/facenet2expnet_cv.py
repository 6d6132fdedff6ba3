r"""CK+48, 10 folds: FaceNet2ExpNet teachers and students against plain ones, with intervals.

    PYTHONPATH=. python benchmarks/facenet2expnet_cv.py \
        --teacher 'plain=runs/plain' --teacher 'FaceNet2ExpNet, dlib=runs/f2e_dlib' \
        --student 'distilled from the plain teacher=runs/plain' \
        --student 'distilled from the dlib teacher=runs/f2e_dlib' \
        --json runs/facenet2expnet.json

Each `--teacher` or `--student` is LABEL=WORKDIR, a `jaxfer distill` work directory holding
fold_k/result.json for each fold (written by `jaxfer distill --cv`, or by one
`jaxfer distill --config.data.fold=k --workdir WORKDIR/fold_k` per fold); a teacher row reads the
teacher's accuracy recorded there. The first row of each kind is the reference the others are
compared with, paired over the folds both have (Student's t over the fold differences,
`search/intervals.py`); a row with fewer folds says so. The same LABEL given again adds another
seed's work directory (`--config.seed=1`) to that row: a fold's accuracy is then the mean over
its seeds, the interval and the pairing are over those fold means, and the row says how many
seeds it has and their spread (the pooled standard deviation of a seed about its fold's mean).
Prints a markdown table; `--json` keeps it for `benchmarks/reproduction.py --facenet2expnet`.
Reads only; writes nothing but the `--json` file.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
from typing import Any, Sequence

import numpy as np

from search import intervals


def fold_accuracies(workdir: str, role: str) -> dict[int, float]:
  """{fold: accuracy} of the student (role 'student') or its teacher ('teacher'), from each
  WORKDIR/fold_k/result.json there is (a campaign still running has some folds)."""
  paths = glob.glob(os.path.join(workdir, 'fold_*', 'result.json'))
  folds = sorted((int(m.group(1)), path) for path in paths
                 if (m := re.fullmatch(r'fold_(\d+)', os.path.basename(os.path.dirname(path)))))
  if not folds:
    raise ValueError(f'{workdir}: no fold_k/result.json (train it with `jaxfer distill --cv`)')
  accuracies = {}
  for fold, path in folds:
    with open(path) as f:
      try:
        result = json.load(f)
      except json.JSONDecodeError as error:
        raise ValueError(f'{path}: not JSON ({error}); expected the result.json that '
                         '`jaxfer distill` writes') from None
    value = result.get('accuracy') if role == 'student' else result.get('teacher_accuracy')
    if role == 'student' and value is None:
      raise ValueError(f'{path}: no accuracy; expected the result.json that `jaxfer distill` '
                       'writes')
    if value is None:
      raise ValueError(f'{path}: no teacher accuracy (a run without distillation has no '
                       'teacher); give it as --student')
    accuracies[fold] = value
  return accuracies


def compare(rows: Sequence[tuple[str, dict[int, Any]]]) -> list[dict[str, Any]]:
  """Each row's mean, 95% interval over its folds and standard deviation, and its difference
  from the first row paired over the folds both have (None for the first row itself).

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
  out = []
  for k, (label, runs_by_fold) in enumerate(rows):
    folds = sorted(runs_by_fold)
    values = [means[k][fold] for fold in folds]
    interval = intervals.accuracy_interval(values)
    difference = None
    if k:
      common = [fold for fold in folds if fold in reference]
      if not common:
        raise ValueError(f'{label!r} shares no fold with the reference {rows[0][0]!r}')
      difference = intervals.paired_difference([[means[k][f]] for f in common],
                                               [[reference[f]] for f in common])._asdict()
    seed_std = intervals.pooled_seed_noise([runs_by_fold[fold] for fold in folds]).sd
    out.append({'label': label, 'fold_numbers': folds, 'folds': values, 'mean': interval.mean,
                'low': interval.low, 'high': interval.high, 'std': float(np.std(values)),
                'difference': difference, 'seeds': [len(runs_by_fold[f]) for f in folds],
                'seed_std': None if math.isnan(seed_std) else seed_std})
  return out


def render(kind: str, rows: Sequence[dict[str, Any]]) -> str:
  """One markdown table of `compare`'s rows; `kind` is 'teacher' or 'MicroExpNet'. A row with
  fewer folds than the reference says how many, and shows '-' for the missing ones."""
  reference = rows[0]
  lines = [f'| {kind} | accuracy % (95% interval over folds) | std | per fold | '
           f'paired difference from "{reference["label"]}", points (95% interval, p) |',
           '| --- | ---: | ---: | --- | --- |']
  for row in rows:
    d = row['difference']
    versus = ('reference' if d is None else
              f'{100 * d["mean"]:+.1f} ({100 * d["low"]:+.1f} to {100 * d["high"]:+.1f}, '
              f'p {d["p_value"]:.2g})')
    by_fold = dict(zip(row['fold_numbers'], row['folds']))
    shown = sorted(set(reference['fold_numbers']) | set(by_fold))
    label = row['label'] + ('' if len(by_fold) == len(shown) else
                            f' ({len(by_fold)} of {len(shown)} folds)') + _seeds_note(row)
    lines.append(f'| {label} | **{100 * row["mean"]:.1f}** ({100 * row["low"]:.1f} to '
                 f'{100 * row["high"]:.1f}) | {100 * row["std"]:.1f} | '
                 + ' '.join(f'{100 * by_fold[f]:.1f}' if f in by_fold else '-' for f in shown)
                 + f' | {versus} |')
  return '\n'.join(lines)


def _seeds_note(row: dict[str, Any]) -> str:
  seeds = row.get('seeds') or [1]  # Summaries written before seeds were counted had one.
  if max(seeds) == 1:
    return ''
  count = str(seeds[0]) if min(seeds) == max(seeds) else f'{min(seeds)} to {max(seeds)}'
  spread = '' if row.get('seed_std') is None else f', seed std {100 * row["seed_std"]:.1f}'
  return f' ({count} seeds a fold{spread})'


ROW_FIELDS = ('label', 'fold_numbers', 'folds', 'mean', 'low', 'high', 'std', 'difference')


def check_summary(summary: Any) -> None:
  """Raises ValueError unless `summary` is what `--json` writes with at least one teacher row
  (benchmarks/reproduction.py reads it)."""
  if not isinstance(summary, dict) or not summary.get('teacher'):
    raise ValueError('expected {"teacher": [rows...], "student": [rows...]} with teacher rows, '
                     'as benchmarks/facenet2expnet_cv.py --teacher ... --json writes it')
  for role in ('teacher', 'student'):
    for row in summary.get(role, []):
      if not isinstance(row, dict) or any(field not in row for field in ROW_FIELDS):
        raise ValueError(f'a {role} row without the fields {", ".join(ROW_FIELDS)}: {row!r:.80}')


def _labelled(values: Sequence[str], flag: str, parser) -> list[tuple[str, str]]:
  pairs = []
  for value in values:
    label, sep, workdir = value.rpartition('=')
    if not sep or not label:
      parser.error(f'{flag} {value!r}: expected LABEL=WORKDIR')
    if not os.path.isdir(workdir):
      parser.error(f'{flag} {value!r}: no such work directory {workdir}')
    pairs.append((label, workdir))
  return pairs


def _seed_runs(pairs: Sequence[tuple[str, str]], role: str,
               parser) -> dict[str, list[dict[int, float]]]:
  """{label: [{fold: accuracy} of each of its work directories]}, in the order first given."""
  runs, seen = {}, set()
  for label, workdir in pairs:
    key = (label, os.path.realpath(workdir))
    if key in seen:
      parser.error(f'--{role} {label}={workdir}: given twice (another seed needs its own '
                   'work directory)')
    seen.add(key)
    runs.setdefault(label, []).append(fold_accuracies(workdir, role))
  return runs


def _by_fold(runs: Sequence[dict[int, float]]) -> dict[int, list[float]]:
  """{fold: [accuracy of each seed that has the fold]}."""
  return {fold: [run[fold] for run in runs if fold in run]
          for fold in sorted(set().union(*runs))}


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  seeds = '; the same LABEL again adds another seed\'s WORKDIR to the row'
  parser.add_argument('--teacher', action='append', default=[], metavar='LABEL=WORKDIR',
                      help='a row of teachers from WORKDIR/fold_k/result.json' + seeds)
  parser.add_argument('--student', action='append', default=[], metavar='LABEL=WORKDIR',
                      help='a row of MicroExpNet students from WORKDIR/fold_k/result.json' + seeds)
  parser.add_argument('--json', help='also write the rows here, for benchmarks/reproduction.py')
  args = parser.parse_args(argv)
  if not args.teacher and not args.student:
    parser.error('give at least one --teacher or --student LABEL=WORKDIR')
  if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
    parser.error(f'--json {args.json}: no such directory {os.path.dirname(args.json)}')
  summary = {}
  for role, kind, given in (('teacher', 'teacher', args.teacher),
                            ('student', 'MicroExpNet', args.student)):
    if not given:
      continue
    try:
      rows = compare([(label, _by_fold(runs)) for label, runs in
                      _seed_runs(_labelled(given, f'--{role}', parser), role, parser).items()])
    except ValueError as error:
      parser.error(str(error))
    summary[role] = rows
    print(render(kind, rows) + '\n')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(summary, f, indent=2)


if __name__ == '__main__':
  main()
