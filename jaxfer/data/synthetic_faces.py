"""TFDS builder serving the procedurally rendered synthetic faces (`jaxfer.data.synthetic`).

The builder is parametrised by a `SyntheticFacesConfig` (size, subjects, images, difficulty);
each parameter set is its own TFDS config, prepared once into array_record files and read back
through `tfds.data_source` like every other dataset of the project, with no TensorFlow.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from jaxfer import bounds
from jaxfer.data import classes
from jaxfer.data import folds
from jaxfer.data import synthetic


@dataclasses.dataclass
class SyntheticFacesConfig(tfds.core.BuilderConfig):
  """Rendering parameters; train and test subjects are disjoint."""
  image_size: int = 84
  train_subjects: int = 48
  test_subjects: int = 16
  images_per_class: int = 4
  seed: int = 0
  min_intensity: float = 0.25
  noise: float = 0.04

  @classmethod
  def from_params(cls, **params) -> 'SyntheticFacesConfig':
    """A config whose name encodes every parameter, so distinct settings never share files."""
    defaults = cls(name='defaults')
    values = {f.name: params.get(f.name, getattr(defaults, f.name))
              for f in dataclasses.fields(cls) if f.name in _PARAMS}
    name = '_'.join(f'{key}{values[key]}' for key in _PARAMS).replace('.', 'p')
    return cls(name=name, **values)


_PARAMS = ('image_size', 'train_subjects', 'test_subjects', 'images_per_class', 'seed',
           'min_intensity', 'noise')
# config.data.synthetic fields (image_size comes from config.data) and their bounds. Subjects
# and images: 10,000 subjects is 80 times CK+'s 123 and 100 images of each class and subject 50
# times the default; noise is a standard deviation on the 0..1 pixel scale, pure noise at 1.
_BOUNDS = {'train_subjects': dict(low=1, high=10_000, integer=True),
           'test_subjects': dict(low=1, high=10_000, integer=True),
           'images_per_class': dict(low=1, high=100, integer=True),
           'seed': dict(low=0, high=folds.MAX_SEED, integer=True),
           'min_intensity': dict(low=0.0, high=1.0), 'noise': dict(low=0.0, high=1.0)}
# Rendered images in all (subjects x classes x images_per_class): a million is 28 times FER2013
# (35,887), 7 GB of uint8 at 84x84 and hours of rendering; the default renders 3,200.
MAX_IMAGES = 1_000_000


def check_params(params: dict) -> None:
  """Raises ValueError naming the first field of `config.data.synthetic` that is not usable."""
  unknown = sorted(set(params) - set(_BOUNDS))
  if unknown:
    raise ValueError(f'config.data.synthetic has unknown field(s) {unknown}; it accepts: '
                     f'{", ".join(_BOUNDS)}')
  for name, value in params.items():
    bounds.check_number(f'config.data.synthetic.{name}', value, low_inclusive=True,
                        **_BOUNDS[name])
  defaults = SyntheticFacesConfig(name='defaults')
  counts = {name: params.get(name, getattr(defaults, name))
            for name in ('train_subjects', 'test_subjects', 'images_per_class')}
  images = ((counts['train_subjects'] + counts['test_subjects']) * len(classes.CLASS_NAMES)
            * counts['images_per_class'])
  if images > MAX_IMAGES:
    raise ValueError(f'config.data.synthetic renders {images:,} images ((train_subjects '
                     f'{counts["train_subjects"]} + test_subjects {counts["test_subjects"]}) x '
                     f'{len(classes.CLASS_NAMES)} classes x images_per_class '
                     f'{counts["images_per_class"]}); the most allowed is {MAX_IMAGES:,}')


class SyntheticFaces(tfds.core.GeneratorBasedBuilder):
  """Synthetic grayscale faces in the 8 expression classes of MicroExpNet."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [SyntheticFacesConfig.from_params()]

  def _info(self) -> tfds.core.DatasetInfo:
    size = self.builder_config.image_size
    return tfds.core.DatasetInfo(
        builder=self,
        description='Procedurally rendered faces driven by action-unit-like parameters.',
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(size, size, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(names=classes.CLASS_NAMES),
            'subject_id': tfds.features.Text(),
            'intensity': tfds.features.Scalar(dtype=np.float32),
        }),
        supervised_keys=('image', 'label'),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Everything is rendered locally.
    cfg = self.builder_config
    return {
        'train': self._generate_examples(cfg.train_subjects, first_subject=0),
        'test': self._generate_examples(cfg.test_subjects, first_subject=cfg.train_subjects),
    }

  def _generate_examples(self, num_subjects: int, first_subject: int):
    cfg = self.builder_config
    data = synthetic.generate(num_subjects, cfg.images_per_class, cfg.image_size, seed=cfg.seed,
                              min_intensity=cfg.min_intensity, noise=cfg.noise,
                              first_subject=first_subject)
    for index in range(len(data['label'])):
      yield index, {
          'image': data['image'][index],
          'label': int(data['label'][index]),
          'subject_id': f'synthetic_{int(data["subject_id"][index]):04d}',
          'intensity': float(data['intensity'][index]),
      }


BUILDER = SyntheticFaces
