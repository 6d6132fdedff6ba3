"""Max-pooling whose gradient XLA:CPU computes quickly, with `nn.max_pool`'s values and gradients.

XLA:CPU expands the gradient of `nn.max_pool` (a select-and-scatter) into four index arrays the
size of the input, a variadic reduce-window and a scatter: two thirds of MicroExpNet's training
step and a third of the `resnet_small` teacher's (benchmarks/RESULTS.md). The pools here compute
the same gradient, all of each window's cotangent to its first maximum in row-major order, as a
few fused elementwise passes.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow's SAME padding (more on the high side when the total is odd)."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _pool_windows(x: jax.Array) -> jax.Array:
  """[b, h, w, c] -> [b, ceil(h/2), 2, ceil(w/2), 2, c]; odd sizes padded with -inf (SAME)."""
  b, h, w, c = x.shape
  if h % 2 or w % 2:
    x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), constant_values=-jnp.inf)
  return x.reshape(b, (h + 1) // 2, 2, (w + 1) // 2, 2, c)


def _window_max(windows: jax.Array) -> jax.Array:
  return jnp.maximum(jnp.maximum(windows[:, :, 0, :, 0], windows[:, :, 0, :, 1]),
                     jnp.maximum(windows[:, :, 1, :, 0], windows[:, :, 1, :, 1]))


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
  """`nn.max_pool(x, (2, 2), strides=(2, 2), padding='SAME')` as a reshape and three maxima.

  Same value and same gradient: all of it goes to the first maximum of each window in row-major
  order, as XLA's select-and-scatter does; forward and backward are a few fused elementwise
  passes.
  """
  return _window_max(_pool_windows(x))


def _max_pool_2x2_bwd(x: jax.Array, g: jax.Array) -> tuple[jax.Array]:
  windows = _pool_windows(x)
  pooled = _window_max(windows)
  first = jnp.where(windows[:, :, 0, :, 0] == pooled, 0,
                    jnp.where(windows[:, :, 0, :, 1] == pooled, 1,
                              jnp.where(windows[:, :, 1, :, 0] == pooled, 2, 3)))
  position = (2 * jax.lax.broadcasted_iota(jnp.int32, (1, 1, 2, 1, 2, 1), 2)
              + jax.lax.broadcasted_iota(jnp.int32, (1, 1, 2, 1, 2, 1), 4))
  grad = jnp.where(first[:, :, None, :, None] == position, g[:, :, None, :, None], 0.0)
  b, h, w, c = x.shape
  return (grad.reshape(b, windows.shape[1] * 2, windows.shape[3] * 2, c)[:, :h, :w],)


max_pool_2x2.defvjp(lambda x: (max_pool_2x2(x), x), _max_pool_2x2_bwd)


def _padded_offsets(x: jax.Array, window: tuple[int, int], strides: tuple[int, int]):
  """(x padded with -inf as SAME pads it, its pads, output shape, and for each window offset
  (i, j) in row-major order the strided view padded[:, i + sh*y, j + sw*z])."""
  (kh, kw), (sh, sw) = window, strides
  b, h, w, c = x.shape
  oh, ow = -(-h // sh), -(-w // sw)
  pads = same_pads(h, kh, sh), same_pads(w, kw, sw)
  padded = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-jnp.inf)
  views = [padded[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
           for i in range(kh) for j in range(kw)]
  return padded, pads, views


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def max_pool(x: jax.Array, window: tuple[int, int], strides: tuple[int, int]) -> jax.Array:
  """`nn.max_pool(x, window, strides, padding='SAME')` for any window and stride, windows
  overlapping or not, with the same value and gradient (a cotangent goes to its window's first
  maximum in row-major order; an input that is the first maximum of several windows gets the sum).

  The forward pass is XLA's own reduce-window; the backward pass compares each of the kh*kw
  strided views of the input with the pooled maxima and spreads the cotangents back with
  interior padding, instead of a select-and-scatter. Reverse mode only (a `jax.custom_vjp`).
  """
  return _max_pool_fwd(x, window, strides)[0]


def _max_pool_fwd(x, window, strides):
  pooled = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, *window, 1), (1, *strides, 1),
                                 'SAME')
  return pooled, (x, pooled)


def _max_pool_bwd(window, strides, residuals, g):
  x, pooled = residuals
  (_, kw), (sh, sw) = window, strides
  padded, ((top, _), (left, _)), views = _padded_offsets(x, window, strides)
  taken = jnp.zeros(pooled.shape, bool)
  grad = jnp.zeros(padded.shape, g.dtype)
  for k, view in enumerate(views):
    i, j = divmod(k, kw)
    first = (view == pooled) & ~taken
    taken = taken | first
    # Interior padding puts output (y, z)'s share at padded row i + sh*y, column j + sw*z.
    spread = [(0, 0, 0),
              (i, padded.shape[1] - i - (sh * (g.shape[1] - 1) + 1), sh - 1),
              (j, padded.shape[2] - j - (sw * (g.shape[2] - 1) + 1), sw - 1),
              (0, 0, 0)]
    grad = grad + jax.lax.pad(jnp.where(first, g, 0.0), jnp.zeros((), g.dtype), spread)
  return (grad[:, top:top + x.shape[1], left:left + x.shape[2]],)


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)
