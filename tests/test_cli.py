"""The `jaxfer` command end to end on configs/test.py, as a user runs it."""
import json
import os
import subprocess

from conftest import REPO, jaxfer_command


def _run(*args):
  return subprocess.run(jaxfer_command(*args), cwd=REPO, capture_output=True, text=True)


def test_distill_then_evaluate_then_train_teacher(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  common = ['--config', 'configs/test.py', '--workdir', workdir,
            f'--config.data.data_dir={data_dir}']
  distilled = _run('distill', *common, '--config.distill.temperature=4')
  assert distilled.returncode == 0, distilled.stderr
  printed = json.loads(distilled.stdout[distilled.stdout.index('{\n'):])
  with open(os.path.join(workdir, 'result.json')) as f:
    result = json.load(f)
  assert {'accuracy', 'params', 'size_bytes'} <= set(result)
  assert printed['accuracy'] == result['accuracy'] and result['target'] == 'student'
  assert result['size_bytes'] == 4 * result['params']
  assert result['teacher_accuracy'] is not None
  assert 'teacher epoch   2/2' in distilled.stdout and 'student epoch   3/3' in distilled.stdout
  with open(os.path.join(workdir, 'student', 'config.json')) as f:
    assert json.load(f)['distill']['temperature'] == 4.0  # The override reached the run.

  evaluated = _run('evaluate', *common, '--config.distill.temperature=4')
  assert evaluated.returncode == 0, evaluated.stderr
  with open(os.path.join(workdir, 'evaluation.json')) as f:
    evaluation = json.load(f)
  assert evaluation['accuracy'] == result['accuracy'] and evaluation['epochs'] == 3

  # The teacher of that run is finished: train-teacher resumes it at its last epoch.
  teacher = _run('train-teacher', *common)
  assert teacher.returncode == 0, teacher.stderr
  assert 'teacher: resumed from the checkpoint of epoch 2' in teacher.stdout
  assert 'teacher epoch' not in teacher.stdout
  with open(os.path.join(workdir, 'result.json')) as f:
    assert json.load(f)['accuracy'] == result['teacher_accuracy']


def test_bad_override_is_refused_with_the_field_name(data_dir, tmp_path):
  bad = _run('distill', '--config', 'configs/test.py', '--workdir', str(tmp_path),
             f'--config.data.data_dir={data_dir}', '--config.student.pooling=p3')
  assert bad.returncode == 2
  assert "config.student.pooling = 'p3' is not allowed; choose one of: v, p1, p2, p12" in bad.stderr


def test_unknown_command_prints_usage():
  bad = _run('fit', '--config', 'configs/test.py', '--workdir', '/tmp/unused')
  assert bad.returncode != 0
  assert 'train-teacher' in bad.stderr and 'distill' in bad.stderr
