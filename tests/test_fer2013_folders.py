"""configs/fer2013_folders.py end to end on mock FER2013 folders: the validation set carved from
the training side, every evaluation during training on it, and the test split evaluated once,
by the final step.

The folders are written here with PIL (a few dozen 48x48 JPEGs per class, and augmented copies
named `*.jpgN.jpg` in disgust/, which the builder drops); epochs and networks are made tiny.
"""
import collections
import json
import os

import ml_collections
import numpy as np
import optuna
import pytest
from PIL import Image

from configs import fer2013_folders
from configs import search_fer2013
from configs import search_fer2013_microexpnet
from conftest import run_in_process
from jaxfer import cli
from jaxfer import data as data_lib
from jaxfer import loop
from jaxfer import model_files
from jaxfer import run_records
from jaxfer import train
from jaxfer.data import folds
from search import configuration as search_configuration
from search import export
from search import objective
from search import pareto
from search import report
from search import space as space_lib
from search import workers

FOLDERS = ('angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise')
TRAIN_PER_CLASS = 31
TEST_PER_CLASS = 5


def _face(folder_index, number):
  """A 48x48 gray image whose brightness pattern depends on its class, plus noise."""
  rng = np.random.default_rng([folder_index, number])
  rows = np.linspace(0, 1, 48)[:, None] * (folder_index + 1) / len(FOLDERS)
  image = 255 * (0.6 * rows + 0.4 * rng.random((48, 48)))
  return Image.fromarray(image.astype(np.uint8), 'L')


@pytest.fixture(scope='module')
def manual_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('fer2013_folders')
  for split, count in (('train', TRAIN_PER_CLASS), ('test', TEST_PER_CLASS)):
    for index, folder in enumerate(FOLDERS):
      (root / split / folder).mkdir(parents=True)
      for number in range(count):
        _face(index, number + (1000 if split == 'test' else 0)).save(
            root / split / folder / f'{split}_{number:03d}.jpg')
  for split in ('train', 'test'):  # Augmented copies, as in the real folders' disgust/.
    for copy in range(2):
      _face(1, 500 + copy).save(root / split / 'disgust' / f'{split}_000.jpg{copy}.jpg')
  return root


def _config(manual_dir, data_dir, **data):
  config = fer2013_folders.get_config()
  config.data.manual_dir = str(manual_dir)
  config.data.data_dir = data_dir
  config.data.update(data)
  config.teacher.resnet_small.stage_features = (8, 16)
  config.teacher.num_epochs = 1
  config.teacher.batch_size = 32
  config.student.num_epochs = 2
  config.student.batch_size = 32
  config.eval_every_epochs = 1
  return config


def _originals(manual_dir, split):
  return {f'{split}/{folder}/{split}_{number:03d}.jpg' for folder in FOLDERS
          for number in range(TRAIN_PER_CLASS if split == 'train' else TEST_PER_CLASS)}


def test_validation_set_is_disjoint_stratified_repeatable_and_follows_the_seed(manual_dir,
                                                                                data_dir):
  dataset = data_lib.load(_config(manual_dir, data_dir).data)
  train_names, validation_names = set(dataset.train['file_name']), set(dataset.test['file_name'])
  assert not train_names & validation_names
  assert train_names | validation_names == _originals(manual_dir, 'train')  # No copies.
  assert set(dataset.held_out_test['file_name']) == _originals(manual_dir, 'test')
  # Each class's share is within one example of the fraction (31 per class: 3 of them).
  per_class = collections.Counter(dataset.test['label'].tolist())
  assert len(per_class) == len(FOLDERS)
  for count in per_class.values():
    assert abs(count - 0.1 * TRAIN_PER_CLASS) <= 1
  assert dataset.evaluated_on == 'validation'
  assert dataset.identity['validation_fraction'] == 0.1
  assert dataset.identity['validation_seed'] == 0
  assert dataset.identity['evaluated_on'] == 'validation'

  again = data_lib.load(_config(manual_dir, data_dir).data)
  assert list(again.test['file_name']) == list(dataset.test['file_name'])
  assert again.identity == dataset.identity
  other_seed = data_lib.load(_config(manual_dir, data_dir, validation_seed=1).data)
  assert set(other_seed.test['file_name']) != validation_names
  assert other_seed.identity['validation_hash'] != dataset.identity['validation_hash']

  without = data_lib.load(_config(manual_dir, data_dir, validation_fraction=0.0).data)
  assert without.held_out_test is None and without.evaluated_on == 'test'
  assert set(without.test['file_name']) == _originals(manual_dir, 'test')
  assert not {'validation_fraction', 'validation_hash', 'evaluated_on'} & set(without.identity)


def test_train_fraction_keeps_a_stratified_share_of_training_and_leaves_validation_and_test_whole(
    manual_dir, data_dir):
  full = data_lib.load(_config(manual_dir, data_dir).data)
  half = data_lib.load(_config(manual_dir, data_dir, train_fraction=0.5).data)
  assert set(half.train['file_name']) < set(full.train['file_name'])
  # 28 training images per class after the validation set: each class keeps 14, within one.
  full_counts = collections.Counter(full.train['label'].tolist())
  for label, count in collections.Counter(half.train['label'].tolist()).items():
    assert abs(count - 0.5 * full_counts[label]) <= 1
  assert list(half.test['file_name']) == list(full.test['file_name'])  # The validation set.
  assert list(half.held_out_test['file_name']) == list(full.held_out_test['file_name'])
  assert half.identity['train_fraction'] == 0.5
  assert 'train_fraction' not in full.identity and 'train_subset_hash' not in full.identity
  again = data_lib.load(_config(manual_dir, data_dir, train_fraction=0.5).data)
  assert list(again.train['file_name']) == list(half.train['file_name'])
  assert again.identity == half.identity
  other = data_lib.load(_config(manual_dir, data_dir, train_fraction=0.25).data)
  assert other.identity['train_subset_hash'] != half.identity['train_subset_hash']
  # A run recorded before the field existed trained on all of its training side.
  assert 'train_fraction' not in run_records.fingerprint('student', _config(manual_dir,
                                                                            data_dir))['data']
  assert run_records.fingerprint('student', _config(
      manual_dir, data_dir, train_fraction=0.5))['data']['train_fraction'] == 0.5


def test_a_training_share_that_keeps_nothing_is_a_one_line_error_that_leaves_no_work_directory(
    manual_dir, data_dir, tmp_path, capfd):
  arguments = ['--config', 'configs/fer2013_folders.py', f'--config.data.manual_dir={manual_dir}',
               f'--config.data.data_dir={data_dir}', '--config.data.train_fraction=0.001']
  new, existing = tmp_path / 'new', tmp_path / 'existing'
  existing.mkdir()
  for workdir in (new, existing):
    ran = run_in_process(cli.main, capfd, 'distill', '--workdir', str(workdir), *arguments)
    assert ran.returncode == 2 and 'Traceback' not in ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == (
        'jaxfer distill: error: config.data.train_fraction = 0.001 keeps none of the 196 '
        'training examples; raise it (1 keeps all)')
  assert not new.exists() and existing.is_dir()  # Made by the command: removed; the user's: kept.


def test_the_fer2013_family_study_and_its_baseline_differ_only_in_family_and_share_a_teacher(
    manual_dir):
  family, baseline = search_fer2013.get_config(), search_fer2013_microexpnet.get_config()
  for config in (family, baseline):
    config.data.manual_dir = str(manual_dir)
    search_configuration.validate(config)
    assert 0 < config.data.train_fraction < 1 and config.data.validation_fraction > 0
  assert run_records.fingerprint('teacher', family) == run_records.fingerprint('teacher',
                                                                               baseline)
  assert space_lib.size_limit(family) == space_lib.size_limit(baseline)  # One reference point.
  family_record = objective.comparable_config(family)
  baseline_record = objective.comparable_config(baseline)
  for record in (family_record, baseline_record):
    del record['search']['space']['family'], record['search']['study_name']
  assert family_record == baseline_record
  assert baseline.search.space.family == 'microexpnet'
  assert set(family.search.space.family.choices) == {'microexpnet', 'separable'}


@pytest.mark.slow
def test_the_fer2013_family_study_ranks_trials_on_validation_at_its_training_fidelity(
    manual_dir, data_dir, tmp_path):
  config = search_fer2013.get_config()
  config.data.update(manual_dir=str(manual_dir), data_dir=data_dir)
  config.teacher.resnet_small.stage_features = (8, 16)
  config.teacher.update(num_epochs=1, batch_size=32)
  config.student.update(num_epochs=1, batch_size=32)
  config.search.update(n_trials=2, replicates=1)
  config.search.space.family.separable.update(width=dict(low=0.25, high=0.5, log=True),
                                              depth=dict(choices=(1, 2)))
  study = workers.run_study(config, str(tmp_path))
  trials = study.get_trials(states=pareto.FINISHED)
  assert len(trials) == 2
  validation_images = len(data_lib.load(config.data).test['label'])
  teacher = json.loads((tmp_path / 'teachers' / 'fold_0' / 'teacher' / 'result.json').read_text())
  for result in [teacher] + [json.loads(open(os.path.join(
      objective.replicate_dir(t.user_attrs['trial_dir'], 0, 0), 'student', 'result.json')).read())
                             for t in trials]:
    assert result['data']['train_fraction'] == 0.25  # Teacher and students at the fidelity.
    assert result['evaluated_on'] == 'validation'
  for trial in trials:
    student = json.loads(open(os.path.join(objective.replicate_dir(
        trial.user_attrs['trial_dir'], 0, 0), 'student', 'result.json')).read())
    assert trial.values[0] == student['accuracy']  # The objective is validation accuracy.
    assert trial.user_attrs['test_images'] == [validation_images]  # Scored on validation.


def test_carve_keeps_subjects_whole_and_ignores_stored_order():
  rng = np.random.default_rng(0)
  subjects = np.repeat([f's{k:02d}' for k in range(40)], 3)
  labels = rng.integers(0, 4, len(subjects))
  chosen = folds.carve_validation(labels, subjects, 0.25, seed=3)
  for subject in np.unique(subjects):
    assert len(set(chosen[subjects == subject])) == 1  # A subject is on one side only.
  assert 0.15 < chosen.mean() < 0.35
  order = rng.permutation(len(subjects))
  np.testing.assert_array_equal(folds.carve_validation(labels[order], subjects[order], 0.25,
                                                       seed=3), chosen[order])
  # One image per subject: every class gets its aim rounded (within half an image).
  labels = np.repeat(np.arange(3), [10, 25, 41])
  chosen = folds.carve_validation(labels, np.arange(len(labels)).astype(str), 0.2, seed=0)
  assert [int(chosen[labels == c].sum()) for c in range(3)] == [2, 5, 8]


def _accuracy_of_saved_student(workdir, images, labels):
  student = model_files.load(workdir)
  logits = model_files.logits(student, images, 256)
  return float(np.mean(logits.argmax(-1) == labels))


def test_distill_chooses_on_validation_and_evaluates_the_test_split_once_at_the_end(
    manual_dir, data_dir, tmp_path, capfd, caplog):
  config = _config(manual_dir, data_dir)
  workdir = tmp_path / 'trial' / 'fold_0'
  with caplog.at_level('INFO', logger='jaxfer'):
    result = train.train_and_evaluate(config, str(workdir))
  assert result.evaluated_on == 'validation'
  assert 'val_acc' in caplog.text and 'test_acc' not in caplog.text
  assert not (workdir / 'student' / train.TEST_RESULT).exists()  # Training never looked.
  dataset = data_lib.load(config.data)
  assert result.accuracy == _accuracy_of_saved_student(str(workdir), dataset.test['image'],
                                                       dataset.test['label'])
  assert sum(map(sum, result.confusion_matrix)) == len(dataset.test['label'])
  recorded = json.loads((workdir / 'result.json').read_text())
  assert recorded['evaluated_on'] == 'validation' and recorded['accuracy'] == result.accuracy

  # The final step: the held-out test split, once, into test_result.json.
  test_result = train.evaluate_held_out_test(config, str(workdir))
  test_accuracy = _accuracy_of_saved_student(str(workdir), dataset.held_out_test['image'],
                                             dataset.held_out_test['label'])
  assert test_result['accuracy'] == test_accuracy
  assert test_result['test_images'] == len(FOLDERS) * TEST_PER_CLASS
  assert test_result['validation_accuracy'] == result.accuracy
  written = json.loads((workdir / 'student' / train.TEST_RESULT).read_text())
  assert written == test_result and written['evaluated_on'] == 'test'

  # `jaxfer distill` on the finished run: trains nothing, prints both accuracies.
  arguments = ('distill', '--config', 'configs/fer2013_folders.py', '--workdir', str(workdir),
               f'--config.data.manual_dir={manual_dir}', f'--config.data.data_dir={data_dir}',
               '--config.teacher.resnet_small.stage_features=(8, 16)',
               '--config.teacher.num_epochs=1', '--config.teacher.batch_size=32',
               '--config.student.num_epochs=2', '--config.student.batch_size=32',
               '--config.eval_every_epochs=1')
  ran = run_in_process(cli.main, capfd, *arguments)
  assert ran.returncode == 0, ran.stderr
  printed = json.loads(ran.stdout[ran.stdout.index('{\n'):])
  assert (printed['validation_accuracy'], printed['test_accuracy']) == (result.accuracy,
                                                                        test_accuracy)
  assert printed['evaluated_on'] == 'validation'
  # The teacher this distill trained had its one look at the test split too.
  teacher_test = json.loads((workdir / 'teacher' / train.TEST_RESULT).read_text())
  teacher_validation = json.loads((workdir / 'teacher' / 'result.json').read_text())
  assert teacher_test['target'] == 'teacher' and teacher_test['evaluated_on'] == 'test'
  assert teacher_test['checkpoint_dir'].startswith(str(workdir / 'teacher'))
  confusion = np.array(teacher_test['confusion_matrix'])
  assert confusion.sum() == len(FOLDERS) * TEST_PER_CLASS
  assert teacher_test['accuracy'] == pytest.approx(np.trace(confusion) / confusion.sum())
  assert (printed['teacher_validation_accuracy'], printed['teacher_test_accuracy']) == (
      teacher_validation['accuracy'], teacher_test['accuracy'])
  ran = run_in_process(cli.main, capfd, 'train-teacher', *arguments[1:])
  assert ran.returncode == 0, ran.stderr
  printed = json.loads(ran.stdout[ran.stdout.index('{\n'):])
  assert printed['target'] == 'teacher'
  assert (printed['validation_accuracy'], printed['test_accuracy']) == (
      teacher_validation['accuracy'], teacher_test['accuracy'])

  # export-best records the test accuracy beside the validation accuracy.
  trial = optuna.trial.create_trial(
      values=[result.accuracy, float(result.size_bytes)],
      user_attrs={'trial_dir': str(tmp_path / 'trial'), 'config': json.loads(config.to_json())})
  paths = export.export(trial, str(tmp_path / 'exported'))
  exported = json.loads(open(paths['result.json']).read())
  assert (exported['validation_accuracy'], exported['test_accuracy']) == (result.accuracy,
                                                                          test_accuracy)


def test_runs_recorded_before_the_validation_fields_resume_only_without_a_validation_set():
  old = run_records.fingerprint('student', fer2013_folders.get_config())
  for field in ('validation_fraction', 'validation_seed'):
    del old['data'][field]
  config = fer2013_folders.get_config()
  assert run_records.changed_fields(old, run_records.fingerprint('student', config)) == [
      'data.validation_fraction']
  config.data.validation_fraction = 0.0
  config.data.validation_seed = 5  # Without a validation set its seed changes nothing.
  assert run_records.changed_fields(old, run_records.fingerprint('student', config)) == []
  # A result.json written before `evaluated_on` existed was measured on the test side.
  fields = {'target': 'student', 'accuracy': 0.5, 'per_class_accuracy': {},
            'confusion_matrix': [], 'params': 1, 'size_bytes': 4, 'epochs': 1,
            'train_seconds': 0.0, 'workdir': '', 'checkpoint_dir': ''}
  assert loop.Result(**fields).evaluated_on == 'test'


def test_evaluate_held_out_test_needs_a_validation_set(manual_dir, data_dir, tmp_path):
  config = _config(manual_dir, data_dir, validation_fraction=0.0)
  with pytest.raises(ValueError, match=r'config\.data\.validation_fraction = 0\.0: there is no '
                                       r'held-out test split'):
    train.evaluate_held_out_test(config, str(tmp_path))
  with pytest.raises(FileNotFoundError, match='no student checkpoint in'):
    train.evaluate_held_out_test(_config(manual_dir, data_dir), str(tmp_path))
  assert not os.listdir(tmp_path)


def test_the_config_changes_only_what_differs_from_the_default():
  from configs import default
  config, base = fer2013_folders.get_config(), default.get_config()
  assert isinstance(config, ml_collections.ConfigDict)
  assert config.data.validation_fraction == 0.1 and base.data.validation_fraction == 0.0
  assert config.data.builder_kwargs.to_dict() == {'image_size': 48, 'ferplus': ''}
  assert (config.data.train_split, config.data.test_split) == ('train', 'test')


def test_the_report_axis_names_what_the_study_chose_on():
  def trial(fraction):
    return optuna.trial.create_trial(values=[0.5, 100.0], user_attrs={
        'config': {'data': {'validation_fraction': fraction}}})
  assert report.evaluated_on([trial(0.1)]) == 'validation'
  assert report.evaluated_on([trial(0.0)]) == 'test'
  assert report.evaluated_on([optuna.trial.create_trial(values=[0.5, 1.0])]) == 'test'
