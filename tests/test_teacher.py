"""The teacher as an artifact: trained once, then only read, checked against the data it serves."""
import hashlib
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
  # Every file but the manifest and the run's own lock and settings record has its checksum.
  files = {os.path.relpath(os.path.join(folder, name), teacher_dir)
           for folder, _, names in os.walk(teacher_dir) for name in names}
  assert set(manifest['files_sha256']) == files - {'artifact.json', 'config.json', '.lock'}
  assert any(name.startswith('checkpoints/') for name in manifest['files_sha256'])
  assert manifest['files_sha256']['logits.npz'] == hashlib.sha256(
      open(os.path.join(teacher_dir, 'logits.npz'), 'rb').read()).hexdigest()


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
  with pytest.raises(ValueError, match=f'the teacher artifact {directory} is damaged: '
                     f'{directory}/logits.npz does not match its sha256 checksum in artifact.json; '
                     'delete it and train the teacher again'):
    teacher.load(directory, dataset)


def test_the_owner_computes_damaged_logits_again_from_the_checkpoint(teacher_dir, test_config,
                                                                     tmp_path, caplog):
  directory = _copy(teacher_dir, tmp_path / 'teacher')
  original = _corrupt_logits(directory)
  dataset = data_lib.load(test_config.data)
  with caplog.at_level(logging.INFO, logger='jaxfer'):
    rebuilt = teacher.train(test_config, directory, dataset)
  assert (f'{directory}/logits.npz does not match its sha256 checksum in artifact.json; '
          'computing the logits again from the last checkpoint') in caplog.text
  assert 'teacher epoch' not in caplog.text  # Restored from its last checkpoint, not retrained.
  np.testing.assert_array_equal(rebuilt.logits, original)
  np.testing.assert_array_equal(teacher.load(directory, dataset).logits, original)


def test_a_teacher_trained_with_other_settings_is_refused(teacher_dir, test_config, tmp_path):
  directory = _copy(teacher_dir, tmp_path / 'teacher')
  test_config.teacher.num_epochs = 5
  with pytest.raises(ValueError, match=r'holds a teacher trained with other settings '
                     r'\(config.teacher.num_epochs differ\)'):
    teacher.train(test_config, directory, data_lib.load(test_config.data))


def _stored():
  """The names of the teachers in the store (not its lock)."""
  return sorted(name for name in os.listdir(teacher.store_dir()) if not name.startswith('.'))


def _distilled(config, workdir, caplog):
  """(the run's result, what it logged)."""
  caplog.clear()
  with caplog.at_level(logging.INFO, logger='jaxfer'):
    result = train.train_and_evaluate(config, str(workdir))
  return result, caplog.text


def test_a_second_run_directory_copies_the_stored_teacher_and_trains_none(
    test_config, tmp_path, caplog, monkeypatch):
  monkeypatch.setenv('JAXFER_TEACHER_STORE', str(tmp_path / 'store'))
  first, log = _distilled(test_config, tmp_path / 'first', caplog)
  assert 'teacher epoch' in log and 'copied from the store' not in log
  (stored,) = _stored()
  second, log = _distilled(test_config, tmp_path / 'second', caplog)
  assert 'copied from the store' in log and 'teacher epoch' not in log
  assert second.teacher_artifact == str(tmp_path / 'second' / 'teacher')
  assert second.teacher_logits_sha256 == first.teacher_logits_sha256
  assert (second.accuracy, second.teacher_accuracy) == (first.accuracy, first.teacher_accuracy)
  # The copy is the run directory's own: its result names its own folders, and it is read
  # whole when the store is gone.
  recorded = json.loads((tmp_path / 'second' / 'teacher' / 'result.json').read_text())
  assert recorded['workdir'] == str(tmp_path / 'second' / 'teacher')
  assert recorded['checkpoint_dir'] == str(tmp_path / 'second' / 'teacher' / 'checkpoints')
  shutil.rmtree(teacher.store_dir())
  dataset = data_lib.load(test_config.data)
  assert teacher.load(str(tmp_path / 'second' / 'teacher'), dataset).logits_sha256 == (
      first.teacher_logits_sha256)
  assert stored == teacher.store_key(test_config, dataset)


@pytest.mark.parametrize('change', ['seed', 'teacher epochs'])
def test_a_teacher_of_other_settings_is_trained_not_taken_from_the_store(
    test_config, tmp_path, caplog, monkeypatch, change):
  monkeypatch.setenv('JAXFER_TEACHER_STORE', str(tmp_path / 'store'))
  first, _ = _distilled(test_config, tmp_path / 'first', caplog)
  if change == 'seed':
    test_config.seed += 1
  else:
    test_config.teacher.num_epochs += 1
  other, log = _distilled(test_config, tmp_path / 'other', caplog)
  assert 'teacher epoch' in log and 'copied from the store' not in log
  assert other.teacher_logits_sha256 != first.teacher_logits_sha256
  assert len(_stored()) == 2


def test_without_the_cache_nothing_is_stored_or_copied(test_config, tmp_path, caplog,
                                                        monkeypatch):
  monkeypatch.setenv('JAXFER_TEACHER_STORE', str(tmp_path / 'store'))
  _distilled(test_config, tmp_path / 'first', caplog)
  test_config.teacher.cache = False
  _, log = _distilled(test_config, tmp_path / 'second', caplog)
  assert 'teacher epoch' in log and 'copied from the store' not in log
  _distilled(test_config, tmp_path / 'third', caplog)
  assert len(_stored()) == 1  # Only the first run's teacher.


def test_a_store_that_cannot_be_written_is_skipped_with_a_warning(test_config, tmp_path, caplog,
                                                                  monkeypatch):
  (tmp_path / 'store').write_text('a file, not a folder')
  monkeypatch.setenv('JAXFER_TEACHER_STORE', str(tmp_path / 'store'))
  result, log = _distilled(test_config, tmp_path / 'run', caplog)
  assert 'teacher: not stored in' in log and result.teacher_logits_sha256
  assert (tmp_path / 'store').read_text() == 'a file, not a folder'


def test_the_store_is_in_the_cache_folder_unless_named(tmp_path, monkeypatch):
  monkeypatch.delenv('JAXFER_TEACHER_STORE')
  monkeypatch.setenv('JAXFER_CACHE_DIR', str(tmp_path / 'cache'))
  assert teacher.store_dir() == str(tmp_path / 'cache' / 'teachers')
  monkeypatch.setenv('JAXFER_TEACHER_STORE', str(tmp_path / 'shared'))
  assert teacher.store_dir() == str(tmp_path / 'shared')


@pytest.mark.parametrize('damage', ['truncated', 'flipped'])
def test_a_damaged_npz_is_read_as_missing_not_raised(tmp_path, damage):
  # The face net's features (facenet2expnet) are read this way: damage means compute them again.
  path = tmp_path / 'features.npz'
  array = np.arange(4096, dtype=np.float32)
  sha256 = artifacts.save_array(str(path), 'features', array)
  assert np.array_equal(artifacts.load_checked(str(path), 'features', sha256), array)
  data = bytearray(path.read_bytes())
  if damage == 'truncated':
    data = data[:len(data) // 2]
  else:
    data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))
  assert artifacts.load_checked(str(path), 'features', sha256) is None
