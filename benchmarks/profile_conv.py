"""Per-part timings of MicroExpNet's two convolutions, its max-pool and the training step, on CPU.

For each convolution of MicroExpNet at 84x84 (conv1: 8x8/2, 1->16 on 84x84; conv2: 4x4/2, 16->32
on 21x21), batch 64, it times jitted: the forward pass, the gradient w.r.t. the kernel (both
convolutions need it in training), the gradient w.r.t. the input (only conv2 needs it: the
images need no gradient) and everything a training step needs at once (output and the needed
gradients), for `nn.Conv` ('xla'), `MatmulConv` ('matmul') and the first `MatmulConv` (slices,
concatenate, one matmul; kept here as 'matmul_v0'). Then the relu + 2x2 max-pool after conv1
(forward + backward on [64, 42, 42, 16]), and the whole `jaxfer.loop.train_step` for 'xla' and
'matmul'. Everything alternates within each round; the medians over rounds are printed as a
markdown table (milliseconds per call).

In the pool row the 'xla' column is `nn.max_pool` and the 'matmul' column is
`jaxfer.models.student.max_pool_2x2` (what `ExpNet` uses with `MatmulConv`: same value and
gradient).

    PYTHONPATH=. python benchmarks/profile_conv.py
    PYTHONPATH=. python benchmarks/profile_conv.py --batch 2 --size 48 \
        --rounds 1 --reps 1 --impls matmul --convs conv2      # the smallest run, seconds
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false PYTHONPATH=. python \
        benchmarks/profile_conv.py        # compare XLA CPU flags this way
"""
from __future__ import annotations

import argparse
import os
import statistics

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxfer import loop
from jaxfer import models
from jaxfer import step_timing
from jaxfer.models import student

CONVS = {  # name: (input shape without batch, features, kernel, stride)
    'conv1': ((84, 84, 1), 16, 8, 2),
    'conv2': ((21, 21, 16), 32, 4, 2),
}


class MatmulConvV0(nn.Module):
  """The first `MatmulConv`: SAME pad, one strided slice per kernel offset, concatenate, matmul."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int]

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    sh, sw = self.strides
    cin = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (kh, kw, cin, self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    h, w = x.shape[1:3]
    pads = lambda size, k, s: (lambda t: (t // 2, t - t // 2))(
        max((-(-size // s) - 1) * s + k - size, 0))
    x = jnp.pad(x, ((0, 0), pads(h, kh, sh), pads(w, kw, sw), (0, 0)))
    oh, ow = -(-h // sh), -(-w // sw)
    patches = [x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
               for i in range(kh) for j in range(kw)]
    patches = jnp.concatenate(patches, axis=-1)
    return patches @ kernel.reshape(kh * kw * cin, self.features) + bias


def _module(impl: str, features: int, kernel: int, stride: int) -> nn.Module:
  if impl == 'xla':
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding='SAME')
  if impl == 'matmul_v0':
    return MatmulConvV0(features, (kernel, kernel), (stride, stride))
  return models.MatmulConv(features, (kernel, kernel), (stride, stride))


def _random(rng: np.random.Generator, shape: tuple[int, ...]) -> jax.Array:
  """Standard normal float32 values, drawn on the host: a `jax.random` draw of each shape
  compiles a program of its own, seconds on a CPU, and the timings do not depend on values."""
  return jnp.asarray(rng.standard_normal(shape, np.float32))


def _pool_fns(batch: int):
  rng = np.random.default_rng(0)
  y, g = _random(rng, (batch, 42, 42, 16)), _random(rng, (batch, 21, 21, 16))
  pools = {'xla': lambda y: nn.max_pool(y, (2, 2), strides=(2, 2), padding='SAME'),
           'first_max': student.max_pool_2x2}
  fns = {}
  for name, pool in pools.items():
    step = jax.jit(lambda y, g, pool=pool: jax.vjp(lambda y: pool(nn.relu(y)), y)[1](g)[0])
    fns[name] = lambda step=step: step(y, g)
  return fns


def _conv_fns(impl: str, name: str, batch: int):
  """(inputs, {part: jitted fn}) for one convolution."""
  shape, features, kernel, stride = CONVS[name]
  module = _module(impl, features, kernel, stride)
  rng = np.random.default_rng(0)
  x = _random(rng, (batch, *shape))
  shapes = jax.eval_shape(module.init, jax.random.key(1), x[:1])['params']
  params = jax.tree.map(lambda leaf: 0.1 * _random(rng, leaf.shape), shapes)
  out = jax.eval_shape(lambda p, x: module.apply({'params': p}, x), params, x)
  g = _random(rng, out.shape)

  def fwd(p, x, g):
    return module.apply({'params': p}, x)

  def grad_kernel(p, x, g):
    _, vjp = jax.vjp(lambda p: module.apply({'params': p}, x), p)
    return vjp(g)[0]

  def grad_input(p, x, g):
    _, vjp = jax.vjp(lambda x: module.apply({'params': p}, x), x)
    return vjp(g)[0]

  def training(p, x, g):  # what a training step needs: output, kernel (and conv2: input) grads
    out, vjp = jax.vjp(lambda p, x: module.apply({'params': p}, x), p, x)
    grads = vjp(g)
    return out, grads if name == 'conv2' else grads[0]

  fns = {'fwd': jax.jit(fwd), 'dkernel': jax.jit(grad_kernel), 'dinput': jax.jit(grad_input),
         'training (fwd + needed grads)': jax.jit(training)}
  return (params, x, g), fns


def _train_fns(impl: str, batch: int, size: int):
  """One training step of MicroExpNet (`jaxfer.step_timing.StepSetup`) on one batch, in a loop."""
  setup = step_timing.StepSetup(batch, 1, size, conv_impl=impl)
  batch_, key, hparams = setup.batches[0], setup.dropout_rng, setup.hparams
  box = [setup.state]

  def step():
    box[0], metrics = loop.train_step(box[0], batch_, key, hparams)
    return metrics['loss']

  return step


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--batch', type=int, default=64)
  ap.add_argument('--size', type=int, default=84)
  ap.add_argument('--rounds', type=int, default=7)
  ap.add_argument('--reps', type=int, default=20)
  ap.add_argument('--impls', default='xla,matmul,matmul_v0')
  ap.add_argument('--convs', default=','.join(CONVS), help='the convolutions timed')
  a = ap.parse_args(argv)
  impls = a.impls.split(',')
  if any(name not in CONVS for name in a.convs.split(',')):
    ap.error(f'--convs {a.convs}: expected names of {", ".join(CONVS)} separated by commas')
  calls = {}
  for name in a.convs.split(','):
    for impl in impls:
      args, fns = _conv_fns(impl, name, a.batch)
      for part, fn in fns.items():
        calls[name, part, impl] = (lambda fn=fn, args=args: fn(*args))
  pool_fns = _pool_fns(a.batch)
  calls['pool1 relu+max-pool', 'fwd+bwd', 'xla'] = pool_fns['xla']
  calls['pool1 relu+max-pool', 'fwd+bwd', 'matmul'] = pool_fns['first_max']
  for impl in impls:
    if impl in models.CONV_IMPLS:
      calls['train_step', '', impl] = _train_fns(impl, a.batch, a.size)
  for call in calls.values():  # compile and warm up
    jax.block_until_ready(call())
    jax.block_until_ready(call())
  results = {key: [] for key in calls}
  for _ in range(a.rounds):
    for key, call in calls.items():
      results[key].append(step_timing.ms_per_call(call, a.reps))
  print(f'jax {jax.__version__}, XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}, batch {a.batch}, '
        f'{a.rounds} rounds x {a.reps} calls, median ms/call')
  print('| part | ' + ' | '.join(impls) + ' |')
  print('|---|' + '---:|' * len(impls))
  rows = sorted({(name, part) for name, part, _ in calls},
                key=lambda r: (r[0].startswith('pool'), r[0] == 'train_step', r))
  for name, part in rows:
    cells = [f'{statistics.median(results[name, part, impl]):.3f}'
             if (name, part, impl) in results else '' for impl in impls]
    print(f'| {name} {part} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
  main()
