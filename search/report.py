"""What a study leaves behind: tables, the Pareto front, hypervolume history, importances, report.

Computation and drawing are apart: `pareto.front_info` and `pareto.hypervolume_history` return
plain data, the `plot_*` functions only draw it, and `write_report` writes every file of a run
directory. `pareto.html` carries plotly itself, so it works on machines without internet.
"""
from __future__ import annotations

import csv
import os
from typing import Any, Sequence

import numpy as np
import optuna

from search import intervals
from search import pareto
from search.pareto import FrontInfo

_STATES = {optuna.trial.TrialState.COMPLETE: 'complete', optuna.trial.TrialState.PRUNED: 'pruned',
           optuna.trial.TrialState.FAIL: 'failed', optuna.trial.TrialState.RUNNING: 'running',
           optuna.trial.TrialState.WAITING: 'waiting'}
# Trial attributes shown when hovering over a point of pareto.html (not the recorded config).
HOVER_ATTRS = ('params', 'fold_accuracies', 'run_accuracies', 'accuracy_ci95_low',
               'accuracy_ci95_high')


def trial_rows(trials: Sequence[optuna.trial.FrozenTrial],
               objectives: Sequence[str]) -> list[dict[str, Any]]:
  """One row per trial: number, state, objectives, parameters, parameter count, pruning reason."""
  info = pareto.front_info(trials)
  on_front = {n for n, f in zip(info.numbers, info.on_front) if f}
  names = sorted({name for t in trials for name in t.params})
  rows = []
  for trial in sorted(trials, key=lambda t: t.number):
    row = {'number': trial.number, 'state': _STATES.get(trial.state, str(trial.state))}
    for k, objective in enumerate(objectives):
      row[pareto.METRIC_NAMES[objective]] = trial.values[k] if trial.values else ''
    row.update(_interval_cells(trial))
    row['params'] = trial.user_attrs.get('params', '')
    row.update({name: trial.params.get(name, '') for name in names})
    row['on_front'] = trial.number in on_front
    row['pruned_reason'] = trial.user_attrs.get('pruned_reason', '')
    rows.append(row)
  return rows


def _interval_cells(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
  """The trial's accuracy interval columns ('' where not recorded or undefined)."""
  cells = {name: trial.user_attrs.get(name) for name in intervals.COLUMNS}
  return {name: '' if value is None else value for name, value in cells.items()}


def write_csv(path: str, rows: Sequence[dict[str, Any]]) -> None:
  with open(path, 'w', newline='') as f:
    if not rows:
      return
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top  (plotting only when asked)
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_pareto(path: str, info: FrontInfo, baseline: FrontInfo | None = None,
                title: str = '') -> None:
  """Accuracy against size: front highlighted and labelled, dominated trials grey, the grid
  baseline's front (if given) dashed."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(7, 4.5))
  dominated = ~info.on_front
  ax.scatter(info.size_bytes[dominated], 100 * info.accuracy[dominated], c='0.75', s=18,
             label='dominated trials')
  order = np.argsort(info.size_bytes[info.on_front])
  sizes, accuracies = info.size_bytes[info.on_front][order], info.accuracy[info.on_front][order]
  ax.step(sizes, 100 * accuracies, where='post', c='tab:blue', lw=1)
  ax.scatter(sizes, 100 * accuracies, c='tab:blue', s=30, zorder=3, label='Pareto front')
  bars = _error_bars(info)
  if bars is not None:
    known = ~np.isnan(bars).any(0)
    colours = np.where(info.on_front, 'tab:blue', '0.75')
    for colour in ('0.75', 'tab:blue'):  # Dominated trials' bars first, the front's on top.
      chosen = known & (colours == colour)
      if chosen.any():
        ax.errorbar(info.size_bytes[chosen], 100 * info.accuracy[chosen],
                    yerr=100 * bars[:, chosen], fmt='none', ecolor=colour, elinewidth=1,
                    capsize=2, zorder=2)
    ax.plot([], [], c='0.4', lw=1, label='95% interval (t over seeds and folds)')
  for position in np.flatnonzero(info.on_front):
    ax.annotate(info.labels[position], (info.size_bytes[position], 100 * info.accuracy[position]),
                textcoords='offset points', xytext=(4, 4), fontsize=7)
  if info.knee is not None:
    ax.scatter([info.size_bytes[info.knee]], [100 * info.accuracy[info.knee]], s=120,
               facecolors='none', edgecolors='tab:red', label='knee', zorder=4)
  if baseline is not None and len(baseline.numbers):
    grid = np.argsort(baseline.size_bytes[baseline.on_front])
    ax.step(baseline.size_bytes[baseline.on_front][grid],
            100 * baseline.accuracy[baseline.on_front][grid], where='post', c='tab:orange',
            ls='--', lw=1, label='grid (paper) front')
  ax.set_xscale('log')
  ax.set_xlabel('student size (bytes of float32 parameters)')
  ax.set_ylabel('accuracy (%)')
  ax.set_title(title, fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc='lower right')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _error_bars(info: FrontInfo) -> np.ndarray | None:
  """[2, N] distances from each accuracy down and up to its interval's ends, or None if no
  trial has an interval."""
  if np.isnan(info.accuracy_low).all():
    return None
  return np.stack([info.accuracy - info.accuracy_low, info.accuracy_high - info.accuracy])


def plot_hypervolume(path: str, history: Sequence[float],
                     baseline: Sequence[float] | None = None, title: str = '') -> None:
  """Hypervolume against the number of trials, with the grid baseline's curve if given."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.plot(range(1, len(history) + 1), history, marker='.', label='this study')
  if baseline:
    ax.plot(range(1, len(baseline) + 1), baseline, marker='.', ls='--', label='grid (paper)')
  ax.set_xlabel('trials')
  ax.set_ylabel('hypervolume')
  ax.set_title(title, fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_pareto_csv(path: str, info: FrontInfo,
                     trials: Sequence[optuna.trial.FrozenTrial]) -> None:
  """The front's trials, smallest first, with their parameters and whether each is the knee."""
  by_number = {t.number: t for t in trials}
  positions = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  rows = []
  for position in positions:
    trial = by_number[info.numbers[position]]
    rows.append({'number': trial.number, 'accuracy': info.accuracy[position],
                 'size_bytes': int(info.size_bytes[position]), **_interval_cells(trial),
                 'params': trial.user_attrs.get('params', ''), **trial.params,
                 'knee': position == info.knee})
  write_csv(path, rows)


def _hover_study(study: optuna.Study) -> optuna.Study:
  """An in-memory copy of `study` whose trials keep only `HOVER_ATTRS` (Optuna's plot shows
  every user attribute on hover; the recorded config is long and not for display)."""
  verbosity = optuna.logging.get_verbosity()
  optuna.logging.set_verbosity(optuna.logging.WARNING)  # Not the copy's 'study created' line.
  try:
    copy = optuna.create_study(directions=study.directions)
  finally:
    optuna.logging.set_verbosity(verbosity)
  copy.add_trials([optuna.trial.create_trial(
      state=t.state, values=t.values, params=t.params, distributions=t.distributions,
      user_attrs={k: t.user_attrs[k] for k in HOVER_ATTRS if k in t.user_attrs})
      for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))])
  return copy


def plot_pareto_html(path: str, study: optuna.Study, info: FrontInfo,
                     baseline: FrontInfo | None = None) -> None:
  """Optuna's interactive Pareto plot (hover shows the parameters) with the 95% intervals of
  `info` (the study's `front_info`) and the grid's front, with plotly embedded so the page needs
  no network."""
  import plotly.graph_objects as go  # pylint: disable=g-import-not-at-top  (plotting only)
  figure = optuna.visualization.plot_pareto_front(
      _hover_study(study), targets=lambda t: (t.values[1], 100 * t.values[0]),
      target_names=['size (bytes)', 'accuracy (%)'])
  bars = _error_bars(info)
  if bars is not None:
    known = ~np.isnan(bars).any(0)
    figure.add_trace(go.Scatter(
        x=info.size_bytes[known], y=100 * info.accuracy[known], mode='markers',
        marker={'size': 1, 'color': 'rgba(0,0,0,0)'}, name='95% interval',
        error_y={'type': 'data', 'symmetric': False, 'array': 100 * bars[1, known],
                 'arrayminus': 100 * bars[0, known], 'color': 'grey', 'thickness': 1},
        text=[info.labels[p] for p in np.flatnonzero(known)]))
  if baseline is not None and len(baseline.numbers):
    order = np.argsort(baseline.size_bytes[baseline.on_front])
    figure.add_trace(go.Scatter(
        x=baseline.size_bytes[baseline.on_front][order],
        y=100 * baseline.accuracy[baseline.on_front][order], mode='lines+markers',
        line={'dash': 'dash', 'shape': 'hv'}, name='grid (paper) front',
        text=[baseline.labels[p] for p in np.flatnonzero(baseline.on_front)[order]]))
  figure.update_xaxes(type='log')
  figure.write_html(path, include_plotlyjs=True)


def plot_importances(path: str, importances: dict[str, float]) -> None:
  """Parameter importances for accuracy as horizontal bars."""
  plt = _pyplot()
  names = list(importances)[::-1]
  fig, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * len(names)))
  ax.barh(names, [importances[n] for n in names], color='tab:blue')
  ax.set_xlabel('importance for accuracy (fANOVA)')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


# Parameter importances are reported only for studies with at least this many completed trials
# per searched parameter: fANOVA fits a random forest to the trials, and with fewer its ranking
# mostly follows the seed noise of single trials (a rule of thumb, stated in the report).
MIN_TRIALS_PER_PARAMETER = 5


def importances_withheld(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
  """Why parameter importances are not reported for `trials`, or '' when they are."""
  done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
  names = {name for t in done for name in t.params}
  needed = MIN_TRIALS_PER_PARAMETER * len(names)
  if not names:
    return 'no parameter was searched'
  if len(done) < needed:
    return (f'{len(done)} completed trials for {len(names)} searched parameters; they are '
            f'reported from {MIN_TRIALS_PER_PARAMETER} completed trials per parameter ({needed})'
            ', below which their ranking mostly follows seed noise')
  return ''


def importances(study: optuna.Study) -> dict[str, float]:
  """fANOVA importances of the sampled parameters for accuracy ({} with too few trials: see
  `importances_withheld`)."""
  if importances_withheld(study.get_trials(deepcopy=False)):
    return {}
  try:
    # fANOVA explains the variance of accuracy whichever its direction; Optuna 5's default
    # (PED-ANOVA) looks for what makes the target low, the opposite of what accuracy needs.
    return optuna.importance.get_param_importances(
        study, target=lambda t: t.values[0],
        evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
  except (RuntimeError, ValueError):  # e.g. every trial has the same parameters.
    return {}


def write_report(study: optuna.Study, run_dir: str, size_limit: float,
                 baseline: optuna.Study | None = None) -> dict[str, str]:
  """Writes trials.csv, pareto.csv, pareto.png, pareto.html, hypervolume.png, importances.png
  and report.md into `run_dir`; returns their paths by name. A study without a completed trial
  gets trials.csv and a report.md that says so."""
  trials = study.get_trials(deepcopy=False)
  objectives = study.user_attrs.get('search_config', {}).get('objectives', ['accuracy', 'size'])
  info = pareto.front_info(trials)
  paths = {name: os.path.join(run_dir, name) for name in (
      'trials.csv', 'pareto.csv', 'pareto.png', 'pareto.html', 'hypervolume.png',
      'importances.png', 'report.md')}
  write_csv(paths['trials.csv'], trial_rows(trials, objectives))
  if not info.numbers:
    paths = {name: paths[name] for name in ('trials.csv', 'report.md')}
    with open(paths['report.md'], 'w') as f:
      f.write(f'# Study `{study.study_name}`\n\n{_counts(trials)}\n\nNo trial has completed '
              'yet, so there is no front to report; run the study (or wait for its workers) '
              'and report again.\n')
    return paths
  baseline_trials = baseline.get_trials(deepcopy=False) if baseline is not None else None
  baseline_info = pareto.front_info(baseline_trials) if baseline_trials else None
  reference = pareto.reference_point(size_limit)
  history = pareto.hypervolume_history(trials, reference)
  baseline_history = (pareto.hypervolume_history(baseline_trials, reference) if baseline_trials
                      else None)
  write_pareto_csv(paths['pareto.csv'], info, trials)
  title = f'study {study.study_name}: {len(info.numbers)} completed trials'
  plot_pareto(paths['pareto.png'], info, baseline_info, title)
  plot_pareto_html(paths['pareto.html'], study, info, baseline_info)
  plot_hypervolume(paths['hypervolume.png'], history, baseline_history,
                   f'reference: accuracy 0, {size_limit:,.0f} bytes')
  weights = importances(study)
  if weights:
    plot_importances(paths['importances.png'], weights)
  else:
    del paths['importances.png']
  with open(paths['report.md'], 'w') as f:
    f.write(report_markdown(study.study_name, trials, info, history, baseline_history,
                            reference, weights))
  return paths


def _counts(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
  """'5 trials: 3 complete, 1 pruned, 1 failed.'"""
  states = [_STATES.get(t.state, str(t.state)) for t in trials]
  return (f'{len(trials)} trials: ' + ', '.join(f'{states.count(s)} {s}' for s in
                                                 dict.fromkeys(states)) + '.')


def run_accuracies(trial: optuna.trial.FrozenTrial) -> list[float]:
  """Accuracy of every run (seed and fold) of a trial; its fold accuracies if it recorded no
  runs (one seed per fold)."""
  runs = trial.user_attrs.get('run_accuracies')
  if runs is not None:
    return [a for fold in runs for a in fold]
  return list(trial.user_attrs.get('fold_accuracies', []))


def _neighbours(trials: Sequence[optuna.trial.FrozenTrial], info: FrontInfo,
                front: Sequence[int]) -> list[str]:
  """report.md lines: which neighbouring front points differ beyond their runs' noise."""
  if len(front) < 2:
    return []
  by_number = {t.number: t for t in trials}
  runs = [run_accuracies(by_number[info.numbers[p]]) for p in front]
  if max(len(r) for r in runs) < 2:
    return ['Each front point is one run (one student seed on one fold), so none can be told '
            'apart from its neighbours: their differences may be seed noise. Set '
            '`config.search.replicates` to 2 or more for intervals and tests.', '']
  pairs = list(zip(front[:-1], front[1:]))
  p_values = [intervals.welch_p_value(a, b) for a, b in zip(runs[:-1], runs[1:])]
  rejected = intervals.holm_rejections(p_values)
  lines = ['Neighbouring front points (by size), Welch\'s t-test on their runs, Holm-corrected '
           f'over the {len(pairs)} pairs at 5%:', '']
  for (smaller, larger), p, different in zip(pairs, p_values, rejected):
    verdict = ('not testable (fewer than 2 runs)' if np.isnan(p) else
               'distinguishable' if different else 'not distinguishable')
    p_text = '' if np.isnan(p) else f', p = {p:.3g}'
    lines.append(f'- trial {info.numbers[smaller]} ({100 * info.accuracy[smaller]:.1f}%) and '
                 f'trial {info.numbers[larger]} ({100 * info.accuracy[larger]:.1f}%): '
                 f'{verdict}{p_text}')
  return lines + [''] + _seed_noise(trials, max(len(r) for r in runs))


def _seed_noise(trials: Sequence[optuna.trial.FrozenTrial], runs: int) -> list[str]:
  """report.md lines: the seed noise pooled over the study's trials, and the least difference
  between two front points it makes significant."""
  groups = [fold for t in trials if t.state in pareto.FINISHED
            for fold in t.user_attrs.get('run_accuracies', [])]
  noise = intervals.pooled_seed_noise(groups)
  if not noise.df:
    return []
  lsd = intervals.least_significant_difference(noise, runs)
  return [f'Seed noise pooled over the study ({noise.groups} trial folds with 2 or more seeds, '
          f'{noise.df} degrees of freedom): one student\'s accuracy varies by {100 * noise.sd:.2f} '
          f'points (standard deviation) with its seed alone. Two trials of {runs} runs each '
          f'differ by less than {100 * lsd:.2f} points 95% of the time when they are equally '
          'good (least significant difference, assuming equal seed noise everywhere): smaller '
          f'gaps along the front may be noise. The intervals in the table use each trial\'s own '
          f'{runs} runs alone (t with {runs - 1} degrees of freedom), so they are wider.']


def report_markdown(name: str, trials: Sequence[optuna.trial.FrozenTrial], info: FrontInfo,
                    history: Sequence[float], baseline_history: Sequence[float] | None,
                    reference: tuple[float, float], weights: dict[str, float]) -> str:
  """The text of report.md: counts, the front as a table, hypervolume against the grid."""
  lines = [f'# Study `{name}`', '', _counts(trials), '',
           '![Pareto front](pareto.png)', '',
           '| trial | accuracy % | 95% interval | size (bytes) | parameters | knee |',
           '|---:|---:|---:|---:|---|---|']
  front = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  for position in front:
    low, high = info.accuracy_low[position], info.accuracy_high[position]
    interval = '' if np.isnan(low) else f'{100 * low:.1f} to {100 * high:.1f}'
    lines.append(f'| {info.numbers[position]} | {100 * info.accuracy[position]:.2f} | '
                 f'{interval} | {info.size_bytes[position]:,.0f} | {info.labels[position]} | '
                 f'{"knee" if position == info.knee else ""} |')
  lines += [''] + _neighbours(trials, info, front)
  lines += ['', f'Hypervolume (reference: accuracy {reference[0]}, size {reference[1]:,.0f} '
            f'bytes): {history[-1] if history else 0:.6g} after {len(history)} trials.']
  if baseline_history:
    final = baseline_history[-1]
    reached = next((k + 1 for k, v in enumerate(history) if v >= final), None)
    equal = min(len(history), len(baseline_history))
    lines += [f'The grid (paper) baseline reached {final:.6g} after {len(baseline_history)} '
              f'trials; at {equal} trials each: this study {history[equal - 1]:.6g}, grid '
              f'{baseline_history[equal - 1]:.6g}. This study reached the grid\'s final '
              'hypervolume ' + (f'after {reached} trials.' if reached else 'not yet.')]
  lines += ['', '![Hypervolume against trials](hypervolume.png)', '']
  if weights:
    lines += ['Parameter importances for accuracy: ' +
              ', '.join(f'{k} {v:.2f}' for k, v in weights.items()) + '.', '',
              '![Importances](importances.png)', '']
  else:
    reason = (importances_withheld(trials) or
              'fANOVA could not rank them (the completed trials do not vary enough)')
    lines += [f'Parameter importances are not reported: {reason}.', '']
  lines += ['Files: trials.csv (every trial), pareto.csv (the front), pareto.html '
            '(interactive).', '']
  return '\n'.join(lines)
