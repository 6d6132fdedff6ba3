"""Replicates in one compiled program: a vmapped population of R students against R in turn.

Trains R MicroExpNet students (84x84, batch 64, KD loss, Adam; the set-up of `speed.py`) on the
same batches, either one after another (R calls of `jaxfer.loop.train_step` per batch) or as
one population (`jax.vmap` of `train_step` over R stacked train states and dropout keys, the
batch shared, jitted once). Prints student-images per second (R x batch x steps / seconds) of
both for each R, alternating within each round, medians over rounds, as markdown. A third column
trains one student on batches of R x 64 images: the same arithmetic as R students on a shared
batch of 64, in the layout one student's program runs at, so roughly the most any population
program could reach on this machine; where it is no faster than 64 in turn, there is nothing
for a population to win.

    PYTHONPATH=. python benchmarks/population.py --populations 1,2,4,8 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

from jaxfer import loop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  pylint: disable=g-import-not-at-top


def population_step():
  """`train_step` over a population: states and dropout keys stacked, the batch and the
  hyperparameters shared."""
  return jax.jit(jax.vmap(loop.train_step, in_axes=(0, None, 0, None)))


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--populations', default='1,2,4,8')
  ap.add_argument('--steps', type=int, default=30)
  ap.add_argument('--rounds', type=int, default=3)
  a = ap.parse_args()
  if not all(p.isdigit() and int(p) >= 1 for p in a.populations.split(',')):
    ap.error(f'--populations {a.populations!r}: expected positive integers separated by commas')
  bench = speed.JaxferBench(argparse.Namespace(
      batch=64, steps=a.steps, size=84, classes=8, conv_impl=None, feed='device'),
      inference=False)
  step = population_step()
  calls = {}
  for r in (int(p) for p in a.populations.split(',')):
    states = [bench.state.replace(params=jax.tree.map(
        lambda x, k=k: x + 0.01 * k, bench.state.params)) for k in range(r)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *states)
    keys = jax.random.split(jax.random.key(1), r)

    def in_turn(states=states):
      out = None
      for batch in bench.batches:
        for k, state in enumerate(states):
          states[k], out = loop.train_step(state, batch, bench.dropout_rng, bench.hparams)
      return out

    def population(box=[stacked], keys=keys):  # pylint: disable=dangerous-default-value
      out = None
      for batch in bench.batches:
        box[0], out = step(box[0], batch, keys, bench.hparams)
      return out

    for fn in (in_turn, population):
      jax.block_until_ready(fn())  # Compiles; warms up.
    wide = speed.JaxferBench(argparse.Namespace(
        batch=r * 64, steps=a.steps, size=84, classes=8, conv_impl=None, feed='device'),
        inference=False)
    calls[r] = {'in turn': in_turn, 'population (vmap)': population,
                'one student, batch R x 64': lambda wide=wide: wide._train(wide.batches)}  # pylint: disable=protected-access
  results = {(r, kind): [] for r, kinds in calls.items() for kind in kinds}
  for _ in range(a.rounds):
    for r, kinds in calls.items():
      for kind, fn in kinds.items():
        start = time.perf_counter()
        jax.block_until_ready(fn())
        results[r, kind].append(r * 64 * a.steps / (time.perf_counter() - start))
  print(f'jax {jax.__version__}, MicroExpNet, batch 64, {a.steps} steps, {a.rounds} rounds, '
        'median student-images/s\n')
  print('| R | in turn | population (vmap) | ratio | one student, batch R x 64 | ratio |')
  print('| ---: | ---: | ---: | ---: | ---: | ---: |')
  for r in calls:
    turn = statistics.median(results[r, 'in turn'])
    vmapped = statistics.median(results[r, 'population (vmap)'])
    wide = statistics.median(results[r, 'one student, batch R x 64'])
    print(f'| {r} | {turn:,.0f} | {vmapped:,.0f} | {vmapped / turn:.2f} | {wide:,.0f} | '
          f'{wide / turn:.2f} |')


if __name__ == '__main__':
  main()
