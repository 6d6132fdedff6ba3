r"""CK+48, subject-independent 10-fold CV: teacher, MicroExpNet distilled, MicroExpNet alone.

    PYTHONPATH=. python benchmarks/ckplus48_cv.py --workdir runs/ckplus48

Runs (or resumes) `jaxfer distill --cv --config configs/ckplus48.py` with distillation in
WORKDIR and without it in WORKDIR_nokd, then prints one markdown table with the mean and
standard deviation over folds and the wall time of each run. Both runs resume where they
stopped, so a finished pair only re-evaluates and reprints.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from configs import ckplus48
from jaxfer import crossval


def _row(name: str, params: int, mean: float, std: float, minutes: str) -> str:
  return f'| {name} | {params:,} | {100 * mean:.1f} ± {100 * std:.1f} | {minutes} |'


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='runs/ckplus48')
  parser.add_argument('--manual-dir', default='../shared/data/CK+48')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', datefmt='%H:%M:%S',
                      stream=sys.stdout)
  logging.getLogger('absl').setLevel(logging.ERROR)
  rows = []
  for loss, workdir in (('microexpnet', args.workdir), ('none', f'{args.workdir}_nokd')):
    config = ckplus48.get_config()
    config.data.manual_dir = args.manual_dir
    config.distill.loss = loss
    start = time.perf_counter()
    result = crossval.cross_validate(config, workdir)
    seconds = time.perf_counter() - start
    if loss != 'none':
      rows.append(_row(f'teacher ({config.teacher.model})', _teacher_params(workdir),
                       result.teacher_accuracy_mean, result.teacher_accuracy_std,
                       'in the next row'))
    name = 'MicroExpNet, distilled' if loss != 'none' else 'MicroExpNet, no distillation'
    rows.append(_row(name, result.params, result.accuracy_mean, result.accuracy_std,
                     f'{seconds / 60:.1f}'))
    print(f'fold hash {result.fold_hash}; per class ({name}): ' +
          ', '.join(f'{k} {100 * v:.1f}' for k, v in result.per_class_accuracy.items()))
  print('\n| model | parameters | accuracy % (mean ± std, 10 folds) | wall minutes (this call) |')
  print('|---|---|---|---|')
  print('\n'.join(rows))


def _teacher_params(workdir: str) -> int:
  import json  # pylint: disable=g-import-not-at-top
  with open(f'{workdir}/fold_0/teacher/result.json') as f:
    return json.load(f)['params']


if __name__ == '__main__':
  main(sys.argv[1:])
