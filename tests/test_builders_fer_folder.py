"""The fer2013 and image_folder builders, built from small mock layouts written in tmp_path.

Every build goes through `jaxfer.data.prepare_builder` (or `load`) with its own TFDS data_dir,
and the records are compared with values computed by hand from the files written here.
"""
import csv
import os
import re

import cv2
import ml_collections
import numpy as np
import pytest

from configs import default
from jaxfer import data as data_lib
from jaxfer.data import classes
from jaxfer.data import fer2013
from jaxfer.data import image_folder

SIDE = 48
# emotion, Usage, FER+ votes (neutral, happiness, surprise, sadness, anger, disgust, fear,
# contempt, unknown, NF) of each row of the mock fer2013.csv; rows 7 and 8 are broken.
ROWS = (
    (3, 'Training', (3, 7, 0, 0, 0, 0, 0, 0, 0, 0)),  # happy; FER+ happy.
    (6, 'Training', (4, 0, 4, 0, 0, 0, 0, 0, 2, 0)),  # neutral; FER+ tie -> neutral.
    (0, 'Training', (0, 0, 0, 0, 4, 0, 0, 6, 0, 0)),  # anger; FER+ contempt.
    (1, 'Training', (0, 0, 0, 0, 0, 4, 0, 0, 6, 0)),  # disgust; FER+ unknown -> dropped.
    (2, 'PublicTest', (0, 0, 0, 0, 0, 0, 4, 0, 0, 6)),  # fear; FER+ NF -> dropped.
    (4, 'PublicTest', (0, 0, 0, 5, 5, 0, 0, 0, 0, 0)),  # sad; FER+ tie -> anger (paper order).
    (5, 'PrivateTest', (0, 0, 0, 0, 0, 0, 0, 0, 0, 10)),  # surprise; FER+ no emotion -> dropped.
    (3, 'Training', (0, 10, 0, 0, 0, 0, 0, 0, 0, 0)),  # 2303 pixels: skipped either way.
    (7, 'Training', (0, 0, 0, 0, 0, 0, 5, 0, 5, 0)),  # bad code; FER+ fear (ties unknown).
    (5, 'PrivateTest', (0, 0, 10, 0, 0, 0, 0, 0, 0, 0)),  # surprise; FER+ surprise.
)
FERPLUS_HEADER = ('Usage', 'Image name', 'neutral', 'happiness', 'surprise', 'sadness', 'anger',
                  'disgust', 'fear', 'contempt', 'unknown', 'NF')


def _config(tmp_path, name, manual_dir, **builder_kwargs):
  config = default.get_config()
  config.data.name = name
  config.data.manual_dir = str(manual_dir)
  config.data.builder_kwargs = ml_collections.ConfigDict(dict(builder_kwargs))
  config.data.data_dir = str(tmp_path / 'tfds')
  config.data.image_size = 32
  return config


def _build(tmp_path, name, manual_dir, **builder_kwargs):
  return data_lib.prepare_builder(_config(tmp_path, name, manual_dir, **builder_kwargs).data)


def _records(builder, split):
  """The records of one split, by file name."""
  source = builder.as_data_source()[split]
  records = [source[i] for i in range(len(source))]
  return {record['file_name'].decode(): record for record in records}


def _labels(records):
  return {name: int(record['label']) for name, record in records.items()}


def _snapshot(root):
  """Every path under `root` with its size and modification time."""
  entries = []
  for directory, subdirs, files in os.walk(root):
    for name in subdirs + files:
      stat = os.stat(os.path.join(directory, name))
      entries.append((os.path.relpath(os.path.join(directory, name), root), stat.st_size,
                      stat.st_mtime_ns))
  return sorted(entries)


def _pixels(row):
  return np.random.default_rng(row).integers(0, 256, (SIDE, SIDE), dtype=np.uint8)


def _pixels_png(seed):
  return cv2.imencode('.png', _pixels(seed)[:12, :12])[1].tobytes()


def _write_fer(directory, rows=ROWS, ferplus=True):
  """The mock fer2013.csv (and fer2013new.csv) of `rows`; row 7 has one pixel too few."""
  directory.mkdir(parents=True, exist_ok=True)
  with open(directory / 'fer2013.csv', 'w', newline='') as file:
    writer = csv.writer(file)
    writer.writerow(['emotion', 'pixels', 'Usage'])
    for row, (emotion, usage, _) in enumerate(rows):
      values = _pixels(row).ravel()[:-1 if row == 7 else None]
      writer.writerow([emotion, ' '.join(map(str, values)), usage])
  if ferplus:
    with open(directory / 'fer2013new.csv', 'w', newline='') as file:
      writer = csv.writer(file)
      writer.writerow(FERPLUS_HEADER)
      for row, (_, usage, votes) in enumerate(rows):
        writer.writerow([usage, f'fer{row:07d}.png', *votes])
  return directory


def _write_image(path, image):
  path.parent.mkdir(parents=True, exist_ok=True)
  assert cv2.imwrite(str(path), np.ascontiguousarray(image))
  return path


def _gray_of(path):
  return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)


def _colour(seed, size):
  return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# fer2013: the Kaggle CSV.


def test_fer2013_csv_maps_labels_keeps_pixels_and_counts_broken_rows(tmp_path):
  manual_dir = _write_fer(tmp_path / 'fer')
  before = _snapshot(manual_dir)
  builder = _build(tmp_path, 'fer2013', manual_dir)
  assert _snapshot(manual_dir) == before
  assert set(builder.info.splits) == {'train', 'public_test', 'private_test'}
  train = _records(builder, 'train')
  # Emotion codes 3 happy, 6 neutral, 0 angry, 1 disgust -> paper indices 5, 0, 1, 3.
  assert _labels(train) == {'fer2013.csv:0': 5, 'fer2013.csv:1': 0, 'fer2013.csv:2': 1,
                            'fer2013.csv:3': 3}
  assert _labels(_records(builder, 'public_test')) == {'fer2013.csv:4': 4, 'fer2013.csv:5': 6}
  assert _labels(_records(builder, 'private_test')) == {'fer2013.csv:6': 7, 'fer2013.csv:9': 7}
  for row in range(4):
    np.testing.assert_array_equal(train[f'fer2013.csv:{row}']['image'][:, :, 0], _pixels(row))
  assert {record['subject_id'].decode() for record in train.values()} == {
      f'fer2013_train_{row}' for row in range(4)}
  assert 'soft_label' not in builder.info.features
  summary = builder.info.metadata['build_summary']
  assert (summary['train']['kept'], summary['train']['skipped']) == (4, 2)
  assert re.search(r'row 7 .*2303 values', summary['train']['skipped_files'][0])
  assert re.search(r"row 8 .*emotion '7'", summary['train']['skipped_files'][1])
  assert summary['public_test']['skipped'] == 0


def test_fer2013_csv_strict_mode_names_the_broken_row(tmp_path):
  manual_dir = _write_fer(tmp_path / 'fer', ferplus=False)
  with pytest.raises(ValueError, match=r'fer2013\.csv row 7 \(line 9\): pixels has 2303 values'):
    _build(tmp_path, 'fer2013', manual_dir, strict=True)


def test_fer2013_csv_makes_only_the_splits_it_has(tmp_path):
  rows = ROWS[:6]  # Training and PublicTest only.
  builder = _build(tmp_path, 'fer2013', _write_fer(tmp_path / 'fer', rows, ferplus=False))
  assert set(builder.info.splits) == {'train', 'public_test'}
  assert builder.info.splits['train'].num_examples == 4


def test_ferplus_majority_relabels_and_counts_dropped_rows(tmp_path):
  manual_dir = _write_fer(tmp_path / 'fer')
  before = _snapshot(manual_dir)
  builder = _build(tmp_path, 'fer2013', manual_dir, ferplus='majority')
  assert _snapshot(manual_dir) == before
  # happy 5, neutral (ties surprise) 0, contempt 2, fear (ties unknown) 4; row 3 is unknown.
  assert _labels(_records(builder, 'train')) == {
      'fer2013.csv:0': 5, 'fer2013.csv:1': 0, 'fer2013.csv:2': 2, 'fer2013.csv:8': 4}
  assert _labels(_records(builder, 'public_test')) == {'fer2013.csv:5': 1}
  assert _labels(_records(builder, 'private_test')) == {'fer2013.csv:9': 7}
  summary = builder.info.metadata['build_summary']
  assert (summary['train']['kept'], summary['train']['skipped']) == (4, 2)
  assert summary['train']['dropped_by_ferplus'] == {'FER+ majority unknown': 1}
  assert len(summary['train']['skipped_files']) == 1  # Only the broken row, not the dropped one.
  assert summary['public_test']['dropped_by_ferplus'] == {'FER+ majority NF': 1}
  assert summary['private_test']['dropped_by_ferplus'] == {'no FER+ emotion votes': 1}
  assert 'soft_label' not in builder.info.features


def test_ferplus_soft_stores_the_vote_distribution(tmp_path):
  manual_dir = _write_fer(tmp_path / 'fer', ROWS[:3])
  builder = _build(tmp_path, 'fer2013', manual_dir, ferplus='soft', strict=True)
  train = _records(builder, 'train')
  # Paper order: neutral, anger, contempt, disgust, fear, happy, sadness, surprise.
  expected = {'fer2013.csv:0': ([0.3, 0, 0, 0, 0, 0.7, 0, 0], 5),
              'fer2013.csv:1': ([0.5, 0, 0, 0, 0, 0, 0, 0.5], 0),
              'fer2013.csv:2': ([0, 0.4, 0.6, 0, 0, 0, 0, 0], 2)}
  assert set(train) == set(expected)
  for name, (soft_label, label) in expected.items():
    assert train[name]['soft_label'].dtype == np.float32
    np.testing.assert_allclose(train[name]['soft_label'], soft_label, rtol=1e-6)
    assert int(train[name]['label']) == label


def test_ferplus_row_without_counts_is_skipped_and_named(tmp_path):
  manual_dir = _write_fer(tmp_path / 'fer', ROWS[:3])
  lines = (manual_dir / 'fer2013new.csv').read_text().splitlines()
  lines[2] = lines[2].replace(',4,0,4,', ',4,x,4,')  # Row 1: a happiness vote of 'x'.
  (manual_dir / 'fer2013new.csv').write_text('\n'.join(lines) + '\n')
  builder = _build(tmp_path, 'fer2013', manual_dir, ferplus='majority')
  assert _labels(_records(builder, 'train')) == {'fer2013.csv:0': 5, 'fer2013.csv:2': 2}
  summary = builder.info.metadata['build_summary']['train']
  assert summary['skipped'] == 1
  assert re.search(r'fer2013new\.csv row 1 \(line 3\) holds a vote that is not a count',
                   summary['skipped_files'][0])


def test_ferplus_target_drops_only_when_a_non_emotion_wins():
  votes = np.array([0, 0, 0, 0, 3, 0, 0, 0.0])
  assert fer2013.ferplus_target(votes, np.array([3.0, 0])).label == 4
  assert fer2013.ferplus_target(votes, np.array([0, 4.0])).dropped == 'FER+ majority NF'
  assert fer2013.ferplus_target(np.zeros(8), np.zeros(2)).dropped == 'no FER+ emotion votes'


def test_ferplus_errors_name_the_file_and_where_it_comes_from(tmp_path):
  manual_dir = _write_fer(tmp_path / 'fer', ferplus=False)
  with pytest.raises(FileNotFoundError,
                     match=re.escape(str(manual_dir / 'fer2013new.csv')) + '.*microsoft/FERPlus'):
    _build(tmp_path, 'fer2013', manual_dir, ferplus='majority')
  _write_fer(tmp_path / 'short', ROWS[:4])
  _write_fer(tmp_path / 'short', ferplus=False)  # fer2013.csv of 10 rows, FER+ of 4.
  with pytest.raises(ValueError, match=r'fer2013new\.csv has 4 rows but .*fer2013\.csv has 10'):
    _build(tmp_path, 'fer2013', tmp_path / 'short', ferplus='soft')
  with pytest.raises(ValueError, match=r"builder_kwargs\.ferplus = 'votes'.*'majority', 'soft'"):
    _build(tmp_path, 'fer2013', manual_dir, ferplus='votes')
  folders = tmp_path / 'folders'
  _write_image(folders / 'train' / 'happy' / 'a.png', _pixels(0))
  _write_image(folders / 'test' / 'happy' / 'b.png', _pixels(1))
  with pytest.raises(FileNotFoundError, match=r"ferplus = 'majority' needs .*fer2013\.csv"):
    _build(tmp_path, 'fer2013', folders, ferplus='majority')


def test_fer2013_layout_errors_name_the_path_and_the_expected_layout(tmp_path):
  missing = tmp_path / 'missing'
  with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + '.*does not exist.*Kaggle'):
    _build(tmp_path, 'fer2013', missing)
  with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + ' does not exist.*Kaggle'):
    fer2013.Fer2013Config.from_params(str(missing))
  other = tmp_path / 'other'
  other.mkdir()
  (other / 'notes.txt').write_text('not FER2013')
  (other / 'train').mkdir()
  with pytest.raises(FileNotFoundError,
                     match=r'neither fer2013\.csv nor train/ and test/.*holds: notes\.txt, train'):
    _build(tmp_path, 'fer2013', other)
  no_usage = tmp_path / 'no_usage'
  no_usage.mkdir()
  (no_usage / 'fer2013.csv').write_text('emotion,pixels\n3,' + ' '.join(['0'] * 2304) + '\n')
  with pytest.raises(ValueError, match=r'fer2013\.csv has no column\(s\) Usage'):
    _build(tmp_path, 'fer2013', no_usage)
  bad_usage = _write_fer(tmp_path / 'bad_usage', [(3, 'Validation', ())], ferplus=False)
  with pytest.raises(ValueError, match=r"row 0 \(line 2\) has Usage 'Validation'; expected one "
                                       r'of Training, PublicTest, PrivateTest'):
    _build(tmp_path, 'fer2013', bad_usage)


# fer2013: the image-folder copy.


def _write_fer_folders(root):
  _write_image(root / 'train' / 'happy' / 'a.jpg', _colour(0, SIDE))
  _write_image(root / 'train' / 'angry' / 'b.png', _pixels(1))
  _write_image(root / 'train' / 'sad' / 'c.png', _pixels(2))
  (root / 'train' / 'sad' / 'corrupt.png').write_bytes(np.random.default_rng(0).bytes(64))
  _write_image(root / 'test' / 'neutral' / 'd.png', _pixels(3))
  _write_image(root / 'test' / 'surprise' / 'e.jpg', _colour(4, SIDE))
  return root


def test_fer2013_folders_map_labels_convert_colour_and_skip_corrupt_files(tmp_path):
  manual_dir = _write_fer_folders(tmp_path / 'fer')
  before = _snapshot(manual_dir)
  builder = _build(tmp_path, 'fer2013', manual_dir)
  assert _snapshot(manual_dir) == before
  assert set(builder.info.splits) == {'train', 'test'}
  train, test = _records(builder, 'train'), _records(builder, 'test')
  assert _labels(train) == {'train/happy/a.jpg': 5, 'train/angry/b.png': 1, 'train/sad/c.png': 6}
  assert _labels(test) == {'test/neutral/d.png': 0, 'test/surprise/e.jpg': 7}
  np.testing.assert_array_equal(train['train/happy/a.jpg']['image'][:, :, 0],
                                _gray_of(manual_dir / 'train' / 'happy' / 'a.jpg'))
  np.testing.assert_array_equal(train['train/angry/b.png']['image'][:, :, 0], _pixels(1))
  assert train['train/sad/c.png']['subject_id'].decode() == 'fer2013_train/sad/c.png'
  summary = builder.info.metadata['build_summary']
  assert (summary['train']['kept'], summary['train']['skipped']) == (3, 1)
  assert 'corrupt.png' in summary['train']['skipped_files'][0]
  with pytest.raises(ValueError, match=r'train/sad/corrupt\.png: unreadable or corrupt'):
    _build(tmp_path / 'strict', 'fer2013', manual_dir, strict=True)


def test_fer2013_folders_drop_augmented_copies_and_keep_only_the_originals(tmp_path, caplog):
  manual_dir = tmp_path / 'fer'
  originals = {'train/disgust/Training_1.jpg': 0, 'train/happy/Training_2.jpg': 1,
               'test/disgust/PrivateTest_3.jpg': 2}
  for name, seed in originals.items():
    _write_image(manual_dir / name, _pixels(seed))
  # The copies of the image-folder copy: the original's name, a digit run, an image extension.
  copies = ('train/disgust/Training_1.jpg0.jpg', 'train/disgust/Training_1.jpg12.jpeg',
            'train/disgust/Training_1.jpg1.png', 'test/disgust/PrivateTest_3.jpg4.jpg')
  for number, name in enumerate(copies):
    _write_image(manual_dir / name, _pixels(10 + number))
  with caplog.at_level('WARNING', logger='jaxfer'):
    builder = _build(tmp_path, 'fer2013', manual_dir)
  assert set(_records(builder, 'train')) == {'train/disgust/Training_1.jpg',
                                            'train/happy/Training_2.jpg'}
  assert set(_records(builder, 'test')) == {'test/disgust/PrivateTest_3.jpg'}
  summary = builder.info.metadata['build_summary']
  assert summary['train']['dropped'] == {'augmented copies, not FER2013 images': 3}
  assert summary['test']['dropped'] == {'augmented copies, not FER2013 images': 1}
  assert (summary['train']['kept'], summary['train']['skipped_files']) == (2, [])
  drops = [r.getMessage() for r in caplog.records if 'augmented copies' in r.getMessage()]
  assert drops == ['fer2013: train split: dropped 3 files named like IMAGE.jpgN.jpg (augmented '
                   'copies, not FER2013 images)',
                   'fer2013: test split: dropped 1 files named like IMAGE.jpgN.jpg (augmented '
                   'copies, not FER2013 images)']
  assert not fer2013.is_augmented_copy('Training_10371709.jpg')
  assert not fer2013.is_augmented_copy('photo2.jpg')


def test_fer2013_folder_errors_name_the_folder(tmp_path):
  unknown = tmp_path / 'unknown'
  _write_image(unknown / 'train' / 'happiness' / 'a.png', _pixels(0))
  _write_image(unknown / 'test' / 'happy' / 'b.png', _pixels(1))
  with pytest.raises(ValueError, match=r'unknown class folder\(s\) happiness; expected .*angry'):
    _build(tmp_path, 'fer2013', unknown)
  empty = tmp_path / 'empty'
  _write_image(empty / 'train' / 'happy' / 'a.png', _pixels(0))
  (empty / 'test' / 'fear').mkdir(parents=True)
  with pytest.raises(FileNotFoundError,
                     match=re.escape(str(empty / 'test' / 'fear')) + ' holds no image files'):
    _build(tmp_path, 'fer2013', empty)


def test_fer2013_loads_public_test_as_the_test_split(tmp_path):
  config = _config(tmp_path, 'fer2013', _write_fer(tmp_path / 'fer', ferplus=False))
  config.data.num_folds = 0
  config.data.train_split = 'train'
  config.data.test_split = 'public_test'
  dataset = data_lib.load(config.data)
  assert dataset.class_names == classes.CLASS_NAMES
  assert dataset.train['image'].shape == (4, 32, 32, 1)
  assert sorted(dataset.train['label']) == [0, 1, 3, 5]
  assert sorted(dataset.test['file_name']) == ['fer2013.csv:4', 'fer2013.csv:5']
  assert sorted(dataset.test['label']) == [4, 6]


# image_folder.

# class folder / subject folder / file; subject 's3' of 'smile' has a second, nested image.
TREE = {'calm/s1/a.png': 0, 'calm/s2/b.png': 1, 'calm/s3/c.png': 2, 'calm/s4/d.png': 3,
        'smile/s1/e.png': 4, 'smile/s2/f.png': 5, 'smile/s3/deeper/g.png': 6,
        'smile/s3/h.png': 7, 'smile/s4/i.png': 8}
SUBJECT_REGEX = r'^[^/]+/(s\d+)/'


def _write_tree(root, tree=TREE, size=12):
  for relative, seed in tree.items():
    _write_image(root / relative, _colour(seed, size) if seed == 4 else _pixels(seed)[:size, :size])
  return root


def test_image_folder_reads_nested_classes_subjects_and_colour(tmp_path):
  manual_dir = _write_tree(tmp_path / 'tree')
  (manual_dir / 'calm' / 'notes.txt').write_text('not an image')
  (manual_dir / 'smile' / 'loose.png').write_bytes(_pixels_png(9))  # Matches no subject.
  before = _snapshot(manual_dir)
  builder = _build(tmp_path, 'image_folder', manual_dir, subject_regex=SUBJECT_REGEX,
                   image_size=12)
  assert _snapshot(manual_dir) == before
  assert list(builder.info.splits) == ['train']
  assert builder.info.features['label'].names == ['calm', 'smile']
  train = _records(builder, 'train')
  assert _labels(train) == {name: int(name.startswith('smile')) for name in TREE}
  assert {name: record['subject_id'].decode() for name, record in train.items()} == {
      name: name.split('/')[1] for name in TREE}
  np.testing.assert_array_equal(train['smile/s1/e.png']['image'][:, :, 0],
                                _gray_of(manual_dir / 'smile' / 's1' / 'e.png'))
  np.testing.assert_array_equal(train['calm/s2/b.png']['image'][:, :, 0], _pixels(1)[:12, :12])
  summary = builder.info.metadata['build_summary']['train']
  assert (summary['kept'], summary['skipped']) == (9, 1)
  assert re.search(r"loose\.png: its path 'smile/loose\.png' does not match .*subject_regex "
                   r"'\^\[\^/\]\+/\(s\\\\d\+\)/'", summary['skipped_files'][0])
  with pytest.raises(ValueError, match=r'smile/loose\.png: its path .*does not match'):
    _build(tmp_path / 'strict', 'image_folder', manual_dir, subject_regex=SUBJECT_REGEX,
           strict=True)


def test_image_folder_whole_match_and_one_subject_per_image(tmp_path):
  manual_dir = _write_tree(tmp_path / 'tree')
  builder = _build(tmp_path, 'image_folder', manual_dir, subject_regex=r's\d', image_size=12)
  assert {name: record['subject_id'].decode()
          for name, record in _records(builder, 'train').items()} == {
              name: name.split('/')[1] for name in TREE}
  builder = _build(tmp_path, 'image_folder', manual_dir, image_size=12)
  assert {name: record['subject_id'].decode()
          for name, record in _records(builder, 'train').items()} == {name: name for name in TREE}


def test_image_folder_honours_class_names_order(tmp_path):
  manual_dir = _write_tree(tmp_path / 'tree')
  builder = _build(tmp_path, 'image_folder', manual_dir, class_names=('smile', 'frown', 'calm'),
                   image_size=12)
  assert builder.info.features['label'].names == ['smile', 'frown', 'calm']
  assert _labels(_records(builder, 'train')) == {
      name: 0 if name.startswith('smile') else 2 for name in TREE}
  with pytest.raises(ValueError, match=r'class folder\(s\) smile, which config\.data\.'
                                       r'builder_kwargs\.class_names \(calm, frown\) does not'):
    _build(tmp_path, 'image_folder', manual_dir, class_names=('calm', 'frown'))


def test_image_folder_split_folders_and_corrupt_files(tmp_path):
  manual_dir = tmp_path / 'split'
  _write_tree(manual_dir / 'train', {'b/x1.png': 0, 'b/x2.png': 1, 'a/y1.png': 2})
  _write_tree(manual_dir / 'test', {'c/z1.png': 3})
  (manual_dir / 'train' / 'a' / 'corrupt.png').write_bytes(b'\x89PNG not really')
  before = _snapshot(manual_dir)
  builder = _build(tmp_path, 'image_folder', manual_dir, image_size=12)
  assert _snapshot(manual_dir) == before
  assert builder.info.features['label'].names == ['a', 'b', 'c']
  assert _labels(_records(builder, 'train')) == {'train/b/x1.png': 1, 'train/b/x2.png': 1,
                                                 'train/a/y1.png': 0}
  assert _labels(_records(builder, 'test')) == {'test/c/z1.png': 2}
  summary = builder.info.metadata['build_summary']
  assert (summary['train']['kept'], summary['train']['skipped']) == (3, 1)
  assert (summary['test']['kept'], summary['test']['skipped']) == (1, 0)
  with pytest.raises(ValueError, match=r'train/a/corrupt\.png: unreadable or corrupt image file '
                                       r'\(strict mode'):
    _build(tmp_path / 'strict', 'image_folder', manual_dir, strict=True)


def test_image_folder_config_names_tell_settings_apart(tmp_path):
  manual_dir = _write_tree(tmp_path / 'tree')
  make = image_folder.ImageFolderConfig.from_params
  names = {make(str(manual_dir), subject_regex=r'(s\d)/').name,
           make(str(manual_dir), subject_regex=r'(s\d)-').name,
           make(str(manual_dir)).name,
           make(str(manual_dir), class_names=('calm', 'smile')).name,
           make(str(manual_dir), class_names=('smile', 'calm')).name}
  assert len(names) == 5
  assert make(str(manual_dir)).class_names == ('calm', 'smile')


def test_image_folder_errors_name_the_path_or_field(tmp_path):
  missing = tmp_path / 'missing'
  with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + "'? does not exist"):
    _build(tmp_path, 'image_folder', missing)
  with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + ' does not exist'):
    image_folder.ImageFolderConfig.from_params(str(missing))
  no_classes = tmp_path / 'no_classes'
  no_classes.mkdir()
  (no_classes / 'README.txt').write_text('nothing here')
  with pytest.raises(FileNotFoundError, match=re.escape(str(no_classes)) + ' holds no class'):
    _build(tmp_path, 'image_folder', no_classes)
  empty = _write_tree(tmp_path / 'empty', {'calm/a.png': 0})
  (empty / 'smile' / 'sub').mkdir(parents=True)
  with pytest.raises(FileNotFoundError,
                     match=re.escape(str(empty / 'smile')) + ' holds no image files'):
    _build(tmp_path, 'image_folder', empty)
  loose = _write_tree(tmp_path / 'loose', {'calm/a.png': 0, 'stray.png': 1})
  with pytest.raises(ValueError, match=r'1 image\(s\) outside any class folder \(stray\.png\).*'
                                       r'one folder per class'):
    _build(tmp_path, 'image_folder', loose)
  with pytest.raises(ValueError, match=r"subject_regex = '\(s\\\\d' is not a valid regular "
                                       r'expression: missing \)'):
    _build(tmp_path, 'image_folder', _write_tree(tmp_path / 'tree'), subject_regex=r'(s\d')
  with pytest.raises(ValueError, match=r"class_names = 'calm,smile' is a string; expected a tuple"):
    _build(tmp_path, 'image_folder', tmp_path / 'tree', class_names='calm,smile')
  with pytest.raises(ValueError, match=r'class_names lists calm more than once'):
    _build(tmp_path, 'image_folder', tmp_path / 'tree', class_names=('calm', 'smile', 'calm'))
  with pytest.raises(ValueError, match=r"unknown field\(s\) \['subject'\]"):
    _build(tmp_path, 'image_folder', tmp_path / 'tree', subject='x')


def test_image_folder_folds_keep_each_subject_on_one_side(tmp_path):
  tree = {f'{label}/s{subject}_{take}.png': 10 * subject + take
          for label in ('calm', 'smile') for subject in range(4) for take in range(2)}
  manual_dir = _write_tree(tmp_path / 'folds', tree, size=16)
  config = _config(tmp_path, 'image_folder', manual_dir, subject_regex=r'/(s\d+)_',
                   image_size=16)
  config.data.num_folds = 2
  sides = []
  for fold in range(2):
    config.data.fold = fold
    dataset = data_lib.load(config.data)
    assert dataset.class_names == ('calm', 'smile')
    assert dataset.train['image'].shape[1:] == (32, 32, 1)
    assert not set(dataset.train['subject_id']) & set(dataset.test['subject_id'])
    assert set(dataset.train['subject_id']) | set(dataset.test['subject_id']) == {
        's0', 's1', 's2', 's3'}
    assert len(dataset.train['label']) + len(dataset.test['label']) == 16
    sides.append(set(dataset.test['file_name']))
  assert sides[0] | sides[1] == set(tree) and not sides[0] & sides[1]
