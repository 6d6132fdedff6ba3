"""TFDS builder for FER2013 (Kaggle's CSV or its image-folder copy), optionally relabelled by FER+.

Labels use MicroExpNet's 8-class order; FER2013 has no contempt, so that class stays empty unless
the FER+ votes (`ferplus='majority'` or `'soft'`, the latter adding the vote distribution as
`soft_label`) relabel the images. FER2013 has no subject ids: every image is its own subject.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import os
import re
from typing import Iterator, NamedTuple

import numpy as np
import tensorflow_datasets as tfds

from jaxfer.data import classes
from jaxfer.data import manual

CSV_NAME = 'fer2013.csv'
FERPLUS_NAME = 'fer2013new.csv'
FERPLUS_URL = 'https://github.com/microsoft/FERPlus'
FERPLUS_MODES = ('', 'majority', 'soft')
SIDE = 48
# FER2013's emotion codes 0..6 (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral).
CODE_TO_CLASS = ('anger', 'disgust', 'fear', 'happy', 'sadness', 'surprise', 'neutral')
# The class folders of the image-folder copy, and the paper classes they hold.
FOLDER_TO_CLASS = {'angry': 'anger', 'disgust': 'disgust', 'fear': 'fear', 'happy': 'happy',
                   'neutral': 'neutral', 'sad': 'sadness', 'surprise': 'surprise'}
# The image-folder copy's disgust folders also hold augmented copies of their images, named after
# the original with a digit run and an image extension (`PrivateTest_11895083.jpg0.jpg`):
# 3,488 in train/ and 440 in test/. Dropped, the splits hold FER2013's 28,709 and 3,589 images.
AUGMENTED_COPY = re.compile(r'\.(jpe?g|png)\d+\.(jpe?g|png)$', re.IGNORECASE)
AUGMENTED_COPY_REASON = 'augmented copies, not FER2013 images'
CSV_COLUMNS = ('emotion', 'pixels', 'Usage')
USAGE_TO_SPLIT = {'Training': 'train', 'PublicTest': 'public_test', 'PrivateTest': 'private_test'}
# The FER+ vote columns of each paper class, then the two columns that are not an emotion.
FERPLUS_COLUMNS = {'neutral': 'neutral', 'anger': 'anger', 'contempt': 'contempt',
                   'disgust': 'disgust', 'fear': 'fear', 'happy': 'happiness',
                   'sadness': 'sadness', 'surprise': 'surprise'}
FERPLUS_NON_EMOTIONS = ('unknown', 'NF')


@dataclasses.dataclass
class Fer2013Config(manual.ManualConfig):
  """FER2013 settings; ferplus: '' (FER2013's labels), 'majority' or 'soft' (FER+ votes)."""
  image_size: int = SIDE
  ferplus: str = ''

  def __post_init__(self):
    if self.ferplus not in FERPLUS_MODES:
      raise ValueError(f'config.data.builder_kwargs.ferplus = {self.ferplus!r} is not allowed; '
                       f'expected one of {", ".join(map(repr, FERPLUS_MODES))} (the empty string '
                       "keeps FER2013's labels)")

  @classmethod
  def from_params(cls, manual_dir: str, **params) -> 'Fer2013Config':
    """As `ManualConfig.from_params`, after checking that `manual_dir` holds FER2013."""
    config = super().from_params(manual_dir, **params)
    find_source(manual_dir, config.ferplus)
    return config


class FerPlusTarget(NamedTuple):
  """The FER+ relabelling of one row: a label and vote distribution, or why the row is dropped."""
  label: int = -1
  soft_label: np.ndarray | None = None
  dropped: str = ''
  problem: str = ''


class FerSummary(manual.BuildSummary):
  """A build summary that also counts the files dropped on purpose (by FER+, or augmented
  copies), which are expected, not warned one by one; `dropped_key` names them in the summary."""

  def __init__(self, dataset: str, strict: bool, dropped_key: str = 'dropped_by_ferplus'):
    super().__init__(dataset, strict)
    self.dropped: collections.Counter = collections.Counter()
    self.dropped_key = dropped_key

  def drop(self, reason: str) -> None:
    self.dropped[reason] += 1

  def as_dict(self) -> dict:
    summary = super().as_dict()
    if self.dropped:
      summary['skipped'] += sum(self.dropped.values())
      summary[self.dropped_key] = dict(self.dropped)
    return summary


class Fer2013(tfds.core.GeneratorBasedBuilder):
  """FER2013: 35,887 48x48 faces; splits train, public_test, private_test (CSV) or train, test."""

  name = 'fer2013'
  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.',
                   '1.1.0': 'Image folders: augmented copies (IMAGE.jpgN.jpg) are dropped.'}
  BUILDER_CONFIG_CLASS = Fer2013Config
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
  FER2013 comes from the Kaggle competition "Challenges in Representation Learning: Facial
  Expression Recognition Challenge" (its Data tab):
  https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge
  Put its {CSV_NAME} (columns emotion, pixels, Usage) in config.data.manual_dir. The image-folder
  copy (train/ and test/, each with class folders angry, disgust, fear, happy, neutral, sad,
  surprise of JPEG files) is read too. For FER+ labels (builder_kwargs.ferplus='majority' or
  'soft') also put {FERPLUS_NAME} from {FERPLUS_URL} next to {CSV_NAME}.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    extra = {}
    if self.builder_config.ferplus == 'soft':
      extra['soft_label'] = tfds.features.Tensor(shape=(len(classes.CLASS_NAMES),),
                                                 dtype=np.float32)
    return tfds.core.DatasetInfo(
        builder=self,
        description='FER2013 facial expressions in the 8 classes of MicroExpNet; every image is '
                    'its own subject.',
        features=manual.features(self.builder_config.image_size, classes.CLASS_NAMES, **extra),
        supervised_keys=('image', 'label'),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root, variant = find_source(dl_manager.manual_dir, self.builder_config.ferplus)
    if variant == 'csv':
      return self._csv_splits(root, os.path.join(root, CSV_NAME))
    return {split: self._generate_folder_examples(root, split, _class_folders(root, split))
            for split in ('train', 'test')}

  def _csv_splits(self, root: str, csv_path: str) -> dict:
    """The splits of fer2013.csv that have rows, each with its example generator."""
    columns = _csv_columns(csv_path)
    usages = []
    for row, fields in _csv_rows(csv_path):
      usage = _field(fields, columns['Usage'])
      if usage not in USAGE_TO_SPLIT:
        raise ValueError(
            f'fer2013: {csv_path} row {row} (line {row + 2}) has Usage {usage!r}; expected one '
            f'of {", ".join(USAGE_TO_SPLIT)} (is the file truncated or not Kaggle\'s '
            f'{CSV_NAME}?)')
      usages.append(usage)
    targets = None
    if self.builder_config.ferplus:
      targets = _ferplus_targets(os.path.join(root, FERPLUS_NAME), csv_path, len(usages))
    present = set(usages)
    return {split: self._generate_examples(csv_path, columns, usage, split, targets)
            for usage, split in USAGE_TO_SPLIT.items() if usage in present}

  def _generate_examples(self, csv_path: str, columns: dict[str, int], usage: str, split: str,
                         targets: list[FerPlusTarget] | None):
    """The examples of the CSV rows whose Usage is `usage`, labelled by FER2013 or by FER+."""
    config = self.builder_config
    summary = FerSummary('fer2013', config.strict)
    for row, fields in _csv_rows(csv_path):
      if _field(fields, columns['Usage']) != usage:
        continue
      place = f'{csv_path} row {row} (line {row + 2})'
      if targets is None:
        label, problem = _emotion_label(_field(fields, columns['emotion']))
        soft_label = None
      else:
        label, soft_label, dropped, problem = targets[row]
        if dropped:
          summary.drop(dropped)
          continue
      if problem:
        summary.skip(place, problem)
        continue
      gray, problem = _pixels(_field(fields, columns['pixels']))
      if problem:
        summary.skip(place, problem)
        continue
      image = manual.to_stored(gray, place, config, summary)
      if image is None:
        continue
      file_name = f'{CSV_NAME}:{row}'
      example = {'image': image, 'label': label, 'subject_id': f'fer2013_{split}_{row}',
                 'file_name': file_name}
      if config.ferplus == 'soft':
        example['soft_label'] = soft_label
      yield file_name, example
    if summary.dropped:
      manual.logger.warning(
          'fer2013: %s split: FER+ votes dropped %d images (%s), as FER+ intends', split,
          sum(summary.dropped.values()),
          ', '.join(f'{count} {reason}' for reason, count in sorted(summary.dropped.items())))
    manual.finish(self.info, summary, split)

  def _generate_folder_examples(self, root: str, split: str, folders: dict[str, str]):
    """The examples of the class folders of `root/split` (the image-folder copy)."""
    summary = FerSummary('fer2013', self.builder_config.strict, dropped_key='dropped')
    for class_name, folder in folders.items():
      for path in manual.image_files(folder):
        if is_augmented_copy(os.path.basename(path)):
          summary.drop(AUGMENTED_COPY_REASON)
          continue
        image = manual.read_image(path, self.builder_config, summary)
        if image is not None:
          relative = os.path.relpath(path, root).replace(os.sep, '/')
          yield relative, {'image': image, 'label': class_name,
                           'subject_id': f'fer2013_{relative}', 'file_name': relative}
    if summary.dropped:
      manual.logger.warning('fer2013: %s split: dropped %d files named like IMAGE.jpgN.jpg (%s)',
                            split, sum(summary.dropped.values()), AUGMENTED_COPY_REASON)
    manual.finish(self.info, summary, split)


def is_augmented_copy(file_name: str) -> bool:
  """Whether `file_name` is an augmented copy of the image-folder copy (`x.jpg0.jpg`)."""
  return AUGMENTED_COPY.search(file_name) is not None


def find_source(manual_dir: str, ferplus: str = '') -> tuple[str, str]:
  """The manual directory and its variant, 'csv' or 'folders'; FileNotFoundError if neither."""
  root = manual.require_dir(manual_dir, dataset='fer2013',
                            expected=f'{CSV_NAME}, or train/ and test/ folders of class folders',
                            source=Fer2013.MANUAL_DOWNLOAD_INSTRUCTIONS.strip())
  csv_path = os.path.join(root, CSV_NAME)
  if os.path.isfile(csv_path):
    return root, 'csv'
  if ferplus:
    raise FileNotFoundError(
        f'fer2013: config.data.builder_kwargs.ferplus = {ferplus!r} needs {csv_path}, which '
        f'does not exist (FER+ relabels the rows of {CSV_NAME}; the image-folder copy cannot be '
        "matched to its votes); add the CSV or set ferplus=''")
  if all(os.path.isdir(os.path.join(root, split)) for split in ('train', 'test')):
    return root, 'folders'
  present = sorted(os.listdir(root))
  raise FileNotFoundError(
      f'fer2013: {root} holds neither {CSV_NAME} nor train/ and test/ folders (it holds: '
      f'{", ".join(present) if present else "nothing"}). '
      f'{Fer2013.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()}')


def _class_folders(root: str, split: str) -> dict[str, str]:
  """The paper class and path of every class folder of `root/split`, checked."""
  split_dir = os.path.join(root, split)
  names = sorted(name for name in os.listdir(split_dir)
                 if os.path.isdir(os.path.join(split_dir, name)) and not name.startswith('.'))
  unknown = [name for name in names if name not in FOLDER_TO_CLASS]
  if unknown:
    raise ValueError(f'fer2013: {split_dir} has the unknown class folder(s) {", ".join(unknown)}; '
                     f'expected class folders among {", ".join(FOLDER_TO_CLASS)}')
  if not names:
    raise FileNotFoundError(f'fer2013: {split_dir} holds none of the class folders '
                            f'{", ".join(FOLDER_TO_CLASS)}')
  folders = {}
  for name in names:
    folder = os.path.join(split_dir, name)
    if not manual.image_files(folder):
      raise FileNotFoundError(f'fer2013: the class folder {folder} holds no image files; '
                              'remove it or restore its images')
    folders[FOLDER_TO_CLASS[name]] = folder
  return folders


def _csv_rows(path: str) -> Iterator[tuple[int, list[str]]]:
  """(row number from 0, fields) of every data row of a CSV file; blank lines are not rows."""
  with open(path, newline='', encoding='utf-8-sig') as file:
    reader = csv.reader(file)
    next(reader, None)
    row = 0
    for fields in reader:
      if fields:
        yield row, fields
        row += 1


def _header(path: str, required: tuple[str, ...], what: str) -> dict[str, int]:
  """Column index of each name in the header of a CSV file; ValueError naming missing ones."""
  with open(path, newline='', encoding='utf-8-sig') as file:
    header = next(csv.reader(file), None)
  if not header:
    raise ValueError(f'fer2013: {path} is empty; expected {what} with the header '
                     f'{",".join(required)}')
  columns = {name.strip(): index for index, name in enumerate(header)}
  missing = [name for name in required if name not in columns]
  if missing:
    raise ValueError(f'fer2013: {path} has no column(s) {", ".join(missing)}; expected {what} '
                     f'with the columns {", ".join(required)} (its header is {",".join(header)})')
  return columns


def _csv_columns(path: str) -> dict[str, int]:
  return _header(path, CSV_COLUMNS, f"Kaggle's {CSV_NAME}")


def _field(fields: list[str], index: int) -> str:
  return fields[index].strip() if index < len(fields) else ''


def _emotion_label(text: str) -> tuple[int, str]:
  """The paper label of a FER2013 emotion code, or -1 and what is wrong with it."""
  try:
    code = int(text)
  except ValueError:
    code = -1
  if not 0 <= code < len(CODE_TO_CLASS):
    return -1, f'emotion {text!r} is not a FER2013 code; expected an integer 0 to 6'
  return classes.CLASS_NAMES.index(CODE_TO_CLASS[code]), ''


def _pixels(text: str) -> tuple[np.ndarray | None, str]:
  """The 48x48 uint8 image of a `pixels` field, or None and what is wrong with it."""
  values = text.split()
  if len(values) != SIDE * SIDE:
    return None, f'pixels has {len(values)} values; expected {SIDE * SIDE} ({SIDE}x{SIDE})'
  try:
    pixels = np.array(values, dtype=np.int64)
  except ValueError:
    return None, 'pixels holds a value that is not an integer; expected integers 0 to 255'
  if pixels.min() < 0 or pixels.max() > 255:
    return None, 'pixels holds a value outside 0 to 255'
  return pixels.astype(np.uint8).reshape(SIDE, SIDE), ''


def ferplus_target(votes: np.ndarray, non_emotion_votes: np.ndarray) -> FerPlusTarget:
  """The FER+ label of one image from its 8 emotion votes (paper order) and its unknown/NF votes.

  The label is the most-voted emotion (ties go to the first in paper order); the image is dropped
  when unknown or NF has more votes than every emotion, or when no emotion has a vote.
  """
  if votes.sum() <= 0:
    return FerPlusTarget(dropped='no FER+ emotion votes')
  best = int(np.argmax(votes))
  if non_emotion_votes.max() > votes[best]:
    column = FERPLUS_NON_EMOTIONS[int(np.argmax(non_emotion_votes))]
    return FerPlusTarget(dropped=f'FER+ majority {column}')
  return FerPlusTarget(label=best, soft_label=(votes / votes.sum()).astype(np.float32))


def _votes(fields: list[str], indices: list[int]) -> np.ndarray | None:
  """The vote counts in the given columns of a FER+ row, or None if one is not a count."""
  try:
    votes = np.array([float(_field(fields, index)) for index in indices])
  except ValueError:
    return None
  return votes if np.isfinite(votes).all() and (votes >= 0).all() else None


def _ferplus_targets(path: str, csv_path: str, num_rows: int) -> list[FerPlusTarget]:
  """The FER+ target of every row of fer2013.csv, from fer2013new.csv (same rows, same order)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'fer2013: config.data.builder_kwargs.ferplus needs {path}, which does not exist; '
        f'download {FERPLUS_NAME} from {FERPLUS_URL} and put it next to {csv_path}')
  emotion_columns = tuple(FERPLUS_COLUMNS[name] for name in classes.CLASS_NAMES)
  columns = _header(path, emotion_columns + FERPLUS_NON_EMOTIONS, f'FER+ {FERPLUS_NAME}')
  targets = []
  for row, fields in _csv_rows(path):
    votes = _votes(fields, [columns[name] for name in emotion_columns])
    others = _votes(fields, [columns[name] for name in FERPLUS_NON_EMOTIONS])
    if votes is None or others is None:
      targets.append(FerPlusTarget(
          problem=f'{path} row {row} (line {row + 2}) holds a vote that is not a count; expected '
                  'non-negative numbers in the emotion, unknown and NF columns'))
    else:
      targets.append(ferplus_target(votes, others))
  if len(targets) != num_rows:
    raise ValueError(f'fer2013: {path} has {len(targets)} rows but {csv_path} has {num_rows}; '
                     f'FER+ needs one row per row of {CSV_NAME}, in the same order (download '
                     f'both files again: {FERPLUS_URL})')
  return targets


BUILDER = Fer2013
