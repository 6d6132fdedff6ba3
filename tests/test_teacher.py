"""The teacher as an artifact: trained once, then only read, checked against the data it serves."""
import json
import logging
import os
import shutil

import numpy as np
import pytest

from conftest import file_times
from jaxfer import artifacts
from jaxfer import data as data_lib
from jaxfer import teacher
from jaxfer import train


def _copy(teacher_dir, destination):
  shutil.copytree(teacher_dir, destination)
  return str(destination)


def test_the_artifact_holds_checkpoint_result_logits_and_checksums(teacher_dir, test_config):
  names = set(os.listdir(teacher_dir))
  assert {'checkpoints', 'config.json', 'result.json', 'logits.npz', 'artifact.json'} <= names
  manifest = json.loads(open(os.path.join(teacher_dir, 'artifact.json')).read())
  dataset = data_lib.load(test_config.data)
  with np.load(os.path.join(teacher_dir, 'logits.npz')) as stored:
    logits = stored['logits']
  assert logits.shape == (len(dataset.train['label']), dataset.num_classes)
  assert manifest['logits_sha256'] == artifacts.sha256_of_arrays([logits])
  assert manifest['data'] == json.loads(json.dumps(dataset.identity))


@pytest.mark.parametrize('how', ['in the workdir', 'named by config.teacher.artifact'])
def test_a_finished_teacher_is_read_never_trained_evaluated_or_rewritten(
    teacher_dir, test_config, tmp_path, caplog, how):
  if how == 'in the workdir':
    directory = _copy(teacher_dir, tmp_path / 'run' / 'teacher')
  else:
    directory = teacher_dir
    test_config.teacher.artifact = teacher_dir
  before = file_times(directory)
  with caplog.at_level(logging.INFO, logger='jaxfer'):
    result = train.train_and_evaluate(test_config, str(tmp_path / 'run'))
  assert file_times(directory) == before  # Nothing in the artifact was written again.
  assert 'teacher epoch' not in caplog.text and 'teacher: test accuracy' not in caplog.text
  recorded = json.loads(open(os.path.join(directory, 'result.json')).read())
  assert result.teacher_accuracy == recorded['accuracy']
  assert result.teacher_artifact == os.path.abspath(directory)
  assert result.teacher_logits_sha256 == json.loads(
      open(os.path.join(directory, 'artifact.json')).read())['logits_sha256']


def test_a_student_of_the_artifact_equals_one_whose_teacher_was_trained_in_its_workdir(
    teacher_dir, test_config, tmp_path):
  own = train.train_and_evaluate(test_config, str(tmp_path / 'own'))
  test_config.teacher.artifact = teacher_dir
  reused = train.train_and_evaluate(test_config, str(tmp_path / 'reused'))
  assert own.teacher_logits_sha256 == reused.teacher_logits_sha256
  assert own.accuracy == reused.accuracy
  assert own.confusion_matrix == reused.confusion_matrix


def test_a_missing_teacher_artifact_is_an_error_and_trains_nothing(test_config, tmp_path):
  missing = tmp_path / 'teachers' / 'fold_0'
  test_config.teacher.artifact = str(missing)
  with pytest.raises(FileNotFoundError, match=f'config.teacher.artifact: {missing} does not '
                     'exist; train the teacher first with `jaxfer train-teacher'):
    train.train_and_evaluate(test_config, str(tmp_path / 'run'))
  assert not missing.exists() and not (tmp_path / 'run' / 'teacher').exists()
  assert not (tmp_path / 'run' / 'student').exists()


def test_an_unfinished_teacher_directory_is_not_an_artifact(teacher_dir, test_config, tmp_path):
  directory = _copy(teacher_dir, tmp_path / 'teacher')
  os.remove(os.path.join(directory, 'artifact.json'))
  test_config.teacher.artifact = directory
  with pytest.raises(FileNotFoundError, match='is an unfinished teacher'):
    train.train_and_evaluate(test_config, str(tmp_path / 'run'))


def test_a_teacher_of_other_data_is_refused_naming_what_differs(teacher_dir, test_config,
                                                                 tmp_path):
  test_config.teacher.artifact = teacher_dir
  test_config.data.num_folds = 2  # The teacher was trained on the builder's train split.
  with pytest.raises(ValueError, match=r'trained on other data than this run \(data identity '
                     r'fields fold, fold_hash, fold_seed, num_folds, test_split, train_split '
                     'differ'):
    train.train_and_evaluate(test_config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'student').exists()


def _corrupt_logits(directory):
  path = os.path.join(directory, 'logits.npz')
  with np.load(path) as stored:
    logits = stored['logits']
  np.savez(path, logits=logits + 1.0)
  return logits


def test_damaged_logits_are_detected_by_their_checksum(teacher_dir, test_config, tmp_path):
  directory = _copy(teacher_dir, tmp_path / 'teacher')
  _corrupt_logits(directory)
  dataset = data_lib.load(test_config.data)
  with pytest.raises(ValueError, match='is damaged: logits.npz is missing or does not match the '
                     'checksum'):
    teacher.load(directory, dataset)


def test_the_owner_computes_damaged_logits_again_from_the_checkpoint(teacher_dir, test_config,
                                                                     tmp_path, caplog):
  directory = _copy(teacher_dir, tmp_path / 'teacher')
  original = _corrupt_logits(directory)
  dataset = data_lib.load(test_config.data)
  with caplog.at_level(logging.INFO, logger='jaxfer'):
    rebuilt = teacher.train(test_config, directory, dataset)
  assert 'does not match its checksum; computing the logits again' in caplog.text
  assert 'teacher epoch' not in caplog.text  # Restored from its last checkpoint, not retrained.
  np.testing.assert_array_equal(rebuilt.logits, original)
  np.testing.assert_array_equal(teacher.load(directory, dataset).logits, original)


def test_a_teacher_trained_with_other_settings_is_refused(teacher_dir, test_config, tmp_path):
  directory = _copy(teacher_dir, tmp_path / 'teacher')
  test_config.teacher.num_epochs = 5
  with pytest.raises(ValueError, match=r'holds a teacher trained with other settings '
                     r'\(config.teacher.num_epochs differ\)'):
    teacher.train(test_config, directory, data_lib.load(test_config.data))
