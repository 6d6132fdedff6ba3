"""Student and teacher networks, built by name from a config."""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import numpy as np

from jaxfer.models.student import CONV_IMPLS, POOLINGS, SIZES, ExpNet, MatmulConv, MicroExpNet, fc_units
from jaxfer.models.teachers import InceptionV3, ResNetSmall

TEACHERS: dict[str, Callable[..., nn.Module]] = {
    'inception_v3': InceptionV3,
    'resnet_small': ResNetSmall,
}

__all__ = [
    'CONV_IMPLS', 'POOLINGS', 'SIZES', 'TEACHERS', 'ExpNet', 'InceptionV3', 'MatmulConv',
    'MicroExpNet', 'ResNetSmall', 'count_params', 'fc_units', 'make_student', 'make_teacher',
]


def make_student(student_config: Any, num_classes: int) -> ExpNet:
  """The student described by `config.student`."""
  return ExpNet(pooling=student_config.pooling, squeeze=student_config.squeeze,
                width=student_config.width, num_classes=num_classes,
                dropout=student_config.dropout, conv_impl=student_config.conv_impl,
                standardize=student_config.standardize)


def make_teacher(teacher_config: Any, num_classes: int) -> nn.Module:
  """The teacher named by `config.teacher.model`, with `config.teacher.model_kwargs`."""
  if teacher_config.model not in TEACHERS:
    raise ValueError(f'config.teacher.model = {teacher_config.model!r} is not a known teacher; '
                     f'choose one of: {", ".join(sorted(TEACHERS))}')
  return TEACHERS[teacher_config.model](num_classes=num_classes,
                                        **dict(teacher_config.get('model_kwargs', {})))


def count_params(params: Any) -> int:
  """Number of scalars in a parameter pytree (arrays or ShapeDtypeStructs)."""
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(params)))
