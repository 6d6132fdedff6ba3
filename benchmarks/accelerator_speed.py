r"""The speed figures to take when an accelerator (a GPU) is at hand, in one run.

    PYTHONPATH=. python benchmarks/accelerator_speed.py > accelerator.md
    PYTHONPATH=. python benchmarks/accelerator_speed.py --steps 2 --batch 4 --size 48 \
        --populations 1,2 --rounds 1      # the smallest run, seconds (on any backend)

Runs, each in a process of its own, `benchmarks/speed.py` for the MicroExpNet student, the
separable family's MiniXception (at 48x48, its paper's input) and the `resnet_small` teacher,
then `benchmarks/population.py` for vmapped populations of R students (default R = 1, 4, 16,
64), on JAX's default backend with the models' default layers ('auto': XLA's own convolutions
and pooling off the CPU). Prints one Markdown table of training and inference images per second
and the population table, with the backend and device that ran them. Nothing here is a
dependency of the tests beyond its smallest run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import jax

HERE = os.path.dirname(os.path.abspath(__file__))
# (label, model, input side; None: --size)
NETWORKS = (('MicroExpNet', 'microexpnet', None), ('MiniXception', 'separable', 48),
            ('resnet_small (teacher)', 'resnet_small', None))


def _run(script: str, *args: str) -> str:
  """The stdout of benchmarks/`script` run with `args` in a process of its own."""
  environment = {**os.environ,
                 'PYTHONPATH': os.pathsep.join(filter(None, [os.path.dirname(HERE),
                                                             os.environ.get('PYTHONPATH')]))}
  done = subprocess.run([sys.executable, os.path.join(HERE, script), *args], check=True,
                        capture_output=True, text=True, env=environment)
  return done.stdout


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--steps', type=int, default=100, help='training batches timed per round')
  ap.add_argument('--batch', type=int, default=64)
  ap.add_argument('--size', type=int, default=84, help='input side of MicroExpNet and the teacher')
  ap.add_argument('--rounds', type=int, default=3)
  ap.add_argument('--populations', default='1,4,16,64')
  a = ap.parse_args(argv)
  common = ['--steps', str(a.steps), '--batch', str(a.batch), '--rounds', str(a.rounds)]
  device = jax.devices()[0]
  print(f'backend {jax.default_backend()}, device {device.device_kind}, jax {jax.__version__}; '
        f'batch {a.batch}, {a.steps} steps, medians of {a.rounds} rounds\n')
  print('| network | input | parameters | training images/s | inference images/s, batch 1 | '
        'batch 256 |')
  print('| --- | ---: | ---: | ---: | ---: | ---: |')
  for label, model, side in NETWORKS:
    size = side or a.size
    result = json.loads(_run('speed.py', '--model', model, '--size', str(size),
                             *common).strip().splitlines()[-1])
    print(f'| {label} | {size}x{size} | {result["params"]:,} | {result["train_ips"]:,.0f} | '
          f'{result["infer_bs1_ips"]:,.0f} | {result["infer_bs256_ips"]:,.0f} |')
  print('\nPopulations of MicroExpNet students (benchmarks/population.py):\n')
  print(_run('population.py', '--populations', a.populations, '--size', str(a.size),
             *common).strip())


if __name__ == '__main__':
  main()
