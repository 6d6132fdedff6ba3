"""`jaxfer distill --cv`: a teacher per fold, every image tested once, fold teachers reused."""
import csv
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import REPO, file_times, jaxfer_command, run_in_process
from jaxfer import cli
from jaxfer import crossval
from jaxfer import loop


@pytest.fixture(scope='module')
def cv_run(tmp_path_factory, data_dir):
  """configs/test.py over 2 subject-independent folds of the synthetic training subjects."""
  root = tmp_path_factory.mktemp('cv')
  workdir = str(root / 'run')
  args = ['--config', 'configs/test.py', '--workdir', workdir, '--cv',
          f'--config.data.data_dir={data_dir}', '--config.data.num_folds=2',
          '--config.student.num_epochs=2']
  done = subprocess.run(jaxfer_command('distill', *args), cwd=REPO, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir, args, done


@pytest.mark.slow
def test_cv_tests_every_image_once_and_reports_mean_and_std(cv_run, test_config):
  workdir, _, done = cv_run
  with open(os.path.join(workdir, 'result.json')) as f:
    result = json.load(f)
  folds = []
  for fold in range(2):
    with open(os.path.join(workdir, f'fold_{fold}', 'result.json')) as f:
      folds.append(json.load(f))
  accuracies = [r['accuracy'] for r in folds]
  assert result['fold_accuracies'] == accuracies
  assert result['accuracy_mean'] == pytest.approx(np.mean(accuracies))
  assert result['accuracy_std'] == pytest.approx(np.std(accuracies))
  assert result['teacher_accuracy_mean'] == pytest.approx(np.mean([r['teacher_accuracy']
                                                                   for r in folds]))
  # Both test folds together are the whole training split, each image exactly once.
  synthetic = test_config.data.synthetic
  num_images = synthetic.train_subjects * 8 * synthetic.images_per_class
  assert np.sum(result['confusion_matrix']) == num_images
  assert {r['fold_hash'] for r in folds} == {result['fold_hash']}
  with open(os.path.join(workdir, 'confusion.csv')) as f:
    rows = list(csv.reader(f))
  assert rows[0][1:] == result['class_names']
  assert [[int(v) for v in row[1:]] for row in rows[1:]] == result['confusion_matrix']
  assert os.path.getsize(os.path.join(workdir, 'confusion.png')) > 1000
  assert f'accuracy            {100 * np.mean(accuracies):5.1f}' in done.stderr  # The table.
  assert json.loads(done.stdout)['fold_accuracies'] == accuracies  # stdout: the JSON alone.


@pytest.mark.slow
def test_cv_with_validation_sets_tests_each_folds_model_once_on_its_test_fold(
    data_dir, test_config, tmp_path, capfd):
  workdir = tmp_path / 'run'
  done = run_in_process(cli.main, capfd, 'distill', '--config', 'configs/test.py', '--workdir',
                        str(workdir), '--cv', f'--config.data.data_dir={data_dir}',
                        '--config.data.num_folds=2', '--config.data.validation_fraction=0.2',
                        '--config.student.num_epochs=2', '--config.teacher.num_epochs=1')
  assert done.returncode == 0, done.stderr[-3000:]
  result = json.loads((workdir / 'result.json').read_text())
  assert result['evaluated_on'] == 'validation'
  tested = [json.loads((workdir / f'fold_{fold}' / 'student' / 'test_result.json').read_text())
            for fold in range(2)]
  chosen_on = [json.loads((workdir / f'fold_{fold}' / 'result.json').read_text())
               for fold in range(2)]
  assert result['fold_accuracies'] == [r['accuracy'] for r in chosen_on]  # Validation sets.
  assert result['test_fold_accuracies'] == [t['accuracy'] for t in tested]
  assert result['test_accuracy_mean'] == pytest.approx(np.mean(result['test_fold_accuracies']))
  # The two test folds together are the whole training split, each image tested once.
  synthetic = test_config.data.synthetic
  assert sum(t['test_images'] for t in tested) == (synthetic.train_subjects * 8
                                                    * synthetic.images_per_class)
  # The validation sets are carved from the training sides: smaller than the test folds.
  assert np.sum(result['confusion_matrix']) < sum(t['test_images'] for t in tested)
  # The table on stderr, beside the log; stdout is the JSON summary alone.
  assert f'validation accuracy {100 * result["accuracy_mean"]:5.1f}' in done.stderr
  assert f'test accuracy       {100 * result["test_accuracy_mean"]:5.1f}' in done.stderr
  assert json.loads(done.stdout)['accuracy_mean'] == result['accuracy_mean']


@pytest.mark.slow
def test_cv_trains_a_teacher_per_fold_on_that_folds_training_subjects(cv_run):
  workdir = cv_run[0]
  teachers = []
  for fold in range(2):
    with open(os.path.join(workdir, f'fold_{fold}', 'teacher', 'config.json')) as f:
      teachers.append(json.load(f))
    assert teachers[-1]['data']['fold'] == fold
    assert os.path.isdir(os.path.join(workdir, f'fold_{fold}', 'teacher', 'checkpoints'))


@pytest.mark.slow
def test_students_of_a_fold_read_its_teacher_artifact_without_touching_it(cv_run, tmp_path,
                                                                          capfd):
  workdir, args, _ = cv_run
  teachers = [os.path.join(workdir, f'fold_{fold}', 'teacher') for fold in range(2)]
  before = [file_times(teacher) for teacher in teachers]
  # Another student (other temperature) distilled from the fold teachers of the first run.
  other = [a for a in args if not a.startswith('--workdir') and a != workdir] + [
      '--workdir', str(tmp_path / 'other'), '--config.distill.temperature=2',
      f'--config.teacher.artifact={workdir}/fold_{{fold}}/teacher']
  done = run_in_process(cli.main, capfd, 'distill', *other)
  assert done.returncode == 0, done.stderr[-3000:]
  assert [file_times(teacher) for teacher in teachers] == before
  for teacher in teachers:
    assert f'teacher: logits read from the artifact {teacher}' in done.stderr
  assert 'teacher epoch' not in done.stderr
  assert not os.path.exists(tmp_path / 'other' / 'fold_0' / 'teacher')
  for fold, teacher in enumerate(teachers):
    with open(tmp_path / 'other' / f'fold_{fold}' / 'result.json') as f:
      assert json.load(f)['teacher_artifact'] == teacher


def test_summarize_pools_confusions_and_per_class_accuracy():
  results = [loop.Result(target='student', accuracy=a, per_class_accuracy={},
                          confusion_matrix=m, params=1, size_bytes=4, epochs=1, train_seconds=0,
                          workdir='', checkpoint_dir='', teacher_accuracy=t)
             for a, m, t in [(0.75, [[3, 1], [0, 0]], 0.9), (0.5, [[0, 0], [1, 1]], 0.7)]]
  summary = crossval.summarize(results, ['a', 'b'])
  assert summary['confusion_matrix'] == [[3, 1], [1, 1]]
  assert summary['per_class_accuracy'] == {'a': 0.75, 'b': 0.5}
  assert summary['accuracy_mean'] == pytest.approx(0.625)
  assert summary['accuracy_std'] == pytest.approx(0.125)
  assert summary['teacher_accuracy_std'] == pytest.approx(0.1)


def test_cv_needs_folds(test_config, tmp_path):
  with pytest.raises(ValueError, match='config.data.num_folds = 0: cross-validation needs'):
    crossval.cross_validate(test_config, str(tmp_path))
