"""The synthetic-faces TFDS builder and the numpy batching, read back as the trainer reads them."""
import os
import subprocess
import tempfile

import numpy as np
import pytest

from conftest import REPO, jaxfer_command, write_untrained_student
from jaxfer import configuration
from jaxfer import data as data_lib
from jaxfer.data import classes
from jaxfer.data import preprocess
from jaxfer.data import synthetic


def test_builder_serves_the_rendered_faces_with_disjoint_subjects(test_config):
  dataset = data_lib.load(test_config.data)
  params = test_config.data.synthetic
  size = test_config.data.image_size
  assert dataset.class_names == classes.CLASS_NAMES
  assert dataset.class_names[2] == 'contempt' and dataset.num_classes == 8
  train, test = dataset.train, dataset.test
  assert train['image'].shape == (params.train_subjects * 8 * params.images_per_class, size, size, 1)
  assert train['image'].dtype == np.uint8
  assert len(np.unique(train['subject_id'])) == params.train_subjects
  assert len(np.unique(test['subject_id'])) == params.test_subjects
  assert not set(train['subject_id']) & set(test['subject_id'])
  # The prepared records are the renderer's images (TFDS may store them in another order).
  rendered = synthetic.generate(params.train_subjects, params.images_per_class, size,
                                seed=params.seed, min_intensity=params.min_intensity,
                                noise=params.noise)
  served = sorted((int(s.split('_')[-1]), int(l), x.tobytes())
                  for s, l, x in zip(train['subject_id'], train['label'], train['image']))
  made = sorted((int(s), int(l), x.tobytes())
                for s, l, x in zip(rendered['subject_id'], rendered['label'], rendered['image']))
  assert served == made


def test_builder_prepares_once_and_never_touches_other_settings(test_config):
  data_lib.load(test_config.data)
  root = os.path.join(test_config.data.data_dir, 'synthetic_faces')
  before = sorted(os.listdir(root))
  data_lib.load(test_config.data)
  assert sorted(os.listdir(root)) == before
  test_config.data.synthetic.seed = 7
  other = data_lib.load(test_config.data)
  assert len(os.listdir(root)) == len(before) + 1
  assert not np.array_equal(other.train['image'][:4], data_lib.load(
      _with_seed(test_config, 0).data).train['image'][:4])


def _temporary_folder_with_others_files(tmp_path):
  """A folder for $TMPDIR holding a file and a TFDS-named folder that are not ours."""
  temporary = tmp_path / 'tmp'
  (temporary / 'tmp1a2b3c4dtfds').mkdir(parents=True)
  (temporary / 'notes.txt').write_text('not ours')
  return temporary


def test_preparing_a_dataset_leaves_nothing_in_the_temporary_folder(test_config, tmp_path,
                                                                    monkeypatch):
  # TFDS makes a folder there for each builder of a dataset not yet prepared, and never removes
  # it; tempfile.tempdir is where $TMPDIR goes once read.
  temporary = _temporary_folder_with_others_files(tmp_path)
  monkeypatch.setattr(tempfile, 'tempdir', str(temporary))
  test_config.data.data_dir = str(tmp_path / 'tfds')
  dataset = data_lib.load(test_config.data)
  assert len(dataset.train['label']) == 8 * 8 * 2  # Prepared here: 8 subjects, 8 classes, 2.
  assert sorted(os.listdir(temporary)) == ['notes.txt', 'tmp1a2b3c4dtfds']
  assert os.listdir(temporary / 'tmp1a2b3c4dtfds') == []


@pytest.mark.slow
def test_a_command_that_prepares_a_dataset_leaves_tmpdir_as_it_was(tmp_path):
  temporary = _temporary_folder_with_others_files(tmp_path)
  model = tmp_path / 'model'
  model.mkdir()
  write_untrained_student(model)
  data_dir = tmp_path / 'tfds'
  done = subprocess.run(jaxfer_command('evaluate', '--model', str(model), '--config',
                                       'configs/test.py', f'--config.data.data_dir={data_dir}'),
                        cwd=REPO, capture_output=True, text=True, timeout=600,
                        env={**os.environ, 'TMPDIR': str(temporary)})
  assert done.returncode == 0, done.stderr[-3000:]
  assert os.listdir(data_dir / 'synthetic_faces')  # The dataset was prepared by this command.
  assert sorted(os.listdir(temporary)) == ['notes.txt', 'tmp1a2b3c4dtfds']


def _with_seed(config, seed):
  config.data.synthetic.seed = seed
  return config


def test_unknown_dataset_names_the_choices(test_config):
  test_config.data.name = 'no_such_dataset'
  with pytest.raises(ValueError, match="config.data.name = 'no_such_dataset'.*synthetic_faces"):
    configuration.validate(test_config)


def test_epoch_batches_depend_only_on_seed_and_epoch():
  first = list(data_lib.epoch_batches(10, 3, seed=0, epoch=1))
  assert [len(b) for b in first] == [3, 3, 3]  # The partial batch is dropped.
  assert len(set(np.concatenate(first))) == 9
  again = list(data_lib.epoch_batches(10, 3, seed=0, epoch=1))
  np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
  other = np.concatenate(list(data_lib.epoch_batches(10, 3, seed=0, epoch=2)))
  assert not np.array_equal(np.concatenate(first), other)


def test_random_shift_translates_each_image_within_the_bound():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (16, 10, 12, 1), dtype=np.uint8)
  shifted = preprocess.random_shift(images, 2, np.random.default_rng(1))
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode='edge')
  offsets = set()
  for k in range(16):
    matches = [(dy, dx) for dy in range(5) for dx in range(5)
               if np.array_equal(shifted[k], padded[k, dy:dy + 10, dx:dx + 12])]
    assert matches, f'image {k} is not a translation of its source by at most 2 pixels'
    offsets.add(matches[0])
  assert len(offsets) > 1  # The shifts vary across the batch.
  assert preprocess.random_shift(images, 0, np.random.default_rng(1)) is images
