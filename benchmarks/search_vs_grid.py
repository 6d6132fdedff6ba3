r"""Hypervolume of an Optuna study against the paper's 28-trial grid, at equal trial counts.

    PYTHONPATH=. python benchmarks/search_vs_grid.py --config configs/search_default.py \
        --run_dir runs/hv_synthetic

Runs (or resumes) two studies in RUN_DIR's storage, sharing the fold teachers: `grid` (sampler
grid-paper, the paper's 7 temperatures x 4 sizes in a seeded order, 28 trials) and the config's
study (N_TRIALS trials, 28 by default), each with --workers processes, the grid first or, with
--parallel, both at once. Then prints the hypervolume of both after k finished trials, the trials
the Optuna study needed to reach the grid's final hypervolume, and the reference point (accuracy
0, the largest student of either space). The report of the Optuna study with the grid overlaid
is written to RUN_DIR as by `jaxfer-search report --baseline_study grid`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


from search import cli
from search import pareto
from search import space
from search import storage as storage_lib


def _run_commands(args: argparse.Namespace) -> list[list[str]]:
  common = ['--config', args.config, '--run_dir', args.run_dir, *args.overrides]
  return [[sys.executable, '-m', 'search.cli', 'worker', *common,
           f'--n_trials={space.PAPER_GRID_TRIALS}',
           '--config.search.sampler=grid-paper', '--config.search.study_name=grid'],
          [sys.executable, '-m', 'search.cli', 'worker', *common, f'--n_trials={args.n_trials}']]


def _table(history: list[float], grid: list[float], every: int) -> list[str]:
  lines = ['| trials | Optuna hypervolume | grid hypervolume | ratio |', '|---:|---:|---:|---:|']
  count = max(len(history), len(grid))
  for k in sorted({*range(every, count + 1, every), count}):
    ours = history[k - 1] if k <= len(history) else None
    theirs = grid[k - 1] if k <= len(grid) else None
    ratio = f'{ours / theirs:.3f}' if ours is not None and theirs else ''
    lines.append(f'| {k} | {"" if ours is None else f"{ours:.5g}"} | '
                 f'{"" if theirs is None else f"{theirs:.5g}"} | {ratio} |')
  return lines


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', required=True)
  parser.add_argument('--run_dir', required=True)
  parser.add_argument('--parallel', action='store_true', help='run both studies at once')
  parser.add_argument('--workers', type=int, default=1, help='worker processes per study')
  parser.add_argument('--n_trials', type=int, default=28, help='trials of the Optuna study')
  parser.add_argument('--every', type=int, default=4, help='table row every this many trials')
  args, args.overrides = parser.parse_known_args(argv)  # --config.FIELD=VALUE, for both.
  bad = [arg for arg in args.overrides if not arg.startswith('--config.')]
  if bad:
    parser.error(f'unrecognized arguments: {" ".join(bad)}')
  commands = _run_commands(args)
  start = time.perf_counter()
  batches = [commands] if args.parallel else [[command] for command in commands]
  for batch in batches:  # Each study's --workers processes, all of them at once.
    processes = [subprocess.Popen(command) for command in batch for _ in range(args.workers)]
    for process in processes:
      if process.wait():
        sys.exit(f'{" ".join(process.args)} failed with status {process.returncode}')
  minutes = (time.perf_counter() - start) / 60
  status = cli.main(['report', '--config', args.config, '--run_dir', args.run_dir,
                     '--baseline_study', 'grid', *args.overrides])
  if status:
    sys.exit(status)

  config = cli.read_config(args.config, args.overrides)
  studies = {name: storage_lib.load_study(name, args.run_dir, config.search.storage)
             for name in (config.search.study_name, 'grid')}
  reference = pareto.reference_point(space.size_limit(config))
  history, grid = (pareto.hypervolume_history(s.get_trials(deepcopy=False), reference)
                   for s in studies.values())
  reached = next((k + 1 for k, value in enumerate(history) if value >= grid[-1]), None)
  print(f'\nreference point: accuracy {reference[0]}, size {reference[1]:,.0f} bytes; '
        f'wall {minutes:.1f} min')
  print('\n'.join(_table(history, grid, args.every)))
  print(f'\nOptuna ({config.search.sampler}) reached the grid\'s final hypervolume '
        f'{grid[-1]:.5g} ' + (f'after {reached} trials' if reached else
                              f'not within {len(history)} trials'))


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  main(sys.argv[1:])
