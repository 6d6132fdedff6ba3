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

from jaxfer.models.pooling import max_pool_2x2, same_pads

POOLINGS = ('v', 'p1', 'p2', 'p12')
# Original squeeze coefficients and the size names the paper gives them.
SIZES = {'M': 1, 'S': 4, 'XS': 8, 'XXS': 16}
# 'auto': 'matmul' on the CPU, where XLA's convolutions for these small layers and its max-pool
# gradient are slow, and 'xla' (`nn.Conv`, `nn.max_pool`) on other backends. Both have the same
# parameters and results.
CONV_IMPLS = ('auto', 'xla', 'matmul')


def resolve_conv_impl(conv_impl: str) -> str:
  """The convolution of `conv_impl` on this process's default JAX backend."""
  if conv_impl == 'auto':
    return 'matmul' if jax.default_backend() == 'cpu' else 'xla'
  return conv_impl


def fc_units(pooling: str, squeeze: float, width: float = 1.0) -> int:
  """FC width of the original family: 256/s for v and p1, 768/s for p2 and p12, times `width`."""
  base = 256 if pooling in ('v', 'p1') else 768
  return max(1, round(base / squeeze * width))


class MatmulConv(nn.Module):
  """A SAME-padded strided convolution with the parameters of `nn.Conv`, arranged for XLA:CPU.

  XLA:CPU hands a convolution to YNNPACK when it has more than 16 input or output features and
  to Eigen otherwise. Eigen's strided convolution with one input channel (conv1 of MicroExpNet)
  runs at a fraction of the speed of the same arithmetic laid out otherwise, and the input
  gradient JAX derives for a strided convolution (a convolution of an input dilated with zeros)
  is slow and never goes to YNNPACK. So this layer computes what `nn.Conv` computes, as:

  * forward without gradient (inference): an input with at most 4 channels and at most 16
    features is rearranged by space-to-depth (a reshape) into blocks of stride x stride pixels,
    which turns the strided convolution into a stride-1 convolution over the blocks with a
    rearranged, zero-padded kernel; other convolutions stay strided (YNNPACK handles them well).
  * forward and kernel gradient in training, when the patch matrix is small (at most 16 MiB)
    and not thin (more than 128 rows: conv2 of MicroExpNet at batch 64, not conv1): the patches
    are gathered once, channel-major ([kh*kw*cin, batch*oh*ow], so every slice copied is a run
    of contiguous rows), and both the output (kernel^T @ patches) and the kernel gradient
    (patches @ cotangent) are plain row-major matmuls (YNNPACK). Other convolutions take the
    forward above and the kernel gradient XLA derives for the strided convolution.
  * input gradient: a stride-1 VALID convolution of the padded cotangent with the flipped
    space-to-depth kernel, then depth-to-space (no dilated convolution).

  Being a `jax.custom_vjp`, it supports reverse-mode differentiation only (no `jax.jvp`).
  See benchmarks/RESULTS.md (the speed sections) for the measurements behind each choice.
  """
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int]

  MAX_PATCH_BYTES = 16 * 2**20
  # Below this many patch rows (kh*kw*cin) the patch matrix is long and thin (conv1's 64 rows:
  # one input channel) and gathering it costs more than the matmul saves (benchmarks/RESULTS.md).
  MIN_PATCH_ROWS = 129

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    cin = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (kh, kw, cin, self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return MatmulConv._convolve(x, kernel, tuple(self.strides)) + bias

  @staticmethod
  def _strided(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    """The plain SAME convolution (what `nn.Conv` computes)."""
    return jax.lax.conv_general_dilated(x, kernel, strides, 'SAME',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  @staticmethod
  def _space_to_depth(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]):
    """(blocks, block kernel): a stride-1 VALID convolution of these equals the SAME conv.

    blocks[b, m, n, (di, dj, c)] = padded x[b, sh*m + di, sw*n + dj, c], and
    block_kernel[p, q, (di, dj, c), f] = kernel[sh*p + di, sw*q + dj, c, f] (zero beyond kh, kw).
    """
    kh, kw, cin, features = kernel.shape
    sh, sw = strides
    b, h, w, _ = x.shape
    oh, ow = -(-h // sh), -(-w // sw)
    bh, bw = -(-kh // sh), -(-kw // sw)  # kernel extent in blocks
    nh, nw = oh - 1 + bh, ow - 1 + bw  # input blocks the output reads
    (top, _), (left, _) = same_pads(h, kh, sh), same_pads(w, kw, sw)
    x = jnp.pad(x, ((0, 0), (top, max(nh * sh - h - top, 0)), (left, max(nw * sw - w - left, 0)),
                    (0, 0)))[:, :nh * sh, :nw * sw]
    blocks = x.reshape(b, nh, sh, nw, sw, cin).transpose(0, 1, 3, 2, 4, 5)
    blocks = blocks.reshape(b, nh, nw, sh * sw * cin)
    kernel = jnp.pad(kernel, ((0, bh * sh - kh), (0, bw * sw - kw), (0, 0), (0, 0)))
    kernel = kernel.reshape(bh, sh, bw, sw, cin, features).transpose(0, 2, 1, 3, 4, 5)
    return blocks, kernel.reshape(bh, bw, sh * sw * cin, features)

  @staticmethod
  def _patches(x: jax.Array, kernel_shape: tuple[int, ...], strides: tuple[int, int]):
    """patches[(i, j, c), (b, y, z)] = padded x[b, sh*y + i, sw*z + j, c], [kh*kw*cin, b*oh*ow]."""
    kh, kw, cin, _ = kernel_shape
    sh, sw = strides
    b, h, w, _ = x.shape
    oh, ow = -(-h // sh), -(-w // sw)
    x = jnp.pad(x, ((0, 0), same_pads(h, kh, sh), same_pads(w, kw, sw), (0, 0)))
    x = x.transpose(3, 0, 1, 2)  # [cin, b, h, w]
    columns = jnp.stack([x[..., j:j + sw * (ow - 1) + 1:sw] for j in range(kw)])
    patches = jnp.stack([columns[..., i:i + sh * (oh - 1) + 1:sh, :] for i in range(kh)])
    return patches.reshape(kh * kw * cin, b * oh * ow)

  @staticmethod
  def _use_patches(x_shape, kernel_shape, strides) -> bool:
    kh, kw, cin, _ = kernel_shape
    b, h, w, _ = x_shape
    rows, cols = kh * kw * cin, b * -(-h // strides[0]) * -(-w // strides[1])
    return (strides != (1, 1) and rows >= MatmulConv.MIN_PATCH_ROWS
            and 4 * rows * cols <= MatmulConv.MAX_PATCH_BYTES)

  @staticmethod
  def _forward(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    cin, features = kernel.shape[2:]
    if strides == (1, 1) or cin > 4 or max(cin, features) > 16:
      return MatmulConv._strided(x, kernel, strides)
    blocks, block_kernel = MatmulConv._space_to_depth(x, kernel, strides)
    return jax.lax.conv_general_dilated(blocks, block_kernel, (1, 1), 'VALID',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  @staticmethod
  def _input_grad(x: jax.Array, kernel: jax.Array, g: jax.Array,
                  strides: tuple[int, int]) -> jax.Array:
    """d(conv)/dx applied to the cotangent g, without a dilated convolution."""
    if strides == (1, 1):
      return jax.vjp(lambda x: MatmulConv._strided(x, kernel, strides), x)[1](g)[0]
    kh, kw, cin, _ = kernel.shape
    sh, sw = strides
    b, h, w, _ = x.shape
    blocks, block_kernel = MatmulConv._space_to_depth(x, kernel, strides)
    bh, bw = block_kernel.shape[:2]
    nh, nw = blocks.shape[1:3]
    g = jnp.pad(g, ((0, 0), (bh - 1, bh - 1), (bw - 1, bw - 1), (0, 0)))
    flipped = block_kernel[::-1, ::-1].transpose(0, 1, 3, 2)
    grad = jax.lax.conv_general_dilated(g, flipped, (1, 1), 'VALID',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    grad = grad.reshape(b, nh, nw, sh, sw, cin).transpose(0, 1, 3, 2, 4, 5)
    grad = grad.reshape(b, nh * sh, nw * sw, cin)
    (top, _), (left, _) = same_pads(h, kh, sh), same_pads(w, kw, sw)
    grad = grad[:, top:top + h, left:left + w]  # rows/columns the output never reads get 0
    return jnp.pad(grad, ((0, 0), (0, h - grad.shape[1]), (0, w - grad.shape[2]), (0, 0)))

  @staticmethod
  @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
  def _convolve(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    return MatmulConv._forward(x, kernel, strides)

  @staticmethod
  def _convolve_fwd(x, kernel, strides):
    if not MatmulConv._use_patches(x.shape, kernel.shape, strides):
      return MatmulConv._forward(x, kernel, strides), (x, kernel, None)
    kh, kw, cin, features = kernel.shape
    b, h, w, _ = x.shape
    oh, ow = -(-h // strides[0]), -(-w // strides[1])
    patches = MatmulConv._patches(x, kernel.shape, strides)
    # The barrier keeps the transposed kernel a row-major array of its own; folded into the dot
    # as a transposed operand it would send the dot to Eigen instead of YNNPACK (slower).
    kernel_t = jax.lax.optimization_barrier(kernel.reshape(kh * kw * cin, features).T)
    out = kernel_t @ patches  # [features, b*oh*ow]
    return out.reshape(features, b, oh, ow).transpose(1, 2, 3, 0), (x, kernel, patches)

  @staticmethod
  def _convolve_bwd(strides, residuals, g):
    x, kernel, patches = residuals
    if patches is None:
      kernel_grad = jax.vjp(lambda k: MatmulConv._strided(x, k, strides), kernel)[1](g)[0]
    else:
      kernel_grad = (patches @ g.reshape(-1, g.shape[-1])).reshape(kernel.shape)
    return MatmulConv._input_grad(x, kernel, g, strides), kernel_grad

  _convolve.__func__.defvjp(_convolve_fwd.__func__, _convolve_bwd.__func__)


class ExpNet(nn.Module):
  """The MicroExpNet candidate family.

  Attributes:
    pooling: 'v' (conv1 stride 4, no pooling), 'p1' (max-pool after conv1), 'p2' (after conv2)
      or 'p12' (after both). conv1 has stride 2 when it is followed by a pool, else 4.
    squeeze: the original squeeze coefficient s; FC units are 256/s (v, p1) or 768/s (p2, p12).
    width: continuous multiplier on conv filters and FC units (1.0 is the original family).
    num_classes: output classes.
    dropout: dropout rate after the FC layer.
    conv_impl: 'xla' (`nn.Conv` and `nn.max_pool`), 'matmul' (`MatmulConv` and `max_pool_2x2`:
      same parameters and results, faster training on XLA:CPU) or 'auto' (matmul on the CPU,
      xla elsewhere).
    standardize: give each image zero mean and unit variance first (no parameters; off in the
      original, which saw pixels in [0, 1]).
  """
  pooling: str = 'p12'
  squeeze: float = 16
  width: float = 1.0
  num_classes: int = 8
  dropout: float = 0.5
  conv_impl: str = 'auto'
  conv_features: Sequence[int] = (16, 32)
  standardize: bool = False

  def _pool(self, x: jax.Array) -> jax.Array:
    """2x2 stride-2 max-pool with TensorFlow's SAME padding (odd sizes round up)."""
    if resolve_conv_impl(self.conv_impl) == 'xla':
      return nn.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding='SAME')
    return max_pool_2x2(x)

  def _conv(self, features: int, kernel: int, stride: int, name: str):
    if resolve_conv_impl(self.conv_impl) == 'xla':
      return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding='SAME', name=name)
    return MatmulConv(features, (kernel, kernel), (stride, stride), name=name)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False,
               features: bool = False) -> jax.Array:
    """Logits; with `features`, the flattened output of the convolutions instead (no FC
    parameters are created)."""
    c1, c2 = (max(1, round(c * self.width)) for c in self.conv_features)
    pool1 = self.pooling in ('p1', 'p12')
    if self.standardize:
      mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
      images = (images - mean) / (jnp.std(images, axis=(1, 2, 3), keepdims=True) + 1e-6)
    x = nn.relu(self._conv(c1, 8, 2 if pool1 else 4, 'conv1')(images))
    if pool1:
      x = self._pool(x)
    x = nn.relu(self._conv(c2, 4, 2, 'conv2')(x))
    if self.pooling in ('p2', 'p12'):
      x = self._pool(x)
    x = x.reshape(x.shape[0], -1)
    if features:
      return x
    x = nn.relu(nn.Dense(fc_units(self.pooling, self.squeeze, self.width), name='fc')(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, name='out')(x)


MicroExpNet = functools.partial(ExpNet, pooling='p12', squeeze=16, width=1.0)

