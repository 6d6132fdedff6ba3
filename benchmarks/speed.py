"""Training and inference speed of MicroExpNet in jaxfer, optionally side by side with a peer.

Times the project's own jitted functions: `jaxfer.loop.train_step` (loss 'microexpnet', T=8,
lam=0.5, Adam at lr 1e-4 from `jaxfer.loop.make_optimizer`, dropout on) on random uint8 images,
labels and teacher logits held in memory (steps*batch of each, one device array per step), then
`jaxfer.loop.predict_step` at batch 1 and batch 256. Compilation and a few warm-up steps are
excluded; the clock stops after `block_until_ready`. Prints ONE JSON line.

    # jaxfer alone (MicroExpNet at 84x84, batch 64, 100 steps)
    PYTHONPATH=. /work/venv/bin/python benchmarks/speed.py
    PYTHONPATH=. /work/venv/bin/python benchmarks/speed.py --conv-impl xla

    # with the PyTorch peer, alternating rounds (jaxfer, peer, jaxfer, peer, ...); the JSON line
    # then holds the medians over rounds of both and the ratios jaxfer / peer
    python3 -m venv /work/torchvenv && /work/torchvenv/bin/pip install torch==2.13.0 numpy
    PYTHONPATH=. /work/venv/bin/python benchmarks/speed.py --rounds 5 \
        --peer ../shared/bench/torch_microexpnet.py --peer-python /work/torchvenv/bin/python

Figures are medians over rounds (`best` holds the maxima: on a shared machine the least
disturbed round). Per-round figures go to stderr. `--feed numpy` passes host numpy slices to `train_step`, as
`jaxfer.loop.fit` does, instead of arrays already on the device.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxfer import models
from jaxfer import loop

METRICS = ('train_ips', 'infer_bs1_ips', 'infer_bs256_ips')


class JaxferBench:
  """Builds MicroExpNet, its train state and the data once; `run()` times one round."""

  def __init__(self, a: argparse.Namespace):
    self.a = a
    kwargs = {} if a.conv_impl is None else {'conv_impl': a.conv_impl}
    self.model = models.ExpNet(pooling='p12', squeeze=16, num_classes=a.classes, **kwargs)
    optimizer_config = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, schedule='constant', weight_decay=0.0, warmup_epochs=0))
    tx = loop.make_optimizer(optimizer_config, a.steps, 1)
    self.state = loop.create_train_state(self.model, (a.size, a.size, 1), tx,
                                              jax.random.key(0))
    self.params = models.count_params(self.state.params)
    rng = np.random.default_rng(0)
    n = a.steps * a.batch
    images = rng.integers(0, 256, (n, a.size, a.size, 1), dtype=np.uint8)
    labels = rng.integers(0, a.classes, (n,), dtype=np.int32)
    teacher = rng.normal(size=(n, a.classes)).astype(np.float32)
    self.batches = []
    for i in range(a.steps):
      s = slice(i * a.batch, (i + 1) * a.batch)
      batch = {'image': images[s], 'label': labels[s], 'teacher_logits': teacher[s]}
      if a.feed == 'device':
        batch = jax.device_put(batch)
      self.batches.append(batch)
    self.images = images
    self.dropout_rng = jax.random.key(1)
    self.temperature = jnp.float32(8.0)
    self.lam = jnp.float32(0.5)
    self.infer = {bs: jax.device_put(images[:bs]) for bs in (1, 256)}
    self._warm_up()

  def _train(self, batches):
    state, metrics = self.state, None
    for batch in batches:
      state, metrics = loop.train_step(state, batch, self.dropout_rng, self.temperature,
                                            self.lam, loss='microexpnet')
    jax.block_until_ready((state, metrics))
    self.state = state

  def _warm_up(self):
    self._train(self.batches[:3])  # compiles; a few steps
    for images in self.infer.values():
      for _ in range(5):
        predict = loop.predict_step(self.state, images)
      jax.block_until_ready(predict)

  def run(self) -> dict[str, float]:
    a = self.a
    start = time.perf_counter()
    self._train(self.batches)
    result = {'train_ips': a.steps * a.batch / (time.perf_counter() - start)}
    for bs, reps in ((1, a.bs1_reps), (256, a.bs256_reps)):
      images = self.infer[bs]
      start = time.perf_counter()
      for _ in range(reps):
        predict = loop.predict_step(self.state, images)
      jax.block_until_ready(predict)
      result[f'infer_bs{bs}_ips'] = bs * reps / (time.perf_counter() - start)
    return {k: round(v, 1) for k, v in result.items()}


def run_peer(a: argparse.Namespace) -> dict:
  command = [a.peer_python, a.peer, '--batch', str(a.batch), '--steps', str(a.steps), '--size',
             str(a.size), '--classes', str(a.classes)]
  out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--batch', type=int, default=64)
  ap.add_argument('--steps', type=int, default=100)
  ap.add_argument('--size', type=int, default=84)
  ap.add_argument('--classes', type=int, default=8)
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
  a = ap.parse_args()
  rounds = a.rounds or (3 if a.peer else 1)

  bench = JaxferBench(a)
  ours, peers = [], []
  for r in range(rounds):
    ours.append(bench.run())
    print(f'round {r + 1} jaxfer {json.dumps(ours[-1])}', file=sys.stderr, flush=True)
    if a.peer:
      peers.append(run_peer(a))
      print(f'round {r + 1} peer   {json.dumps(peers[-1])}', file=sys.stderr, flush=True)

  median = lambda runs, k: round(statistics.median(run[k] for run in runs), 1)
  best = lambda runs: {k: max(run[k] for run in runs) for k in METRICS}
  conv_impl = models.resolve_conv_impl(a.conv_impl or models.ExpNet.conv_impl)
  result = {'impl': 'jaxfer', 'jax': jax.__version__, 'backend': jax.default_backend(),
            'cpus': os.cpu_count(), 'xla_flags': os.environ.get('XLA_FLAGS', ''),
            'params': bench.params, 'batch': a.batch, 'size': a.size, 'steps': a.steps,
            'conv_impl': conv_impl, 'feed': a.feed, 'rounds': rounds,
            **{k: median(ours, k) for k in METRICS}, 'best': best(ours)}
  if peers:
    peer = {k: v for k, v in peers[-1].items() if k not in METRICS}
    peer.update({k: median(peers, k) for k in METRICS})
    peer['best'] = best(peers)
    result['peer'] = peer
    result.update({f'ratio_{k}': round(result[k] / peer[k], 3) for k in METRICS})
    result['ratio_best'] = {k: round(result['best'][k] / peer['best'][k], 3) for k in METRICS}
  print(json.dumps(result), flush=True)


if __name__ == '__main__':
  main()
