"""What every builder of a hand-downloaded dataset shares: its config, checks and image reading.

Builders read the manual directory given by `config.data.manual_dir` (passed to TFDS as
`DownloadConfig(manual_dir=...)`), never write into it, and store grayscale uint8 images of one
size. Files that cannot be decoded are skipped with a warning and counted in the build summary
(`builder.info.metadata['build_summary']`), or raise in strict mode.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from typing import Iterable

import cv2
import numpy as np
import tensorflow_datasets as tfds

from jaxfer import bounds
from jaxfer.data import preprocess

logger = logging.getLogger('jaxfer')

# The largest stored image side: above the frames of every dataset here (CK+ 640x490, Oulu-CASIA
# 320x240, FER2013 48x48), where a larger size only upsamples, and 1 MiB an image.
MAX_STORED_SIZE = 1024

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.pgm', '.ppm')


@dataclasses.dataclass
class ManualConfig(tfds.core.BuilderConfig):
  """Settings shared by the manual builders; the config name encodes them and the source.

  image_size: stored square size; face_crop: detect the face with OpenCV's Haar cascade and store
  only it (the paper's 256-pixel face; its windows are taken at load time, see `preprocess`);
  strict: an unreadable image is an error instead of a counted skip.
  """
  image_size: int = 256
  face_crop: bool = False
  strict: bool = False
  source_digest: str = ''

  @classmethod
  def check_params(cls, params: dict) -> None:
    """Raises ValueError naming the first of `config.data.builder_kwargs` this builder cannot use
    (an unknown field, a value of the wrong type, or one its own checks refuse)."""
    unknown = set(params) - set(_own_fields(cls))
    if unknown:
      raise ValueError(f'config.data.builder_kwargs has unknown field(s) {sorted(unknown)}; '
                       f'{cls.__name__} accepts: {", ".join(_own_fields(cls))}')
    for name in ('face_crop', 'strict'):
      if name in params and not isinstance(params[name], bool):
        raise ValueError(f'config.data.builder_kwargs.{name} = {params[name]!r} is not allowed; '
                         'expected True or False')
    bounds.check_number('config.data.builder_kwargs.image_size',
                        params.get('image_size', cls.image_size), low=1, low_inclusive=True,
                        high=MAX_STORED_SIZE, integer=True)
    cls(name='check', **params)  # The builder's own checks (__post_init__).

  @classmethod
  def from_params(cls, manual_dir: str, **params) -> 'ManualConfig':
    """A config whose name encodes every parameter and a digest of the source directory listing,
    so other settings or other source files never reuse an earlier build."""
    cls.check_params(params)
    values = {name: params.get(name, getattr(cls, name)) for name in _own_fields(cls)}
    digest = source_digest(manual_dir)
    name = '_'.join(f'{key}{_short(value)}' for key, value in values.items()) + f'_{digest}'
    return cls(name=name, source_digest=digest, **values)


def _own_fields(cls) -> list[str]:
  base = {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)} | {'source_digest'}
  return [f.name for f in dataclasses.fields(cls) if f.name not in base]


def _short(value) -> str:
  """`value` as a config-name part; a digest is added where the text had to be changed."""
  if isinstance(value, bool):
    return str(int(value))
  text = str(value)
  safe = ''.join(c if c.isalnum() else '-' for c in text.replace('.', 'p'))
  if isinstance(value, (int, float)) or (safe == text and len(text) <= 24):
    return safe
  return f'{safe[:12]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}'



def source_digest(manual_dir: str) -> str:
  """8 hex digits of the absolute path and the (name, size, mtime) listing under it."""
  digest = hashlib.sha256(os.path.abspath(manual_dir).encode())
  if os.path.isdir(manual_dir):
    for root, dirs, files in os.walk(manual_dir):
      dirs.sort()
      for name in sorted(files):
        stat = os.stat(os.path.join(root, name))
        digest.update(f'{os.path.relpath(os.path.join(root, name), manual_dir)}:{stat.st_size}:'
                      f'{int(stat.st_mtime)}\n'.encode())
  return digest.hexdigest()[:8]


def require_dir(path: str | os.PathLike, *, dataset: str, expected: str, source: str) -> str:
  """`path` if it is a directory, else FileNotFoundError naming it, the layout and its source."""
  path = os.fspath(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(f'{dataset}: the directory {path} does not exist; expected {expected}. '
                            f'{source}')
  return path


def image_files(directory: str) -> list[str]:
  """Image files directly in `directory`, sorted by name."""
  return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith('.'))


class BuildSummary:
  """Counts what a build kept and skipped, warns per skip, and raises in strict mode."""

  def __init__(self, dataset: str, strict: bool):
    self.dataset = dataset
    self.strict = strict
    self.kept = 0
    self.skipped: list[tuple[str, str]] = []

  def skip(self, path: str, reason: str) -> None:
    if self.strict:
      raise ValueError(f'{self.dataset}: {path}: {reason} (strict mode; set '
                       f'config.data.builder_kwargs.strict=False to skip such files)')
    logger.warning('%s: skipping %s: %s', self.dataset, path, reason)
    self.skipped.append((path, reason))

  def as_dict(self) -> dict:
    return {'kept': self.kept, 'skipped': len(self.skipped),
            'skipped_files': [f'{path}: {reason}' for path, reason in self.skipped[:100]]}


def read_image(path: str, config: ManualConfig, summary: BuildSummary) -> np.ndarray | None:
  """The stored form of one image file ([S, S, 1] uint8), or None (counted) if unusable."""
  try:
    raw = np.fromfile(path, np.uint8)
  except OSError as error:
    summary.skip(path, f'cannot be read ({error.strerror})')
    return None
  image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
  if image is None:
    summary.skip(path, 'unreadable or corrupt image file')
    return None
  return to_stored(preprocess.to_grayscale(image), path, config, summary)


def to_stored(gray: np.ndarray, path: str, config: ManualConfig,
              summary: BuildSummary) -> np.ndarray | None:
  """Face crop (if configured) and resize of a decoded grayscale image, as stored."""
  if config.face_crop:
    face = preprocess.crop_face(gray, config.image_size)
    if face is None:
      summary.skip(path, 'no face found by the Haar cascade')
      return None
    gray = face
  summary.kept += 1
  gray = preprocess.resize(preprocess.center_square(gray), config.image_size)
  return gray[:, :, None]


def features(image_size: int, class_names: Iterable[str], **extra) -> tfds.features.FeaturesDict:
  """The common features: image, label, subject_id, file_name (plus `extra`)."""
  return tfds.features.FeaturesDict({
      'image': tfds.features.Tensor(shape=(image_size, image_size, 1), dtype=np.uint8),
      'label': tfds.features.ClassLabel(names=list(class_names)),
      'subject_id': tfds.features.Text(),
      'file_name': tfds.features.Text(),
      **extra,
  })


def finish(info: tfds.core.DatasetInfo, summary: BuildSummary, split: str = 'train') -> None:
  """Logs the build summary of one split and stores it in the dataset's metadata."""
  if not summary.kept:
    raise ValueError(f'{summary.dataset}: no usable image in split {split!r} '
                     f'({len(summary.skipped)} skipped); see the warnings above')
  info.metadata.setdefault('build_summary', {})[split] = summary.as_dict()
  logger.info('%s: %s split: %d images kept, %d skipped', summary.dataset, split, summary.kept,
              len(summary.skipped))
