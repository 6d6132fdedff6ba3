"""Datasets as numpy arrays: TFDS builders prepared on first use and read via `tfds.data_source`.

Everything here is numpy; nothing imports JAX, so the data layer can be tested and reused alone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import shutil
import sys
import tempfile
from typing import Any, Iterator

import numpy as np

from jaxfer import locks
from jaxfer.data import folds as folds_lib
from jaxfer.data import preprocess

DATASETS = ('synthetic_faces', 'ckplus', 'ckplus48', 'oulu_casia', 'fer2013', 'image_folder')


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Model-ready train and test arrays ('image' uint8 NHWC at the model size, 'label',
  'subject_id', ...), for one fold when `config.data.num_folds` >= 2.

  With the paper's 8 crops a training image appears 8 times (adjacent); `train['source_index']`
  says which stored example each row came from. `identity` names the data exactly (builder
  config and version, split or fold and its hash, validation set and its hash, preprocessing),
  for caches and results.

  With `config.data.validation_fraction` > 0, `test` is the validation set carved from the
  training side, which everything evaluating during training reads, and the test split (or fold)
  waits in `held_out_test` for the final model; otherwise `held_out_test` is None.
  """
  train: dict[str, np.ndarray]
  test: dict[str, np.ndarray]
  class_names: tuple[str, ...]
  identity: dict[str, Any] = dataclasses.field(default_factory=dict)
  held_out_test: dict[str, np.ndarray] | None = None

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def fold_hash(self) -> str | None:
    return self.identity.get('fold_hash')

  @property
  def evaluated_on(self) -> str:
    """What `test` holds: 'validation' (a validation set) or 'test' (the test split or fold)."""
    return self.identity.get('evaluated_on', 'test')


def tfds_data_dir(data_config: Any) -> str:
  """`config.data.data_dir`, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  return data_config.data_dir or os.environ.get('TFDS_DATA_DIR') or os.path.expanduser(
      '~/tensorflow_datasets')


def _builder_module(name: str):
  # Builder modules import TFDS, so they load only when asked for.
  return importlib.import_module(f'jaxfer.data.{name}')


def _manual_dir_problem(manual_dir: str) -> str | None:
  """Why `manual_dir` cannot be a dataset's download folder, or None."""
  if not os.path.exists(manual_dir):
    return 'does not exist'
  if not os.path.isdir(manual_dir):
    return 'is a file, not a folder'
  if not os.listdir(manual_dir):
    return 'is an empty folder'
  return None


def check_builder_settings(data_config: Any) -> None:
  """Raises ValueError (or FileNotFoundError for a missing download) naming the first unusable
  builder setting of `config.data`: its folders and the dataset's own settings."""
  data_dir = tfds_data_dir(data_config)
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise ValueError(f'config.data.data_dir: {data_dir} is a file; expected the folder where '
                     'TFDS keeps prepared datasets')
  module = _builder_module(data_config.name)
  if data_config.name == 'synthetic_faces':
    module.check_params(dict(data_config.synthetic))
    return
  problem = _manual_dir_problem(data_config.manual_dir)
  instructions = ' '.join(module.BUILDER.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
  if not data_config.manual_dir:
    raise ValueError(f'config.data.manual_dir is empty; set it to the folder holding '
                     f'{data_config.name}. {instructions}')
  if problem:
    raise FileNotFoundError(f'{data_config.name}: config.data.manual_dir = '
                            f'{data_config.manual_dir!r} {problem}; expected the folder holding '
                            f'{data_config.name}. {instructions}')
  module.BUILDER.BUILDER_CONFIG_CLASS.check_params(dict(data_config.builder_kwargs))


def make_builder(data_config: Any):
  """The TFDS builder for `config.data` (checked by `jaxfer.configuration.validate`), not yet
  prepared."""
  module = _builder_module(data_config.name)
  if data_config.name == 'synthetic_faces':
    builder_config = module.SyntheticFacesConfig.from_params(
        image_size=data_config.image_size, **dict(data_config.synthetic))
  else:
    builder_config = module.BUILDER.BUILDER_CONFIG_CLASS.from_params(
        data_config.manual_dir, **dict(data_config.builder_kwargs))
  with _absl_errors_only(), _own_temporary_dir():
    return module.BUILDER(config=builder_config, data_dir=tfds_data_dir(data_config),
                          file_format='array_record')


@contextlib.contextmanager
def _own_temporary_dir():
  """Python's temporary folder is a new one of ours while TFDS works, removed after with what
  TFDS left there.

  TFDS makes a builder of a dataset not yet prepared read its metadata from a bucket
  (`DatasetInfo.initialize_from_bucket`): it makes a temporary folder (tmp...tfds) before
  finding that the bucket is off, and never removes it, so each such builder left an empty
  folder in $TMPDIR. `tempfile.tempdir` is the documented place for the default folder; only
  this process's own temporary files of that moment go there, and no command writes any then.
  """
  ours = tempfile.mkdtemp(prefix='jaxfer-tfds-')
  previous, tempfile.tempdir = tempfile.tempdir, ours
  try:
    yield
  finally:
    tempfile.tempdir = previous
    shutil.rmtree(ours, ignore_errors=True)


@contextlib.contextmanager
def _absl_errors_only():
  """TFDS warns through absl of every custom builder config it makes (each of jaxfer's is
  one), which says nothing to a user; the data layer logs what it prepares itself. Only while
  the builder is made, so a caller's own logging settings stay as they were."""
  absl_logger = logging.getLogger('absl')
  level = absl_logger.level
  absl_logger.setLevel(max(level, logging.ERROR))
  try:
    yield
  finally:
    absl_logger.setLevel(level)


def _read_split(source) -> dict[str, np.ndarray]:
  """Every record of a TFDS data source, stacked into arrays."""
  records = source.__getitems__(range(len(source)))
  arrays = {key: np.stack([record[key] for record in records]) for key in records[0]}
  for key, array in arrays.items():
    if array.dtype.kind in 'SO':  # TFDS Text features come back as bytes.
      arrays[key] = np.char.decode(array.astype(bytes), 'utf-8')
  return arrays


def prepare_builder(data_config: Any):
  """The builder of `config.data`, prepared (built once from the manual directory) if needed.

  Processes preparing the same dataset at once (search workers starting together) take turns
  through a file lock in the data directory; the later ones find it prepared.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = make_builder(data_config)
  if _is_prepared(builder):
    return builder
  with locks.held(builder.data_dir_root, f'dataset {builder.name}/{builder.builder_config.name}',
                  f'.{builder.name}.{builder.builder_config.name}.lock'):
    builder = make_builder(data_config)  # Sees what another process prepared meanwhile.
    if not _is_prepared(builder):
      logging.getLogger('jaxfer').info('Preparing %s/%s in %s (once).', builder.name,
                                       builder.builder_config.name, builder.data_dir)
      download_config = tfds.download.DownloadConfig(
          manual_dir=os.path.abspath(data_config.manual_dir) if data_config.manual_dir
          else None)
      # TFDS prints its own 'Downloading and preparing' lines on stdout, where results go.
      with contextlib.redirect_stdout(sys.stderr), _own_temporary_dir():
        builder.download_and_prepare(download_config=download_config)
  return builder


def _is_prepared(builder) -> bool:
  with _absl_errors_only():  # TFDS warns that a folder it has yet to make has no info in it.
    return builder.is_prepared()


def _select(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
  return {key: value[mask] for key, value in arrays.items()}


def _example_ids(arrays: dict[str, np.ndarray]) -> np.ndarray:
  if 'file_name' in arrays:
    return arrays['file_name']
  return np.char.add(arrays['subject_id'].astype(str), np.arange(len(arrays['label'])).astype(str))


def validation_fraction(data_config: Any) -> float:
  """`config.data.validation_fraction`; 0 (none) for configs recorded before it existed."""
  return data_config.get('validation_fraction', 0.0)


def train_fraction(data_config: Any) -> float:
  """`config.data.train_fraction`; 1 (all) for configs recorded before it existed."""
  return data_config.get('train_fraction', 1.0)


def load(data_config: Any) -> Dataset:
  """The train and test arrays of `config.data`: split or fold, validation set, preprocessing.

  With `num_folds` >= 2 the examples of `train_split` are divided into subject-independent folds
  and fold `fold` is the test side; otherwise `train_split` and `test_split` are used as they are.
  With `validation_fraction` > 0 a validation set of whole subjects, stratified by class, is then
  taken from the training side (`folds.carve_validation`): it becomes the test side and the test
  side becomes `held_out_test`. With `train_fraction` < 1 only that share of what remains for
  training is kept, by the same rule. Training images are cropped as `crops` says, the others
  as `eval_crop` says.
  """
  builder = prepare_builder(data_config)
  sources = builder.as_data_source()
  for field in ('train_split',) + (('test_split',) if data_config.num_folds < 2 else ()):
    if data_config[field] not in sources:
      raise ValueError(f'config.data.{field} = {data_config[field]!r} is not a split of '
                       f'{data_config.name}; choose one of: {", ".join(sources)}')
  identity = {'dataset': builder.name, 'builder_config': builder.builder_config.name,
              'version': str(builder.version)}
  train = _read_split(sources[data_config.train_split])
  if data_config.num_folds >= 2:
    ids = _example_ids(train)
    fold_of = folds_lib.assign_folds(ids, train['label'], train['subject_id'],
                                     data_config.num_folds, data_config.fold_seed)
    test = _select(train, fold_of == data_config.fold)
    train = _select(train, fold_of != data_config.fold)
    identity.update(num_folds=data_config.num_folds, fold=data_config.fold,
                    fold_seed=data_config.fold_seed, fold_hash=folds_lib.fold_hash(ids, fold_of))
  else:
    test = _read_split(sources[data_config.test_split])
    identity.update(train_split=data_config.train_split, test_split=data_config.test_split)
  held_out_test = None
  fraction = validation_fraction(data_config)
  if fraction > 0:  # Recorded only then: the identity of data without one stays as it was.
    ids = _example_ids(train)
    is_validation = folds_lib.carve_validation(train['label'], train['subject_id'], fraction,
                                               data_config.validation_seed)
    if not is_validation.any():
      raise ValueError(f'config.data.validation_fraction = {fraction} takes no example of the '
                       f'{len(ids)} training examples; raise it, or set 0 for no validation set')
    held_out_test, test = test, _select(train, is_validation)
    train = _select(train, ~is_validation)
    identity.update(validation_fraction=fraction, validation_seed=data_config.validation_seed,
                    validation_hash=folds_lib.fold_hash(ids, is_validation.astype(np.int64)),
                    evaluated_on='validation')
  kept = train_fraction(data_config)
  if kept < 1:  # Recorded only then, as the validation set.
    ids = _example_ids(train)
    is_kept = folds_lib.carve_validation(train['label'], train['subject_id'], kept,
                                         data_config.validation_seed)
    if not is_kept.any():
      raise ValueError(f'config.data.train_fraction = {kept} keeps none of the {len(ids)} '
                       'training examples; raise it (1 keeps all)')
    train = _select(train, is_kept)
    identity.update(train_fraction=kept,
                    train_subset_hash=folds_lib.fold_hash(ids, is_kept.astype(np.int64)))
  preprocessing = {key: data_config[key] for key in ('image_size', 'crops', 'eval_crop')}
  identity['preprocessing'] = preprocessing
  train = _preprocess(train, data_config, train=True)
  test = _preprocess(test, data_config, train=False)
  if held_out_test is not None:
    held_out_test = _preprocess(held_out_test, data_config, train=False)
  class_names = tuple(builder.info.features['label'].names)
  return Dataset(train=train, test=test, class_names=class_names, identity=identity,
                 held_out_test=held_out_test)


def _preprocess(arrays: dict[str, np.ndarray], data_config: Any,
                train: bool) -> dict[str, np.ndarray]:
  images, source = preprocess.prepare(arrays['image'], data_config.image_size,
                                      data_config.crops, data_config.eval_crop, train)
  out = {key: value[source] for key, value in arrays.items() if key != 'image'}
  out['image'] = images
  out['source_index'] = source
  return out


def epoch_batches(num_examples: int, batch_size: int, seed: int,
                  epoch: int) -> Iterator[np.ndarray]:
  """Index arrays of one shuffled epoch, dropping the last partial batch.

  The order depends only on (seed, epoch), so a run resumed at any epoch sees the same data.
  """
  order = np.random.default_rng([seed, epoch]).permutation(num_examples)
  for start in range(0, num_examples - batch_size + 1, batch_size):
    yield order[start:start + batch_size]
