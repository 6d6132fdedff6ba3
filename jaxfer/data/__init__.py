"""Datasets as numpy arrays: TFDS builders prepared on first use and read via `tfds.data_source`.

Everything here is numpy; nothing imports JAX, so the data layer can be tested and reused alone.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Iterator

import numpy as np

DATASETS = ('synthetic_faces',)


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Train and test splits as dicts of numpy arrays ('image' uint8 NHWC, 'label', 'subject_id')."""
  train: dict[str, np.ndarray]
  test: dict[str, np.ndarray]
  class_names: tuple[str, ...]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


def _builder(data_config: Any):
  """The TFDS builder for `config.data`, not yet prepared."""
  if data_config.name != 'synthetic_faces':
    raise ValueError(f'config.data.name = {data_config.name!r} is not a known dataset; '
                     f'choose one of: {", ".join(DATASETS)}')
  from jaxfer.data import synthetic_faces  # pylint: disable=g-import-not-at-top  (imports TFDS)
  builder_config = synthetic_faces.SyntheticFacesConfig.from_params(
      image_size=data_config.image_size, **dict(data_config.synthetic))
  data_dir = data_config.data_dir or os.environ.get('TFDS_DATA_DIR') or os.path.expanduser(
      '~/tensorflow_datasets')
  return synthetic_faces.SyntheticFaces(config=builder_config, data_dir=data_dir,
                                        file_format='array_record')


def _read_split(source) -> dict[str, np.ndarray]:
  """Every record of a TFDS data source, stacked into arrays."""
  records = source.__getitems__(range(len(source)))
  arrays = {key: np.stack([record[key] for record in records]) for key in records[0]}
  for key, array in arrays.items():
    if array.dtype.kind in 'SO':  # TFDS Text features come back as bytes.
      arrays[key] = np.char.decode(array.astype(bytes), 'utf-8')
  return arrays


def load(data_config: Any) -> Dataset:
  """Prepares the dataset of `config.data` if needed and returns its splits in memory."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()  # One log line says what is prepared; bars clutter epoch logs.
  builder = _builder(data_config)
  if not builder.is_prepared():
    logging.info('Preparing %s/%s in %s (once).', builder.name, builder.builder_config.name,
                 builder.data_dir)
    builder.download_and_prepare()
  sources = builder.as_data_source()
  class_names = tuple(builder.info.features['label'].names)
  return Dataset(train=_read_split(sources['train']), test=_read_split(sources['test']),
                 class_names=class_names)


def epoch_batches(num_examples: int, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
  """Index arrays of one shuffled epoch, dropping the last partial batch.

  The order depends only on (seed, epoch), so a run resumed at any epoch sees the same data.
  """
  order = np.random.default_rng([seed, epoch]).permutation(num_examples)
  for start in range(0, num_examples - batch_size + 1, batch_size):
    yield order[start:start + batch_size]


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
  """Each image translated by up to `max_shift` pixels each way, edges repeated."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0))
  padded = np.pad(images, pad, mode='edge')
  rows = rng.integers(0, 2 * max_shift + 1, n)[:, None] + np.arange(h)
  cols = rng.integers(0, 2 * max_shift + 1, n)[:, None] + np.arange(w)
  return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
