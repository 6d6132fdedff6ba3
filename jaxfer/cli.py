"""The `jaxfer` command: train-teacher, distill and evaluate, thin doors to `jaxfer.train`;
import-tf (`jaxfer.tf_import`), predict (`jaxfer.predict`) and export (`jaxfer.onnx_export`).

    jaxfer distill --config configs/default.py --workdir runs/default --config.distill.temperature=4
    jaxfer import-tf ../shared/data/microexpnet-tf/Models/CK --out runs/microexpnet_ck
    jaxfer predict --model runs/microexpnet_ck photos/ --out faces.csv --annotate annotated/
    jaxfer export --model runs/microexpnet_ck --format onnx --out microexpnet_ck.onnx
    jaxfer evaluate --model runs/microexpnet_ck --config configs/ckplus48.py

Logs go to stderr and results (the JSON summary, predict's CSV) to stdout. Any mistake in the
input (config file, override, directory, dataset folder) is one line on stderr and exit status
2, before anything is created or trained.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import textwrap
from typing import Callable

from absl import flags
import ml_collections

from jaxfer import config_file
from jaxfer import interrupts

COMMANDS = {
    'train-teacher': 'train the teacher once in WORKDIR/teacher (a finished one is reused)',
    'distill': 'train the teacher if needed, then distill the student in WORKDIR/student',
    'evaluate': 'evaluate the latest checkpoint of config.target in WORKDIR',
}

# The one-line synopsis, the usage line and an example of each command, for its --help.
SYNOPSES = {**COMMANDS,
            'evaluate': 'score the latest checkpoint of config.target in WORKDIR, or with --model '
                        'a trained, exported or imported student, on the test split of '
                        'config.data',
            'import-tf': "write the authors' TensorFlow MicroExpNet checkpoint as a jaxfer "
                         'student (params.msgpack, config.json); no TensorFlow needed',
            'predict': "label every face (OpenCV's Haar cascade, as the paper) in the images with "
                       'a student: trained (WORKDIR), exported (export-best) or imported',
            'export': 'write a student as ONNX (pip install -e ".[onnx]"): input float32 pixels '
                      '0-255 [batch, size, size, 1], output logits',
            'config': 'list every field of a config with its value (and the default where it '
                      'differs) and what it does, from the comments of the config files; '
                      'reads only'}
USAGES = {
    'train-teacher': 'usage: jaxfer train-teacher --config PATH --workdir DIR '
                     '[--config.FIELD=VALUE ...] [--cv]',
    'distill': 'usage: jaxfer distill --config PATH --workdir DIR [--config.FIELD=VALUE ...] '
               '[--cv]',
    'evaluate': 'usage: jaxfer evaluate --config PATH (--workdir DIR | --model DIR) '
                '[--config.FIELD=VALUE ...]',
    'import-tf': 'usage: jaxfer import-tf CHECKPOINT_DIR --out DIR [--overwrite]',
    'predict': 'usage: jaxfer predict --model DIR IMAGES_OR_FOLDERS... [--out FILE.csv|FILE.jsonl] '
               '[--annotate DIR] [--nodetect] [--whole_image_fallback] [--batch_size N] '
               '[--overwrite]',
    'export': 'usage: jaxfer export --model DIR --out FILE.onnx [--format onnx] [--overwrite]',
    'config': 'usage: jaxfer config [show] --config PATH [--config.FIELD=VALUE ...]',
}
EXAMPLES = {
    'train-teacher': 'jaxfer train-teacher --config configs/test.py --workdir runs/test',
    'distill': 'jaxfer distill --config configs/default.py --workdir runs/default '
               '--config.distill.temperature=4',
    'evaluate': 'jaxfer evaluate --model runs/microexpnet_ck --config configs/ckplus48.py',
    'import-tf': 'jaxfer import-tf ../shared/data/microexpnet-tf/Models/CK --out '
                 'runs/microexpnet_ck',
    'predict': 'jaxfer predict --model runs/microexpnet_ck photos/ --out faces.csv --annotate '
               'annotated/',
    'export': 'jaxfer export --model runs/microexpnet_ck --out microexpnet_ck.onnx',
    'config': 'jaxfer config --config configs/search_default.py',
}
# Old flag spellings still read, with a notice: {old: current}. Hyphenated spellings of any
# flag (--no-detect, --whole-image-fallback) are read too (config_file.respell).
RENAMED = {'output': 'out'}
USAGE = ('usage: jaxfer COMMAND [flags]; `jaxfer COMMAND --help` lists a command\'s flags; '
         '-q/--quiet logs only warnings and errors, -v/--verbose adds debug lines\n\n' +
         '\n\n'.join(USAGES[name] + '\n' + textwrap.fill(SYNOPSES[name], 96, initial_indent='  ',
                                                         subsequent_indent='  ')
                     for name in USAGES) +
         '\n\n  --cv   train and evaluate on every fold of config.data.num_folds (a teacher per '
         'fold), then report mean and std')

# Mistakes in what the user gave: printed as one line, exit status 2.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FloatingPointError)


def parse(argv: list[str]):
  """(command, config, workdir, cv, model) from the command line; `model` (evaluate only) is a
  student directory to score instead of WORKDIR's checkpoint, or None."""
  flag_values = flags.FlagValues()
  rest = config_file.define(flag_values, argv)
  flags.DEFINE_string('workdir', None, 'Directory for checkpoints and results.',
                      flag_values=flag_values)
  flags.DEFINE_bool('cv', False, 'Cross-validate over config.data.num_folds folds.',
                    flag_values=flag_values)
  flags.DEFINE_string('model', None, 'evaluate: a trained, exported or imported student '
                      'directory, scored instead of WORKDIR.', flag_values=flag_values)
  with_model = any(arg == '--model' or arg.startswith('--model=') for arg in rest)
  command = config_file.parse_command(flag_values, rest, COMMANDS,
                                      'model' if with_model else 'workdir',
                                      '--config configs/default.py --workdir runs/default')
  if with_model and command != 'evaluate':
    raise config_file.UsageError(f'--model is for evaluate (and predict, export); {command} '
                                 'takes --workdir DIR')
  if with_model and flag_values.workdir is not None:
    raise config_file.UsageError('evaluate takes --workdir DIR or --model DIR, not both')
  if command == 'evaluate' and flag_values.cv:
    raise config_file.UsageError('evaluate has no --cv; `jaxfer distill --cv` evaluates every '
                                 'fold (and resumes the folds already trained)')
  config = flag_values.config
  if command == 'train-teacher':
    config.target = 'teacher'
  return command, config, flag_values.workdir, flag_values.cv, flag_values.model


def _cv_table(result) -> str:
  """The cross-validated result as a short table, for people (the JSON summary is for tools)."""
  def percent(mean, std):
    return f'{100 * mean:5.1f} ± {100 * std:4.1f}%'
  label = 'accuracy' if result.evaluated_on == 'test' else f'{result.evaluated_on} accuracy'
  lines = [f'\n{result.num_folds}-fold cross-validation of the {result.target} '
           f'(fold hash {result.fold_hash}), {result.params:,} parameters, '
           f'{result.size_bytes:,} bytes',
           f'  {label:20s}{percent(result.accuracy_mean, result.accuracy_std)}   folds: '
           + ' '.join(f'{100 * a:.0f}' for a in result.fold_accuracies)]
  if result.test_fold_accuracies:  # The accuracy above was on the folds' validation sets.
    lines.append(f'  test accuracy       '
                 f'{percent(result.test_accuracy_mean, result.test_accuracy_std)}   folds: '
                 + ' '.join(f'{100 * a:.0f}' for a in result.test_fold_accuracies))
  if result.teacher_fold_accuracies:
    lines.append('  teacher accuracy    '
                 f'{percent(result.teacher_accuracy_mean, result.teacher_accuracy_std)}')
  lines.append('  per class (pooled): ' + ', '.join(
      f'{name} {100 * value:.1f}%' for name, value in result.per_class_accuracy.items()))
  lines.append(f'  confusion matrix: {result.workdir}/confusion.csv and confusion.png')
  return '\n'.join(lines)


def configure_logging(*filters: logging.Filter, verbosity: int = 0) -> None:
  """Log lines with a time on stderr (through `filters`), so that stdout carries only results;
  `verbosity` -1 (-q) keeps warnings and errors, 0 adds progress, 1 (-v) adds debug lines and
  the libraries' own progress."""
  level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity]
  logging.basicConfig(level=level, format='%(asctime)s %(message)s', datefmt='%H:%M:%S',
                      stream=sys.stderr, force=True)
  for handler in logging.getLogger().handlers:
    for log_filter in filters:
      handler.addFilter(log_filter)
  # TFDS reports every custom builder config as an absl warning; the data layer logs its own.
  logging.getLogger('absl').setLevel(logging.WARNING if verbosity > 0 else logging.ERROR)
  for noisy in ('orbax', 'jax'):
    logging.getLogger(noisy).setLevel(logging.INFO if verbosity > 0 else logging.WARNING)


def hide_progress_bars() -> None:
  """No TFDS progress bars while a dataset is prepared: the data layer logs one line saying what
  is prepared, and bars would clutter the training log. A choice of the commands, not of the
  library."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()




def main(argv: list[str] | None = None) -> int:
  """Runs one command; returns the process exit status."""
  return config_file.guarded('jaxfer', USAGES, _main, sys.argv[1:] if argv is None else argv,
                             resumable=COMMANDS)


def _main(argv: list[str]) -> int:
  status, argv, verbosity = config_file.front_door(argv, 'jaxfer', USAGE, RENAMED, _help)
  if status is not None:
    return status
  if argv[0] == 'import-tf':
    return _import_tf(argv[1:])
  if argv[0] == 'predict':
    return _predict(argv[1:], verbosity)
  if argv[0] == 'export':
    return _export(argv[1:])
  if argv[0] == 'config':
    return _config(argv[1:])
  command = next((arg for arg in argv if arg in COMMANDS), 'jaxfer')
  made_workdir = None  # The work directory this command creates, if it did not exist.
  try:
    command, config, workdir, cv, model = parse(argv)
    if workdir and not os.path.exists(workdir):
      made_workdir = workdir
    # Imported here: keeps --help and command-line errors fast.
    from jaxfer import configuration  # pylint: disable=g-import-not-at-top
    from jaxfer import crossval  # pylint: disable=g-import-not-at-top
    from jaxfer import train  # pylint: disable=g-import-not-at-top
    # Every check before anything is logged, created or trained.
    if model is not None:  # Reads the student and the dataset; writes nothing.
      configuration.validate(config)
      from jaxfer import model_files  # pylint: disable=g-import-not-at-top
      student = model_files.load(model)
      # Before the dataset is prepared (minutes for a real one): its classes are in its code.
      # TFDS warns of every custom builder config; the one error line must stay alone.
      logging.getLogger('absl').setLevel(logging.ERROR)
      model_files.check_classes(student, config.data)
    elif command == 'evaluate':  # Reads WORKDIR, and creates nothing if it is mistyped.
      configuration.validate(config)
      train.require_checkpoint(config, workdir)
    else:  # The checks train_and_evaluate makes (the config's among them).
      train.preflight(config, workdir, cv=cv, workdir_name='the work directory (--workdir)')
    configure_logging(verbosity=verbosity)
    logging.getLogger('jaxfer').debug('config of this run:\n%s', config)
    hide_progress_bars()
    from jaxfer import xla_cache  # pylint: disable=g-import-not-at-top
    xla_cache.enable()
    if cv:
      result = crossval.cross_validate(config, workdir)
    elif model is not None:
      result = train.evaluate_model(student, config)
    elif command == 'evaluate':
      result = train.evaluate(config, workdir)
    else:
      result = train.train_and_evaluate(config, workdir)
    test_result = teacher_test_result = None
    if (command in ('distill', 'train-teacher') and not cv
        and result.evaluated_on == 'validation'):  # A trained model's one look at the test split.
      test_result = train.evaluate_held_out_test(config, workdir, result.target)
      if result.target == 'student' and train.has_checkpoint(workdir, 'teacher'):
        # The teacher this distill trained (not an artifact from elsewhere): its look too.
        teacher_test_result = train.evaluate_held_out_test(config, workdir, 'teacher')
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    # A mistake found once the work directory was made (in the data, say): nothing is left.
    if made_workdir and os.path.isdir(made_workdir) and not os.listdir(made_workdir):
      os.rmdir(made_workdir)
    return _user_error(command, error)
  summary = {key: value for key, value in dataclasses.asdict(result).items()
             if key not in ('confusion_matrix', 'data', 'class_names')}
  if test_result is not None:  # Choices were made on validation: both numbers, told apart.
    summary.update(validation_accuracy=result.accuracy, test_accuracy=test_result['accuracy'],
                   test_images=test_result['test_images'])
  if teacher_test_result is not None:
    summary.update(teacher_validation_accuracy=teacher_test_result['validation_accuracy'],
                   teacher_test_accuracy=teacher_test_result['accuracy'])
  if model is not None:  # Nothing was trained: say what was scored, on what, and how seen.
    summary = {'model': result.workdir, 'accuracy': result.accuracy,
               'evaluated_on': result.evaluated_on,
               'test_images': int(sum(map(sum, result.confusion_matrix))),
               **{key: result.data[key] for key in ('dataset', 'fold', 'fold_hash', 'test_split')
                  if key in result.data},
               **{key: result.data['preprocessing'][key] for key in ('image_size', 'eval_crop')},
               **{key: summary[key] for key in ('per_class_accuracy', 'params', 'size_bytes')}}
  print(json.dumps(summary, indent=2))
  if cv and verbosity >= 0:  # The same result as a table, for people: beside the log.
    print(_cv_table(result), file=sys.stderr)
  return 0


def _help(argv: list[str]) -> int:
  """Prints the help of the command in `argv` (the general usage without one); returns 0."""
  def parse_command_line(command: str, argv: list[str]) -> None:
    if command in COMMANDS:
      parse(argv)
    else:
      {'import-tf': _import_tf, 'predict': _predict, 'export': _export, 'config': _config}[
          command](argv[argv.index(command) + 1:])
  config_example = EXAMPLES['distill'].split()[-1]
  return config_file.print_help(
      argv, USAGE, SYNOPSES, USAGES, EXAMPLES, parse_command_line,
      lambda command: config_example if command in (*COMMANDS, 'config') else None)


def _import_tf(argv: list[str]) -> int:
  """`jaxfer import-tf CHECKPOINT_DIR --out DIR`; writes nothing unless the checkpoint reads."""
  values = flags.FlagValues()
  flags.DEFINE_string('out', None, 'Directory for the imported student (new or empty).',
                      flag_values=values)
  flags.DEFINE_bool('overwrite', False, 'Replace --out if it holds only an earlier import-tf.',
                    flag_values=values)
  try:
    sources = config_file.parse(values, argv)
    if len(sources) != 1 or not values.out:
      raise config_file.UsageError('import-tf needs one CHECKPOINT_DIR and --out DIR')
    from jaxfer import outputs  # pylint: disable=g-import-not-at-top
    from jaxfer import tf_import  # pylint: disable=g-import-not-at-top
    # Named by its flag here; import_checkpoint checks it again for its other callers.
    outputs.check_new_dir(values.out, '--out', values.overwrite, expected=tf_import.FILES)
    from configs import default  # pylint: disable=g-import-not-at-top
    paths = tf_import.import_checkpoint(sources[0], values.out, default.get_config(),
                                        overwrite=values.overwrite)
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('import-tf', error)
  print(json.dumps(paths, indent=2))
  return 0


def _predict(argv: list[str], verbosity: int = 0) -> int:
  """`jaxfer predict`: reads the model and the images; writes only --out and --annotate, and
  replaces nothing there without --overwrite."""
  values = flags.FlagValues()
  flags.DEFINE_string('model', None, 'The student: a trained WORKDIR (or WORKDIR/student), an '
                      'export-best or an import-tf directory.', flag_values=values)
  flags.DEFINE_string('out', None, 'FILE.csv or FILE.jsonl (default: CSV on stdout; formerly '
                      '--output). A CSV cell that could start a spreadsheet formula (=, +, -, '
                      '@) gets a leading \'. Files that cannot be read, and images of more '
                      'than 89,478,485 pixels (Pillow\'s MAX_IMAGE_PIXELS), are named on stderr '
                      'and skipped undecoded.', flag_values=values)
  flags.DEFINE_string('annotate', None, 'Folder (outside the inputs) for copies of the images '
                      'with each face\'s box and label drawn, named NAME.EXT.png.',
                      flag_values=values)
  flags.DEFINE_bool('detect', True, 'Detect faces (--nodetect: each image is one face crop).',
                    flag_values=values)
  flags.DEFINE_bool('whole_image_fallback', False, 'Label the whole image when no face is '
                    'found, as the original did.', flag_values=values)
  flags.DEFINE_integer('batch_size', 256, 'Faces classified at once, 1 to 4096 (each batch '
                       'is padded to this size).', flag_values=values)
  flags.DEFINE_enum('engine', 'jax', ['jax', 'onnxruntime'], 'What classifies the faces: '
                    'onnxruntime needs the onnx extra (the graph converted once, kept in '
                    '$JAXFER_CACHE_DIR/onnx, never in the model folder).', flag_values=values)
  flags.DEFINE_bool('overwrite', False, 'Replace an existing --out file and annotated '
                    'copies of the same names (only regular files: never a device, a FIFO or '
                    'a socket).', flag_values=values)
  try:
    inputs = config_file.parse(values, argv)  # Old spellings were respelled by main.
    if not inputs or not values.model:
      raise config_file.UsageError('predict needs --model DIR and one or more images or folders')
    if values.out and not values.out.endswith(('.csv', '.jsonl')):
      raise ValueError(f'--out {values.out}: expected a name ending in .csv or .jsonl')
    from jaxfer import model_files  # pylint: disable=g-import-not-at-top
    from jaxfer import outputs  # pylint: disable=g-import-not-at-top
    from jaxfer import predict  # pylint: disable=g-import-not-at-top
    predict.check_engine(values.engine)
    predict.check_batch_size(values.batch_size, '--batch_size')
    paths = predict.image_paths(inputs)
    if values.out:
      outputs.check_new_file(values.out, '--out', values.overwrite, inputs=paths)
    targets = (predict.check_annotate(values.annotate, inputs, paths, values.overwrite)
               if values.annotate else {})
    student = model_files.load(values.model)
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('predict', error)
  except KeyboardInterrupt:
    print('jaxfer predict: interrupted; nothing was written', file=sys.stderr)
    return 130
  configure_logging(verbosity=verbosity)  # stdout may carry the CSV.
  done, copies = [], []  # What is written, each file whole: said if the rest is not.

  def written() -> str:
    """What was written when the rest was not, for the last line."""
    parts = done + ([f'{len(copies)} of {len({face.path for face in outcome.faces})} annotated '
                     f'copies in {values.annotate}; --overwrite writes them all again']
                    if copies else [])
    return f'wrote only {", ".join(parts)}' if parts else 'nothing was written'

  try:
    outcome = predict.predict_images(student, paths, detect=values.detect,
                                     whole_image_fallback=values.whole_image_fallback,
                                     batch_size=values.batch_size, progress=verbosity >= 0,
                                     engine=values.engine)
    if not outcome.images:  # Nothing to label: a mistake in the input, and nothing is written.
      listed = '; '.join(f'{path}: {why}' for path, why in outcome.unreadable[:3])
      raise ValueError(
          f'no readable image in {", ".join(inputs)} ({len(outcome.unreadable)} file(s) '
          f'skipped: {listed}{"; ..." if len(outcome.unreadable) > 3 else ""})')
    logger = logging.getLogger('jaxfer')
    for path, why in outcome.unreadable:
      logger.warning('%s: %s; skipped', path, why)
    if values.out:
      with interrupts.deferred():  # Once in place, the file is said to be written.
        outputs.write_file(values.out, lambda temporary: predict.write(
            temporary, outcome.faces, student.class_names, values.out.endswith('.jsonl')))
        done.append(values.out)
      interrupts.check()
    else:
      # To the stream itself: reopening /dev/stdout would truncate a file appended to (`>>`).
      done.append('part of the CSV on standard output')
      try:
        predict.write(sys.stdout, outcome.faces, student.class_names)
        sys.stdout.flush()
      except OSError as error:
        config_file.discard_stdout(sys.stdout)
        if not isinstance(error, BrokenPipeError):  # `| head` has what it wanted.
          done.pop()
          raise outputs.WriteError(
              f'the CSV could not be written to standard output: {error.strerror or error}; '
              'write it with --out FILE.csv to a disk with free space') from None
      done[-1] = 'the CSV on standard output'
    if values.annotate:
      predict.annotate(targets, outcome.faces, copies)
  except USER_ERRORS as error:  # A full disk among them (outputs.WriteError).
    return _user_error('predict', ValueError(f'{error}; {written()}') if done or copies
                       else error)
  except KeyboardInterrupt:
    print(f'jaxfer predict: interrupted; {written()}', file=sys.stderr)
    return 130
  rate = (outcome.images + len(outcome.unreadable)) / max(outcome.seconds, 1e-9)
  if verbosity < 0:  # -q: the warnings above and the results are all.
    return 0
  print(f'{len(outcome.faces)} face(s) in {outcome.images} image(s); {len(outcome.without_face)} '
        f'image(s) without a face, {len(outcome.unreadable)} unreadable; {outcome.seconds:.2f} s '
        f'({rate:,.0f} images/s) with {outcome.engine}, ready in {outcome.ready_seconds:.2f} s'
        + (f'; wrote {values.out}' if values.out else '')
        + (f' and {values.annotate}' if values.annotate else ''), file=sys.stderr)
  return 0


def _export(argv: list[str]) -> int:
  """`jaxfer export --model DIR --format onnx --out FILE`."""
  values = flags.FlagValues()
  flags.DEFINE_string('model', None, 'The student (as for predict).', flag_values=values)
  flags.DEFINE_enum('format', 'onnx', ['onnx'], 'The format written.', flag_values=values)
  flags.DEFINE_string('out', None, 'The file written (FILE.onnx).', flag_values=values)
  flags.DEFINE_bool('overwrite', False, 'Replace --out if it exists.', flag_values=values)
  try:
    if config_file.parse(values, argv) or not values.model or not values.out:
      raise config_file.UsageError('export needs --model DIR and --out FILE.onnx, and nothing '
                                   'else')
    from jaxfer import model_files  # pylint: disable=g-import-not-at-top
    from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
    from jaxfer import outputs  # pylint: disable=g-import-not-at-top
    onnx_export.require()
    outputs.check_new_file(values.out, '--out', values.overwrite, inputs=[values.model])
    student = model_files.load(values.model)
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('export', error)
  # Written beside --out and renamed once complete: a failed export replaces nothing.
  try:
    outputs.write_file(values.out, lambda temporary: onnx_export.export(student, temporary))
  except USER_ERRORS as error:  # A full disk among them (outputs.WriteError).
    return _user_error('export', error)
  except KeyboardInterrupt:  # During the conversion: the rename that ends it takes no time.
    print(f'jaxfer export: interrupted; {values.out} was not written (nor replaced)',
          file=sys.stderr)
    return 130
  print(values.out)
  return 0


def _config(argv: list[str]) -> int:
  """`jaxfer config [show] --config PATH`: prints the config's fields; reads only."""
  from jaxfer import configuration  # pylint: disable=g-import-not-at-top
  return show_config(argv, 'jaxfer', EXAMPLES['config'], configuration.validate)


def show_config(argv: list[str], program: str, example: str,
                validate: Callable[[ml_collections.ConfigDict], None]) -> int:
  """`PROGRAM config [show] --config PATH [--config.FIELD=VALUE ...]`: prints every field of the
  config with its value, its default where they differ and what it does, once `validate` (the
  checks the program's runs meet first) has passed it; reads only. Returns the exit status."""
  values = flags.FlagValues()
  try:
    rest = config_file.define(values, argv)
    positional = config_file.parse(values, rest)
    if positional not in ([], ['show']) or 'config' not in values:
      raise config_file.UsageError('config takes --config PATH (and overrides), e.g. ' + example)
    path, _ = config_file.split_config_path(argv)
    # A value a run of this config would refuse is refused here, in the same words, rather
    # than listed.
    validate(values.config)
    from jaxfer import config_fields  # pylint: disable=g-import-not-at-top
    from configs import default  # pylint: disable=g-import-not-at-top
    base = default.get_config()
    if 'search' in values.config:  # A search config: its settings' defaults too.
      from configs import search_default  # pylint: disable=g-import-not-at-top
      base.search = search_default.search_settings()
    sources = {}
    for source in config_fields.config_sources(path):
      with open(source) as f:
        sources[source] = f.read()
    listed = config_fields.fields(values.config, base, sources)
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('config', error, program)
  unchecked = ('; its search settings are checked by `jaxfer-search config`'
               if program == 'jaxfer' and 'search' in values.config else '')
  print(f'# {path}: {len(listed)} fields; override any with --config.FIELD=VALUE{unchecked}')
  print(config_fields.render(listed))
  return 0


def _user_error(command: str, error: Exception, program: str = 'jaxfer') -> int:
  """Prints a mistake in the input as one line (a usage mistake pointing to the help); returns
  2."""
  if isinstance(error, config_file.UsageError):
    print(config_file.usage_error(program, command if command in USAGES else None, error, USAGES),
          file=sys.stderr)
  else:
    print(f'{program} {command}: error: {" ".join(str(error).split())}', file=sys.stderr)
  return 2


if __name__ == '__main__':
  sys.exit(main())
