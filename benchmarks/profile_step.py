"""Where the time of one training step goes on this CPU, from a JAX profiler trace.

Traces `--steps` calls of `jaxfer.loop.train_step` (MicroExpNet at 84x84, batch 64, KD loss,
Adam, by default; `--model` as in `speed.py`: a student family or a teacher;
`jaxfer.step_timing.StepSetup`) and attributes every XLA operation the trace shows to a part of
the step through the operation's `op_name` in the compiled HLO: each layer's (each top-level
module's) forward pass and its backward pass, the PRNG of dropout, and the rest (Adam, loss,
metrics: their op_names do not say which is which). Then it times the same steps fed as
`jaxfer.loop.fit` feeds them (host numpy batches, random shifts and flips on the host) and
measures how many cores the process keeps busy (CPU time / wall time). Prints markdown.

XLA:CPU runs Eigen convolutions on threads of their own, where the trace sees only their launch;
run it a second time with `XLA_FLAGS=--xla_cpu_multi_thread_eigen=false` (Eigen then works on
the calling thread) to see their time too.

    PYTHONPATH=. python benchmarks/profile_step.py
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false PYTHONPATH=. python \
        benchmarks/profile_step.py
    PYTHONPATH=. python benchmarks/profile_step.py --conv-impl xla
    PYTHONPATH=. python benchmarks/profile_step.py --model resnet_small --steps 20
    PYTHONPATH=. python benchmarks/profile_step.py --steps 2 --batch 4 \
        --size 48      # the smallest run, seconds
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile
import time

import jax
import numpy as np

from jaxfer import loop
from jaxfer import step_timing
from jaxfer.data import preprocess

def part_of(op_name: str, layers: tuple[str, ...] = ('conv1', 'conv2', 'fc', 'out')) -> str:
  """The part of the step an HLO `op_name` belongs to; `layers` are the model's top-level
  modules (MicroExpNet's by default)."""
  if 'Dropout' in op_name or 'random_bits' in op_name or 'threefry' in op_name:
    return 'dropout mask (PRNG)'
  backward = 'transpose(' in op_name
  direction = 'backward' if backward else 'forward'
  for layer in layers:
    if f'/{layer}/' in op_name:
      return f'{layer} {direction}'
  if any(word in op_name for word in ('_pool', 'reduce_window', 'select_and_')):
    return f'max-pool {direction}'
  if 'jvp(' in op_name:  # The model's own operations outside its modules.
    return f'between layers (relu, pooling, layout) {direction}'
  if 'LOSS' in op_name.upper() or 'softmax' in op_name or 'log' in op_name:
    return f'loss {direction}'
  return 'other (Adam, loss, metrics, copies)'


def op_parts(compiled_text: str, kernel_sizes: dict[str, set[int]]) -> dict[str, str]:
  """HLO instruction name -> the part of the step it belongs to, from a compiled module's text.

  Most instructions carry their `op_name`. XLA drops it on some it creates or rewrites (the
  kernel-gradient convolution of conv1; the index arrays and reduce-window of a select-and-
  scatter expansion): an unnamed instruction whose result has as many elements as a layer's
  kernel is that layer's kernel gradient; another belongs where its first attributable user
  belongs, or else its first named operand.
  """
  entry = compiled_text[compiled_text.index('\nENTRY'):]
  named, operands = {}, {}
  for line in entry.splitlines()[1:]:
    match = re.match(r'\s*(?:ROOT )?%([\w.-]+) = \w+\[([\d,]*)\]', line)
    if not match:
      match = re.match(r'\s*(?:ROOT )?%([\w.-]+) = (\()', line)  # A tuple-shaped result.
      if not match:
        continue
    name, dims = match.groups()
    operands[name] = re.findall(r'%([\w.-]+)', line.split('=', 1)[1])
    op_name = re.search(r'metadata=\{op_name="([^"]*)"', line)
    size = int(np.prod([int(d) for d in dims.split(',') if d.isdigit()])) if dims != '(' else 0
    layers = [layer for layer, sizes in kernel_sizes.items() if size in sizes]
    if op_name:
      named[name] = part_of(op_name.group(1), tuple(kernel_sizes))
    elif len(layers) == 1:
      named[name] = f'{layers[0]} backward'
  users = collections.defaultdict(list)
  for name, used in operands.items():
    for operand in used:
      users[operand].append(name)

  def resolve(name: str, seen: frozenset = frozenset()) -> str | None:
    if name in named or name in seen:
      return named.get(name)
    for user in users[name]:
      part = resolve(user, seen | {name})
      if part:
        return part
    return next((named[o] for o in operands.get(name, ()) if o in named), None)

  return {name: resolve(name) or 'unattributed' for name in operands}


def train(bench: step_timing.StepSetup, batches) -> None:
  """`bench.state` trained on `batches` in turn, waited for."""
  state, metrics = bench.state, None
  for batch in batches:
    state, metrics = loop.train_step(state, batch, bench.dropout_rng, bench.hparams)
  jax.block_until_ready((state, metrics))
  bench.state = state


def traced_parts(bench: step_timing.StepSetup, steps: int) -> tuple[dict[str, float], float]:
  """(milliseconds per step of each part, wall milliseconds per step) from one trace."""
  batch = bench.batches[0]
  compiled = loop.train_step.lower(bench.state, batch, bench.dropout_rng,
                                   bench.hparams).compile()
  kernel_sizes = {
      layer: {leaf.size for path, leaf in jax.tree_util.tree_leaves_with_path(params)
              if getattr(path[-1], 'key', None) == 'kernel'}
      for layer, params in bench.state.params.items()}
  names = op_parts(compiled.as_text(), kernel_sizes)
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    wall = step_timing.ms_per_call(lambda: train(bench, bench.batches[:steps]), 1) / steps
    jax.profiler.stop_trace()
    trace = glob.glob(os.path.join(trace_dir, 'plugins', 'profile', '*', '*.trace.json.gz'))[0]
    with gzip.open(trace) as f:
      events = [e for e in json.load(f)['traceEvents'] if e.get('ph') == 'X']
  parts = collections.defaultdict(float)
  for event in events:
    name = event['name']
    if name in names:
      parts[names[name]] += event['dur'] / 1e3 / steps
  return dict(parts), wall


def fed_like_fit(bench: step_timing.StepSetup, steps: int) -> float:
  """Milliseconds per step when batches come from host numpy with fit's augmentation."""
  images = bench.images
  labels = np.asarray(bench.batches[0]['label'])
  rng = np.random.default_rng(0)
  state, batch_size = bench.state, bench.batch_size
  start = time.perf_counter()
  for i in range(steps):
    chunk = images[(i % (len(images) // batch_size)) * batch_size:][:batch_size]
    chunk = preprocess.random_flip(preprocess.random_shift(chunk, 4, rng), rng)
    batch = {'image': chunk, 'label': labels,
             'teacher_logits': np.asarray(bench.batches[0]['teacher_logits'])}
    state, metrics = loop.train_step(state, batch, bench.dropout_rng, bench.hparams)
  jax.block_until_ready((state, metrics))
  return (time.perf_counter() - start) / steps * 1e3


def device_fed(bench: step_timing.StepSetup, steps: int) -> tuple[float, float]:
  """(milliseconds per step, cores busy) with the batches already on the device."""
  wall, busy = step_timing.cores_busy(lambda: train(bench, bench.batches[:steps]))
  return wall / steps * 1e3, busy


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--steps', type=int, default=50)
  ap.add_argument('--batch', type=int, default=64)
  ap.add_argument('--size', type=int, default=84, help='image side in pixels')
  ap.add_argument('--conv-impl', default=None)
  ap.add_argument('--model', choices=step_timing.model_names(), default='microexpnet',
                  help='a student family (its reference member) or a teacher')
  a = ap.parse_args(argv)
  bench = step_timing.StepSetup(a.batch, a.steps, a.size, conv_impl=a.conv_impl, model=a.model)
  for _ in range(2):
    train(bench, bench.batches)
  device_ms, busy = device_fed(bench, a.steps)
  fit_ms = fed_like_fit(bench, a.steps)
  parts, traced_wall = traced_parts(bench, a.steps)
  flags = os.environ.get('XLA_FLAGS', '')
  print(f'{a.model}, jax {jax.__version__}, conv_impl {a.conv_impl or "default"}, batch {a.batch}, '
        f'{a.steps} steps, XLA_FLAGS={flags!r}\n')
  print(f'- step, batches on the device: {device_ms:.2f} ms ({a.batch / device_ms * 1e3:,.0f} '
        f'images/s); cores busy {busy:.2f}')
  print(f'- step, fed as `fit` feeds it (host numpy, shifts and flips): {fit_ms:.2f} ms')
  print(f'- step under the profiler: {traced_wall:.2f} ms, of which operations '
        f'{sum(parts.values()):.2f} ms (summed over threads)\n')
  print('| part | ms per step | share of operations |')
  print('| --- | ---: | ---: |')
  total = sum(parts.values())
  for part, ms in sorted(parts.items(), key=lambda item: -item[1]):
    print(f'| {part} | {ms:.2f} | {ms / total:.0%} |')


if __name__ == '__main__':
  main()
