"""TFDS builder for the official CK+ release: image sequences from neutral to peak expression.

Every sequence starts neutral and ends at its peak; 327 of the 593 sequences carry an emotion
code. The last `peak_frames` frames of a labelled sequence take its emotion and the first
`neutral_frames` frames of every sequence are neutral, in MicroExpNet's 8-class order.
"""
from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds

from jaxfer.data import classes
from jaxfer.data import manual
from jaxfer.data import sequences as sequences_lib

IMAGES = 'cohn-kanade-images'
EMOTION = 'Emotion'
_LAYOUT = (f'{IMAGES}/S005/001/S005_001_00000001.png ... and '
           f'{EMOTION}/S005/001/S005_001_00000011_emotion.txt (one code per labelled sequence)')
_SOURCE = ('CK+ is licensed by its authors: https://www.jeffcohn.net/resources/. Unzip '
           'extended-cohn-kanade-images.zip and Emotion_labels.zip into config.data.manual_dir.')


def check_layout(manual_dir: str) -> tuple[str, str]:
  """The image and emotion folders of a CK+ download; FileNotFoundError names a missing one."""
  manual.require_dir(manual_dir, dataset='ckplus', expected=_LAYOUT, source=_SOURCE)
  folders = []
  for name in (IMAGES, EMOTION):
    path = os.path.join(manual_dir, name)
    if not os.path.isdir(path):
      raise FileNotFoundError(f'ckplus: the folder {name}/ is missing from {manual_dir} '
                              f'(no directory {path}); expected {_LAYOUT}. {_SOURCE}')
    folders.append(path)
  return folders[0], folders[1]


def read_emotion(path: str) -> int:
  """The MicroExpNet label of one CK+ emotion file (a code such as `   3.0000000e+00`)."""
  with open(path, encoding='utf-8', errors='replace') as file:
    text = file.read().strip()
  try:
    code = float(text)
  except ValueError:
    raise ValueError(f'ckplus: the emotion file {path} holds {text[:40]!r}, not an emotion '
                     'code; expected one number such as 3.0000000e+00') from None
  # CK+'s emotion codes 0 to 7, as its README lists them, are MicroExpNet's classes in order.
  if not code.is_integer() or not 0 <= code < len(classes.CLASS_NAMES):
    raise ValueError(f'ckplus: the emotion file {path} holds the code {text!r}; expected an '
                     f'integer from 0 to 7 ({", ".join(classes.CLASS_NAMES)})')
  return int(code)


def find_sequences(images_dir: str, emotion_dir: str) -> list[sequences_lib.Sequence]:
  """Every sequence with images, each with the label of its emotion file if it has one."""
  labels = {}
  for subject in sequences_lib.subdirs(emotion_dir):
    for name in sequences_lib.subdirs(os.path.join(emotion_dir, subject)):
      folder = os.path.join(emotion_dir, subject, name)
      files = sorted(f for f in os.listdir(folder) if f.endswith('_emotion.txt'))
      if len(files) > 1:
        raise ValueError(f'ckplus: {folder} holds {len(files)} emotion files ({", ".join(files)}); '
                         'expected at most one per sequence')
      if files:
        path = os.path.join(folder, files[0])
        sequence_dir = os.path.join(images_dir, subject, name)
        if not os.path.isdir(sequence_dir) or not manual.image_files(sequence_dir):
          raise FileNotFoundError(f'ckplus: the label file {path} names no image: '
                                  f'{sequence_dir} holds no image files; expected {_LAYOUT}')
        labels[subject, name] = read_emotion(path)
  sequences = []
  for subject in sequences_lib.subdirs(images_dir):
    for name in sequences_lib.subdirs(os.path.join(images_dir, subject)):
      frames = manual.image_files(os.path.join(images_dir, subject, name))
      if frames:
        sequences.append(sequences_lib.Sequence(subject, name, tuple(frames),
                                                labels.get((subject, name))))
  if not sequences:
    raise FileNotFoundError(f'ckplus: {images_dir} holds no sequence of images; expected '
                            f'{_LAYOUT}')
  return sequences


@dataclasses.dataclass
class CKPlusConfig(sequences_lib.SequenceConfig):
  """CK+ settings: those of every sequence dataset, and the layout checked on creation."""

  @classmethod
  def from_params(cls, manual_dir: str, **params) -> 'CKPlusConfig':
    """The config of `params`, once the layout of `manual_dir` is checked."""
    config = super().from_params(manual_dir, **params)
    check_layout(manual_dir)  # Before TFDS, whose own check raises a bare AssertionError.
    return config


class CKPlus(tfds.core.GeneratorBasedBuilder):
  """CK+: neutral and peak frames of 593 sequences of 123 subjects, grayscale ('train' only)."""

  name = 'ckplus'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIG_CLASS = CKPlusConfig
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
  The Extended Cohn-Kanade dataset (CK+) is licensed by its authors; request it at
  https://www.jeffcohn.net/resources/. Unzip extended-cohn-kanade-images.zip and
  Emotion_labels.zip into one folder and point config.data.manual_dir at it, so that it holds
  {IMAGES}/S005/001/S005_001_00000001.png ... (one folder per subject and sequence) and
  {EMOTION}/S005/001/S005_001_00000011_emotion.txt (the emotion code of a labelled sequence).
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=('CK+ neutral and peak frames (subject-independent folds are made at load '
                     'time); `sequence` is subject/sequence, `frame` the index in it from 0.'),
        features=sequences_lib.features(self.builder_config.image_size),
        supervised_keys=('image', 'label'),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(dl_manager.manual_dir)
    sequences = find_sequences(*check_layout(root))
    return {'train': self._generate_examples(root, sequences)}

  def _generate_examples(self, root: str, sequences: list[sequences_lib.Sequence]):
    yield from sequences_lib.generate_examples('ckplus', root, sequences, self.builder_config,
                                               self.info)


BUILDER = CKPlus
