r"""CK+48, subject-independent 10-fold CV: teacher, MicroExpNet distilled, MicroExpNet alone.

    PYTHONPATH=. python benchmarks/ckplus48_cv.py --workdir runs/ckplus48
    PYTHONPATH=. python benchmarks/ckplus48_cv.py --workdir /tmp/cv --config configs/test.py \
        --config.data.num_folds=2      # the pipeline on synthetic faces, seconds

Runs (or resumes) `jaxfer distill --cv --config configs/ckplus48.py` with distillation in
WORKDIR and without it in WORKDIR_nokd, then prints one markdown table with the mean and
standard deviation over folds and the wall time of each run. Both runs resume where they
stopped, so a finished pair only re-evaluates and reprints. `--config` and
`--config.FIELD=VALUE` give another config (`--manual-dir` still sets its data.manual_dir).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import ml_collections

from jaxfer import config_file
from jaxfer import crossval

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs',
                      'ckplus48.py')


def _row(name: str, params: int, mean: float, std: float, minutes: str) -> str:
  return f'| {name} | {params:,} | {100 * mean:.1f} ± {100 * std:.1f} | {minutes} |'


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='runs/ckplus48')
  parser.add_argument('--manual-dir', default='../shared/data/CK+48')
  parser.add_argument('--config', default=CONFIG,
                      help='the config trained, with any --config.FIELD=VALUE overrides')
  args, base_config, _ = config_file.parse_script_args(parser, argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', datefmt='%H:%M:%S',
                      stream=sys.stdout)
  logging.getLogger('absl').setLevel(logging.ERROR)
  rows = []
  for loss, workdir in (('microexpnet', args.workdir), ('none', f'{args.workdir}_nokd')):
    config = ml_collections.ConfigDict(base_config.to_dict())
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
  print(f'\n| model | parameters | accuracy % (mean ± std, {config.data.num_folds} folds) | '
        'wall minutes (this call) |')
  print('|---|---|---|---|')
  print('\n'.join(rows))


def _teacher_params(workdir: str) -> int:
  import json  # pylint: disable=g-import-not-at-top
  with open(f'{workdir}/fold_0/teacher/result.json') as f:
    return json.load(f)['params']


if __name__ == '__main__':
  main(sys.argv[1:])
