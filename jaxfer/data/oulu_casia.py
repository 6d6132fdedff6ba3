"""TFDS builder for the official Oulu-CASIA NIR&VIS release: sequences from neutral to peak.

A config reads one modality (visible light 'VL' or near-infrared 'NI') under one illumination
('Strong', 'Weak', 'Dark'). Each sequence's last `peak_frames` frames take its expression and its
first `neutral_frames` are neutral; contempt, absent here, stays an empty class of the 8.
"""
from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds

from jaxfer.data import classes
from jaxfer.data import manual
from jaxfer.data import sequences as sequences_lib

MODALITIES = ('VL', 'NI')
ILLUMINATIONS = ('Strong', 'Weak', 'Dark')
# Expression folder names (matched case-insensitively) and their MicroExpNet class.
EXPRESSIONS = {'Anger': 'anger', 'Disgust': 'disgust', 'Fear': 'fear', 'Happiness': 'happy',
               'Sadness': 'sadness', 'Surprise': 'surprise'}
_LAYOUT = ('<modality>/<illumination>/<subject>/<expression>/<frame>.jpeg, e.g. '
           'VL/Strong/P001/Anger/000.jpeg')
_SOURCE = ('Oulu-CASIA comes from the Center for Machine Vision and Signal Analysis, University '
           'of Oulu, under a licence agreement.')


@dataclasses.dataclass
class OuluCasiaConfig(sequences_lib.SequenceConfig):
  """Sequence settings plus which images to read: `modality` (VL, NI) and `illumination`."""
  modality: str = 'VL'
  illumination: str = 'Strong'

  def __post_init__(self):
    super().__post_init__()
    for field, allowed in (('modality', MODALITIES), ('illumination', ILLUMINATIONS)):
      value = getattr(self, field)
      if value not in allowed:
        raise ValueError(f'config.data.builder_kwargs.{field} = {value!r} is not allowed; '
                         f'choose one of: {", ".join(allowed)}')

  @classmethod
  def from_params(cls, manual_dir: str, **params) -> 'OuluCasiaConfig':
    """The config of `params`, once the layout of `manual_dir` is checked."""
    config = super().from_params(manual_dir, **params)
    check_layout(manual_dir, config)  # Before TFDS, whose own check raises a bare AssertionError.
    return config


def check_layout(manual_dir: str, config: OuluCasiaConfig) -> str:
  """The folder of the configured modality and illumination, or FileNotFoundError naming it."""
  manual.require_dir(manual_dir, dataset='oulu_casia', expected=_LAYOUT, source=_SOURCE)
  path = os.path.join(manual_dir, config.modality, config.illumination)
  if os.path.isdir(path):
    return path
  found = os.path.join(manual_dir, config.modality)
  if not os.path.isdir(found):
    found = manual_dir
  entries = sorted(name for name in os.listdir(found) if not name.startswith('.'))
  listing = ', '.join(entries[:20]) + (', ...' if len(entries) > 20 else '') or 'nothing'
  raise FileNotFoundError(
      f'oulu_casia: the folder {path} does not exist (config.data.builder_kwargs.modality = '
      f'{config.modality!r}, illumination = {config.illumination!r}); expected {_LAYOUT}. '
      f'Found instead in {found}: {listing}. If the release nests these folders (e.g. under '
      'OriginalImg/), point config.data.manual_dir at the folder that holds VL/ and NI/.')


def find_sequences(root: str) -> list[sequences_lib.Sequence]:
  """Every expression folder of every subject folder under `root`, with its label."""
  labels = {name.lower(): classes.CLASS_NAMES.index(label)
            for name, label in EXPRESSIONS.items()}
  sequences = []
  for subject in sequences_lib.subdirs(root):
    for name in sequences_lib.subdirs(os.path.join(root, subject)):
      folder = os.path.join(root, subject, name)
      if name.lower() not in labels:
        raise ValueError(f'oulu_casia: unknown expression folder {name!r} ({folder}); expected '
                         f'one of: {", ".join(EXPRESSIONS)} (any case)')
      frames = manual.image_files(folder)
      if not frames:
        raise FileNotFoundError(f'oulu_casia: empty class folder {folder}: it holds no image '
                                'files; remove it or restore its images')
      sequences.append(sequences_lib.Sequence(subject, name, tuple(frames), labels[name.lower()]))
  if not sequences:
    raise FileNotFoundError(f'oulu_casia: {root} holds no subject folder with expression '
                            f'folders; expected {_LAYOUT}')
  return sequences


class OuluCasia(tfds.core.GeneratorBasedBuilder):
  """Oulu-CASIA: neutral and peak frames of 80 subjects' 480 sequences, grayscale ('train')."""

  name = 'oulu_casia'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIG_CLASS = OuluCasiaConfig
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Oulu-CASIA NIR&VIS is distributed by the Center for Machine Vision and Signal Analysis,
  University of Oulu, after a signed licence agreement. Point config.data.manual_dir at the
  folder that holds the modality folders VL/ (visible light) and NI/ (near-infrared), each with
  the illumination folders Strong/, Weak/ and Dark/, then one folder per subject (P001 ...) and
  one per expression (Anger, Disgust, Fear, Happiness, Sadness, Surprise) of frames in order:
  VL/Strong/P001/Anger/000.jpeg ... Choose the images with config.data.builder_kwargs.modality
  and .illumination.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=('Oulu-CASIA neutral and peak frames (subject-independent folds are made at '
                     'load time); `sequence` is subject/expression, `frame` the index from 0.'),
        features=sequences_lib.features(self.builder_config.image_size),
        supervised_keys=('image', 'label'),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = os.fspath(dl_manager.manual_dir)
    sequences = find_sequences(check_layout(root, self.builder_config))
    return {'train': self._generate_examples(root, sequences)}

  def _generate_examples(self, root: str, sequences: list[sequences_lib.Sequence]):
    yield from sequences_lib.generate_examples('oulu_casia', root, sequences, self.builder_config,
                                               self.info)


BUILDER = OuluCasia
