"""The `jaxfer` command as a user runs it: the main commands, and every bad input a user tried.

Bad input must give one line on stderr naming the field, file or path and what was expected,
exit status 2, no traceback, and create nothing.
"""
import json
import os
import shutil
import subprocess

import flax.serialization
import jax
import numpy as np
import pytest

from conftest import REPO, jaxfer_command, run_in_process
from jaxfer import cli
from jaxfer import model_files


def _run(*args):
  return subprocess.run(jaxfer_command(*args), cwd=REPO, capture_output=True, text=True)


@pytest.mark.slow
def test_distill_then_evaluate_then_train_teacher(data_dir, tmp_path, capfd):
  workdir = str(tmp_path / 'run')
  common = ['--config', 'configs/test.py', '--workdir', workdir,
            f'--config.data.data_dir={data_dir}']
  distilled = _run('distill', *common, '--config.distill.temperature=4')
  assert distilled.returncode == 0, distilled.stderr
  printed = json.loads(distilled.stdout)  # stdout is the result alone: `| jq` reads it.
  with open(os.path.join(workdir, 'result.json')) as f:
    result = json.load(f)
  assert {'accuracy', 'params', 'size_bytes'} <= set(result)
  assert printed['accuracy'] == result['accuracy'] and result['target'] == 'student'
  assert result['size_bytes'] == 4 * result['params']
  assert result['teacher_accuracy'] is not None
  assert 'teacher epoch   2/2' in distilled.stderr and 'student epoch   3/3' in distilled.stderr
  with open(os.path.join(workdir, 'student', 'config.json')) as f:
    assert json.load(f)['distill']['temperature'] == 4.0  # The override reached the run.

  evaluated = _run('evaluate', *common, '--config.distill.temperature=4')
  assert evaluated.returncode == 0, evaluated.stderr
  with open(os.path.join(workdir, 'evaluation.json')) as f:
    evaluation = json.load(f)
  assert evaluation['accuracy'] == result['accuracy'] and evaluation['epochs'] == 3

  # --model scores the student from its files, as a trained WORKDIR and as params.msgpack (the
  # form export-best and import-tf write): the same test images, the same accuracy.
  exported = tmp_path / 'exported'
  exported.mkdir()
  student = model_files.load(workdir)
  (exported / 'params.msgpack').write_bytes(flax.serialization.msgpack_serialize(
      jax.tree.map(np.asarray, student.params)))
  for name in ('config.json', 'result.json'):
    shutil.copy(os.path.join(workdir, 'student', name), exported / name)
  for model in (workdir, str(exported)):  # In-process: `evaluate` ran as a process above.
    scored = run_in_process(cli.main, capfd, 'evaluate', '--model', model, '--config',
                            'configs/test.py', f'--config.data.data_dir={data_dir}')
    assert scored.returncode == 0, scored.stderr
    printed = json.loads(scored.stdout[scored.stdout.index('{\n'):])
    assert printed['accuracy'] == result['accuracy']
    assert printed['test_images'] == sum(map(sum, result['confusion_matrix']))
    assert printed['per_class_accuracy'] == result['per_class_accuracy']
  assert sorted(os.listdir(exported)) == ['config.json', 'params.msgpack', 'result.json']

  # The teacher of that run is a finished artifact: train-teacher reports it, trains nothing.
  teacher = _run('train-teacher', *common)
  assert teacher.returncode == 0, teacher.stderr
  assert f'teacher: reusing the trained teacher in {workdir}/teacher' in teacher.stderr
  assert 'teacher epoch' not in teacher.stderr
  with open(os.path.join(workdir, 'result.json')) as f:
    assert json.load(f)['accuracy'] == result['teacher_accuracy']
  assert json.loads(teacher.stdout)['accuracy'] == result['teacher_accuracy']

  # -q keeps stderr for warnings and errors; -v (anywhere on the line) adds debug lines, among
  # them the config the command ran with. stdout is the same result either way.
  quiet = _run('-q', 'train-teacher', *common)
  verbose = _run('train-teacher', *common, '--verbose')
  assert quiet.returncode == verbose.returncode == 0, quiet.stderr + verbose.stderr
  assert quiet.stderr == ''
  assert 'reusing the trained teacher' in verbose.stderr
  assert 'config of this run:' in verbose.stderr and "target: teacher" in verbose.stderr
  assert json.loads(quiet.stdout) == json.loads(verbose.stdout) == json.loads(teacher.stdout)


def _bad_config(tmp_path):
  path = tmp_path / 'broken.py'
  path.write_text('def get_config(:\n  return None\n')
  return str(path)


def _a_file(tmp_path):
  path = tmp_path / 'a_file'
  path.write_text('not a folder')
  return str(path)


def _fill(text, names):
  """`text` with {tmp}, {broken} and {file} replaced (other braces are the user's own)."""
  for name, value in names.items():
    text = text.replace('{' + name + '}', value)
  return text


# (arguments after the command, what the one-line error says); {tmp} is the test's folder.
BAD_INPUT = {
    'missing config file': (['--config', 'configs/nope.py'],
                            '--config configs/nope.py: no such file; expected a Python file '
                            'with get_config()'),
    'config with a syntax error': (['--config', '{broken}'], 'broken.py, line 1: '),
    'unknown override': (['--config', 'configs/test.py', '--config.student.widht=2'],
                         'configs/test.py has no field config.student.widht; did you mean '
                         'config.student.width?'),
    'builder_kwargs.strict on a config that lacks it': (
        ['--config', 'configs/test.py', '--config.data.builder_kwargs.strict=True'],
        'configs/test.py has no field config.data.builder_kwargs.strict'),
    'value of the wrong type': (['--config', 'configs/test.py', '--config.student.width=abc'],
                                'flag --config.student.width=abc: could not convert string to '
                                'float'),
    'value out of range': (['--config', 'configs/test.py', '--config.distill.lam=1.5'],
                           'config.distill.lam = 1.5 is not allowed; expected a number >= 0 and '
                           '<= 1'),
    'validation fraction of a half or more': (
        ['--config', 'configs/test.py', '--config.data.validation_fraction=0.5'],
        'config.data.validation_fraction = 0.5 is not allowed; expected a number >= 0 and < 0.5'),
    'training fraction of zero': (
        ['--config', 'configs/test.py', '--config.data.train_fraction=0'],
        'config.data.train_fraction = 0.0 is not allowed; expected a number > 0 and <= 1'),
    'negative validation seed': (['--config', 'configs/test.py',
                                  '--config.data.validation_seed=-1'],
                                 'config.data.validation_seed = -1 is not allowed; expected an '
                                 'integer >= 0'),
    'unknown schedule': (['--config', 'configs/test.py',
                          '--config.student.optimizer.schedule=step'],
                         "config.student.optimizer.schedule = 'step' is not allowed; choose one "
                         'of: constant, cosine, warmup_cosine'),
    'unknown pretraining': (['--config', 'configs/test.py', '--config.teacher.pretrain=vgg'],
                            "config.teacher.pretrain = 'vgg' is not allowed; choose one of: "
                            'none, facenet2expnet'),
    'unknown student family': (['--config', 'configs/test.py',
                                '--config.student.family=resnet'],
                               "config.student.family = 'resnet' is not allowed; choose one of: "
                               'microexpnet, separable'),
    'separable student without modules': (['--config', 'configs/test.py',
                                           '--config.student.family=separable',
                                           '--config.student.depth=0'],
                                          'config.student.depth = 0 is not allowed; expected an '
                                          'integer >= 1'),
    'face-net directory that is a file': (
        ['--config', 'configs/test.py', '--config.facenet2expnet.artifact={file}'],
        'config.facenet2expnet.artifact: {file} is a file; expected a directory'),
    'face-net directory with a mistyped placeholder': (
        ['--config', 'configs/test.py', '--config.facenet2expnet.artifact=runs/f_{folds}'],
        "config.facenet2expnet.artifact = 'runs/f_{folds}' has the placeholder(s) {folds}"),
    'unknown face net': (['--config', 'configs/test.py',
                          '--config.facenet2expnet.face_net=vggface'],
                         "config.facenet2expnet.face_net = 'vggface' is not allowed; choose one "
                         'of: identity, dlib_resnet'),
    'teacher artifact with a mistyped placeholder': (
        ['--config', 'configs/test.py', '--config.teacher.artifact=runs/cv/fold_{folds}/teacher'],
        "config.teacher.artifact = 'runs/cv/fold_{folds}/teacher' has the placeholder(s) "
        '{folds}; the only one allowed is {fold}'),
    'TFDS data directory that is a file': (
        ['--config', 'configs/test.py', '--config.data.data_dir={file}'],
        'config.data.data_dir: {file} is a file; expected the folder where TFDS keeps'),
    'manual_dir that is a file': (['--config', 'configs/ckplus48.py',
                                   '--config.data.manual_dir={file}'],
                                  "config.data.manual_dir = '{file}' is a file, not a folder"),
    'manual_dir that does not exist': (['--config', 'configs/ckplus48.py',
                                        '--config.data.manual_dir={tmp}/nowhere'],
                                       "config.data.manual_dir = '{tmp}/nowhere' does not exist"),
    'unwritable workdir': (['--config', 'configs/test.py', '--workdir', '{file}/run'],
                           'the work directory (--workdir) {file}/run cannot be used: Not a '
                           'directory'),
}


@pytest.mark.parametrize('case', list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_creates_nothing(case, tmp_path, data_dir, capsys):
  arguments, expected = BAD_INPUT[case]
  names = {'tmp': str(tmp_path), 'broken': _bad_config(tmp_path), 'file': _a_file(tmp_path)}
  arguments = [_fill(a, names) for a in arguments]
  if '--workdir' not in arguments:
    arguments += ['--workdir', str(tmp_path / 'run')]
  if not any(a.startswith('--config.data.data_dir') for a in arguments):
    arguments.append(f'--config.data.data_dir={data_dir}')
  before = sorted(os.listdir(tmp_path))
  status = cli.main(['distill', *arguments])
  err = capsys.readouterr().err
  assert status == 2
  assert err.count('\n') == 1 and 'Traceback' not in err, err
  assert err.startswith('jaxfer distill: error: ')
  assert _fill(expected, names) in err
  assert sorted(os.listdir(tmp_path)) == before  # Nothing created.


@pytest.mark.parametrize('cv', [False, True])
def test_a_missing_teacher_artifact_is_one_line_and_creates_nothing(data_dir, tmp_path, capsys,
                                                                    cv):
  # A mistyped path used to train a new teacher there; with --cv every fold's is checked.
  missing = tmp_path / 'cv' / 'fold_{fold}' / 'teacher'
  status = cli.main(['distill', '--config', 'configs/test.py', '--workdir',
                     str(tmp_path / 'run'), f'--config.data.data_dir={data_dir}',
                     f'--config.teacher.artifact={missing}', '--config.data.num_folds=2',
                     *(['--cv'] if cv else [])])
  err = capsys.readouterr().err
  assert status == 2 and err.count('\n') == 1 and 'Traceback' not in err
  assert (f'jaxfer distill: error: config.teacher.artifact: {tmp_path}/cv/fold_0/teacher does '
          'not exist; train the teacher first') in err
  assert os.listdir(tmp_path) == []


def test_evaluate_with_a_mistyped_workdir_creates_nothing(data_dir, tmp_path, capsys):
  workdir = tmp_path / 'mistyped'
  status = cli.main(['evaluate', '--config', 'configs/test.py', '--workdir', str(workdir),
                     f'--config.data.data_dir={data_dir}'])
  assert status == 2
  assert 'no student checkpoint in' in capsys.readouterr().err
  assert not workdir.exists()


def test_unknown_command_is_one_line_naming_the_commands(capsys):
  assert cli.main(['fit', '--config', 'configs/test.py', '--workdir', '/tmp/unused']) == 2
  err = capsys.readouterr().err
  assert err.endswith('\n') and '\n' not in err[:-1]
  assert err.startswith("jaxfer: expected one command, got ['fit']; the commands: train-teacher, "
                        'distill, evaluate, import-tf, predict, export')


# evaluate --model: (arguments after `evaluate`, what the error says); {tmp} is the test's folder.
BAD_MODEL_INPUT = {
    'a model directory that does not exist': (
        ['--model', '{tmp}/nowhere', '--config', 'configs/test.py'],
        'jaxfer evaluate: error: {tmp}/nowhere holds no student: expected params.msgpack and '
        'config.json'),
    'a model directory and a workdir': (
        ['--model', '{tmp}', '--workdir', '{tmp}/run', '--config', 'configs/test.py'],
        'evaluate takes --workdir DIR or --model DIR, not both'),
    'a model given to distill': (
        ['--model', '{tmp}', '--config', 'configs/test.py'],
        '--model is for evaluate (and predict, export); distill takes --workdir DIR'),
}


@pytest.mark.parametrize('case', list(BAD_MODEL_INPUT))
def test_evaluate_model_bad_input_is_exit_2_without_traceback_and_creates_nothing(
    case, tmp_path, data_dir, capsys):
  arguments, expected = BAD_MODEL_INPUT[case]
  command = 'distill' if 'distill' in case else 'evaluate'
  status = cli.main([command, *[a.replace('{tmp}', str(tmp_path)) for a in arguments],
                     f'--config.data.data_dir={data_dir}'])
  err = capsys.readouterr().err
  assert status == 2 and 'Traceback' not in err
  assert expected.replace('{tmp}', str(tmp_path)) in err
  assert os.listdir(tmp_path) == []
