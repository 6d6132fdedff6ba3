"""The `jaxfer-search` command: run, worker, report and export-best, thin doors to `search`.

    jaxfer-search run --config configs/search_default.py --run_dir runs/search [--workers 2]
    jaxfer-search worker --config configs/search_default.py --run_dir runs/search \
        --storage postgresql://user@host/db --study default
    jaxfer-search report --config configs/search_default.py --run_dir runs/search
    jaxfer-search export-best --config configs/search_default.py --run_dir runs/search --knee \
        --out runs/search/best
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from absl import flags
from ml_collections import config_flags

COMMANDS = {
    'run': 'run (or resume) the study of the config in RUN_DIR, then write its report',
    'worker': 'join the study --study in --storage and run trials until it has n_trials',
    'report': 'write trials.csv, pareto.csv/png/html, hypervolume.png and report.md',
    'export-best': 'write one front student (--knee, --max_size or --min_accuracy) to --out',
}
USAGE = ('usage: jaxfer-search {' + ','.join(COMMANDS) + '} --config PATH --run_dir DIR '
         '[--config.search.FIELD=VALUE ...] [options]\n\n' +
         '\n'.join(f'  {name:12s} {text}' for name, text in COMMANDS.items()))


def _flags(argv: list[str]) -> flags.FlagValues:
  values = flags.FlagValues()
  # The --config.FIELD overrides are found in sys_argv (sys.argv unless given).
  config_flags.DEFINE_config_file('config', None, 'A search config (configs/search_*.py).',
                                  flag_values=values, lock_config=True,
                                  sys_argv=['jaxfer-search', *argv])
  flags.DEFINE_string('run_dir', None, 'Directory of the study: trials, teachers, report.',
                      flag_values=values)
  flags.DEFINE_string('storage', None, "Optuna storage URL (default: config.search.storage; '' "
                      'is an SQLite file in RUN_DIR; journal:PATH; postgresql://...).',
                      flag_values=values)
  flags.DEFINE_string('study', None, 'Study name (default: config.search.study_name).',
                      flag_values=values)
  flags.DEFINE_integer('n_trials', None, 'Finished trials to reach (default: config).',
                       flag_values=values)
  flags.DEFINE_integer('workers', 1, 'run: processes on this machine working on the study (one '
                       'XLA:CPU process keeps about one core busy); the others log to '
                       'RUN_DIR/worker_K.log.', lower_bound=1, flag_values=values)
  flags.DEFINE_string('baseline_study', None, 'A grid-paper study in the same storage to '
                      'compare with in the report.', flag_values=values)
  flags.DEFINE_bool('knee', False, 'export-best: the knee of the front.', flag_values=values)
  flags.DEFINE_float('max_size', None, 'export-best: the most accurate front student of at most '
                     'this many bytes.', flag_values=values)
  flags.DEFINE_float('min_accuracy', None, 'export-best: the smallest front student with at '
                     'least this accuracy (0..1).', flag_values=values)
  flags.DEFINE_string('out', None, 'export-best: output directory.', flag_values=values)
  return values


def read_config(path: str, overrides: list[str] | tuple[str, ...] = ()):
  """The config file `path` with `--config.FIELD=VALUE` overrides, read as the command reads it
  (for scripts such as the benchmarks)."""
  argv = ['jaxfer-search', '--config', path, *overrides]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=values, sys_argv=argv)
  values(argv)
  return values.config


def main(argv: list[str] | None = None) -> int:
  """Runs one command; returns the exit status."""
  argv = sys.argv[1:] if argv is None else argv
  if not argv or argv[0] in ('-h', '--help', 'help'):
    print(USAGE)
    return 0
  values = _flags(argv)
  try:
    positional = values(['jaxfer-search', *argv])[1:]
  except flags.Error as error:
    print(f'jaxfer-search: {error}\n\n{USAGE}', file=sys.stderr)
    return 2
  if len(positional) != 1 or positional[0] not in COMMANDS:
    print(f'jaxfer-search: expected one command, got {positional or "none"}\n\n{USAGE}',
          file=sys.stderr)
    return 2
  if values.config is None or values.run_dir is None:
    print('jaxfer-search: --config and --run_dir are required, e.g. --config '
          f'configs/search_default.py --run_dir runs/search\n\n{USAGE}', file=sys.stderr)
    return 2
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', datefmt='%H:%M:%S',
                      stream=sys.stdout, force=True)
  logging.getLogger('absl').setLevel(logging.ERROR)
  for noisy in ('orbax', 'jax'):
    logging.getLogger(noisy).setLevel(logging.WARNING)
  from search import _study  # pylint: disable=g-import-not-at-top  (keeps --help fast)
  command, config = positional[0], values.config
  config.unlock()
  if values.study:
    config.search.study_name = values.study
  try:
    if command == 'run':
      return _run(config, values, _study, argv)
    return _COMMANDS[command](config, values, _study)
  except (ValueError, FileNotFoundError) as error:
    print(f'jaxfer-search {command}: error: {_study.redact(str(error))}', file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f'jaxfer-search {command}: interrupted; run the same command again to resume',
          file=sys.stderr)
    return 130


def _run(config, values, study_lib, argv: list[str]) -> int:
  os.makedirs(values.run_dir, exist_ok=True)  # Helpers log there, whatever the storage.
  # The study is opened (created) once here before other workers join, so they find it.
  study_lib.open_study(config, values.run_dir, values.storage)
  arguments = _worker_arguments(argv)
  helpers = []
  for k in range(1, values.workers):
    log = open(os.path.join(values.run_dir, f'worker_{k}.log'), 'w')  # pylint: disable=consider-using-with
    helpers.append(subprocess.Popen([sys.executable, '-m', 'search.cli', 'worker', *arguments],
                                    stdout=log, stderr=subprocess.STDOUT))
    log.close()
  try:
    study_lib.run_study(config, values.run_dir, n_trials=values.n_trials, storage=values.storage)
  finally:
    failed = [k + 1 for k, helper in enumerate(helpers) if helper.wait()]
  if failed:
    print(f'jaxfer-search run: worker(s) {failed} failed; see '
          f'{", ".join(os.path.join(values.run_dir, f"worker_{k}.log") for k in failed)}',
          file=sys.stderr)
    return 1
  return _report(config, values, study_lib)


def _worker_arguments(argv: list[str]) -> list[str]:
  """`argv` of `run` as the arguments of a `worker` joining it: no command, no --workers."""
  arguments, skip, command_seen = [], False, False
  for arg in argv:
    if skip:
      skip = False
    elif arg in ('--workers', '-workers'):
      skip = True
    elif arg.lstrip('-').startswith('workers='):
      pass
    elif arg == 'run' and not command_seen:
      command_seen = True
    else:
      arguments.append(arg)
  return arguments


def _worker(config, values, study_lib) -> int:
  study = study_lib.run_study(config, values.run_dir, n_trials=values.n_trials,
                              storage=values.storage)
  print(f'worker done: study {study.study_name} has {len(study.trials)} trials')
  return 0


def _report(config, values, study_lib) -> int:
  from search import _report as report_lib  # pylint: disable=g-import-not-at-top
  study = study_lib.open_study(config, values.run_dir, values.storage)
  baseline = None
  if values.baseline_study:
    storage = config.search.storage if values.storage is None else values.storage
    baseline = study_lib.load_study(values.baseline_study, values.run_dir, storage)
  paths = report_lib.write_report(study, values.run_dir, study_lib.size_limit(config), baseline)
  with open(paths['report.md']) as f:
    print(f.read())
  print('\n'.join(f'wrote {path}' for path in paths.values()))
  return 0


def _export_best(config, values, study_lib) -> int:
  if not values.out:
    raise ValueError('export-best needs --out DIR')
  study = study_lib.open_study(config, values.run_dir, values.storage)
  trial = study_lib.pick(study, knee=values.knee, max_size=values.max_size,
                         min_accuracy=values.min_accuracy)
  paths = study_lib.export(trial, values.out)
  print(json.dumps({'trial': trial.number, 'accuracy': trial.values[0],
                    'size_bytes': trial.values[1], 'params': trial.params, **paths}, indent=2))
  return 0


_COMMANDS = {'worker': _worker, 'report': _report, 'export-best': _export_best}


if __name__ == '__main__':
  sys.exit(main())
