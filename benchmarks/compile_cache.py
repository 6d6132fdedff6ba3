r"""What JAX's persistent compilation cache (`jaxfer.xla_cache`) saves a run, as a user sees it.

    PYTHONPATH=. python benchmarks/compile_cache.py --config configs/test.py --runs 3
    PYTHONPATH=. python benchmarks/compile_cache.py --config configs/test.py --runs 1 \
        --config.distill.loss=none --config.student.num_epochs=1      # the smallest run

Runs `jaxfer distill` in a new work directory `--runs` times, each in its own process, all with
one empty cache folder: the first run compiles everything, the later ones read the compiled
teacher and student from the cache. A search trial or a cross-validation fold is such a later
run. Prints the wall time of each run and the ratio of the first to the median of the others.
The work directories, data and cache are in a temporary folder, removed at the end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='configs/test.py')
  parser.add_argument('--runs', type=int, default=3)
  args, overrides = parser.parse_known_args(argv)
  with tempfile.TemporaryDirectory(prefix='jaxfer-compile-cache-') as root:
    seconds = _time_runs(args.config, args.runs, overrides, root)
  if len(seconds) > 1:
    warm = statistics.median(seconds[1:])
    print(f'first run / later runs: {seconds[0] / warm:.2f}x ({seconds[0]:.1f} s against '
          f'{warm:.1f} s)')


def _time_runs(config: str, runs: int, overrides: list[str], root: str) -> list[float]:
  """Wall seconds of each of `runs` `jaxfer distill` processes sharing one cache in `root`."""
  environment = dict(os.environ, JAXFER_CACHE_DIR=os.path.join(root, 'cache'),
                     TFDS_DATA_DIR=os.path.join(root, 'tfds'))
  # The data are prepared once first, so that no run pays for rendering them.
  subprocess.run([sys.executable, '-c', 'import sys; from jaxfer import config_file, data; '
                  'data.load(config_file.read(sys.argv[1], sys.argv[2:]).data)', config,
                  *overrides], env=environment, check=True, capture_output=True)
  seconds = []
  for run in range(runs):
    start = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'jaxfer.cli', 'distill', '--config', config,
                    '--workdir', os.path.join(root, f'run_{run}'), *overrides],
                   env=environment, check=True, capture_output=True)
    seconds.append(time.perf_counter() - start)
    print(f'run {run + 1} ({"empty cache" if run == 0 else "warm cache"}): {seconds[-1]:.1f} s')
  return seconds


if __name__ == '__main__':
  main(sys.argv[1:])
