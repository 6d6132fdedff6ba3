"""The CK+ and Oulu-CASIA builders on small mock copies of the official layouts, built with TFDS."""
import os
import re
import shutil

import cv2
import ml_collections
import numpy as np
import pytest

from configs import default
from jaxfer import data as data_lib
from jaxfer.data import classes

SIZE = 32  # Stored size; the 32x40 sources keep their centre square, columns 4 to 35.
HEIGHT, WIDTH = 32, 40
NEUTRAL, ANGER, FEAR, DISGUST, HAPPY, SADNESS, SURPRISE = (
    classes.CLASS_NAMES.index(name)
    for name in ('neutral', 'anger', 'fear', 'disgust', 'happy', 'sadness', 'surprise'))

# (subject, sequence): (frames, CK+ emotion code or None for an unlabelled sequence).
CKPLUS = {('S005', '001'): (6, 5), ('S005', '002'): (4, None), ('S010', '001'): (5, 1),
          ('S010', '002'): (2, 7)}
# (modality, illumination, subject, expression folder): frames.
OULU = {('VL', 'Strong', 'P001', 'Anger'): 5, ('VL', 'Strong', 'P001', 'Happiness'): 4,
        ('VL', 'Strong', 'P002', 'surprise'): 2, ('VL', 'Strong', 'P002', 'Sadness'): 6,
        ('NI', 'Dark', 'P001', 'Fear'): 3, ('VL', 'Weak', 'P001', 'Disgust'): 2}


def _write_image(path, rng, color=None):
  """A random 32x40 image (colour or gray), or one of pure BGR `color`; returns the pixels."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if color is not None:
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8) + np.array(color, np.uint8)
  elif rng.random() < 0.5:
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
  else:
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
  assert cv2.imwrite(str(path), pixels)
  return pixels


def _stored(pixels):
  """What the builder should store for source pixels: gray, centre square."""
  gray = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY) if pixels.ndim == 3 else pixels
  return gray[:, (WIDTH - HEIGHT) // 2:(WIDTH + HEIGHT) // 2]


def _ckplus_file(subject, sequence, frame):
  return f'cohn-kanade-images/{subject}/{sequence}/{subject}_{sequence}_{frame + 1:08d}.png'


def _ckplus_tree(root, sequences=CKPLUS, seed=0):
  """A CK+ layout under `root`; returns {file name relative to root: pixels}."""
  rng = np.random.default_rng(seed)
  written = {}
  for (subject, sequence), (frames, code) in sequences.items():
    for frame in range(frames):
      name = _ckplus_file(subject, sequence, frame)
      written[name] = _write_image(root / name, rng)
    # The release has an Emotion folder for every sequence, empty where it is unlabelled.
    emotion = root / 'Emotion' / subject / sequence
    emotion.mkdir(parents=True)
    if code is not None:
      (emotion / f'{subject}_{sequence}_{frames:08d}_emotion.txt').write_text(f'   {code:.7e}\n')
  return written


def _oulu_tree(root, sequences=OULU, seed=0):
  """An Oulu-CASIA layout under `root`; returns {file name relative to root: pixels}."""
  rng = np.random.default_rng(seed)
  written = {}
  for folders, frames in sequences.items():
    for frame in range(frames):
      name = '/'.join(folders) + f'/{frame:03d}.jpeg'
      written[name] = _write_image(root / name, rng)
  return written


def _data_config(name, manual_dir, data_dir, **builder_kwargs):
  config = default.get_config()
  config.data.name = name
  config.data.manual_dir = str(manual_dir)
  config.data.data_dir = str(data_dir)
  config.data.builder_kwargs = ml_collections.ConfigDict(dict(image_size=SIZE, **builder_kwargs))
  return config.data


def _build(name, manual_dir, data_dir, **builder_kwargs):
  """The prepared builder and its 'train' records by file name (text decoded)."""
  builder = data_lib.prepare_builder(_data_config(name, manual_dir, data_dir, **builder_kwargs))
  source = builder.as_data_source()['train']
  records = {}
  for index in range(len(source)):
    record = dict(source[index])
    for key in ('file_name', 'subject_id', 'sequence'):
      record[key] = record[key].decode()
    records[record['file_name']] = record
  return builder, records


def _snapshot(root):
  """Every path under `root` with its size and modification time."""
  listing = []
  for folder, dirs, files in os.walk(root):
    for name in sorted(dirs + files):
      stat = os.stat(os.path.join(folder, name))
      listing.append((os.path.relpath(os.path.join(folder, name), root), stat.st_size,
                      stat.st_mtime_ns))
  return sorted(listing)


def _labels(records):
  return {name: int(record['label']) for name, record in records.items()}


def test_ckplus_labels_peak_and_neutral_frames_and_leaves_the_source_untouched(tmp_path):
  source = tmp_path / 'ckplus'
  written = _ckplus_tree(source)
  happy_peak = _ckplus_file('S005', '001', 5)
  written[happy_peak] = _write_image(source / happy_peak, None, color=(200, 40, 90))
  before = _snapshot(source)
  builder, records = _build('ckplus', source, tmp_path / 'tfds')
  assert _snapshot(source) == before
  f = _ckplus_file
  assert _labels(records) == {
      f('S005', '001', 0): NEUTRAL, f('S005', '001', 3): HAPPY, f('S005', '001', 4): HAPPY,
      f('S005', '001', 5): HAPPY,
      f('S005', '002', 0): NEUTRAL,  # Unlabelled: only its neutral frame.
      f('S010', '001', 0): NEUTRAL, f('S010', '001', 2): ANGER, f('S010', '001', 3): ANGER,
      f('S010', '001', 4): ANGER,
      # Two frames, both among the last 3: the coded emotion wins over neutral.
      f('S010', '002', 0): SURPRISE, f('S010', '002', 1): SURPRISE}
  assert classes.CLASS_NAMES[HAPPY] == 'happy'
  record = records[f('S010', '001', 3)]
  assert (record['subject_id'], record['sequence'], int(record['frame'])) == ('S010', 'S010/001', 3)
  assert {r['subject_id'] for r in records.values()} == {'S005', 'S010'}
  for name, record in records.items():
    assert record['image'].shape == (SIZE, SIZE, 1) and record['image'].dtype == np.uint8
    np.testing.assert_array_equal(record['image'][:, :, 0], _stored(written[name]), err_msg=name)
  # Pure BGR (200, 40, 90) becomes 0.299 * 90 + 0.587 * 40 + 0.114 * 200 = 73.19 -> 73.
  assert np.all(records[happy_peak]['image'] == 73)
  assert builder.info.features['label'].names == list(classes.CLASS_NAMES)
  assert builder.info.metadata['build_summary']['train']['kept'] == 11
  assert builder.info.metadata['build_summary']['train']['skipped'] == 0


def test_ckplus_peak_and_neutral_frame_settings(tmp_path):
  _ckplus_tree(tmp_path / 'ckplus')
  f = _ckplus_file
  _, records = _build('ckplus', tmp_path / 'ckplus', tmp_path / 'tfds', peak_frames=2,
                      neutral_frames=0)
  assert _labels(records) == {
      f('S005', '001', 4): HAPPY, f('S005', '001', 5): HAPPY, f('S010', '001', 3): ANGER,
      f('S010', '001', 4): ANGER, f('S010', '002', 0): SURPRISE, f('S010', '002', 1): SURPRISE}
  _, records = _build('ckplus', tmp_path / 'ckplus', tmp_path / 'tfds', peak_frames=1,
                      neutral_frames=2)
  assert _labels(records) == {
      f('S005', '001', 0): NEUTRAL, f('S005', '001', 1): NEUTRAL, f('S005', '001', 5): HAPPY,
      f('S005', '002', 0): NEUTRAL, f('S005', '002', 1): NEUTRAL,
      f('S010', '001', 0): NEUTRAL, f('S010', '001', 1): NEUTRAL, f('S010', '001', 4): ANGER,
      f('S010', '002', 0): NEUTRAL, f('S010', '002', 1): SURPRISE}


def test_ckplus_skips_a_corrupt_image_and_strict_mode_names_it(tmp_path, caplog):
  source = tmp_path / 'ckplus'
  _ckplus_tree(source)
  corrupt = _ckplus_file('S005', '001', 4)
  (source / corrupt).write_bytes(np.random.default_rng(1).bytes(300))
  builder, records = _build('ckplus', source, tmp_path / 'tfds')
  assert len(records) == 10 and corrupt not in records
  summary = builder.info.metadata['build_summary']['train']
  assert (summary['kept'], summary['skipped']) == (10, 1)
  assert corrupt in summary['skipped_files'][0]
  assert any(corrupt in message for message in caplog.messages)
  with pytest.raises(ValueError, match=re.escape(corrupt) + '.*strict'):
    _build('ckplus', source, tmp_path / 'tfds', strict=True)


def test_ckplus_layout_errors_name_the_path(tmp_path):
  data_dir = tmp_path / 'tfds'
  missing = tmp_path / 'nowhere'
  with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + '.*jeffcohn'):
    _build('ckplus', missing, data_dir)
  for folder in ('cohn-kanade-images', 'Emotion'):
    source = tmp_path / f'without_{folder}'
    _ckplus_tree(source)
    shutil.rmtree(source / folder)
    with pytest.raises(FileNotFoundError, match=f'the folder {folder}/ is missing.*S005/001'):
      _build('ckplus', source, data_dir)


@pytest.mark.parametrize('content, error, match', [
    (None, FileNotFoundError, 'S011_001_00000009_emotion.txt names no image.*S011/001'),
    ('happy\n', ValueError, "S010_001_00000005_emotion.txt holds 'happy'"),
    ('   9.0000000e+00\n', ValueError,
     r"S010_001_00000005_emotion.txt holds the code '9\.0+e\+00'"),
    ('   2.5\n', ValueError, r"S010_001_00000005_emotion.txt holds the code '2\.5'"),
])
def test_ckplus_bad_emotion_files_are_named(tmp_path, content, error, match):
  source = tmp_path / 'ckplus'
  _ckplus_tree(source)
  if content is None:
    orphan = source / 'Emotion' / 'S011' / '001'
    orphan.mkdir(parents=True)
    (orphan / 'S011_001_00000009_emotion.txt').write_text('   1.0000000e+00\n')
  else:
    (source / 'Emotion/S010/001/S010_001_00000005_emotion.txt').write_text(content)
  with pytest.raises(error, match=match):
    _build('ckplus', source, tmp_path / 'tfds')


def test_ckplus_frame_counts_are_checked(tmp_path):
  _ckplus_tree(tmp_path / 'ckplus')
  with pytest.raises(ValueError, match='config.data.builder_kwargs.peak_frames = 0'):
    _build('ckplus', tmp_path / 'ckplus', tmp_path / 'tfds', peak_frames=0)
  with pytest.raises(ValueError, match='config.data.builder_kwargs.neutral_frames = -1'):
    _build('ckplus', tmp_path / 'ckplus', tmp_path / 'tfds', neutral_frames=-1)


def _oulu_file(*folders_and_frame):
  *folders, frame = folders_and_frame
  return '/'.join(folders) + f'/{frame:03d}.jpeg'


def _vl_strong(subject, expression, frame):
  return _oulu_file('VL', 'Strong', subject, expression, frame)


def test_oulu_casia_labels_expression_folders_and_leaves_the_source_untouched(tmp_path):
  source = tmp_path / 'oulu'
  _oulu_tree(source)
  happy_peak = _oulu_file('VL', 'Strong', 'P001', 'Happiness', 3)
  _write_image(source / happy_peak, None, color=(30, 160, 220))
  before = _snapshot(source)
  builder, records = _build('oulu_casia', source, tmp_path / 'tfds')
  assert _snapshot(source) == before
  f = _vl_strong
  assert _labels(records) == {
      f('P001', 'Anger', 0): NEUTRAL, f('P001', 'Anger', 2): ANGER, f('P001', 'Anger', 3): ANGER,
      f('P001', 'Anger', 4): ANGER,
      f('P001', 'Happiness', 0): NEUTRAL, f('P001', 'Happiness', 1): HAPPY,
      f('P001', 'Happiness', 2): HAPPY, f('P001', 'Happiness', 3): HAPPY,
      f('P002', 'surprise', 0): SURPRISE, f('P002', 'surprise', 1): SURPRISE,
      f('P002', 'Sadness', 0): NEUTRAL, f('P002', 'Sadness', 3): SADNESS,
      f('P002', 'Sadness', 4): SADNESS, f('P002', 'Sadness', 5): SADNESS}
  record = records[f('P002', 'Sadness', 4)]
  assert (record['subject_id'], record['sequence'], int(record['frame'])) == (
      'P002', 'P002/Sadness', 4)
  for name, record in records.items():
    assert record['image'].shape == (SIZE, SIZE, 1) and record['image'].dtype == np.uint8
    if name != happy_peak:  # JPEG: compare with OpenCV's own decoding of the file.
      decoded = cv2.imread(str(source / name), cv2.IMREAD_UNCHANGED)
      np.testing.assert_array_equal(record['image'][:, :, 0], _stored(decoded), err_msg=name)
  # Pure BGR (30, 160, 220) is gray 0.299 * 220 + 0.587 * 160 + 0.114 * 30 = 163.1, up to JPEG.
  assert np.abs(records[happy_peak]['image'].astype(int) - 163).max() <= 2
  assert builder.info.metadata['build_summary']['train'] == {
      'kept': 14, 'skipped': 0, 'skipped_files': []}


def test_oulu_casia_modality_illumination_and_frame_settings(tmp_path):
  _oulu_tree(tmp_path / 'oulu')
  _, records = _build('oulu_casia', tmp_path / 'oulu', tmp_path / 'tfds', modality='NI',
                      illumination='Dark', peak_frames=1)
  assert _labels(records) == {_oulu_file('NI', 'Dark', 'P001', 'Fear', 0): NEUTRAL,
                              _oulu_file('NI', 'Dark', 'P001', 'Fear', 2): FEAR}
  _, records = _build('oulu_casia', tmp_path / 'oulu', tmp_path / 'tfds', illumination='Weak',
                      neutral_frames=0)
  assert _labels(records) == {_oulu_file('VL', 'Weak', 'P001', 'Disgust', 0): DISGUST,
                              _oulu_file('VL', 'Weak', 'P001', 'Disgust', 1): DISGUST}


def test_oulu_casia_skips_a_corrupt_image_and_strict_mode_names_it(tmp_path):
  source = tmp_path / 'oulu'
  _oulu_tree(source)
  corrupt = _oulu_file('VL', 'Strong', 'P002', 'Sadness', 5)
  (source / corrupt).write_bytes(np.random.default_rng(2).bytes(500))
  builder, records = _build('oulu_casia', source, tmp_path / 'tfds')
  assert len(records) == 13 and corrupt not in records
  assert builder.info.metadata['build_summary']['train']['skipped'] == 1
  with pytest.raises(ValueError, match=re.escape(corrupt) + '.*strict'):
    _build('oulu_casia', source, tmp_path / 'tfds', strict=True)


def test_oulu_casia_layout_errors_name_the_path(tmp_path):
  data_dir = tmp_path / 'tfds'
  missing = tmp_path / 'nowhere'
  with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + '.*University of Oulu'):
    _build('oulu_casia', missing, data_dir)
  source = tmp_path / 'oulu'
  _oulu_tree(source, {('VL', 'Weak', 'P001', 'Anger'): 2, ('NI', 'Strong', 'P001', 'Anger'): 2})
  expected = re.escape(os.path.join(str(source), 'VL', 'Strong'))
  with pytest.raises(FileNotFoundError, match=expected + '.*Found instead in .*VL: Weak'):
    _build('oulu_casia', source, data_dir)
  with pytest.raises(FileNotFoundError, match=r'NI[/\\]Dark.*Found instead in .*NI: Strong'):
    _build('oulu_casia', source, data_dir, modality='NI', illumination='Dark')
  nested = tmp_path / 'nested'
  (nested / 'OriginalImg').mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match='Found instead in .*nested: OriginalImg'):
    _build('oulu_casia', nested, data_dir)


def test_oulu_casia_expression_folder_errors(tmp_path):
  source = tmp_path / 'oulu'
  _oulu_tree(source)
  (source / 'VL/Strong/P002/Contempt').mkdir()
  with pytest.raises(ValueError, match="unknown expression folder 'Contempt'.*Anger, Disgust, "
                                       'Fear, Happiness, Sadness, Surprise'):
    _build('oulu_casia', source, tmp_path / 'tfds')
  shutil.rmtree(source / 'VL/Strong/P002/Contempt')
  (source / 'VL/Strong/P002/Fear').mkdir()
  with pytest.raises(FileNotFoundError, match=r'empty class folder .*P002[/\\]Fear'):
    _build('oulu_casia', source, tmp_path / 'tfds')


@pytest.mark.parametrize('field, value', [('modality', 'RGB'), ('illumination', 'strong')])
def test_oulu_casia_bad_setting_names_the_field_and_choices(tmp_path, field, value):
  _oulu_tree(tmp_path / 'oulu')
  choices = 'VL, NI' if field == 'modality' else 'Strong, Weak, Dark'
  with pytest.raises(ValueError, match=f'config.data.builder_kwargs.{field} = {value!r}.*'
                                       f'{choices}'):
    _build('oulu_casia', tmp_path / 'oulu', tmp_path / 'tfds', **{field: value})


@pytest.mark.parametrize('name', ['ckplus', 'oulu_casia'])
def test_load_makes_subject_independent_folds(tmp_path, name):
  source = tmp_path / name
  if name == 'ckplus':
    more = {(subject, '001'): (4, code) for subject, code in (('S011', 3), ('S014', 6))}
    _ckplus_tree(source, {**CKPLUS, **more})
    total = 11 + 4 + 4
  else:
    more = {('VL', 'Strong', subject, 'Fear'): 4 for subject in ('P003', 'P004')}
    _oulu_tree(source, {**OULU, **more})
    total = 14 + 4 + 4
  config = _data_config(name, source, tmp_path / 'tfds')
  config.image_size = 48
  config.num_folds = 2
  folds = [data_lib.load(config)]
  config.fold = 1
  folds.append(data_lib.load(config))
  for dataset in folds:
    assert dataset.class_names == classes.CLASS_NAMES
    assert dataset.train['image'].shape[1:] == (48, 48, 1)
    assert len(dataset.train['label']) + len(dataset.test['label']) == total
    assert not set(dataset.train['subject_id']) & set(dataset.test['subject_id'])
    assert len(dataset.test['label']) and len(dataset.train['label'])
  # The two folds' test sides partition the examples.
  tested = [set(dataset.test['file_name']) for dataset in folds]
  assert not tested[0] & tested[1] and len(tested[0] | tested[1]) == total
