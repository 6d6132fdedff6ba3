"""Subject-independent folds, the paper's preprocessing and the teacher-logit cache."""
import os

import cv2
import numpy as np
import pytest

from jaxfer import configuration
from jaxfer.data import folds
from jaxfer.data import preprocess

from conftest import CKPLUS48


def _toy_dataset(num_subjects=40, num_classes=4, images_per_subject=3, seed=0):
  """Subjects with one class each (num_subjects / num_classes per class), shuffled."""
  rng = np.random.default_rng(seed)
  subjects = np.repeat([f'S{s:03d}' for s in range(num_subjects)], images_per_subject)
  labels = np.repeat(np.arange(num_subjects) % num_classes, images_per_subject)
  ids = np.array([f'{s}_{i}' for i, s in enumerate(subjects)])
  order = rng.permutation(len(ids))
  return ids[order], labels[order], subjects[order]


def test_no_subject_on_both_sides_of_any_fold():
  ids, labels, subjects = _toy_dataset()
  fold_of = folds.assign_folds(ids, labels, subjects, 5, seed=0)
  assert sorted(np.unique(fold_of)) == [0, 1, 2, 3, 4]
  for fold in range(5):
    assert not set(subjects[fold_of == fold]) & set(subjects[fold_of != fold])


def test_folds_are_stratified_when_subjects_allow():
  ids, labels, subjects = _toy_dataset(num_subjects=40, num_classes=4)
  fold_of = folds.assign_folds(ids, labels, subjects, 5, seed=3)
  # 10 one-class subjects per class, 3 images each, over 5 folds: 2 subjects (6 images) per class.
  counts = np.array([np.bincount(labels[fold_of == f], minlength=4) for f in range(5)])
  assert (counts == 6).all()


def test_folds_depend_on_the_seed_not_on_the_stored_order():
  ids, labels, subjects = _toy_dataset()
  fold_of = folds.assign_folds(ids, labels, subjects, 5, seed=0)
  permutation = np.random.default_rng(1).permutation(len(ids))
  permuted = folds.assign_folds(ids[permutation], labels[permutation], subjects[permutation], 5,
                                seed=0)
  assert (permuted == fold_of[permutation]).all()
  assert folds.fold_hash(ids[permutation], permuted) == folds.fold_hash(ids, fold_of)
  other = folds.assign_folds(ids, labels, subjects, 5, seed=1)
  assert (other != fold_of).any()
  assert folds.fold_hash(ids, other) != folds.fold_hash(ids, fold_of)


def test_fold_errors_name_the_field():
  ids, labels, subjects = _toy_dataset(num_subjects=4)
  with pytest.raises(ValueError, match='config.data.num_folds = 5 is more than the 4 subjects'):
    folds.assign_folds(ids, labels, subjects, 5, seed=0)
  with pytest.raises(ValueError, match='config.data.num_folds = 1'):
    folds.assign_folds(ids, labels, subjects, 1, seed=0)


@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'{CKPLUS48} is absent')
def test_ckplus48_ten_folds_are_subject_independent_and_cover_every_image(tmp_path):
  from configs import ckplus48
  from jaxfer import data as data_lib
  config = ckplus48.get_config()
  config.data.data_dir = str(tmp_path)
  config.data.crops = 'none'
  config.data.eval_crop = 'full'
  config.data.image_size = 48
  tested = []
  hashes = set()
  for fold in range(10):
    config.data.fold = fold
    dataset = data_lib.load(config.data)
    assert not set(dataset.train['subject_id']) & set(dataset.test['subject_id'])
    assert len(dataset.train['label']) + len(dataset.test['label']) == 981
    tested.extend(dataset.test['file_name'])
    hashes.add(dataset.fold_hash)
  assert sorted(tested) == sorted(set(tested)) and len(tested) == 981
  assert len(hashes) == 1


def _asymmetric_image(size=256, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (size, size), dtype=np.uint8)


def test_paper_crops_are_the_eight_fixed_windows_resized():
  image = _asymmetric_image()
  crops = preprocess.paper_crops(image, 84)
  assert crops.shape == (8, 84, 84) and crops.dtype == np.uint8
  for crop, (row, col) in zip(crops, preprocess.PAPER_OFFSETS):
    window = image[row:row + 224, col:col + 224]
    np.testing.assert_array_equal(crop, cv2.resize(window, (84, 84), interpolation=cv2.INTER_AREA))
  # No flips: no crop is the mirror image of another window.
  mirrored = preprocess.paper_crops(image[:, ::-1], 84)
  assert not any(np.array_equal(c, m) for c in crops for m in mirrored)


def test_prepare_expands_training_images_eightfold_and_keeps_their_source():
  images = np.stack([_asymmetric_image(64, seed) for seed in range(3)])[..., None]
  train, source = preprocess.prepare(images, 32, 'paper8', 'center', train=True)
  assert train.shape == (24, 32, 32, 1)
  np.testing.assert_array_equal(source, np.repeat([0, 1, 2], 8))
  np.testing.assert_array_equal(train[8 + 6, ..., 0], preprocess.window(images[1, ..., 0],
                                                                        (32, 32), 32))
  test, source = preprocess.prepare(images, 32, 'paper8', 'paper', train=False)
  assert test.shape == (3, 32, 32, 1) and source.tolist() == [0, 1, 2]
  np.testing.assert_array_equal(test[2, ..., 0], preprocess.window(images[2, ..., 0], (32, 32), 32))
  full, _ = preprocess.prepare(images, 32, 'none', 'full', train=False)
  np.testing.assert_array_equal(full[0, ..., 0], cv2.resize(images[0, ..., 0], (32, 32),
                                                            interpolation=cv2.INTER_AREA))


def test_grayscale_conversion_of_colour_and_alpha_images():
  bgr = np.zeros((4, 4, 3), np.uint8)
  bgr[..., 2] = 200  # Pure red in OpenCV's BGR order.
  assert (preprocess.to_grayscale(bgr) == round(0.299 * 200)).all()
  bgra = np.concatenate([bgr, np.full((4, 4, 1), 255, np.uint8)], axis=-1)
  assert (preprocess.to_grayscale(bgra) == round(0.299 * 200)).all()
  deep = np.full((4, 4), 0x8000, np.uint16)
  assert (preprocess.to_grayscale(deep) == 0x80).all()


def test_random_flip_mirrors_about_half_of_the_images():
  images = np.stack([_asymmetric_image(16, seed) for seed in range(200)])[..., None]
  flipped = preprocess.random_flip(images, np.random.default_rng(0))
  mirrored = [np.array_equal(f, x[:, ::-1]) for f, x in zip(flipped, images)]
  kept = [np.array_equal(f, x) for f, x in zip(flipped, images)]
  assert all(m or k for m, k in zip(mirrored, kept)) and 70 < sum(mirrored) < 130


@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'{CKPLUS48} is absent')
def test_haar_face_crop_finds_the_face_in_a_larger_frame():
  face = cv2.imread(os.path.join(CKPLUS48, 'happy', 'S010_006_00000015.png'), cv2.IMREAD_GRAYSCALE)
  frame = np.full((320, 400), 128, np.uint8)
  frame[60:220, 120:280] = cv2.resize(face, (160, 160))
  x, y, w, h = preprocess.detect_face(frame)
  # The detected box lies on the pasted face (rows 60..220, columns 120..280).
  assert 100 <= x + w / 2 <= 300 and 40 <= y + h / 2 <= 240 and 80 <= w <= 240
  assert preprocess.crop_face(frame, 256).shape == (256, 256)
  assert preprocess.detect_face(np.full((320, 400), 128, np.uint8)) is None


@pytest.mark.parametrize('field, value, message', [
    ('data.crops', 'paper9', "config.data.crops = 'paper9' is not allowed; choose one of: none, "
                             'paper8'),
    ('data.eval_crop', 'middle', "config.data.eval_crop = 'middle' is not allowed"),
    ('data.num_folds', 1, 'config.data.num_folds = 1 is not allowed'),
    ('data.fold', 3, r'config.data.fold = 3 is not allowed; expected an integer >= 0 and <= 1'),
    ('distill.source', 'votes', "config.distill.source = 'votes' is not allowed"),
])
def test_protocol_settings_are_checked_before_anything_runs(test_config, field, value, message):
  test_config.data.num_folds = 2
  section, name = field.split('.')
  test_config[section][name] = value
  with pytest.raises(ValueError, match=message):
    configuration.validate(test_config)


def test_missing_manual_dir_names_it_and_where_the_data_comes_from(test_config, tmp_path):
  test_config.data.name = 'ckplus48'
  test_config.data.manual_dir = str(tmp_path / 'CK+48')
  with pytest.raises(FileNotFoundError, match=r"manual_dir = '.*CK\+48' does not exist.*Kaggle"):
    configuration.validate(test_config)
  (tmp_path / 'CK+48').mkdir()
  with pytest.raises(FileNotFoundError, match='is an empty folder'):
    configuration.validate(test_config)
  test_config.data.manual_dir = ''
  with pytest.raises(ValueError, match='config.data.manual_dir is empty; set it'):
    configuration.validate(test_config)
