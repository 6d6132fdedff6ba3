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

from jaxfer.models.pooling import max_pool_2x2
from jaxfer.models.student import resolve_conv_impl


def filters(base: int, width: float) -> int:
  """`base` filters scaled by `width`, at least one."""
  return max(1, round(base * width))


def _shifted_products(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """sum over taps (i, j) of padded x[:, i:i+h, j:j+w, :] * kernel[i, j, 0]: a SAME, stride-1
  depthwise convolution with an odd square kernel [k, k, 1, channels]."""
  k = kernel.shape[0]
  h, w = x.shape[1:3]
  padded = jnp.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
  return sum(padded[:, i:i + h, j:j + w, :] * kernel[i, j, 0]
             for i in range(k) for j in range(k))


@jax.custom_vjp
def depthwise_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """What `nn.Conv(c, (k, k), padding='SAME', feature_group_count=c, use_bias=False)` computes
  with `kernel` [k, k, 1, c], as k*k shifted products.

  XLA:CPU runs a grouped convolution at a small fraction of the speed of the same arithmetic
  written elementwise, forward and backward (benchmarks/RESULTS.md, the separable section). The
  input gradient is the same sum over the kernel flipped; the kernel gradient reduces each
  tap's product with the cotangent.
  """
  return _shifted_products(x, kernel)


def _depthwise_conv_bwd(residuals, g):
  x, kernel = residuals
  k = kernel.shape[0]
  n, h, w, c = x.shape
  padded = jnp.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))

  def tap_grad(tap):
    window = jax.lax.dynamic_slice(padded, (0, tap // k, tap % k, 0), (n, h, w, c))
    return jnp.sum(window * g, axis=(0, 1, 2))

  # One tap at a time (`lax.map`): unrolled, XLA:CPU fuses the k*k reductions of one padded
  # input together and runs them about 4 times slower than in turn (benchmarks/RESULTS.md).
  kernel_grad = jax.lax.map(tap_grad, jnp.arange(k * k)).reshape(k, k, 1, c)
  return _shifted_products(g, kernel[::-1, ::-1]), kernel_grad


depthwise_conv.defvjp(lambda x, kernel: (depthwise_conv(x, kernel), (x, kernel)),
                      _depthwise_conv_bwd)


class DepthwiseConv(nn.Module):
  """`depthwise_conv` with a 3x3 kernel: `nn.Conv`'s parameter (name, shape, initialisation)
  for the grouped convolution it replaces."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (3, 3, 1, x.shape[-1]))
    return depthwise_conv(x, kernel)


class Pointwise(nn.Module):
  """A 1x1 convolution without bias as one matmul over the pixels: `nn.Conv(features, (1, 1),
  use_bias=False)`'s parameter (name, shape, initialisation) and values. XLA:CPU derives the
  kernel gradient of a 1x1 `nn.Conv` as a convolution between transposed copies of input and
  cotangent; the matmul's gradient is a plain matmul, 2 to 2.5 times faster for the step
  (benchmarks/RESULTS.md)."""
  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (1, 1, x.shape[-1], self.features))
    return (x.reshape(-1, x.shape[-1]) @ kernel[0, 0]).reshape(*x.shape[:-1], self.features)


def pointwise(features: int, conv_impl: str, name: str) -> nn.Module:
  """The 1x1 convolution of `conv_impl`: `nn.Conv` for 'xla', `Pointwise` for 'matmul'."""
  if resolve_conv_impl(conv_impl) == 'xla':
    return nn.Conv(features, (1, 1), use_bias=False, name=name)
  return Pointwise(features, name=name)


class SeparableConv(nn.Module):
  """A 3x3 depthwise convolution (one filter per input channel), then a 1x1 pointwise one; no
  biases, since BatchNorm follows. `conv_impl` 'xla' makes the depthwise one an `nn.Conv`,
  'matmul' `depthwise_conv` (the same parameter and results)."""
  features: int
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    if resolve_conv_impl(self.conv_impl) == 'xla':
      x = nn.Conv(channels, (3, 3), padding='SAME', feature_group_count=channels,
                  use_bias=False, name='depthwise')(x)
    else:
      x = DepthwiseConv(name='depthwise')(x)
    return pointwise(self.features, self.conv_impl, 'pointwise')(x)


class SeparableNet(nn.Module):
  """Mini-Xception-style student.

  Attributes:
    width: continuous multiplier on every filter count (stem 8, module i 16 * 2**i).
    depth: residual modules; each halves the resolution and doubles the filters.
    num_classes: output classes (the head's filters).
    conv_impl: as ExpNet's: 'xla' (`nn.Conv` for the depthwise convolutions, `nn.max_pool`),
      'matmul' (`depthwise_conv`, `max_pool_2x2`: the same parameters, values and gradients,
      much faster on XLA:CPU) or 'auto' (matmul on the CPU, xla elsewhere).
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
      # A 1x1 stride-2 SAME convolution reads the even rows and columns: sliced first, it is a
      # plain matmul, whose input gradient XLA does not compute as a dilated convolution.
      shortcut = pointwise(out, self.conv_impl, f'module{i}_shortcut')(x[:, ::2, ::2])
      shortcut = self._norm(train, f'module{i}_shortcut_bn')(shortcut)
      x = SeparableConv(out, self.conv_impl, name=f'module{i}_sep0')(x)
      x = nn.relu(self._norm(train, f'module{i}_sep0_bn')(x))
      x = SeparableConv(out, self.conv_impl, name=f'module{i}_sep1')(x)
      x = self._norm(train, f'module{i}_sep1_bn')(x)
      x = self._pool(x) + shortcut
    if features:
      return jnp.mean(x, axis=(1, 2))
    x = nn.Conv(self.num_classes, (3, 3), padding='SAME', name='head')(x)
    return jnp.mean(x, axis=(1, 2))


MiniXception = functools.partial(SeparableNet, width=1.0, depth=4)
