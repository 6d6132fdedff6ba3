"""Teacher networks: Inception-v3 (the paper's teacher, for a GPU) and a small ResNet for CPUs.

Both use BatchNorm; its running statistics live in the `batch_stats` collection, updated when
called with `train=True` and `mutable=['batch_stats']`.
"""
from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxfer.models import pooling
from jaxfer.models.student import resolve_conv_impl


class ConvBN(nn.Module):
  """Convolution, BatchNorm (Keras-style: offset, no scale, as in Inception-v3), ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: str = 'SAME'
  use_scale: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = nn.Conv(self.features, self.kernel_size, self.strides, padding=self.padding,
                use_bias=False)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3,
                     use_scale=self.use_scale)(x)
    return nn.relu(x)


class ResidualBlock(nn.Module):
  """Basic pre-activation-free ResNet block (two 3x3 convs) with a projection shortcut."""
  features: int
  strides: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9)
    y = nn.Conv(self.features, (3, 3), (self.strides, self.strides), use_bias=False)(x)
    y = nn.relu(norm()(y))
    y = nn.Conv(self.features, (3, 3), use_bias=False)(y)
    y = norm(scale_init=nn.initializers.zeros_init())(y)
    if x.shape != y.shape:
      x = nn.Conv(self.features, (1, 1), (self.strides, self.strides), use_bias=False)(x)
      x = norm()(x)
    return nn.relu(x + y)


class ResNetSmall(nn.Module):
  """A ResNet for small grayscale faces: 5x5/2 stem, max-pool, then one stage per width."""
  num_classes: int = 8
  stage_features: Sequence[int] = (32, 64, 128)
  blocks_per_stage: int = 1
  dropout: float = 0.0
  standardize: bool = True
  # As ExpNet's: 'xla' pools with `nn.max_pool`, 'matmul' with `pooling.max_pool` (the same
  # values and gradients; its backward pass is elementwise instead of XLA:CPU's slow
  # select-and-scatter), 'auto' picks matmul on the CPU. Parameters do not depend on it.
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False,
               features: bool = False) -> jax.Array:
    """Logits; with `features`, the pooled last convolutional features instead (no classifier
    parameters are created)."""
    if self.standardize:  # Per-image zero mean, unit variance: removes global lighting changes.
      mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
      images = (images - mean) / (jnp.std(images, axis=(1, 2, 3), keepdims=True) + 1e-6)
    x = ConvBN(self.stage_features[0], (5, 5), (2, 2), use_scale=True)(images, train)
    if resolve_conv_impl(self.conv_impl) == 'xla':
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding='SAME')
    else:
      x = pooling.max_pool(x, (3, 3), (2, 2))
    for stage, width in enumerate(self.stage_features):
      for block in range(self.blocks_per_stage):
        strides = 2 if stage > 0 and block == 0 else 1
        x = ResidualBlock(width, strides)(x, train)
    x = jnp.mean(x, axis=(1, 2))
    if features:
      return x
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x, train):
    b1 = ConvBN(64, (1, 1))(x, train)
    b5 = ConvBN(48, (1, 1))(x, train)
    b5 = ConvBN(64, (5, 5))(b5, train)
    b3 = ConvBN(64, (1, 1))(x, train)
    b3 = ConvBN(96, (3, 3))(b3, train)
    b3 = ConvBN(96, (3, 3))(b3, train)
    bp = nn.avg_pool(x, (3, 3), padding='SAME', count_include_pad=False)
    bp = ConvBN(self.pool_features, (1, 1))(bp, train)
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Grid reduction 35 -> 17."""

  @nn.compact
  def __call__(self, x, train):
    b3 = ConvBN(384, (3, 3), (2, 2), padding='VALID')(x, train)
    bd = ConvBN(64, (1, 1))(x, train)
    bd = ConvBN(96, (3, 3))(bd, train)
    bd = ConvBN(96, (3, 3), (2, 2), padding='VALID')(bd, train)
    bp = nn.max_pool(x, (3, 3), strides=(2, 2), padding='VALID')
    return jnp.concatenate([b3, bd, bp], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x, train):
    c = self.channels_7x7
    b1 = ConvBN(192, (1, 1))(x, train)
    b7 = ConvBN(c, (1, 1))(x, train)
    b7 = ConvBN(c, (1, 7))(b7, train)
    b7 = ConvBN(192, (7, 1))(b7, train)
    bd = ConvBN(c, (1, 1))(x, train)
    bd = ConvBN(c, (7, 1))(bd, train)
    bd = ConvBN(c, (1, 7))(bd, train)
    bd = ConvBN(c, (7, 1))(bd, train)
    bd = ConvBN(192, (1, 7))(bd, train)
    bp = nn.avg_pool(x, (3, 3), padding='SAME', count_include_pad=False)
    bp = ConvBN(192, (1, 1))(bp, train)
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Grid reduction 17 -> 8."""

  @nn.compact
  def __call__(self, x, train):
    b3 = ConvBN(192, (1, 1))(x, train)
    b3 = ConvBN(320, (3, 3), (2, 2), padding='VALID')(b3, train)
    b7 = ConvBN(192, (1, 1))(x, train)
    b7 = ConvBN(192, (1, 7))(b7, train)
    b7 = ConvBN(192, (7, 1))(b7, train)
    b7 = ConvBN(192, (3, 3), (2, 2), padding='VALID')(b7, train)
    bp = nn.max_pool(x, (3, 3), strides=(2, 2), padding='VALID')
    return jnp.concatenate([b3, b7, bp], axis=-1)


class InceptionE(nn.Module):

  @nn.compact
  def __call__(self, x, train):
    b1 = ConvBN(320, (1, 1))(x, train)
    b3 = ConvBN(384, (1, 1))(x, train)
    b3 = jnp.concatenate([ConvBN(384, (1, 3))(b3, train), ConvBN(384, (3, 1))(b3, train)], -1)
    bd = ConvBN(448, (1, 1))(x, train)
    bd = ConvBN(384, (3, 3))(bd, train)
    bd = jnp.concatenate([ConvBN(384, (1, 3))(bd, train), ConvBN(384, (3, 1))(bd, train)], -1)
    bp = nn.avg_pool(x, (3, 3), padding='SAME', count_include_pad=False)
    bp = ConvBN(192, (1, 1))(bp, train)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """Inception-v3 (Szegedy et al. 2016) as in Keras, without the auxiliary head.

  Its stem and grid reductions need inputs of at least 75x75 (`MIN_SIZE`), so smaller images
  (48x48 crops, the tiny test config) are first resized bilinearly to 75x75; parameters do not
  depend on the input size. Any channel count works.
  """
  num_classes: int = 8
  dropout: float = 0.2

  MIN_SIZE = 75

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False,
               features: bool = False) -> jax.Array:
    """Logits; with `features`, the pooled last convolutional features instead."""
    batch, height, width, channels = images.shape
    if min(height, width) < self.MIN_SIZE:
      images = jax.image.resize(images, (batch, max(height, self.MIN_SIZE),
                                         max(width, self.MIN_SIZE), channels), 'bilinear')
    x = ConvBN(32, (3, 3), (2, 2), padding='VALID')(images, train)
    x = ConvBN(32, (3, 3), padding='VALID')(x, train)
    x = ConvBN(64, (3, 3))(x, train)
    x = nn.max_pool(x, (3, 3), strides=(2, 2))
    x = ConvBN(80, (1, 1), padding='VALID')(x, train)
    x = ConvBN(192, (3, 3), padding='VALID')(x, train)
    x = nn.max_pool(x, (3, 3), strides=(2, 2))
    for pool_features in (32, 64, 64):
      x = InceptionA(pool_features)(x, train)
    x = InceptionB()(x, train)
    for channels in (128, 160, 160, 192):
      x = InceptionC(channels)(x, train)
    x = InceptionD()(x, train)
    x = InceptionE()(x, train)
    x = InceptionE()(x, train)
    x = jnp.mean(x, axis=(1, 2))
    if features:
      return x
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)
