r"""Rows of cross-validated teachers and students compared with the first row, paired over folds.

For example, on CK+48's 10 folds, FaceNet2ExpNet teachers and students against plain ones:

    PYTHONPATH=. python benchmarks/cv_compare.py \
        --teacher 'plain=runs/plain' --teacher 'FaceNet2ExpNet, dlib=runs/f2e_dlib' \
        --student 'distilled from the plain teacher=runs/plain' \
        --student 'distilled from the dlib teacher=runs/f2e_dlib' \
        --json runs/facenet2expnet.json

Each `--teacher` or `--student` is LABEL=WORKDIR, a `jaxfer distill` work directory holding
fold_k/result.json for each fold (written by `jaxfer distill --cv`, or by one
`jaxfer distill --config.data.fold=k --workdir WORKDIR/fold_k` per fold); a teacher row reads the
teacher's accuracy recorded there. The first row of each kind is the reference the others are
compared with, paired over the folds both have (Student's t over the fold differences,
`search/fold_comparison.py`); a row with fewer folds says so. The same LABEL given again adds
another seed's work directory (`--config.seed=1`) to that row: a fold's accuracy is then the
mean over its seeds, the interval and the pairing are over those fold means, and the row says
how many seeds it has and their spread (the pooled standard deviation of a seed about its
fold's mean). Each difference gets a verdict against `--margin` points (2 by default, the
ablations' margin; fix it before looking): differs, equivalent within the margin, both, or
inconclusive, with the smallest difference the folds could have detected (80% power).
Prints a markdown table; `--json` keeps it for `benchmarks/reproduction.py` (`--facenet2expnet`,
`--families`).
Reads only; writes nothing but the `--json` file.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
from typing import Sequence

from search import fold_comparison
from search import labelled_runs


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


def _seed_runs(pairs: Sequence[tuple[str, str]], role: str) -> dict[str, list[dict[int, float]]]:
  """{label: [{fold: accuracy} of each of its work directories]}, in the order first given."""
  runs = {}
  for label, workdir in pairs:
    runs.setdefault(label, []).append(fold_accuracies(workdir, role))
  return runs


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--margin', type=float, default=100 * fold_comparison.DEFAULT_MARGIN,
                      help='the margin of equivalence in accuracy points (default %(default)g)')
  args = labelled_runs.parse(parser, argv, 'a row of teachers from WORKDIR/fold_k/result.json',
                             'a row of students from WORKDIR/fold_k/result.json')
  if not 0 < args.margin < 100:
    parser.error(f'--margin {args.margin:g}: expected accuracy points between 0 and 100')
  summary = {}
  for role, given in (('teacher', args.teacher), ('student', args.student)):
    if not given:
      continue
    try:
      runs = _seed_runs(labelled_runs.labelled(given, f'--{role}', parser), role)
      rows = fold_comparison.compare([(label, fold_comparison.seeds_by_fold(seeds))
                                      for label, seeds in runs.items()], args.margin / 100)
    except ValueError as error:
      parser.error(str(error))
    summary[role] = rows
    print(fold_comparison.render(role, rows) + '\n')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(summary, f, indent=2)


if __name__ == '__main__':
  main()
