"""Several studies' Pareto fronts on one figure, with their intervals and hypervolumes.

`jaxfer-search compare SOURCE... --out DIR` reads each study (a run directory holding one study,
`WORKDIR:STUDY`, or a study name in `--storage` or `--workdir`'s storage), creating nothing
there, and writes compare.csv, compare.md and compare.png in DIR (a new or empty folder, or one
holding an earlier comparison with --overwrite). Studies must be of one dataset; objectives
beyond accuracy and size are named in compare.md as left out. Hypervolumes share one
reference point (accuracy 0 and the largest student of all the studies, or `--reference_size`)
and carry a bootstrap interval over each trial's runs (`pareto.hypervolume_bootstrap`).
"""
from __future__ import annotations

import math
import os
from typing import NamedTuple, Sequence

import numpy as np
import optuna

from search import analysis
from search import figures
from search import intervals
from search import pareto
from search import report
from search import storage as storage_lib

BOOTSTRAP_SAMPLES = 1000
# What compare writes: --overwrite replaces only a folder holding nothing else.
FILES = ('compare.csv', 'compare.md', 'compare.png')
# The data settings that make two studies' accuracies comparable: the same faces, split the same
# way (where the faces are stored, the crops and the input size may differ).
DATASET_FIELDS = ('name', 'builder_kwargs', 'synthetic', 'num_folds', 'fold_seed', 'test_split')


class Compared(NamedTuple):
  """One study's front and hypervolume, with the 95% bootstrap interval of the hypervolume."""
  label: str
  info: pareto.FrontInfo
  hypervolume: float
  low: float
  high: float
  runs_per_trial: list[int]
  dropped: tuple[str, ...] = ()  # The study's objectives beyond accuracy and size.
  evaluated_on: str = 'test'  # The faces its accuracies were measured on (or 'validation').


def _studies_in(run_dir: str) -> list[str]:
  backend = storage_lib.existing_storage(storage_lib.storage_url('', run_dir))
  return [s.study_name for s in optuna.get_all_study_summaries(backend)] if backend else []


def resolve(sources: Sequence[str], storage: str = '',
            run_dir: str = '') -> list[tuple[str, optuna.Study]]:
  """(label, study) of each source, read-only; ValueError naming a source that is not one."""
  found = []
  for source in sources:
    directory, _, name = source.rpartition(':')
    if directory and os.path.isdir(directory):  # RUN_DIR:STUDY
      found.append((source, storage_lib.load_study(name, directory, '')))
    elif os.path.isdir(source):
      names = _studies_in(source)
      if len(names) != 1:
        raise ValueError(f'{source} holds {len(names)} studies'
                         + (f' ({", ".join(names)}); name one as {source}:STUDY' if names
                            else '; expected a run directory of jaxfer-search'))
      found.append((source, storage_lib.load_study(names[0], source, '')))
    elif storage or run_dir:
      found.append((source, storage_lib.load_study(source, run_dir, storage)))
    else:
      raise ValueError(f'{source} is neither a run directory nor RUN_DIR:STUDY; a study name '
                       'needs --storage or --workdir to say where it is')
  return found


def dataset(study: optuna.Study) -> dict | None:
  """The data settings the study was run with (`DATASET_FIELDS`), or None if not recorded."""
  data = study.user_attrs.get('run_config', {}).get('data')
  if data is None:
    return None
  found = {field: data.get(field) for field in DATASET_FIELDS}
  if (data.get('num_folds') or 0) < 2:  # Without folds, the one split used is the dataset's.
    found['fold'] = data.get('fold')
  return found


def check_same_data(studies: Sequence[tuple[str, optuna.Study]]) -> None:
  """ValueError naming the studies' datasets unless all were run on the same one (studies
  that did not record theirs are not checked)."""
  recorded = [(label, dataset(study)) for label, study in studies]
  recorded = [(label, data) for label, data in recorded if data is not None]
  fields = sorted({field for _, data in recorded for field in data
                   if any(other.get(field) != data.get(field) for _, other in recorded)})
  if not fields:
    return
  shown = ['name'] + [field for field in fields if field != 'name']
  raise ValueError('the studies were run on different datasets, so their accuracies do not '
                   'compare: ' + '; '.join(
                       f'{label}: ' + ', '.join(f'data.{field}={data.get(field)}'
                                                for field in shown)
                       for label, data in recorded) + '; compare studies of one dataset')


def dropped_objectives(study: optuna.Study) -> tuple[str, ...]:
  """The objectives of `study` that compare leaves out (all but accuracy and size)."""
  names = study.metric_names or [pareto.METRIC_NAMES.get(name, name) for name in
                                 study.user_attrs.get('search_config', {}).get('objectives', ())]
  return tuple(names[2:])


def _runs(trial: optuna.trial.FrozenTrial) -> list[float]:
  """A completed trial's runs (seeds and folds), or its accuracy when none were recorded."""
  runs = [a for fold in trial.user_attrs.get('run_accuracies', []) for a in fold]
  return runs or [trial.values[0]]


def compare(studies: Sequence[tuple[str, optuna.Study]], reference_size: float | None = None,
            samples: int = BOOTSTRAP_SAMPLES) -> tuple[list[Compared], tuple[float, float]]:
  """Each study's front and hypervolume at a shared reference point, which is returned too."""
  completed = {label: [t for t in study.get_trials(deepcopy=False)
                       if t.state == optuna.trial.TrialState.COMPLETE]
               for label, study in studies}
  dropped = {label: dropped_objectives(study) for label, study in studies}
  sizes = [t.values[1] for trials in completed.values() for t in trials]
  if not sizes:
    raise ValueError('none of the studies has a completed trial to compare')
  reference = pareto.reference_point(reference_size or max(sizes))
  result = []
  for label, trials in completed.items():
    info = pareto.front_info(trials)
    _, found = analysis.study_noise(trials, info)
    if found:  # Each study's own noise model, as its report has it.
      info = report.interval_info(info, found)
    runs = [_runs(t) for t in trials]
    hypervolume = pareto.hypervolume_2d(np.stack([info.accuracy, info.size_bytes], 1),
                                        reference, pareto.ACCURACY_SIZE) if trials else 0.0
    low = high = math.nan
    if trials and any(len(r) > 1 for r in runs):
      spread = pareto.hypervolume_bootstrap(runs, info.size_bytes, reference, samples)
      alpha = 1 - intervals.CONFIDENCE
      # The basic (reverse percentile) interval, 2 h - q(1 - a/2) to 2 h - q(a/2): a front is a
      # maximum over noisy trials, so resampling favours lucky draws and the samples sit above
      # h; the observed front is lucky in the same way, and the basic interval corrects for it
      # where the percentile interval would lean further up.
      upper, lower = np.quantile(spread, [1 - alpha / 2, alpha / 2])
      low, high = 2 * hypervolume - upper, 2 * hypervolume - lower
    result.append(Compared(label, info, hypervolume, float(low), float(high),
                           [len(r) for r in runs], dropped[label], report.evaluated_on(trials)))
  return result, reference


def rows(found: Sequence[Compared]) -> list[dict]:
  """compare.csv: every completed trial of every study, with its interval and front flag."""
  table = []
  for compared in found:
    info = compared.info
    for k, number in enumerate(info.numbers):
      table.append({'study': compared.label, 'number': number, 'accuracy': info.accuracy[k],
                    'accuracy_ci95_low': '' if math.isnan(info.accuracy_low[k])
                    else info.accuracy_low[k],
                    'accuracy_ci95_high': '' if math.isnan(info.accuracy_high[k])
                    else info.accuracy_high[k],
                    'size_bytes': int(info.size_bytes[k]), 'on_front': bool(info.on_front[k]),
                    'label': info.labels[k]})
  return table


def markdown(found: Sequence[Compared], reference: tuple[float, float]) -> str:
  """compare.md: each study's trials, front and hypervolume with its bootstrap interval."""
  lines = ['# Studies compared', '',
           f'Hypervolume of (accuracy, size) with reference point accuracy {reference[0]:g} and '
           f'{reference[1]:,.0f} bytes, shared by all. Its 95% interval is the basic '
           'bootstrap over every trial\'s runs (seeds and folds, resampled with replacement, '
           f'{BOOTSTRAP_SAMPLES} samples): how far seed and fold noise could move it. A front is '
           'a maximum over noisy trials, so the observed one is somewhat lucky; the basic '
           'interval allows for that and may lie mostly below it. Studies whose intervals '
           'overlap are not told apart by this.', '',
           '| study | completed trials | runs per trial | front points | hypervolume | '
           '95% interval |', '| --- | ---: | ---: | ---: | ---: | --- |']
  for c in found:
    runs = sorted(set(c.runs_per_trial))
    interval = ('n/a (one run per trial)' if math.isnan(c.low)
                else f'{c.low:.4g} to {c.high:.4g}')
    lines.append(f'| {c.label} | {len(c.info.numbers)} | {", ".join(map(str, runs)) or "-"} | '
                 f'{int(c.info.on_front.sum())} | {c.hypervolume:.4g} | {interval} |')
  dropped = [c for c in found if c.dropped]
  if dropped:
    lines += ['', 'Compared on accuracy and size only: ' + '; '.join(
        f'{c.label} also has the objective {", ".join(c.dropped)}, left out here (its front '
        'below is the accuracy-size front; see its own report for the others)'
        for c in dropped) + '.']
  lines += ['', _faces_sentence(found), '', '## Fronts', '']
  for c in found:
    positions = sorted(np.flatnonzero(c.info.on_front), key=lambda p: c.info.size_bytes[p])
    points = [f'{100 * c.info.accuracy[p]:.1f}% at {int(c.info.size_bytes[p]):,} bytes'
              for p in positions]
    lines.append(f'- {c.label}: ' + ('; '.join(points) or 'no completed trial'))
  return '\n'.join(lines) + '\n'


def _shared_faces(found: Sequence[Compared]) -> str | None:
  """The faces every study measured on ('test' or 'validation'), or None when they differ."""
  faces = {c.evaluated_on for c in found}
  return faces.pop() if len(faces) == 1 else None


def accuracy_label(found: Sequence[Compared]) -> str:
  """The y axis: 'validation accuracy (%)' when every study measured on the same faces, else
  each study's faces."""
  faces = _shared_faces(found)
  if faces:
    return f'{faces} accuracy (%)'
  return 'accuracy (%): ' + ', '.join(f'{c.label} on {c.evaluated_on}' for c in found)


def _faces_sentence(found: Sequence[Compared]) -> str:
  faces = _shared_faces(found)
  if faces:
    return f'Accuracy is measured on each study\'s {faces} faces.'
  return ('Accuracy is measured on different faces (' + ', '.join(
      f'{c.label}: {c.evaluated_on}' for c in found) + '), so the fronts compare only roughly.')


def plot(path: str, found: Sequence[Compared]) -> None:
  """The studies' fronts on one figure: a step line and error bars per study, their dominated
  trials as faint dots of the same colour."""
  plt = figures.pyplot()
  fig, ax = plt.subplots(figsize=(7.5, 4.8))
  for index, c in enumerate(found):
    colour = f'C{index}'
    info = c.info
    ax.scatter(info.size_bytes[~info.on_front], 100 * info.accuracy[~info.on_front], s=12,
               c=colour, alpha=0.3)
    order = np.argsort(info.size_bytes[info.on_front])
    sizes = info.size_bytes[info.on_front][order]
    accuracy = info.accuracy[info.on_front][order]
    ax.step(sizes, 100 * accuracy, where='post', c=colour, lw=1.2,
            label=f'{c.label} (hypervolume {c.hypervolume:.3g})')
    low, high = info.accuracy_low[info.on_front][order], info.accuracy_high[info.on_front][order]
    known = ~np.isnan(low)
    ax.errorbar(sizes[known], 100 * accuracy[known],
                yerr=100 * np.stack([accuracy[known] - low[known], high[known] - accuracy[known]]),
                fmt='o', c=colour, ms=4, elinewidth=1, capsize=2)
    ax.scatter(sizes[~known], 100 * accuracy[~known], c=colour, s=16)
  ax.set(xscale='log', xlabel='student size (bytes of float32 parameters)',
         ylabel=accuracy_label(found),
         title='Pareto fronts (bars: 95% intervals from each study\'s seed-noise model)')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc='lower right')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_comparison(studies: Sequence[tuple[str, optuna.Study]], out_dir: str,
                     reference_size: float | None = None) -> dict[str, str]:
  """Writes compare.csv, compare.md and compare.png in `out_dir`; returns their paths."""
  found, reference = compare(studies, reference_size)
  os.makedirs(out_dir, exist_ok=True)
  paths = {name.split('.')[1]: os.path.join(out_dir, name) for name in FILES}
  report.write_csv(paths['csv'], rows(found))
  with open(paths['md'], 'w') as f:
    f.write(markdown(found, reference))
  plot(paths['png'], found)
  return paths
