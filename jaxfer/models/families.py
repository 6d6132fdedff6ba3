"""Student families by name (`config.student.family`), each built from `config.student`.

`width` multiplies the filters (and ExpNet's FC units) in every family; the other settings
belong to one family each and the others ignore them: `pooling`, `squeeze` and `dropout` to
ExpNet, `depth` to the separable nets.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn

from jaxfer.models.separable import MiniXception, SeparableNet
from jaxfer.models.student import ExpNet, MicroExpNet

# What a config (or a config.json recorded before families existed) without `family` or
# `depth` builds.
DEFAULT_FAMILY = 'microexpnet'
DEFAULT_DEPTH = 4


def _expnet(student_config: Any, num_classes: int) -> ExpNet:
  return ExpNet(pooling=student_config.pooling, squeeze=student_config.squeeze,
                width=student_config.width, num_classes=num_classes,
                dropout=student_config.dropout, conv_impl=student_config.conv_impl,
                standardize=student_config.standardize)


def _separable(student_config: Any, num_classes: int) -> SeparableNet:
  return SeparableNet(width=student_config.width,
                      depth=student_config.get('depth', DEFAULT_DEPTH), num_classes=num_classes,
                      conv_impl=student_config.conv_impl,
                      standardize=student_config.standardize)


FAMILIES: dict[str, Callable[[Any, int], nn.Module]] = {
    'microexpnet': _expnet,  # ExpNet: the original candidates and a continuous width.
    'separable': _separable,  # SeparableNet: mini-Xception's residual separable modules.
}
# Each family's member as its paper describes it (what the speed benchmarks time).
REFERENCE_STUDENTS: dict[str, Callable[..., nn.Module]] = {
    'microexpnet': MicroExpNet,
    'separable': MiniXception,
}


def make_student(student_config: Any, num_classes: int) -> nn.Module:
  """The student described by `config.student`, of the family `config.student.family`."""
  family = student_config.get('family', DEFAULT_FAMILY)
  if family not in FAMILIES:
    raise ValueError(f'config.student.family = {family!r} is not allowed; choose one of: '
                     f'{", ".join(FAMILIES)}')
  return FAMILIES[family](student_config, num_classes)
