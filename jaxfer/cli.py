"""The `jaxfer` command: train-teacher, distill and evaluate, thin doors to `jaxfer.train`;
import-tf (`jaxfer.tf_import`), predict (`jaxfer.predict`) and export (`jaxfer.onnx_export`).

    jaxfer distill --config configs/default.py --workdir runs/default --config.distill.temperature=4
    jaxfer import-tf ../shared/data/microexpnet-tf/Models/CK --out runs/microexpnet_ck
    jaxfer predict --model runs/microexpnet_ck photos/ --output faces.csv --annotate annotated/
    jaxfer export --model runs/microexpnet_ck --format onnx --out microexpnet_ck.onnx
    jaxfer evaluate --model runs/microexpnet_ck --config configs/ckplus48.py

Any mistake in the input (config file, override, directory, dataset folder) is one line on
stderr and exit status 2, before anything is created or trained.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys

from absl import flags

from jaxfer import config_file

COMMANDS = {
    'train-teacher': 'train the teacher once in WORKDIR/teacher (a finished one is reused)',
    'distill': 'train the teacher if needed, then distill the student in WORKDIR/student',
    'evaluate': 'evaluate the latest checkpoint of config.target in WORKDIR',
}

PREDICT_USAGE = (
    '\n\nusage: jaxfer predict --model DIR IMAGES_OR_FOLDERS... [--output FILE.csv|FILE.jsonl] '
    '[--annotate DIR] [--no-detect] [--whole-image-fallback] [--batch_size N]\n\n  predict  '
    '      label every face (OpenCV\'s Haar cascade, as the paper) in the images with a\n'
    '                 student: trained (WORKDIR), exported (export-best) or imported'
    '\n\nusage: jaxfer export --model DIR --format onnx --out FILE.onnx\n\n  export     '
    '    write a student as ONNX (pip install -e ".[onnx]"): input float32\n'
    '                 pixels 0-255 [batch, size, size, 1], output logits')
USAGE = ('usage: jaxfer {' + ','.join(COMMANDS) + '} --config PATH [--config.FIELD=VALUE ...] '
         '--workdir DIR [--cv]\n\n' +
         '\n'.join(f'  {name:14s} {text}' for name, text in COMMANDS.items()) +
         '\n\n  --cv           train and evaluate on every fold of config.data.num_folds (a '
         'teacher\n                 per fold), then report mean and std' +
         '\n\nusage: jaxfer evaluate --model DIR --config PATH [--config.FIELD=VALUE ...]\n\n'
         '  evaluate       score a trained, exported (export-best) or imported student on the\n'
         '                 test split of config.data, at the student\'s own input size and view'
         '\n\nusage: jaxfer import-tf CHECKPOINT_DIR --out DIR\n\n  import-tf      write the '
         'authors\' TensorFlow MicroExpNet checkpoint as a jaxfer\n                 student '
         '(params.msgpack, config.json); no TensorFlow needed' + PREDICT_USAGE)

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


def configure_logging(*filters: logging.Filter, stream=None) -> None:
  """INFO lines with a time on `stream` (default stdout; through `filters`), without the
  libraries' chatter."""
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', datefmt='%H:%M:%S',
                      stream=stream or sys.stdout, force=True)
  for handler in logging.getLogger().handlers:
    for log_filter in filters:
      handler.addFilter(log_filter)
  # TFDS reports every custom builder config as an absl warning; the data layer logs its own.
  logging.getLogger('absl').setLevel(logging.ERROR)
  for noisy in ('orbax', 'jax'):
    logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
  """Runs one command; returns the process exit status."""
  argv = sys.argv[1:] if argv is None else argv
  if not argv or argv[0] in ('-h', '--help', 'help'):
    print(USAGE)
    return 0
  if argv[0] == 'import-tf':
    return _import_tf(argv[1:])
  if argv[0] == 'predict':
    return _predict(argv[1:])
  if argv[0] == 'export':
    return _export(argv[1:])
  command = next((arg for arg in argv if arg in COMMANDS), 'jaxfer')
  try:
    command, config, workdir, cv, model = parse(argv)
    # Imported here: keeps --help and command-line errors fast.
    from jaxfer import configuration  # pylint: disable=g-import-not-at-top
    configuration.validate(config)  # Before anything is logged, created or trained.
    from jaxfer import crossval  # pylint: disable=g-import-not-at-top
    from jaxfer import train  # pylint: disable=g-import-not-at-top
    if model is not None:  # Reads the student and the dataset; writes nothing.
      from jaxfer import model_files  # pylint: disable=g-import-not-at-top
      student = model_files.load(model)
    elif command == 'evaluate':  # Reads WORKDIR, and creates nothing if it is mistyped.
      train.require_checkpoint(config, workdir)
    else:  # A teacher named by config.teacher.artifact must exist, for every fold to run.
      for fold in range(config.data.num_folds) if cv else [config.data.fold]:
        train.require_teacher(crossval.fold_config(config, fold), workdir)
      configuration.make_writable_dir(workdir, 'the work directory (--workdir)')
    configure_logging()
    from jaxfer import xla_cache  # pylint: disable=g-import-not-at-top
    xla_cache.enable()
    from jaxfer import interrupts  # pylint: disable=g-import-not-at-top
    interrupts.install()  # A Ctrl-C during training is acted on even if Python drops it.
    if cv:
      result = crossval.cross_validate(config, workdir)
    elif model is not None:
      result = train.evaluate_model(student, config)
    elif command == 'evaluate':
      result = train.evaluate(config, workdir)
    else:
      result = train.train_and_evaluate(config, workdir)
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error(command, error)
  except KeyboardInterrupt:  # Every finished epoch is checkpointed: nothing to report but this.
    print(f'jaxfer {command}: interrupted; run the same command again to resume',
          file=sys.stderr)
    return 130
  summary = {key: value for key, value in dataclasses.asdict(result).items()
             if key not in ('confusion_matrix', 'data', 'class_names')}
  if model is not None:  # Nothing was trained: say what was scored, on what, and how seen.
    summary = {'model': result.workdir, 'accuracy': result.accuracy,
               'test_images': int(sum(map(sum, result.confusion_matrix))),
               **{key: result.data[key] for key in ('dataset', 'fold', 'fold_hash', 'test_split')
                  if key in result.data},
               **{key: result.data['preprocessing'][key] for key in ('image_size', 'eval_crop')},
               **{key: summary[key] for key in ('per_class_accuracy', 'params', 'size_bytes')}}
  print(json.dumps(summary, indent=2))
  if cv:
    _print_cv(result)
  return 0


def _import_tf(argv: list[str]) -> int:
  """`jaxfer import-tf CHECKPOINT_DIR --out DIR`; writes nothing unless the checkpoint reads."""
  values = flags.FlagValues()
  flags.DEFINE_string('out', None, 'Directory for the imported student (new or empty).',
                      flag_values=values)
  try:
    sources = config_file.parse(values, argv)
    if len(sources) != 1 or not values.out:
      raise config_file.UsageError('import-tf needs one CHECKPOINT_DIR and --out DIR')
    import os  # pylint: disable=g-import-not-at-top
    if not os.path.isdir(sources[0]):
      raise FileNotFoundError(f'{sources[0]} is not a directory; expected the folder of a '
                              'TensorFlow checkpoint (MODEL.index, MODEL.data-00000-of-00001)')
    if os.path.isdir(values.out) and os.listdir(values.out):
      raise ValueError(f'--out {values.out} is not empty; choose a new directory, so that '
                       'nothing in it is overwritten')
    from configs import default  # pylint: disable=g-import-not-at-top
    from jaxfer import tf_import  # pylint: disable=g-import-not-at-top
    paths = tf_import.import_checkpoint(sources[0], values.out, default.get_config())
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('import-tf', error)
  print(json.dumps(paths, indent=2))
  return 0


def _predict(argv: list[str]) -> int:
  """`jaxfer predict`: reads the model and the images; writes only --output and --annotate."""
  values = flags.FlagValues()
  flags.DEFINE_string('model', None, 'The student: a trained WORKDIR (or WORKDIR/student), an '
                      'export-best or an import-tf directory.', flag_values=values)
  flags.DEFINE_string('output', None, 'FILE.csv or FILE.jsonl (default: CSV on stdout).',
                      flag_values=values)
  flags.DEFINE_string('annotate', None, 'Directory for copies of the images with each face\'s '
                      'box and label drawn.', flag_values=values)
  flags.DEFINE_bool('detect', True, 'Detect faces (--no-detect: each image is one face crop).',
                    flag_values=values)
  flags.DEFINE_bool('whole_image_fallback', False, 'Label the whole image when no face is '
                    'found, as the original did.', flag_values=values)
  flags.DEFINE_integer('batch_size', 256, 'Faces classified at once.', lower_bound=1,
                       flag_values=values)
  spelled = {'--no-detect': '--nodetect', '--whole-image-fallback': '--whole_image_fallback'}
  try:
    inputs = config_file.parse(values, [spelled.get(arg, arg) for arg in argv])
    if not inputs or not values.model:
      raise config_file.UsageError('predict needs --model DIR and one or more images or folders')
    if values.output and not values.output.endswith(('.csv', '.jsonl')):
      raise ValueError(f'--output {values.output}: expected a name ending in .csv or .jsonl')
    from jaxfer import configuration  # pylint: disable=g-import-not-at-top
    from jaxfer import model_files  # pylint: disable=g-import-not-at-top
    from jaxfer import predict  # pylint: disable=g-import-not-at-top
    paths = predict.image_paths(inputs)
    student = model_files.load(values.model)
    import os  # pylint: disable=g-import-not-at-top
    for target in [os.path.dirname(os.path.abspath(values.output or '.')), values.annotate]:
      if target:
        configuration.make_writable_dir(target, 'the output directory')
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('predict', error)
  configure_logging(stream=sys.stderr)  # stdout may carry the CSV.
  outcome = predict.predict_images(student, paths, detect=values.detect,
                                   whole_image_fallback=values.whole_image_fallback,
                                   batch_size=values.batch_size, progress=True)
  if values.output:
    predict.write(values.output, outcome.faces, student.class_names)
  else:
    predict.write('/dev/stdout', outcome.faces, student.class_names)
  if values.annotate:
    root = os.path.commonpath([os.path.abspath(i) for i in inputs])
    predict.annotate(values.annotate, outcome.faces, root if os.path.isdir(root) else '')
  print(f'{len(outcome.faces)} face(s) in {outcome.images} image(s); {len(outcome.without_face)} '
        f'image(s) without a face, {len(outcome.unreadable)} unreadable'
        + (f'; wrote {values.output}' if values.output else '')
        + (f' and {values.annotate}' if values.annotate else ''), file=sys.stderr)
  return 0


def _export(argv: list[str]) -> int:
  """`jaxfer export --model DIR --format onnx --out FILE`."""
  values = flags.FlagValues()
  flags.DEFINE_string('model', None, 'The student (as for predict).', flag_values=values)
  flags.DEFINE_enum('format', 'onnx', ['onnx'], 'The format written.', flag_values=values)
  flags.DEFINE_string('out', None, 'The file written (FILE.onnx).', flag_values=values)
  try:
    if config_file.parse(values, argv) or not values.model or not values.out:
      raise config_file.UsageError('export needs --model DIR and --out FILE.onnx, and nothing '
                                   'else')
    import os  # pylint: disable=g-import-not-at-top
    from jaxfer import configuration  # pylint: disable=g-import-not-at-top
    from jaxfer import model_files  # pylint: disable=g-import-not-at-top
    from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
    onnx_export.require()
    if os.path.exists(values.out):
      raise ValueError(f'--out {values.out} exists; choose a new file, so that nothing is '
                       'overwritten')
    student = model_files.load(values.model)
    configuration.make_writable_dir(os.path.dirname(os.path.abspath(values.out)),
                                    'the output directory')
  except (config_file.UsageError, config_file.ConfigError, *USER_ERRORS) as error:
    return _user_error('export', error)
  print(onnx_export.export(student, values.out))
  return 0


def _user_error(command: str, error: Exception) -> int:
  """Prints a mistake in the input as one line (a usage mistake with the usage); returns 2."""
  if isinstance(error, config_file.UsageError):
    print(f'jaxfer: {error}\n\n{USAGE}', file=sys.stderr)
  else:
    print(f'jaxfer {command}: error: {" ".join(str(error).split())}', file=sys.stderr)
  return 2


if __name__ == '__main__':
  sys.exit(main())
