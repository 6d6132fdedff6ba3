"""Training and inference speed of a jaxfer network, optionally side by side with a peer.

Times the project's own jitted functions: `jaxfer.loop.train_step` on random uint8 images,
labels and teacher logits held in memory (steps*batch of each, one device array per step), then
`jaxfer.loop.predict_step` at batch 1 and batch 256. `--model` names a student family (its
reference member: MicroExpNet, MiniXception; loss 'microexpnet', T=8, lam=0.5, dropout on) or a
teacher (`resnet_small`, `inception_v3`: cross-entropy), all with Adam at lr 1e-4 from
`jaxfer.optimizers.make_optimizer`; `jaxfer.step_timing.StepSetup` builds them. Compilation and
a few warm-up steps are excluded; the clock stops after `block_until_ready`. Prints ONE JSON line.

    # jaxfer alone (MicroExpNet at 84x84, batch 64, 100 steps)
    PYTHONPATH=. python benchmarks/speed.py
    PYTHONPATH=. python benchmarks/speed.py --conv-impl xla
    # the separable family's reference student (MiniXception) at 48x48, its paper's input
    PYTHONPATH=. python benchmarks/speed.py --model separable --size 48
    # the resnet_small teacher at 84x84 (--conv-impl xla: with nn.max_pool's gradient)
    PYTHONPATH=. python benchmarks/speed.py --model resnet_small --steps 30

    # with a PyTorch peer, alternating rounds (jaxfer, peer, jaxfer, peer, ...); the JSON line
    # then holds the medians over rounds of both and the ratios jaxfer / peer
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    PYTHONPATH=. python benchmarks/speed.py --rounds 5 \
        --peer ../shared/bench/torch_microexpnet.py --peer-python /tmp/torchvenv/bin/python
    PYTHONPATH=. python benchmarks/speed.py --model resnet_small --steps 30 --rounds 5 \
        --peer ../shared/bench/torch_resnet_small.py --peer-python /tmp/torchvenv/bin/python \
        --peer-layouts default channels-last
    PYTHONPATH=. python benchmarks/speed.py --model separable --size 48 --rounds 5 \
        --peer benchmarks/peers/torch_separable.py --peer-python /tmp/torchvenv/bin/python \
        --peer-layouts default channels-last

With `--peer-layouts default channels-last` each round runs the peer in both memory layouts
(its `--channels-last` flag), and each of the peer's figures is the better layout's median. A
peer that reports only `infer_ips` at its training batch (the teacher's) is run a second time at
batch 256 for `infer_bs256_ips`; its batch-1 figure is then absent, and so is that ratio. The
peer must build the same network: a different parameter count stops the run.

Figures are medians over rounds (`best` holds the maxima: on a shared machine the least
disturbed round). Per-round figures go to stderr. `--feed numpy` passes host numpy slices to
`train_step`, as `jaxfer.loop.fit` does, instead of arrays already on the device.

`--all-cores` measures aggregate training throughput with the whole machine busy instead: each
configuration starts its processes at once, each trains `--steps` batches (default 400) and
reports its own images per second, and the configuration's figure is their sum. jaxfer runs as
one process on all cores, as one process per core pinned to it (what `jaxfer-search run` does
by default) and as one process per core unpinned; the peer as one process with one thread per
core and as one single-thread process per core, pinned. Configurations alternate within each
round; medians over rounds, and the ratio of jaxfer's best configuration to the peer's best.

    PYTHONPATH=. python benchmarks/speed.py --all-cores --rounds 3 \
        --peer ../shared/bench/torch_microexpnet.py --peer-python /tmp/torchvenv/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import jax

from jaxfer import loop
from jaxfer import models
from jaxfer import step_timing

METRICS = ('train_ips', 'infer_bs1_ips', 'infer_bs256_ips')


class JaxferBench(step_timing.StepSetup):
  """The training step of `--model` (`jaxfer.step_timing.StepSetup`) set up and warmed up
  once; `run()` times one round."""

  def __init__(self, a: argparse.Namespace, inference: bool = True):
    super().__init__(a.batch, a.steps, a.size, a.classes, a.conv_impl, a.feed,
                     inference_sizes=(1, 256) if inference else (), model=a.model)
    self.a = a
    self._warm_up()

  def _train(self, batches):
    state, metrics = self.state, None
    for batch in batches:
      state, metrics = loop.train_step(state, batch, self.dropout_rng, self.hparams)
    jax.block_until_ready((state, metrics))
    self.state = state

  def _warm_up(self):
    self._train(self.batches[:3])  # compiles; a few steps
    for images in self.infer.values():
      for _ in range(5):
        predict = loop.predict_step(self.state, images)
      jax.block_until_ready(predict)

  def run(self, inference: bool = True) -> dict[str, float]:
    a = self.a
    result = {'train_ips': a.steps * a.batch / step_timing.seconds(
        lambda: self._train(self.batches))}
    for bs, reps in ((1, a.bs1_reps), (256, a.bs256_reps)) if inference else ():
      images = self.infer[bs]
      result[f'infer_bs{bs}_ips'] = bs * reps / step_timing.seconds(
          lambda images=images: loop.predict_step(self.state, images), reps)
    return {k: round(v, 1) for k, v in result.items()}


PEER_LAYOUT_FLAGS = {'default': [], 'channels-last': ['--channels-last']}
# Batches the peer times at batch 256 when it reports inference only at its training batch.
PEER_BS256_STEPS = 8


def _peer_json(a: argparse.Namespace, batch: int, steps: int, layout: str) -> dict:
  command = [a.peer_python, a.peer, '--batch', str(batch), '--steps', str(steps), '--size',
             str(a.size), '--classes', str(a.classes), *PEER_LAYOUT_FLAGS[layout]]
  out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def run_peer(a: argparse.Namespace, layout: str) -> dict:
  """The peer's figures in `layout` under the names of `METRICS` (those it measures)."""
  result = _peer_json(a, a.batch, a.steps, layout)
  if 'infer_bs256_ips' not in result and 'infer_ips' in result:
    result['infer_bs256_ips'] = _peer_json(a, 256, PEER_BS256_STEPS, layout)['infer_ips']
  result.pop('infer_ips', None)
  return result


def peer_summary(runs: dict[str, list[dict]]) -> dict:
  """The peer's medians over rounds for each layout, and per metric the better layout's."""
  layouts = {}
  for layout, rounds in runs.items():
    layouts[layout] = {k: round(statistics.median(run[k] for run in rounds), 1)
                       for k in METRICS if k in rounds[0]}
  summary = {k: v for k, v in next(iter(runs.values()))[-1].items() if k not in METRICS}
  for k in METRICS:
    measured = [(figures[k], layout) for layout, figures in layouts.items() if k in figures]
    if measured:
      summary[k], summary[f'{k}_layout'] = max(measured)
  summary['layouts'] = layouts
  summary['best'] = {k: max(run[k] for rounds in runs.values() for run in rounds)
                     for k in METRICS if k in summary}
  return summary


def _launch(command: list[str], cores: set[int] | None) -> subprocess.Popen:
  """Starts `command`, pinned to `cores` when given (its thread pools then size to them)."""
  pin = None if cores is None else (lambda: os.sched_setaffinity(0, cores))
  return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=pin)


def all_cores(a: argparse.Namespace) -> dict:
  """Aggregate training images/s of each whole-machine configuration, medians over rounds."""
  cores = sorted(os.sched_getaffinity(0))
  n = len(cores)
  common = ['--batch', str(a.batch), '--steps', str(a.steps), '--size', str(a.size),
            '--classes', str(a.classes)]
  ours = [sys.executable, os.path.abspath(__file__), '--train-only', *common, '--model',
          a.model]
  if a.conv_impl:
    ours += ['--conv-impl', a.conv_impl]
  configs = {f'jaxfer 1x{n}': [(ours, None)],
             f'jaxfer {n}x1 pinned': [(ours, {core}) for core in cores],
             f'jaxfer {n}x{n} unpinned': [(ours, None)] * n}
  if a.peer:
    peer = [a.peer_python, a.peer, *common]
    configs[f'peer 1x{n}'] = [(peer + ['--threads', str(n)], None)]
    configs[f'peer {n}x1 pinned'] = [(peer + ['--threads', '1'], {core}) for core in cores]
  rounds = {name: [] for name in configs}
  for r in range(a.rounds or 3):
    for name, processes in configs.items():
      running = [_launch(command, pinned) for command, pinned in processes]
      outputs = [process.communicate()[0] for process in running]
      if any(process.returncode for process in running):
        raise SystemExit(f'{name}: a process failed')
      per_process = [json.loads(out.strip().splitlines()[-1])['train_ips'] for out in outputs]
      rounds[name].append(round(sum(per_process), 1))
      print(f'round {r + 1} {name:22s} {rounds[name][-1]:8.1f} images/s  {per_process}',
            file=sys.stderr, flush=True)
  medians = {name: round(statistics.median(values), 1) for name, values in rounds.items()}
  result = {'impl': 'jaxfer', 'jax': jax.__version__, 'cpus': n, 'batch': a.batch,
            'size': a.size, 'steps': a.steps, 'rounds': len(rounds[f'jaxfer 1x{n}']),
            'all_cores_train_ips': medians, 'per_round': rounds}
  best = lambda side: max((v, k) for k, v in medians.items() if k.startswith(side))
  (ours_best, ours_name) = best('jaxfer')
  result['jaxfer_best'] = {'config': ours_name, 'train_ips': ours_best}
  if a.peer:
    (peer_best, peer_name) = best('peer')
    result['peer_best'] = {'config': peer_name, 'train_ips': peer_best}
    result['ratio_all_cores_train_ips'] = round(ours_best / peer_best, 3)
  return result


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--batch', type=int, default=64)
  ap.add_argument('--steps', type=int, default=None,
                  help='training batches timed per round (default 100; 400 with --all-cores)')
  ap.add_argument('--size', type=int, default=84)
  ap.add_argument('--classes', type=int, default=8)
  ap.add_argument('--model', '--family', choices=step_timing.model_names(), default='microexpnet',
                  help="a student family (its reference member: MicroExpNet, MiniXception) or a "
                       "teacher")
  ap.add_argument('--conv-impl', choices=models.CONV_IMPLS, default=None,
                  help='default: the model default')
  ap.add_argument('--feed', choices=('device', 'numpy'), default='device',
                  help='batches already on the device, or host numpy slices as in training')
  ap.add_argument('--bs1-reps', type=int, default=500)
  ap.add_argument('--bs256-reps', type=int, default=20)
  ap.add_argument('--rounds', type=int, default=None,
                  help='timed rounds; medians are reported (default 1, or 3 with --peer)')
  ap.add_argument('--peer', default=None, help='peer script printing one JSON line')
  ap.add_argument('--peer-python', default=sys.executable, help='interpreter for --peer')
  ap.add_argument('--peer-layouts', nargs='+', choices=sorted(PEER_LAYOUT_FLAGS),
                  default=['default'], help="the peer's memory layouts, each run every round")
  ap.add_argument('--all-cores', action='store_true',
                  help='aggregate training throughput of whole-machine configurations')
  ap.add_argument('--train-only', action='store_true', help=argparse.SUPPRESS)
  a = ap.parse_args(argv)
  a.steps = a.steps or (400 if a.all_cores else 100)
  if a.peer and not os.path.isfile(a.peer):
    ap.error(f'--peer {a.peer} does not exist; expected a peer script printing one JSON line')
  if a.all_cores:
    print(json.dumps(all_cores(a)), flush=True)
    return
  if a.train_only:  # one process of --all-cores
    bench = JaxferBench(a, inference=False)
    print(json.dumps(bench.run(inference=False)), flush=True)
    return
  rounds = a.rounds or (3 if a.peer else 1)

  bench = JaxferBench(a)
  ours, peers = [], {layout: [] for layout in a.peer_layouts}
  for r in range(rounds):
    ours.append(bench.run())
    print(f'round {r + 1} jaxfer {json.dumps(ours[-1])}', file=sys.stderr, flush=True)
    for layout in peers if a.peer else ():
      peers[layout].append(run_peer(a, layout))
      print(f'round {r + 1} peer {layout} {json.dumps(peers[layout][-1])}', file=sys.stderr,
            flush=True)
      if peers[layout][-1].get('params') != bench.params:
        raise SystemExit(f"{a.peer} builds a network of {peers[layout][-1].get('params')} "
                         f'parameters, jaxfer\'s {a.model} has {bench.params}: not the same '
                         'network (check --model, --size and --classes)')

  median = lambda runs, k: round(statistics.median(run[k] for run in runs), 1)
  best = lambda runs: {k: max(run[k] for run in runs) for k in METRICS}
  conv_impl = a.conv_impl or getattr(bench.model, 'conv_impl', 'xla')
  result = {'impl': 'jaxfer', 'jax': jax.__version__, 'backend': jax.default_backend(),
            'cpus': os.cpu_count(), 'xla_flags': os.environ.get('XLA_FLAGS', ''),
            'model': a.model, 'params': bench.params, 'batch': a.batch, 'size': a.size,
            'steps': a.steps, 'conv_impl': models.resolve_conv_impl(conv_impl), 'feed': a.feed,
            'rounds': rounds, **{k: median(ours, k) for k in METRICS}, 'best': best(ours)}
  if a.peer:
    peer = result['peer'] = peer_summary(peers)
    measured = [k for k in METRICS if k in peer]
    result.update({f'ratio_{k}': round(result[k] / peer[k], 3) for k in measured})
    result['ratio_best'] = {k: round(result['best'][k] / peer['best'][k], 3) for k in measured}
  print(json.dumps(result), flush=True)


if __name__ == '__main__':
  main()
