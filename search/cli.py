"""The `jaxfer-search` command: run, worker, report and export-best, thin doors to `search`.

    jaxfer-search run --config configs/search_default.py --workdir runs/search [--workers N]
    jaxfer-search worker --config configs/search_default.py --workdir runs/search \
        --storage postgresql://user@host/db --study default
    jaxfer-search report --config configs/search_default.py --workdir runs/search
    jaxfer-search export-best --config configs/search_default.py --workdir runs/search --knee \
        --out runs/search/best [--format onnx]
    jaxfer-search ablate pooling --config configs/search_default.py --workdir runs/search
    jaxfer-search compare runs/pooled runs/search:default --out runs/compare

Any mistake in the input is one line on stderr and exit status 2, with storage passwords
masked; `report` and `export-best` read the study and never create one.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import textwrap
from typing import Sequence

from absl import flags

from jaxfer import config_file

COMMANDS = {
    'run': 'run (or resume) the study of the config in WORKDIR, then write its report',
    'worker': 'join the study --study in --storage and run trials until it has n_trials',
    'report': 'write trials.csv, pareto.csv/png/html, hypervolume.png and report.md',
    'export-best': 'write one front student (--knee, --max_size or --min_accuracy) to --out',
    'ablate': 'ablate KIND (pooling, kd or temperature): print its power plan, run (or resume) '
              'its cells, then write ablation_KIND.csv (the comparisons), ablation_KIND_cells.csv '
              'and ablation_KIND.md/png (ablation_KIND_STUDY* for a --study of another name)',
}
# What each command does, its usage line and an example, for its --help.
SYNOPSES = {**COMMANDS,
            'compare': 'overlay the Pareto fronts of several studies and give their hypervolumes '
                       'with intervals; a SOURCE is a work directory holding one study, '
                       'WORKDIR:STUDY, or a study name in --storage or --workdir',
            'config': 'list every field of a search config with its value (and the default '
                      'where it differs) and what it does, once the checks of `run` pass it; '
                      'reads only'}
_USAGE = 'usage: jaxfer-search {} --config PATH --workdir DIR [--config.FIELD=VALUE ...]'
USAGES = {
    'run': _USAGE.format('run') + ' [--workers N] [--n_trials N] [--storage URL] [--study NAME]',
    'worker': _USAGE.format('worker') + ' --storage URL --study NAME [--ablation KIND]',
    'report': _USAGE.format('report') + ' [--study NAME] [--ablation KIND] [--baseline_study '
                                        'NAME]',
    'export-best': _USAGE.format('export-best') + ' (--knee | --max_size BYTES | --min_accuracy '
                                                  'X) --out DIR [--format onnx] [--overwrite]',
    'ablate': 'usage: jaxfer-search ablate KIND --config PATH --workdir DIR '
              '[--config.FIELD=VALUE ...] [--study NAME] [--workers N]',
    'compare': 'usage: jaxfer-search compare SOURCE [SOURCE ...] --out DIR [--storage URL] '
               '[--workdir DIR] [--reference_size BYTES] [--overwrite]',
    'config': 'usage: jaxfer-search config [show] --config PATH [--config.FIELD=VALUE ...]',
}
EXAMPLES = {
    'run': 'jaxfer-search run --config configs/search_default.py --workdir runs/search',
    'worker': 'jaxfer-search worker --config configs/search_default.py --workdir runs/search '
              '--storage postgresql://user@host/db --study default',
    'report': 'jaxfer-search report --config configs/search_default.py --workdir runs/search',
    'export-best': 'jaxfer-search export-best --config configs/search_default.py --workdir '
                   'runs/search --knee --out runs/search_best',
    'ablate': 'jaxfer-search ablate pooling --config configs/search_default.py --workdir '
              'runs/search',
    'compare': 'jaxfer-search compare runs/pooled runs/search:default --out runs/compare',
    'config': 'jaxfer-search config --config configs/search_default.py',
}
# Old flag spellings still read, with a notice: {old: current} (config_file.respell).
RENAMED = {'run_dir': 'workdir'}
USAGE = ('usage: jaxfer-search COMMAND [flags]; `jaxfer-search COMMAND --help` lists a '
         'command\'s flags; -q/--quiet logs only warnings and errors, -v/--verbose adds debug '
         'lines\n\n' +
         '\n\n'.join(USAGES[name] + '\n' + textwrap.fill(SYNOPSES[name], 96, initial_indent='  ',
                                                         subsequent_indent='  ')
                     for name in USAGES) +
         '\n\n  worker and report take --ablation KIND to join or report an ablation.')
# Mistakes in what the user gave: printed as one line, exit status 2.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FloatingPointError)


def _define_flags(values: flags.FlagValues) -> None:
  flags.DEFINE_string('workdir', None, 'Directory of the study: trials, teachers, report '
                      '(formerly --run_dir).',
                      flag_values=values)
  flags.DEFINE_string('storage', None, "Optuna storage URL (default: config.search.storage; '' "
                      'is an SQLite file in WORKDIR; journal:PATH; postgresql://...; env:VARIABLE '
                      'reads the URL from the environment, off the command line).',
                      flag_values=values)
  flags.DEFINE_string('study', None, 'Study name (default: config.search.study_name).',
                      flag_values=values)
  flags.DEFINE_integer('n_trials', None, 'Finished trials to reach (default: config).',
                       lower_bound=1, flag_values=values)
  flags.DEFINE_integer('workers', None, 'run: processes on this machine working on the study '
                       '(default: one per core on a CPU, where that trains fastest, and one with '
                       'an accelerator); the others log to WORKDIR/worker_K.log.', lower_bound=1,
                       flag_values=values)
  flags.DEFINE_string('baseline_study', None, 'A grid-paper study in the same storage to '
                      'compare with in the report.', flag_values=values)
  flags.DEFINE_bool('knee', False, 'export-best: the knee of the front.', flag_values=values)
  flags.DEFINE_float('max_size', None, 'export-best: the most accurate front student of at most '
                     'this many bytes.', flag_values=values)
  flags.DEFINE_float('min_accuracy', None, 'export-best: the smallest front student with at '
                     'least this accuracy (0..1).', flag_values=values)
  flags.DEFINE_string('out', None, 'export-best: output directory.', flag_values=values)
  flags.DEFINE_enum('format', 'msgpack', ['msgpack', 'onnx'], 'export-best: onnx also writes '
                    'model.onnx (pip install -e ".[onnx]").', flag_values=values)
  flags.DEFINE_string('ablation', None, 'worker, report: the ablation KIND (pooling, kd or '
                      'temperature) whose study to join or report; ablate KIND sets it.',
                      flag_values=values)
  flags.DEFINE_bool('overwrite', False, 'export-best: replace --out if it holds an earlier '
                    'export-best (and nothing else).', flag_values=values)


def parse(argv: list[str]):
  """(command, config, flag values) from the command line; the config has --study and
  --storage applied."""
  values = flags.FlagValues()
  argv = _ablation_kind_as_flag(argv)
  rest = config_file.define(values, argv)
  _define_flags(values)
  command = config_file.parse_command(values, rest, COMMANDS, 'workdir',
                                      '--config configs/search_default.py --workdir runs/search')
  if values.format == 'onnx' and command != 'export-best':
    raise config_file.UsageError(f'--format is for export-best, not {command}')
  if values.format == 'onnx':
    from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
    onnx_export.require()
  if command == 'export-best' and not values.out:
    raise config_file.UsageError('export-best needs --out DIR (and --knee, --max_size or '
                                 '--min_accuracy)')
  if command == 'export-best':
    _check_choice(values)
    from jaxfer import outputs  # pylint: disable=g-import-not-at-top
    from search import export  # pylint: disable=g-import-not-at-top
    # Before the study is read: a folder holding another model is never mixed with this one.
    outputs.check_new_dir(values.out, '--out', values.overwrite, expected=export.FILES)
  config = values.config
  if 'search' not in config:
    raise config_file.ConfigError('the config has no search section; use a search config such '
                                  'as configs/search_default.py')
  if values.ablation is not None and command not in ('ablate', 'worker', 'report'):
    raise config_file.UsageError(f'--ablation is for ablate, worker and report, not {command}')
  if values.storage is not None:
    config.search.storage = values.storage
  if values.ablation is not None:
    from search import ablation  # pylint: disable=g-import-not-at-top
    if 'search' in config and 'ablation' not in config.search:
      raise config_file.ConfigError('config.search has no ablation section; derive the config '
                                    'from configs/search_default.py, which sets it')
    return command, ablation.study_config(config, values.ablation, values.study), values
  if values.study:
    config.search.study_name = values.study
  return command, config, values


def _check_choice(values) -> None:
  """ValueError unless export-best is told exactly one way to choose, with a usable value."""
  given = [name for name, value in (('--knee', values.knee or None),
                                    ('--max_size', values.max_size),
                                    ('--min_accuracy', values.min_accuracy)) if value is not None]
  if len(given) != 1:
    raise ValueError(f'export-best chooses the student by one of --knee, --max_size=BYTES or '
                     f'--min_accuracy=X; got {" and ".join(given) if given else "none"}')
  if values.max_size is not None and not values.max_size > 0:
    raise ValueError(f'--max_size={values.max_size:g} is not allowed; expected a size in bytes '
                     '> 0')
  if values.min_accuracy is not None and not 0 <= values.min_accuracy <= 1:
    raise ValueError(f'--min_accuracy={values.min_accuracy:g} is not allowed; expected an '
                     'accuracy from 0 to 1 (e.g. 0.8 for 80%)')


def _ablation_kind_as_flag(argv: list[str]) -> list[str]:
  """`ablate KIND ...` as `ablate --ablation KIND ...`; UsageError without a KIND."""
  if 'ablate' not in argv:
    return argv
  index = argv.index('ablate')
  kind = argv[index + 1] if index + 1 < len(argv) else ''
  if kind in ('--ablation', '-ablation') or config_file.wants_help([kind]):
    return argv
  if not kind or kind.startswith('-'):
    raise config_file.UsageError('ablate needs a KIND: pooling, kd or temperature, e.g. '
                                 'jaxfer-search ablate pooling --config '
                                 'configs/search_default.py --workdir runs/search')
  return [*argv[:index + 1], '--ablation', kind, *argv[index + 2:]]


def read_config(path: str, overrides: list[str] | tuple[str, ...] = ()):
  """The config file `path` with `--config.FIELD=VALUE` overrides, read as the command reads it
  (for scripts such as the benchmarks)."""
  return config_file.read(path, overrides)




def main(argv: list[str] | None = None) -> int:
  """Runs one command; returns the process exit status."""
  return config_file.guarded('jaxfer-search', USAGES, _main,
                             sys.argv[1:] if argv is None else argv,
                             resumable=('run', 'worker', 'ablate'))


def _main(argv: list[str]) -> int:
  status, argv, verbosity = config_file.front_door(argv, 'jaxfer-search', USAGE, RENAMED,
                                                   _help)
  if status is not None:
    return status
  if argv[0] == 'compare':
    return _compare(argv[1:])
  if argv[0] == 'config':
    return _config(argv[1:])
  command = next((arg for arg in argv if arg in COMMANDS), '')
  storage = ''
  typed = list(argv)  # As the user wrote it: the command recorded in the study.
  try:
    argv = _ablation_kind_as_flag(argv)  # Workers of `ablate` get the kind as --ablation.
    command, config, values = parse(argv)
    storage = config.search.storage
    # Imported here: keeps --help and command-line errors fast.
    from search import configuration  # pylint: disable=g-import-not-at-top
    configuration.validate(config)  # Before anything is logged, created or trained.
    if values.ablation and config.search.ablation.tuned_from:
      _tune(config, values.workdir)
    studies = None
    if command in ('report', 'export-best'):  # Read-only: a wrong name or path creates nothing.
      studies = _existing_studies(config, values)
      if command == 'report' and not os.path.isdir(values.workdir):
        raise ValueError(f'--workdir {values.workdir} does not exist; report writes into the run '
                         'directory of the study')
      if command == 'report':
        _check_run_dir_of(studies[0], config, values.workdir)
    else:
      # Checked before the run directory is made: a refused storage leaves no folder behind.
      _check_storage(config.search.storage, values.workdir)
      if command == 'worker':
        _check_worker_joins(config, values)
      plan = None
      if command in ('run', 'ablate') and values.ablation:
        # What the campaign can detect, before it trains; read-only, so a bad noise_from is
        # refused before the run directory exists.
        from search import ablation  # pylint: disable=g-import-not-at-top
        plan = ablation.plan(config, values.ablation, values.workdir)
      from jaxfer import outputs  # pylint: disable=g-import-not-at-top
      outputs.make_writable_dir(values.workdir, 'the run directory (--workdir)')
    from jaxfer import cli as jaxfer_cli  # pylint: disable=g-import-not-at-top
    from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
    jaxfer_cli.configure_logging(storage_lib.RedactingFilter(storage), verbosity=verbosity)
    storage_lib.log_optuna_through_root(verbosity)  # Masked by the filter above too.
    _warn_of_password_in_arguments(typed)
    logging.getLogger('jaxfer').debug('config of this command:\n%s', config)
    jaxfer_cli.hide_progress_bars()
    from jaxfer import xla_cache  # pylint: disable=g-import-not-at-top
    xla_cache.enable()
    if command in ('run', 'ablate'):
      return _run(config, values, argv, typed, plan)
    if command == 'worker':
      return _worker(config, values)
    return _COMMANDS[command](config, values, *studies)
  except config_file.UsageError as error:
    from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
    print(storage_lib.redact_arguments(config_file.usage_error(
        'jaxfer-search', command if command in USAGES else None, error, USAGES), typed),
          file=sys.stderr)
    return 2
  except (config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error(command, error, storage, typed)


def _help(argv: list[str]) -> int:
  """Prints the help of the command in `argv` (the general usage without one); returns 0."""
  def parse_command_line(command: str, argv: list[str]) -> None:
    if command in ('compare', 'config'):
      {'compare': _compare, 'config': _config}[command](argv[argv.index(command) + 1:])
    else:
      parse(argv)
  return config_file.print_help(
      argv, USAGE, SYNOPSES, USAGES, EXAMPLES, parse_command_line,
      lambda command: None if command == 'compare' else '--config.search.n_trials=8')


def _run(config, values, argv: list[str], typed: list[str], plan: list[str] | None) -> int:
  """`run` or `ablate` (`argv` parsed, the kind as --ablation; `typed` as the user wrote it;
  `plan` the ablation's power plan to print first)."""
  from search import workers  # pylint: disable=g-import-not-at-top
  if plan:  # What the campaign can detect: logged (stderr) before it trains.
    workers.logger.info('%s', '\n'.join(plan))
  # The study is opened (created) once here before other workers join, so they find it.
  study = workers.open_study(config, values.workdir)
  # What was run, for reports that cite it (docs/reproduction.md); passwords masked.
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  # Each argument masked before quoting, which would split a password at its quotes.
  storage = config.search.storage
  study.set_user_attr('command', storage_lib.redact(shlex.join(
      ['jaxfer-search', *(storage_lib.redact(arg, storage) for arg in typed)]), storage))
  count = values.workers or workers.default_worker_count()
  workers.logger.info('%d worker(s) on this machine%s', count,
                      '' if values.workers else ' (one per core; --workers to choose)')
  helpers = []
  # The storage URL goes through the environment: a command line, password and all, is shown
  # to every user of the machine by `ps`; a process's environment only to its own user.
  environment = {**os.environ, storage_lib.HELPER_VARIABLE: storage_lib.resolve(storage)}
  try:
    for k in range(1, count):
      workers.start_helper(helpers, [sys.executable, '-m', 'search', 'worker',
                                     *_worker_arguments(argv)],
                           os.path.join(values.workdir, f'worker_{k}.log'), environment)
    workers.run_study(config, values.workdir, n_trials=values.n_trials)
    failed = [k + 1 for k, helper in enumerate(helpers) if helper.wait()]
  except BaseException:
    # Ctrl-C (or a failure) here stops the workers this command started, whatever they were
    # doing: each puts its trial back in the queue, as this one did.
    workers.stop_helpers(helpers)
    raise
  if failed:
    print(f'jaxfer-search {"ablate" if values.ablation else "run"}: worker(s) {failed} failed; '
          f'see {", ".join(os.path.join(values.workdir, f"worker_{k}.log") for k in failed)}',
          file=sys.stderr)
    return 1
  return _report(config, values, *_existing_studies(config, values))


def _warn_of_password_in_arguments(argv: Sequence[str]) -> None:
  """One warning line when a storage URL on the command line holds a password: `ps` shows every
  process's arguments to every user of the machine for as long as it runs."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  if any(storage_lib.passwords(url) for url in storage_lib.urls_in(argv)):
    logging.getLogger('jaxfer').warning(
        'the storage URL on the command line holds a password, which every user of this '
        'machine can read (`ps`) while the command runs; put the URL in an environment variable '
        'and give --storage env:VARIABLE instead')


def _worker_arguments(argv: list[str]) -> list[str]:
  """`argv` of `run` as the arguments of a `worker` joining it: no command, no --workers, and
  the storage read from the environment (storage.HELPER_VARIABLE), not given in the arguments."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  arguments, skip, command_seen = [], False, False
  for arg in argv:
    name = arg.lstrip('-')
    if skip:
      skip = False
    elif arg.startswith('-') and name in ('workers', 'storage', 'config.search.storage'):
      skip = True  # Its value is the next argument.
    elif arg.startswith('-') and name.startswith(('workers=', 'storage=',
                                                  'config.search.storage=')):
      pass
    elif arg in ('run', 'ablate') and not command_seen:
      command_seen = True
    else:
      arguments.append(arg)
  return [*arguments, f'--storage={storage_lib.ENVIRONMENT}{storage_lib.HELPER_VARIABLE}']


def _worker(config, values) -> int:
  from search import workers  # pylint: disable=g-import-not-at-top
  study = workers.run_study(config, values.workdir, n_trials=values.n_trials)
  workers.logger.info('worker done: study %s has %d trials', study.study_name,
                      len(study.trials))
  return 0


def _check_storage(storage: str, run_dir: str) -> None:
  """ValueError unless the study storage can be opened or made, creating nothing."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  url = storage_lib.storage_url(storage, run_dir)
  prefix = next((p for p in ('sqlite:///', storage_lib.JOURNAL) if url.startswith(p)), None)
  if prefix is None:  # A database server: connecting tells whether it can be used.
    storage_lib.existing_storage(url)
    return
  path = url[len(prefix):].split('?', 1)[0] if prefix == 'sqlite:///' else url[len(prefix):]
  shown = storage_lib.redact(url)
  if os.path.isdir(path):
    raise ValueError(f'the study storage {shown}: {path} is a folder; expected a file name, '
                     'e.g. sqlite:///runs/search/study.db')
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ValueError(f'the study storage {shown}: {parent} is a file, not a folder')
  if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(
      path, os.R_OK | os.W_OK)):
    raise ValueError(f'the study storage {shown}: cannot write in {parent}; choose a place you '
                     'can write to')


def _check_worker_joins(config, values) -> None:
  """A worker on the work directory's own SQLite file only joins a study already there (as those
  `run --workers N` starts do): making one there is `run`'s job. A worker given a storage
  (--storage or config.search.storage) may be the first of many, and create the study. ValueError
  otherwise, before anything is created."""
  if config.search.storage:
    return
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  url = storage_lib.storage_url(config.search.storage, values.workdir)
  try:
    storage_lib.load_study(config.search.study_name, values.workdir, config.search.storage)
  except ValueError:
    raise ValueError(f'worker joins a study, and there is no study '
                     f'{config.search.study_name!r} in {storage_lib.redact(url)}; '
                     '`jaxfer-search run` starts one, or give the --storage URL (and --study '
                     'NAME) of a shared one') from None


def _check_run_dir_of(study, config, run_dir: str) -> None:
  """ValueError if the study was run in another run directory that still exists: its report
  belongs there, and writing it here would replace this directory's own."""
  recorded = study.user_attrs.get('run_dir')
  # Reported here all the same: a study made before studies recorded their run directory, one
  # in this run directory's own database (moved or copied with it), and one whose recorded
  # folder is gone (moved here).
  if (not recorded or not config.search.storage or not os.path.isdir(recorded)
      or os.path.realpath(recorded) == os.path.realpath(run_dir)):
    return
  raise ValueError(f'the study {study.study_name!r} was run in {recorded}, not in --workdir '
                   f'{run_dir}; report it with --workdir {recorded}, the run directory it was '
                   'run in')


def _existing_studies(config, values):
  """(the study of the config, the --baseline_study or None), read-only: a mistyped name or run
  directory creates nothing."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  baseline = None
  if values.baseline_study:
    baseline = storage_lib.load_study(values.baseline_study, values.workdir,
                                      config.search.storage)
  study = storage_lib.load_study(config.search.study_name, values.workdir, config.search.storage)
  return study, baseline


def _report(config, values, study, baseline) -> int:
  from jaxfer import outputs  # pylint: disable=g-import-not-at-top
  from search import report  # pylint: disable=g-import-not-at-top
  from search import space  # pylint: disable=g-import-not-at-top
  outputs.make_writable_dir(values.workdir, 'the run directory')
  if values.ablation:
    from search import ablation_report  # pylint: disable=g-import-not-at-top
    return _show(ablation_report.write_ablation(study, values.ablation, values.workdir,
                                                config.search.ablation.target_margin / 100),
                 'md')
  return _show(report.write_report(study, values.workdir, space.size_limit(config), baseline),
               'report.md')


def _export_best(config, values, study, baseline) -> int:
  del baseline  # Only the report compares with it.
  from jaxfer import outputs  # pylint: disable=g-import-not-at-top
  from search import export  # pylint: disable=g-import-not-at-top
  trial = export.pick(study, knee=values.knee, max_size=values.max_size,
                      min_accuracy=values.min_accuracy)
  export.student_dir(trial)  # A missing checkpoint is told before any folder is made.

  def write(folder: str) -> list[str]:
    names = list(export.export(trial, folder))
    if values.format == 'onnx':
      from jaxfer import model_files  # pylint: disable=g-import-not-at-top
      from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
      onnx_export.export(model_files.load(folder), os.path.join(folder, 'model.onnx'))
      names.append('model.onnx')
    return names

  # Written beside --out and put in its place when complete: a failure leaves the old one.
  paths = {name: os.path.join(values.out, name) for name in outputs.write_dir(values.out, write)}
  with open(paths['result.json']) as f:
    result = json.load(f)
  # With a validation set the study's accuracy is validation accuracy; the test one beside it.
  tested = {key: result[key] for key in ('validation_accuracy', 'test_accuracy') if key in result}
  print(json.dumps({'trial': trial.number, 'accuracy': trial.values[0], **tested,
                    'size_bytes': trial.values[1], 'params': trial.params, **paths}, indent=2))
  return 0


def _compare(argv: list[str]) -> int:
  """`jaxfer-search compare`: reads the studies (creating nothing), then writes into --out."""
  values = flags.FlagValues()
  flags.DEFINE_string('out', None, 'Directory for compare.csv, compare.md and compare.png.',
                      flag_values=values)
  flags.DEFINE_string('storage', '', 'Storage of the studies named by name.', flag_values=values)
  flags.DEFINE_string('workdir', '', 'Work directory whose storage holds the studies named by '
                      'name (formerly --run_dir).', flag_values=values)
  flags.DEFINE_float('reference_size', None, 'Hypervolume reference size in bytes (default: '
                     'the largest student of the studies).', lower_bound=1, flag_values=values)
  flags.DEFINE_bool('overwrite', False, 'Replace --out if it holds an earlier comparison (and '
                    'nothing else).', flag_values=values)
  storage = ''
  try:
    sources = config_file.parse(values, argv)
    storage = values.storage
    if not sources or not values.out:
      raise config_file.UsageError('compare needs one or more SOURCEs and --out DIR, e.g. '
                                   'jaxfer-search compare runs/a runs/b --out runs/compare')
    from jaxfer import outputs  # pylint: disable=g-import-not-at-top
    from search import compare  # pylint: disable=g-import-not-at-top
    outputs.check_new_dir(values.out, '--out', values.overwrite, expected=compare.FILES)
    studies = compare.resolve(sources, values.storage, values.workdir)
    compare.check_same_data(studies)
    # Written beside --out and put in its place when complete: a failure leaves the old one.
    names = outputs.write_dir(values.out, lambda folder: list(compare.write_comparison(
        studies, folder, values.reference_size)))
    paths = {name: os.path.join(values.out, f'compare.{name}') for name in names}
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('compare', error, storage)
  return _show(paths, 'md')


def _config(argv: list[str]) -> int:
  """`jaxfer-search config [show] --config PATH`: `jaxfer config` with the search settings
  checked too; reads only."""
  from jaxfer import cli as jaxfer_cli  # pylint: disable=g-import-not-at-top
  from search import configuration  # pylint: disable=g-import-not-at-top
  return jaxfer_cli.show_config(argv, 'jaxfer-search', EXAMPLES['config'], configuration.validate)


def _tune(config, run_dir: str) -> None:
  """Fills config.search.ablation.tuned from the front of the study `tuned_from` (read only)."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  from search import tuning  # pylint: disable=g-import-not-at-top
  try:
    source = storage_lib.load_study(config.search.ablation.tuned_from, run_dir,
                                    config.search.storage)
  except ValueError as error:  # Named after the setting that asked for it, not --study.
    raise ValueError(f'config.search.ablation.tuned_from = '
                     f'{config.search.ablation.tuned_from!r}: {error}') from None
  config.search.ablation.tuned = tuning.tuned_table(config, source.get_trials(deepcopy=False))


def _user_error(command: str, error: Exception, storage: str, argv: Sequence[str] = ()) -> int:
  """Prints a mistake in the input as one line, the passwords of `storage` and of any URL in
  `argv` masked; returns 2."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  # Masked before and after joining the lines: a password may hold spaces, or a line break.
  message = storage_lib.redact_arguments(str(error), argv, storage)
  message = storage_lib.redact_arguments(' '.join(message.split()), argv, storage)
  print(f'jaxfer-search {command}: error: {message}', file=sys.stderr)
  return 2


def _show(paths: dict[str, str], report_key: str) -> int:
  """Prints the Markdown report `paths[report_key]`, then the files written; returns 0."""
  with open(paths[report_key]) as f:
    print(f.read())
  print('\n'.join(f'wrote {path}' for path in paths.values()))
  return 0


_COMMANDS = {'report': _report, 'export-best': _export_best}


if __name__ == '__main__':
  sys.exit(main())
