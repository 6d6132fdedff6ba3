"""The `jaxfer` command: train-teacher, distill and evaluate, each a thin door to `jaxfer.train`.

    jaxfer distill --config configs/default.py --workdir runs/default --config.distill.temperature=4
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys

from absl import flags
from ml_collections import config_flags

COMMANDS = {
    'train-teacher': 'train (or resume) the teacher in WORKDIR/teacher and evaluate it',
    'distill': 'train the teacher if needed, then distill the student in WORKDIR/student',
    'evaluate': 'evaluate the latest checkpoint of config.target in WORKDIR',
}

USAGE = ('usage: jaxfer {' + ','.join(COMMANDS) + '} --config PATH [--config.FIELD=VALUE ...] '
         '--workdir DIR [--cv]\n\n' +
         '\n'.join(f'  {name:14s} {text}' for name, text in COMMANDS.items()) +
         '\n\n  --cv           train and evaluate on every fold of config.data.num_folds (a '
         'teacher\n                 per fold), then report mean and std; `evaluate --cv` trains '
         'config.target')


def _parse(argv: list[str]):
  """(command, config, workdir) from the command line; exits with a message on bad input."""
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'Path to a config file (configs/*.py).',
                                  flag_values=flag_values, lock_config=True)
  flags.DEFINE_string('workdir', None, 'Directory for checkpoints and results.',
                      flag_values=flag_values)
  flags.DEFINE_bool('cv', False, 'Cross-validate over config.data.num_folds folds.',
                    flag_values=flag_values)
  try:
    positional = flag_values(['jaxfer', *argv])[1:]
  except flags.Error as error:
    sys.exit(f'jaxfer: {error}\n\n{USAGE}')
  if len(positional) != 1 or positional[0] not in COMMANDS:
    sys.exit(f'jaxfer: expected one command, got {positional or "none"}\n\n{USAGE}')
  if flag_values.config is None or flag_values.workdir is None:
    sys.exit(f'jaxfer: --config and --workdir are required, e.g. --config configs/default.py '
             f'--workdir runs/default\n\n{USAGE}')
  return positional[0], flag_values.config, flag_values.workdir, flag_values.cv


def _print_cv(result) -> None:
  """The cross-validated result as a short table on screen."""
  def percent(mean, std):
    return f'{100 * mean:5.1f} ± {100 * std:4.1f}%'
  print(f'\n{result.num_folds}-fold cross-validation of the {result.target} '
        f'(fold hash {result.fold_hash}), {result.params:,} parameters, '
        f'{result.size_bytes:,} bytes')
  print(f'  accuracy            {percent(result.accuracy_mean, result.accuracy_std)}   folds: ' +
        ' '.join(f'{100 * a:.0f}' for a in result.fold_accuracies))
  if result.teacher_fold_accuracies:
    print('  teacher accuracy    '
          f'{percent(result.teacher_accuracy_mean, result.teacher_accuracy_std)}')
  print('  per class (pooled): ' + ', '.join(f'{name} {100 * value:.1f}%' for name, value in
                                            result.per_class_accuracy.items()))
  print(f'  confusion matrix: {result.workdir}/confusion.csv and confusion.png')


def main(argv: list[str] | None = None) -> int:
  """Runs one command; returns the process exit status."""
  argv = sys.argv[1:] if argv is None else argv
  if not argv or argv[0] in ('-h', '--help', 'help'):
    print(USAGE)
    return 0
  command, config, workdir, cv = _parse(argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', datefmt='%H:%M:%S',
                      stream=sys.stdout, force=True)
  # TFDS reports every custom builder config as an absl warning; the data layer logs its own.
  logging.getLogger('absl').setLevel(logging.ERROR)
  for noisy in ('orbax', 'jax'):
    logging.getLogger(noisy).setLevel(logging.WARNING)
  from jaxfer import train  # pylint: disable=g-import-not-at-top  (keeps --help fast)
  config.unlock()
  if command == 'train-teacher':
    config.target = 'teacher'
  try:
    if cv:
      from jaxfer import crossval  # pylint: disable=g-import-not-at-top
      result = crossval.cross_validate(config, workdir)
    elif command == 'evaluate':
      result = train.evaluate(config, workdir)
    else:
      result = train.train_and_evaluate(config, workdir)
  except (ValueError, FileNotFoundError, FloatingPointError) as error:
    print(f'jaxfer {command}: error: {error}', file=sys.stderr)
    return 2
  summary = {key: value for key, value in dataclasses.asdict(result).items()
             if key not in ('confusion_matrix', 'data', 'class_names')}
  print(json.dumps(summary, indent=2))
  if cv:
    _print_cv(result)
  return 0


if __name__ == '__main__':
  sys.exit(main())
