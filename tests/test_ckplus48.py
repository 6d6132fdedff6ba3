"""The ckplus48 builder: the real CK+48 faces when present, and a mock layout for bad input."""
import os

import cv2
import numpy as np
import pytest

from configs import ckplus48
from jaxfer import data as data_lib
from jaxfer.data import classes

from conftest import CKPLUS48

# Image counts per class of the CK+48 copy in ../shared (see its README).
COUNTS = {'anger': 135, 'contempt': 54, 'disgust': 177, 'fear': 75, 'happy': 207, 'sadness': 84,
          'surprise': 249}


def _config(tmp_path, manual_dir, **builder_kwargs):
  config = ckplus48.get_config()
  config.data.manual_dir = str(manual_dir)
  config.data.data_dir = str(tmp_path / 'tfds')
  config.data.builder_kwargs.update(builder_kwargs)
  return config


def _records(builder):
  source = builder.as_data_source()['train']
  return source.__getitems__(range(len(source)))


@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'{CKPLUS48} is absent')
def test_real_ckplus48_builds_with_paper_labels_and_subjects(tmp_path):
  builder = data_lib.prepare_builder(_config(tmp_path, CKPLUS48).data)
  records = _records(builder)
  labels = np.array([r['label'] for r in records])
  names = builder.info.features['label'].names
  assert names == list(classes.CLASS_NAMES)
  assert {name: int(np.sum(labels == names.index(name))) for name in COUNTS} == COUNTS
  assert int(np.sum(labels == 0)) == 0  # No neutral folder.
  subjects = {r['subject_id'].decode() for r in records}
  assert len(subjects) == 118
  for record in records[:50]:
    file_name = record['file_name'].decode()
    assert os.path.basename(file_name).startswith(record['subject_id'].decode() + '_')
    assert file_name.split('/')[0] == names[record['label']]
    stored = cv2.imread(os.path.join(CKPLUS48, file_name), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(record['image'][..., 0], stored)
  assert builder.info.metadata['build_summary']['train']['skipped'] == 0


def _mock(root):
  rng = np.random.default_rng(0)
  for name, count in (('anger', 3), ('happy', 2)):
    (root / name).mkdir(parents=True)
    for k in range(count):
      cv2.imwrite(str(root / name / f'S{k:03d}_001_0000000{k}.png'),
                  rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
  return root


def test_corrupt_and_unnamed_files_are_skipped_and_counted_or_fatal_when_strict(tmp_path):
  root = _mock(tmp_path / 'CK+48')
  (root / 'anger' / 'S009_001_00000001.png').write_bytes(b'not an image')
  cv2.imwrite(str(root / 'happy' / 'face.png'), np.zeros((48, 48), np.uint8))
  listing = sorted((p, os.path.getsize(p), os.path.getmtime(p)) for p in map(str, root.rglob('*')))
  builder = data_lib.prepare_builder(_config(tmp_path, root).data)
  summary = builder.info.metadata['build_summary']['train']
  assert (summary['kept'], summary['skipped']) == (5, 2)
  assert any('S009_001_00000001.png: unreadable' in line for line in summary['skipped_files'])
  assert any('face.png: the file name does not start with a subject id' in line
             for line in summary['skipped_files'])
  assert len(_records(builder)) == 5
  # Colour input is stored as OpenCV's grayscale of it.
  anger = cv2.imread(str(root / 'anger' / 'S000_001_00000000.png'))
  record = next(r for r in _records(builder) if r['file_name'] == b'anger/S000_001_00000000.png')
  np.testing.assert_array_equal(record['image'][..., 0], cv2.cvtColor(anger, cv2.COLOR_BGR2GRAY))
  assert sorted((p, os.path.getsize(p), os.path.getmtime(p))
                for p in map(str, root.rglob('*'))) == listing  # Nothing written into the source.
  with pytest.raises(ValueError, match=r'S009_001_00000001.png: unreadable .*strict mode'):
    data_lib.prepare_builder(_config(tmp_path / 'strict', root, strict=True).data)


def test_layout_errors_name_the_folder(tmp_path):
  root = tmp_path / 'CK+48'
  (root / 'faces').mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match=r'holds none of the class folders anger, contempt'):
    data_lib.prepare_builder(_config(tmp_path, root).data)
  (root / 'faces').rmdir()
  _mock(root)
  (root / 'fear').mkdir()
  with pytest.raises(FileNotFoundError, match=r'class folder .*fear holds no image files'):
    data_lib.prepare_builder(_config(tmp_path, root).data)


def test_a_misnamed_class_folder_is_an_error_naming_it_and_the_class_names(tmp_path):
  root = _mock(tmp_path / 'CK+48')
  (root / 'happy').rename(root / 'happiness')
  with pytest.raises(ValueError, match=r'has the folder\(s\) happiness, which are not class names; '
                     'expected class folders among neutral, anger, contempt, disgust, fear, happy, '
                     'sadness, surprise'):
    data_lib.prepare_builder(_config(tmp_path, root).data)


@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'{CKPLUS48} is absent')
def test_real_ckplus48_with_happy_renamed_happiness_is_refused_not_shrunk(tmp_path):
  root = tmp_path / 'CK+48'
  root.mkdir()
  for name in os.listdir(CKPLUS48):  # The real folders, one of them under a wrong name.
    (root / ('happiness' if name == 'happy' else name)).symlink_to(os.path.join(CKPLUS48, name))
  config = _config(tmp_path, root)
  with pytest.raises(ValueError, match=r'has the folder\(s\) happiness, which are not class names'):
    data_lib.prepare_builder(config.data)
  assert not data_lib.make_builder(config.data).is_prepared()  # No smaller dataset was stored.
