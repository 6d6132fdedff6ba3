"""The MicroExpNet student family: the original candidate networks plus a continuous width.

The four pooling variants and the squeeze coefficient reproduce the candidates of the original
TensorFlow code exactly; `width` scales conv filters and FC units so a search can cover every size
between them. Parameter layout matches the original (`kernel [kh, kw, in, out]`).
"""
from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

POOLINGS = ('v', 'p1', 'p2', 'p12')
# Original squeeze coefficients and the size names the paper gives them.
SIZES = {'M': 1, 'S': 4, 'XS': 8, 'XXS': 16}
CONV_IMPLS = ('xla', 'matmul')


def fc_units(pooling: str, squeeze: float, width: float = 1.0) -> int:
  """FC width of the original family: 256/s for v and p1, 768/s for p2 and p12, times `width`."""
  base = 256 if pooling in ('v', 'p1') else 768
  return max(1, round(base / squeeze * width))


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow's SAME padding (more on the high side when the total is odd)."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class MatmulConv(nn.Module):
  """A SAME-padded strided convolution computed as patch extraction followed by one matmul.

  XLA's CPU backend runs the backward pass of small strided convolutions far slower than a
  matmul of the same arithmetic (see benchmarks/RESULTS.md); slices plus a dot avoid it. The
  parameters are those of `nn.Conv`, so the two implementations are interchangeable.
  """
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int]

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    sh, sw = self.strides
    cin = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (kh, kw, cin, self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    h, w = x.shape[1:3]
    x = jnp.pad(x, ((0, 0), _same_pads(h, kh, sh), _same_pads(w, kw, sw), (0, 0)))
    oh, ow = -(-h // sh), -(-w // sw)
    patches = [
        x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
        for i in range(kh) for j in range(kw)
    ]
    patches = jnp.concatenate(patches, axis=-1)  # [..., kh*kw*cin] in kernel order (i, j, c)
    return patches @ kernel.reshape(kh * kw * cin, self.features) + bias


def _max_pool(x: jax.Array) -> jax.Array:
  """2x2 stride-2 max-pool with TensorFlow's SAME padding (odd sizes round up)."""
  return nn.max_pool(x, (2, 2), strides=(2, 2), padding='SAME')


class ExpNet(nn.Module):
  """The MicroExpNet candidate family.

  Attributes:
    pooling: 'v' (conv1 stride 4, no pooling), 'p1' (max-pool after conv1), 'p2' (after conv2)
      or 'p12' (after both). conv1 has stride 2 when it is followed by a pool, else 4.
    squeeze: the original squeeze coefficient s; FC units are 256/s (v, p1) or 768/s (p2, p12).
    width: continuous multiplier on conv filters and FC units (1.0 is the original family).
    num_classes: output classes.
    dropout: dropout rate after the FC layer.
    conv_impl: 'xla' (lax convolution) or 'matmul' (patches and a dot; faster on CPU).
  """
  pooling: str = 'p12'
  squeeze: float = 16
  width: float = 1.0
  num_classes: int = 8
  dropout: float = 0.5
  conv_impl: str = 'matmul'
  conv_features: Sequence[int] = (16, 32)

  def _conv(self, features: int, kernel: int, stride: int, name: str):
    if self.conv_impl == 'xla':
      return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding='SAME', name=name)
    return MatmulConv(features, (kernel, kernel), (stride, stride), name=name)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
    if self.pooling not in POOLINGS:
      raise ValueError(f'pooling={self.pooling!r}; expected one of {POOLINGS}')
    c1, c2 = (max(1, round(c * self.width)) for c in self.conv_features)
    pool1 = self.pooling in ('p1', 'p12')
    x = nn.relu(self._conv(c1, 8, 2 if pool1 else 4, 'conv1')(images))
    if pool1:
      x = _max_pool(x)
    x = nn.relu(self._conv(c2, 4, 2, 'conv2')(x))
    if self.pooling in ('p2', 'p12'):
      x = _max_pool(x)
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(fc_units(self.pooling, self.squeeze, self.width), name='fc')(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, name='out')(x)


MicroExpNet = functools.partial(ExpNet, pooling='p12', squeeze=16, width=1.0)
