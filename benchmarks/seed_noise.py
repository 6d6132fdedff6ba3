"""Seed-to-seed spread of one student's test accuracy under candidate training recipes.

Trains MicroExpNet (width 1: 65,000 parameters) at T=8, lambda 0.5 on the default synthetic
faces with `--seeds` student seeds per recipe, through the search engine itself: each recipe is
a one-trial study with the point fixed and `config.search.replicates` = seeds, so its runs,
mean and 95% interval are recorded as any trial's are. Recipes on the same data share RUN_DIR's
teacher (one study each in its storage); a recipe that changes the data gets a run directory
(and teacher) of its own. Prints a markdown table: mean, standard deviation over seeds, the 95%
interval of the mean, every run, and the wall time of the recipe's study.

    PYTHONPATH=. python benchmarks/seed_noise.py --workdir runs/seed_noise --seeds 5
    PYTHONPATH=. python benchmarks/seed_noise.py --workdir runs/seed_noise --recipes today,epochs30
    PYTHONPATH=. python benchmarks/seed_noise.py --workdir /tmp/noise --seeds 2 --recipes today \
        --config configs/search_test.py --config.search.folds_per_trial=1   # seconds

`--config` (default configs/search_default.py) and `--config.FIELD=VALUE` give the config each
recipe changes.
"""
from __future__ import annotations

import argparse
import logging
import os
import time

import ml_collections
import numpy as np

from jaxfer import config_file
from search import workers

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'configs', 'search_default.py')
# name: (what it changes, {config field: value}); 'today' is the search configs' recipe.
RECIPES = {
    'today': ('search recipe: 15 epochs, batch 64, 2 images per subject and class', {}),
    'epochs30': ('30 epochs', {'student.num_epochs': 30}),
    'epochs60': ('60 epochs (configs/default.py)', {'student.num_epochs': 60}),
    'batch32': ('batch 32', {'student.batch_size': 32}),
    'lr1e-3': ('learning rate 1e-3 (3e-3 in the search recipe)',
               {'student.optimizer.learning_rate': 1e-3}),
    'images4': ('4 images per subject and class (twice the data; its own teacher)',
                {'data.synthetic.images_per_class': 4}),
    'epochs60_batch32': ('60 epochs, batch 32', {'student.num_epochs': 60,
                                                 'student.batch_size': 32}),
    'images4_epochs30': ('4 images per subject and class, 30 epochs',
                         {'data.synthetic.images_per_class': 4, 'student.num_epochs': 30}),
    'ema': ('moving average of the parameters (decay 0.99), evaluated instead of them',
            {'student.ema_decay': 0.99}),
    'ema0.998': ('moving average of the parameters, decay 0.998', {'student.ema_decay': 0.998}),
    'smooth0.1': ('label smoothing 0.1', {'student.label_smoothing': 0.1}),
    'batch32_ema': ('batch 32, moving average 0.995', {'student.batch_size': 32,
                                                       'student.ema_decay': 0.995}),
    'batch16_ema': ('batch 16, moving average 0.998', {'student.batch_size': 16,
                                                       'student.ema_decay': 0.998}),
    'dropout0': ('no dropout before the classifier (0.5 in MicroExpNet)',
                 {'student.dropout': 0.0}),
    'dropout0_ema': ('no dropout, moving average 0.998', {'student.dropout': 0.0,
                                                          'student.ema_decay': 0.998}),
    'dropout0.25': ('dropout 0.25 before the classifier', {'student.dropout': 0.25}),
    'dropout0_test80': ('no dropout, 80 test subjects (1,280 test images)',
                        {'student.dropout': 0.0, 'data.synthetic.test_subjects': 80}),
    'dropout0_test160': ('no dropout, 160 test subjects (2,560 test images)',
                         {'student.dropout': 0.0, 'data.synthetic.test_subjects': 160}),
    'dropout0_images4': ('no dropout, 4 images per subject and class',
                         {'student.dropout': 0.0, 'data.synthetic.images_per_class': 4}),
    'images4_half_epochs': ('no dropout, 4 images per subject and class, 8 student and 8 teacher '
                            'epochs (the steps of today\'s recipe)',
                            {'student.dropout': 0.0, 'data.synthetic.images_per_class': 4,
                             'student.num_epochs': 8, 'teacher.num_epochs': 8}),
}


def recipe_config(name: str, seeds: int, data_dir: str, base_config):
  """The one-trial search config of recipe `name`, derived from `base_config` (left as it is)."""
  config = ml_collections.ConfigDict(base_config.to_dict())
  for field, value in RECIPES[name][1].items():
    *parents, leaf = field.split('.')
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  config.data.data_dir = data_dir
  config.search.update(study_name=name, n_trials=1, replicates=seeds, prune=False,
                       sampler='random')
  config.search.space = dict(temperature=8.0, width=1.0, lam=0.5)
  return config


def run_dir_of(root: str, name: str) -> str:
  """Recipes on the same data and teacher share a directory and its teacher; others get their
  own."""
  data = sorted(f'{field.removeprefix("data.")}={value}'
                for field, value in RECIPES[name][1].items()
                if field.startswith(('data.', 'teacher.')))
  return os.path.join(root, ','.join(data) if data else 'shared')


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--workdir', '--run_dir', dest='run_dir', required=True)
  ap.add_argument('--seeds', type=int, default=5)
  ap.add_argument('--recipes', default=','.join(RECIPES))
  ap.add_argument('--data_dir', default='')
  ap.add_argument('--config', default=DEFAULT_CONFIG,
                  help='the config the recipes change, with any --config.FIELD=VALUE overrides')
  a, base_config, _ = config_file.parse_script_args(ap, argv)
  unknown = [name for name in a.recipes.split(',') if name not in RECIPES]
  if unknown:
    ap.error(f'--recipes: unknown recipe(s) {", ".join(unknown)}; choose among '
             f'{", ".join(RECIPES)}')
  if a.seeds < 2:
    ap.error(f'--seeds {a.seeds}: a spread needs at least 2 seeds')
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', datefmt='%H:%M:%S')
  rows = []
  for name in a.recipes.split(','):
    config = recipe_config(name, a.seeds, a.data_dir, base_config)
    run_dir = run_dir_of(a.run_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    start = time.perf_counter()
    study = workers.run_study(config, run_dir)
    seconds = time.perf_counter() - start
    trial = study.trials[-1]
    runs = [r for fold in trial.user_attrs['run_accuracies'] for r in fold]
    rows.append((name, runs, trial.user_attrs, seconds))
  print(f'\nMicroExpNet (width 1), T=8, lambda 0.5, {a.seeds} student seeds per recipe\n')
  print('| recipe | mean % | std over seeds (points) | 95% interval of the mean | runs % | '
        'wall time |')
  print('| --- | ---: | ---: | ---: | --- | ---: |')
  for name, runs, attrs, seconds in rows:
    low, high = attrs['accuracy_ci95_low'], attrs['accuracy_ci95_high']
    print(f'| {RECIPES[name][0]} | {100 * np.mean(runs):.1f} | {100 * np.std(runs, ddof=1):.1f} '
          f'| {100 * low:.1f} to {100 * high:.1f} | '
          f'{" ".join(f"{100 * r:.1f}" for r in runs)} | {seconds / 60:.1f} min |')


if __name__ == '__main__':
  main()
