"""Replicates in one compiled program: a vmapped population of R students against R in turn.

Trains R MicroExpNet students (84x84, batch 64 unless --size and --batch say otherwise, KD loss,
Adam; `jaxfer.step_timing.StepSetup`, as `speed.py`) on the same batches, either one after
another (R calls of `jaxfer.loop.train_step` per batch) or as one population (`jax.vmap` of
`train_step` over R stacked train states and dropout keys, the batch shared, jitted once).
Prints student-images per second (R x batch x steps / seconds) of both for each R, alternating
within each round, medians over rounds, as markdown. A third column trains one student on
batches of R x 64 images: the same arithmetic as R students on a shared batch of 64, in the
layout one student's program runs at, so roughly the most any population program could reach
on this machine; where it is no faster than 64 in turn, there is nothing for a population to
win.

    PYTHONPATH=. python benchmarks/population.py --populations 1,2,4,8 --rounds 3
    PYTHONPATH=. python benchmarks/population.py --populations 2 --steps 2 --rounds 1 \
        --batch 4 --size 48      # the smallest run, seconds
"""
from __future__ import annotations

import argparse
import functools
import statistics

import jax
import jax.numpy as jnp

from jaxfer import loop
from jaxfer import step_timing


def population_step():
  """`train_step` over a population: states and dropout keys stacked, the batch and the
  hyperparameters shared."""
  return jax.jit(jax.vmap(loop.train_step, in_axes=(0, None, 0, None)))


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--populations', default='1,2,4,8')
  ap.add_argument('--steps', type=int, default=30)
  ap.add_argument('--rounds', type=int, default=3)
  ap.add_argument('--batch', type=int, default=64, help='images a student sees per step')
  ap.add_argument('--size', type=int, default=84, help='image side in pixels')
  a = ap.parse_args(argv)
  if not all(p.isdigit() and int(p) >= 1 for p in a.populations.split(',')):
    ap.error(f'--populations {a.populations!r}: expected positive integers separated by commas')
  bench = step_timing.StepSetup(a.batch, a.steps, a.size)
  step = population_step()
  calls = {}
  for r in (int(p) for p in a.populations.split(',')):
    states = [bench.state.replace(params=jax.tree.map(
        lambda x, k=k: x + 0.01 * k, bench.state.params)) for k in range(r)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *states)
    keys = jax.random.split(jax.random.key(1), r)

    def in_turn(states=states, batches=bench.batches):
      out = None
      for batch in batches:
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
    # One student on the same steps with batches R times as large, trained as `in_turn` trains.
    wide = step_timing.StepSetup(r * a.batch, a.steps, a.size)
    jax.block_until_ready(in_turn([wide.state], wide.batches))  # Compiles; warms up.
    calls[r] = {'in turn': in_turn, 'population (vmap)': population,
                'one student, batch R x B': functools.partial(in_turn, [wide.state],
                                                              wide.batches)}
  results = {(r, kind): [] for r, kinds in calls.items() for kind in kinds}
  for _ in range(a.rounds):
    for r, kinds in calls.items():
      for kind, fn in kinds.items():
        results[r, kind].append(r * a.batch * a.steps / step_timing.seconds(fn))
  print(f'jax {jax.__version__}, MicroExpNet, batch {a.batch}, {a.steps} steps, {a.rounds} '
        'rounds, median student-images/s\n')
  print(f'| R | in turn | population (vmap) | ratio | one student, batch R x {a.batch} | ratio |')
  print('| ---: | ---: | ---: | ---: | ---: | ---: |')
  for r in calls:
    turn = statistics.median(results[r, 'in turn'])
    vmapped = statistics.median(results[r, 'population (vmap)'])
    wide = statistics.median(results[r, 'one student, batch R x B'])
    print(f'| {r} | {turn:,.0f} | {vmapped:,.0f} | {vmapped / turn:.2f} | {wide:,.0f} | '
          f'{wide / turn:.2f} |')


if __name__ == '__main__':
  main()
