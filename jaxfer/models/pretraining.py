"""FaceNet2ExpNet's first stage as a network: an expression net's convolutions with a projection.

In stage 1 the expression net's convolutional layers learn to regress a face net's features of
the same image. The face nets here give a vector (a 128-d descriptor, or a network's pooled
last feature map) while the expression net ends in a feature map, so a linear projection from
the flattened (or pooled) convolutional output to the face net's dimension is appended; it is
used in stage 1 only and dropped before stage 2, which starts from the stage-1 convolutions.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

# How a network's convolutions start (config.teacher.pretrain, config.student.pretrain).
PRETRAINS = ('none', 'facenet2expnet')
# The face nets whose features stage 1 regresses (config.facenet2expnet.face_net).
FACE_NETS = ('identity', 'dlib_resnet')


class FeatureRegressor(nn.Module):
  """`backbone`'s convolutional features (its `features=True` output), projected to `dim`."""
  backbone: nn.Module
  dim: int

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
    return nn.Dense(self.dim, name='projection')(self.backbone(images, train=train,
                                                               features=True))


def with_pretrained(fresh: Any, pretrained: Any) -> Any:
  """`fresh` (a freshly initialised tree of a whole network) with every entry that
  `pretrained` (the same network's stage-1 tree: its convolutions only) also holds replaced by
  the pretrained value; ValueError on an entry whose shape differs."""
  if not isinstance(pretrained, dict):
    if getattr(fresh, 'shape', None) != getattr(pretrained, 'shape', None):
      raise ValueError(f'a pretrained parameter of shape {getattr(pretrained, "shape", None)} '
                       f'does not fit the network\'s {getattr(fresh, "shape", None)}')
    return pretrained
  merged = dict(fresh)
  for key, value in pretrained.items():
    if key not in fresh:
      raise ValueError(f'the pretrained parameters hold {key!r}, which the network lacks')
    merged[key] = with_pretrained(fresh[key], value)
  return merged
