r"""What size-aware pruning would save on a study that ran every fold of every trial.

    PYTHONPATH=. python benchmarks/pruning_replay.py --config configs/search_ckplus48.py \
        --workdir runs/search_ckplus48 --study prune

The study must have run with `--config.search.prune=False` and several folds per trial. The
pruning rule is replayed on its recorded fold accuracies in the order the trials finished
(`search.objective.replay_pruning`); prints the folds trained with and without it, and the front
and hypervolume of the trials that would have completed against those of all trials.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import optuna

from search import cli
from search import objective
from search import pareto
from search import space
from search import storage


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', required=True)
  parser.add_argument('--workdir', '--run_dir', dest='run_dir', required=True)
  parser.add_argument('--study', required=True)
  args = parser.parse_args(argv)
  config = cli.read_config(args.config)

  study = storage.load_study(args.study, args.run_dir, config.search.storage)
  trials = sorted(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)),
                  key=lambda t: t.datetime_complete)
  records = [(t.values[1], t.user_attrs['fold_accuracies']) for t in trials]
  folds_run = objective.replay_pruning(records)
  total = sum(len(accuracies) for _, accuracies in records)
  kept = [t for t, (_, accuracies), run in zip(trials, records, folds_run)
          if run == len(accuracies)]
  reference = pareto.reference_point(space.size_limit(config))
  fronts, volumes = {}, {}
  for name, group in (('all', trials), ('pruned', kept)):
    info = pareto.front_info(group)
    fronts[name] = sorted(n for n, on in zip(info.numbers, info.on_front) if on)
    volumes[name] = pareto.hypervolume_2d(np.stack([info.accuracy, info.size_bytes], axis=1),
                                          reference, pareto.ACCURACY_SIZE)
  print(f'study {args.study}: {len(trials)} trials, {total} folds trained without pruning')
  print(f'with pruning: {sum(folds_run)} folds ({100 * (1 - sum(folds_run) / total):.0f}% '
        f'saved), {len(trials) - len(kept)} trials pruned')
  for trial, run, (size, accuracies) in zip(trials, folds_run, records):
    print(f'  trial {trial.number}: {size:,.0f} bytes, folds '
          f'{", ".join(f"{a:.3f}" for a in accuracies)} -> {run} of {len(accuracies)} folds')
  print(f'front of all trials: {fronts["all"]}, hypervolume {volumes["all"]:.5g}')
  print(f'front with pruning:  {fronts["pruned"]}, hypervolume {volumes["pruned"]:.5g} '
        f'(reference: accuracy {reference[0]}, {reference[1]:,.0f} bytes)')


if __name__ == '__main__':
  main(sys.argv[1:])
