"""The separable student family: residual modules of depthwise-separable convolutions.

After mini-Xception (Arriaga et al. 2017, "Real-time Convolutional Neural Networks for Emotion
and Gender Classification"): a two-convolution stem, `depth` residual modules that each halve
the resolution, and a convolutional head averaged over space, with no dense layer. `width`
multiplies every filter count, as it does for ExpNet.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxfer.models.student import max_pool_2x2, resolve_conv_impl


def filters(base: int, width: float) -> int:
  """`base` filters scaled by `width`, at least one."""
  return max(1, round(base * width))


class SeparableConv(nn.Module):
  """A 3x3 depthwise convolution (one filter per input channel), then a 1x1 pointwise one; no
  biases, since BatchNorm follows."""
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Conv(x.shape[-1], (3, 3), padding='SAME', feature_group_count=x.shape[-1],
                use_bias=False, name='depthwise')(x)
    return nn.Conv(self.features, (1, 1), use_bias=False, name='pointwise')(x)


class SeparableNet(nn.Module):
  """Mini-Xception-style student.

  Attributes:
    width: continuous multiplier on every filter count (stem 8, module i 16 * 2**i).
    depth: residual modules; each halves the resolution and doubles the filters.
    num_classes: output classes (the head's filters).
    conv_impl: as ExpNet's, for the pooling only: 'xla' (`nn.max_pool`), 'matmul'
      (`max_pool_2x2`: the same values and gradients, a faster gradient on XLA:CPU) or 'auto'.
    standardize: give each image zero mean and unit variance first, as ExpNet's.
  """
  width: float = 1.0
  depth: int = 4
  num_classes: int = 8
  conv_impl: str = 'auto'
  standardize: bool = False

  def _norm(self, train: bool, name: str) -> nn.BatchNorm:
    # The teachers' BatchNorm settings (jaxfer/models/teachers.py).
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, name=name)

  def _pool(self, x: jax.Array) -> jax.Array:
    # Mini-Xception pools 3x3 with stride 2. A 2x2 window halves the resolution the same way,
    # and on XLA:CPU its gradient can be `max_pool_2x2`'s few elementwise passes instead of the
    # select-and-scatter of `nn.max_pool`, which dominated MicroExpNet's training step
    # (benchmarks/RESULTS.md).
    if resolve_conv_impl(self.conv_impl) == 'xla':
      return nn.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding='SAME')
    return max_pool_2x2(x)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False,
               features: bool = False) -> jax.Array:
    """Logits; with `features`, the spatially averaged output of the last module instead (no
    head parameters are created)."""
    x = images
    if self.standardize:
      mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
      x = (x - mean) / (jnp.std(x, axis=(1, 2, 3), keepdims=True) + 1e-6)
    for k in range(2):
      x = nn.Conv(filters(8, self.width), (3, 3), padding='SAME', use_bias=False,
                  name=f'stem{k}')(x)
      x = nn.relu(self._norm(train, f'stem{k}_bn')(x))
    for i in range(self.depth):
      out = filters(16 * 2**i, self.width)
      shortcut = nn.Conv(out, (1, 1), strides=(2, 2), padding='SAME', use_bias=False,
                         name=f'module{i}_shortcut')(x)
      shortcut = self._norm(train, f'module{i}_shortcut_bn')(shortcut)
      x = SeparableConv(out, name=f'module{i}_sep0')(x)
      x = nn.relu(self._norm(train, f'module{i}_sep0_bn')(x))
      x = SeparableConv(out, name=f'module{i}_sep1')(x)
      x = self._norm(train, f'module{i}_sep1_bn')(x)
      x = self._pool(x) + shortcut
    if features:
      return jnp.mean(x, axis=(1, 2))
    x = nn.Conv(self.num_classes, (3, 3), padding='SAME', name='head')(x)
    return jnp.mean(x, axis=(1, 2))


MiniXception = functools.partial(SeparableNet, width=1.0, depth=4)
