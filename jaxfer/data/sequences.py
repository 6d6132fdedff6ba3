"""Sequences from neutral to peak expression (CK+, Oulu-CASIA): which frames get which label.

A sequence contributes its last `peak_frames` frames with its expression and its first
`neutral_frames` frames as neutral; both builders share these helpers.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from jaxfer.data import classes
from jaxfer.data import manual


def _check_count(field: str, value, minimum: int) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f'config.data.builder_kwargs.{field} = {value!r} is not allowed; expected '
                     f'an integer of at least {minimum}')


@dataclasses.dataclass
class SequenceConfig(manual.ManualConfig):
  """Settings of a dataset of sequences from neutral to peak (CK+, Oulu-CASIA).

  peak_frames: the last N frames of a sequence take its expression; neutral_frames: the first N
  frames are neutral (0: none). Where both cover a frame of a short sequence, the expression wins.
  """
  peak_frames: int = 3
  neutral_frames: int = 1

  def __post_init__(self):
    _check_count('peak_frames', self.peak_frames, 1)
    _check_count('neutral_frames', self.neutral_frames, 0)


def sequence_labels(num_frames: int, label: int | None, peak_frames: int,
                    neutral_frames: int) -> list[tuple[int, int]]:
  """(frame index, label) of the frames a sequence contributes, each frame at most once.

  `label` None (an unlabelled sequence) gives only the neutral frames. A frame among both the
  last `peak_frames` and the first `neutral_frames` takes `label`: the peak is what was coded.
  """
  neutral = classes.CLASS_NAMES.index('neutral')
  chosen = []
  for index in range(num_frames):
    if label is not None and index >= num_frames - peak_frames:
      chosen.append((index, label))
    elif index < neutral_frames:
      chosen.append((index, neutral))
  return chosen


@dataclasses.dataclass(frozen=True)
class Sequence:
  """One image sequence: subject, folder name, frame files in order and emotion (or None)."""
  subject_id: str
  name: str
  frames: tuple[str, ...]
  label: int | None


def features(image_size: int):
  """The features of a sequence dataset: the common ones plus `sequence` and `frame`."""
  return manual.features(image_size, classes.CLASS_NAMES, sequence=tfds.features.Text(),
                         frame=tfds.features.Scalar(dtype=np.int32))


def generate_examples(dataset: str, root: str, sequences: list[Sequence], config: SequenceConfig,
                      info: tfds.core.DatasetInfo):
  """(key, example) of the chosen frames of every sequence, then the build summary in `info`;
  unreadable frames are skipped and counted, not replaced."""
  summary = manual.BuildSummary(dataset, config.strict)
  for sequence in sequences:
    chosen = sequence_labels(len(sequence.frames), sequence.label, config.peak_frames,
                             config.neutral_frames)
    for index, label in chosen:
      path = sequence.frames[index]
      image = manual.read_image(path, config, summary)
      if image is not None:
        relative = os.path.relpath(path, root)
        yield relative, {'image': image, 'label': label, 'subject_id': sequence.subject_id,
                         'file_name': relative, 'frame': index,
                         'sequence': f'{sequence.subject_id}/{sequence.name}'}
  manual.finish(info, summary, 'train')


def subdirs(directory: str) -> list[str]:
  """Names of the folders directly in `directory`, sorted."""
  return sorted(name for name in os.listdir(directory)
                if not name.startswith('.') and os.path.isdir(os.path.join(directory, name)))
