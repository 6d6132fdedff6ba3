r"""Optuna samplers against the paper's 28-point grid at equal compute, with bands over seeds.

    PYTHONPATH=. python benchmarks/search_vs_grid.py --config configs/search_default.py \
        --workdir runs/hv_synthetic --samplers size-aware,tpe,gp --study_seeds 0,1,2 \
        --n_trials 10 --workers 2

Runs (or resumes; with --summarize_only, only reads) in RUN_DIR's storage, sharing the fold
teachers: `grid` (sampler grid-paper, the paper's 7 temperatures x 4 sizes, 28 trials) and, for
every sampler and study seed, a study
`SAMPLER_seedS` of N_TRIALS trials. --workers processes run at once, each one study at a time,
the grid first. Compute is counted in student trainings (trials x replicates x folds; a pruned
trial counts what it trained), not trials. Prints the hypervolume of each study against the
students trained, the samplers' mean and range over study seeds at equal budgets, and how many
trainings each study needed to reach the grid's final hypervolume; writes the same as
`search_vs_grid.json` and a figure, `search_vs_grid.png`, with one band per sampler.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from jaxfer import config_file
from search import pareto
from search import samplers as samplers_lib
from search import space
from search import storage as storage_lib

GRID = 'grid'


def study_name(sampler: str, seed: int) -> str:
  return f'{sampler}_seed{seed}'


def _commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
  """(study, worker command) for the grid, then every sampler and seed, seed by seed."""
  common = [sys.executable, '-m', 'search.cli', 'worker', '--config', args.config, '--workdir',
            args.run_dir, *args.overrides]
  jobs = [(GRID, [*common, f'--n_trials={space.PAPER_GRID_TRIALS}',
                  '--config.search.sampler=grid-paper', f'--config.search.study_name={GRID}'])]
  for seed in args.study_seeds:
    for sampler in args.samplers:
      name = study_name(sampler, seed)
      jobs.append((name, [*common, f'--n_trials={args.n_trials}',
                          f'--config.search.sampler={sampler}', f'--config.search.seed={seed}',
                          f'--config.search.study_name={name}']))
  return jobs


def _run(jobs: list[tuple[str, list[str]]], workers: int, log_dir: str) -> None:
  """Runs the jobs, `workers` at a time, each writing its output to LOG_DIR/STUDY.log."""
  pending, running = list(jobs), []
  while pending or running:
    while pending and len(running) < workers:
      name, command = pending.pop(0)
      log = open(os.path.join(log_dir, f'{name}.log'), 'a')
      running.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
      print(f'{time.strftime("%H:%M:%S")} started {name}', flush=True)
    time.sleep(2)
    for job in [job for job in running if job[1].poll() is not None]:
      running.remove(job)
      job[2].close()
      if job[1].returncode:
        sys.exit(f'study {job[0]} failed with status {job[1].returncode}; see its log in '
                 f'{log_dir}')
      print(f'{time.strftime("%H:%M:%S")} finished {job[0]}', flush=True)


def _listed(values: np.ndarray) -> list[float | None]:
  """A JSON-ready list: None where the value is NaN."""
  return [None if np.isnan(v) else float(v) for v in values]


def summarize(curves: dict[str, tuple[np.ndarray, np.ndarray]], samplers: list[str],
              seeds: list[int], budgets: list[int]) -> dict:
  """The grid's final hypervolume and budget, each sampler's mean and range over seeds at each
  budget, and the trainings each study needed to reach the grid's final hypervolume."""
  grid_steps, grid_values = curves[GRID]
  target, grid_budget = float(grid_values[-1]), int(grid_steps[-1])
  out = {'grid': {'final_hypervolume': target, 'trainings': grid_budget,
                  'at': _listed(pareto.value_at(grid_steps, grid_values, budgets)),
                  'reached_at': pareto.budget_to_reach(grid_steps, grid_values, target)},
         'budgets': budgets, 'samplers': {}}
  for sampler in samplers:
    at = np.array([pareto.value_at(*curves[study_name(sampler, s)], budgets) for s in seeds])
    reached = [pareto.budget_to_reach(*curves[study_name(sampler, s)], target) for s in seeds]
    # NaN where a seed's study never spent that many trainings.
    out['samplers'][sampler] = {
        'mean': _listed(at.mean(axis=0)), 'low': _listed(at.min(axis=0)),
        'high': _listed(at.max(axis=0)),
        'reached_at': reached,
        'reached_within_third': sum(r is not None and r <= grid_budget / 3 for r in reached),
        'trainings_spent': [int(curves[study_name(sampler, s)][0][-1]) for s in seeds]}
  return out


def _table(summary: dict, samplers: list[str]) -> list[str]:
  def cell(value):
    return '' if value is None else f'{value:.4g}'
  head = '| students trained | grid | ' + ' | '.join(
      f'{s} mean (range)' for s in samplers) + ' |'
  lines = [head, '|---:|' + '---:|' * (len(samplers) + 1)]
  for k, budget in enumerate(summary['budgets']):
    row = [str(budget), cell(summary['grid']['at'][k])]
    for sampler in samplers:
      entry = summary['samplers'][sampler]
      row.append(f'{cell(entry["mean"][k])} ({cell(entry["low"][k])} to {cell(entry["high"][k])})'
                 if entry['mean'][k] is not None else '')
    lines.append('| ' + ' | '.join(row) + ' |')
  return lines


def plot(path: str, curves: dict, summary: dict, samplers: list[str], seeds: list[int]) -> None:
  """Hypervolume against students trained: the grid's curve, each sampler's mean and range."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4.5))
  steps, values = curves[GRID]
  ax.step(steps, values, where='post', color='black', label='grid-paper (28 points)')
  ax.axhline(summary['grid']['final_hypervolume'], color='black', ls=':', lw=0.8)
  ax.axvline(summary['grid']['trainings'] / 3, color='grey', ls='--', lw=0.8,
             label='a third of the grid\'s trainings')
  budgets = np.array(summary['budgets'])
  for k, sampler in enumerate(samplers):
    entry, color = summary['samplers'][sampler], f'C{k}'
    mean, low, high = (np.array(entry[key], dtype=float) for key in ('mean', 'low', 'high'))
    ax.plot(budgets, mean, color=color, label=f'{sampler} (mean, range over '
            f'{len(seeds)} seeds)')
    ax.fill_between(budgets, low, high, color=color, alpha=0.2)
  ax.set_xlabel('students trained (trials x replicates x folds)')
  ax.set_ylabel('hypervolume (accuracy x bytes saved)')
  ax.legend(fontsize=8, loc='lower right')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', required=True)
  parser.add_argument('--workdir', '--run_dir', dest='run_dir', required=True)
  parser.add_argument('--samplers', default='size-aware,tpe,gp')
  parser.add_argument('--study_seeds', default='0,1,2')
  parser.add_argument('--n_trials', type=int, default=10, help='trials of each sampler study')
  parser.add_argument('--workers', type=int, default=2, help='studies running at once')
  parser.add_argument('--summarize_only', action='store_true',
                      help='train nothing: summarize the studies already in RUN_DIR')
  parser.add_argument('--every', type=int, default=0,
                      help='table row every this many trainings (default: replicates x folds)')
  # --config.FIELD=VALUE overrides, for every study and worker.
  args, config, args.overrides = config_file.parse_script_args(parser, argv)
  args.samplers = args.samplers.split(',')
  choices = [s for s in samplers_lib.SAMPLERS if s != samplers_lib.PAPER_GRID]
  unknown = [s for s in args.samplers if s not in choices]
  if unknown:
    parser.error(f'--samplers: unknown sampler(s) {", ".join(unknown)}; choose among '
                 f'{", ".join(choices)}')
  try:
    args.study_seeds = [int(s) for s in args.study_seeds.split(',')]
  except ValueError:
    parser.error(f'--study_seeds {args.study_seeds!r}: expected integers separated by commas')
  start = time.perf_counter()
  if not args.summarize_only:
    log_dir = os.path.join(args.run_dir, 'logs')
    os.makedirs(log_dir, exist_ok=True)
    _run(_commands(args), args.workers, log_dir)
  minutes = (time.perf_counter() - start) / 60

  reference = pareto.reference_point(space.size_limit(config))
  names = [GRID] + [study_name(s, seed) for seed in args.study_seeds for s in args.samplers]
  curves, finished = {}, {}
  for name in names:
    try:
      trials = storage_lib.load_study(name, args.run_dir, config.search.storage).get_trials(
          deepcopy=False)
    except ValueError as error:
      sys.exit(f'{error}; run without --summarize_only first')
    curves[name] = pareto.hypervolume_by_trainings(trials, reference)
    finished[name] = len(curves[name][0])
  short = {name: count for name, count in finished.items() if count < (
      space.PAPER_GRID_TRIALS if name == GRID else args.n_trials)}
  if short:
    print('not finished (trials): ' + ', '.join(f'{n} {c}' for n, c in short.items()))
  per_trial = config.search.replicates * config.search.folds_per_trial
  every = args.every or per_trial
  last = max(int(steps[-1]) for steps, _ in curves.values())
  budgets = list(range(every, last + 1, every))
  summary = summarize(curves, args.samplers, args.study_seeds, budgets)
  summary.update(reference=list(reference), wall_minutes=round(minutes, 1),
                 trainings_per_trial=per_trial,
                 curves={name: [c.tolist() for c in curve] for name, curve in curves.items()})
  with open(os.path.join(args.run_dir, 'search_vs_grid.json'), 'w') as f:
    json.dump(summary, f, indent=1)
  plot(os.path.join(args.run_dir, 'search_vs_grid.png'), curves, summary, args.samplers,
       args.study_seeds)
  print(f'\nreference point: accuracy {reference[0]}, size {reference[1]:,.0f} bytes; '
        f'{per_trial} student trainings per full trial; wall {minutes:.1f} min')
  print('\n'.join(_table(summary, args.samplers)))
  grid = summary['grid']
  print(f'\ngrid: final hypervolume {grid["final_hypervolume"]:.5g} after {grid["trainings"]} '
        f'trainings (first reached at {grid["reached_at"]}); a third is '
        f'{grid["trainings"] / 3:.1f}')
  for sampler in args.samplers:
    entry = summary['samplers'][sampler]
    print(f'{sampler}: reached it at {entry["reached_at"]} trainings (seeds '
          f'{args.study_seeds}; None: not within {entry["trainings_spent"]}); within a third '
          f'of the grid: {entry["reached_within_third"]} of {len(args.study_seeds)} seeds')


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  main(sys.argv[1:])
