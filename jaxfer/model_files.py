"""A student on disk, in any of the forms jaxfer writes, loaded for inference.

  * a trained student: a directory holding `checkpoints/` (orbax), `config.json` and
    `result.json`, i.e. WORKDIR/student of `jaxfer distill`, or a workdir holding `student/`;
  * an exported or imported one: `params.msgpack` with `config.json`, and `result.json`
    (`jaxfer-search export-best`) or `source.json` (`jaxfer import-tf`) naming the classes.

Either way the config gives the network (`student`) and its input (`data.image_size`,
`data.eval_crop`); averaged parameters are used where training kept them.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any, NamedTuple

import ml_collections
import numpy as np

from jaxfer import checkpoints
from jaxfer import models

# MicroExpNet's 8 classes, for a student whose files do not name them.
DEFAULT_CLASS_NAMES = ('neutral', 'anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness',
                       'surprise')


class Student(NamedTuple):
  """A loaded student: its network, parameters, class names and input settings."""
  model: Any  # models.ExpNet
  params: Any
  class_names: tuple[str, ...]
  image_size: int
  eval_crop: str
  directory: str


def _read_json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def _class_names(directory: str, num_classes: int | None = None) -> tuple[str, ...]:
  for name in ('result.json', 'source.json'):
    path = os.path.join(directory, name)
    if os.path.isfile(path) and _read_json(path).get('class_names'):
      return tuple(_read_json(path)['class_names'])
  if num_classes not in (None, len(DEFAULT_CLASS_NAMES)):
    raise ValueError(f'{directory} names no classes (no result.json or source.json with '
                     f'class_names) and has {num_classes} outputs')
  return DEFAULT_CLASS_NAMES


def load(directory: str) -> Student:
  """The student in `directory`; FileNotFoundError saying which forms were looked for."""
  import flax.serialization  # pylint: disable=g-import-not-at-top
  if os.path.isdir(os.path.join(directory, 'student', 'checkpoints')):
    directory = os.path.join(directory, 'student')
  config_path = os.path.join(directory, 'config.json')
  packed = os.path.join(directory, 'params.msgpack')
  trained = os.path.isdir(checkpoints.directory(directory))
  if not os.path.isfile(config_path) or not (os.path.isfile(packed) or trained):
    raise FileNotFoundError(
        f'{directory} holds no student: expected params.msgpack and config.json (from '
        '`jaxfer-search export-best` or `jaxfer import-tf`), or checkpoints/ and config.json '
        '(a trained student, WORKDIR/student of `jaxfer distill`)')
  recorded = ml_collections.ConfigDict(_read_json(config_path))
  class_names = _class_names(directory)
  model = models.make_student(recorded.student, len(class_names))
  if os.path.isfile(packed):
    with open(packed, 'rb') as f:
      params = flax.serialization.msgpack_restore(f.read())
  else:
    params = restore_params(directory)
  return Student(model, params, class_names, int(recorded.data.image_size),
                 str(recorded.data.get('eval_crop', 'full')), os.path.abspath(directory))


@functools.lru_cache(maxsize=8)
def _compiled_apply(model):
  """`model`'s forward pass on uint8 pixels, compiled once per network (modules hash by their
  settings)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  # Pixels are divided by 255 as in training (jaxfer.loop); the imported model's first kernel
  # was multiplied by 255 to keep the original's arithmetic on raw pixels.
  return jax.jit(lambda params, images: model.apply({'params': params},
                                                    images.astype(jnp.float32) / 255.0))


def logits(student: Student, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """The student's logits for uint8 images [N, size, size, 1] already in its test-time view;
  the last batch is padded so that one shape is compiled."""
  from jaxfer import loop  # pylint: disable=g-import-not-at-top
  if not len(images):
    return np.zeros((0, len(student.class_names)), np.float32)
  apply = _compiled_apply(student.model)
  return loop.in_batches(lambda batch: apply(student.params, batch), images, batch_size)


def restore_params(directory: str):
  """The evaluated parameters (the average where kept) of the newest checkpoint."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from jaxfer import loop  # pylint: disable=g-import-not-at-top
  epoch = checkpoints.latest_epoch(directory)
  if epoch is None:
    raise FileNotFoundError(f'{checkpoints.directory(directory)} holds no checkpoint yet')
  with ocp.CheckpointManager(checkpoints.directory(directory)) as reader:
    restored = reader.restore(epoch)
  return loop.evaluated_params(restored)
