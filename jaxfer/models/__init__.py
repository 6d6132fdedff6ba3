"""Student and teacher networks, built by name from a config, and what they cost."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxfer.models.families import FAMILIES, REFERENCE_STUDENTS, make_student
from jaxfer.models.measure import latency_ms, student_size_bytes
from jaxfer.models.pretraining import FACE_NETS, PRETRAINS, FeatureRegressor, with_pretrained
from jaxfer.models.separable import MiniXception, SeparableNet
from jaxfer.models.student import (CONV_IMPLS, POOLINGS, SIZES, ExpNet, MatmulConv, MicroExpNet,
                                   fc_units, resolve_conv_impl)
from jaxfer.models.teachers import InceptionV3, ResNetSmall

# Each teacher's settings are the config section of its name (config.teacher.resnet_small, ...),
# so any of them can be selected with --config.teacher.model=NAME from any config.
TEACHERS: dict[str, Callable[..., nn.Module]] = {
    'inception_v3': InceptionV3,
    'resnet_small': ResNetSmall,
}

__all__ = [
    'CONV_IMPLS', 'FACE_NETS', 'FAMILIES', 'POOLINGS', 'PRETRAINS', 'REFERENCE_STUDENTS',
    'SIZES', 'TEACHERS',
    'ExpNet', 'FeatureRegressor', 'InceptionV3', 'MatmulConv', 'MicroExpNet', 'MiniXception',
    'ResNetSmall', 'SeparableNet',
    'check_teacher_settings', 'count_params', 'fc_units', 'latency_ms', 'make_student',
    'make_teacher', 'normalize_pixels', 'resolve_conv_impl', 'student_size_bytes',
    'with_pretrained',
]


def normalize_pixels(images: jax.Array) -> jax.Array:
  """What every network sees: pixels 0..255 (uint8 or float) as float32 0..1."""
  return images.astype(jnp.float32) / 255.0


def _teacher_fields(name: str) -> list[str]:
  return [f.name for f in dataclasses.fields(TEACHERS[name])
          if f.name not in ('num_classes', 'parent', 'name')]


def check_teacher_settings(teacher_config: Any) -> None:
  """Raises ValueError naming a setting in config.teacher.<model> that the model lacks."""
  for name in TEACHERS:
    section = teacher_config.get(name)
    if section is None:
      continue
    unknown = sorted(set(section) - set(_teacher_fields(name)))
    if unknown:
      raise ValueError(f'config.teacher.{name} has the unknown setting(s) {", ".join(unknown)}; '
                       f'{name} accepts: {", ".join(_teacher_fields(name))}')


def make_teacher(teacher_config: Any, num_classes: int) -> nn.Module:
  """The teacher named by `config.teacher.model`, with the settings of its own config section."""
  if teacher_config.model not in TEACHERS:
    raise ValueError(f'config.teacher.model = {teacher_config.model!r} is not a known teacher; '
                     f'choose one of: {", ".join(sorted(TEACHERS))}')
  return TEACHERS[teacher_config.model](num_classes=num_classes,
                                        **dict(teacher_config.get(teacher_config.model, {})))


def count_params(params: Any) -> int:
  """Number of scalars in a parameter pytree (arrays or ShapeDtypeStructs)."""
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(params)))
