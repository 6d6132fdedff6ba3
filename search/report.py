"""What a study leaves behind: tables, the Pareto front, hypervolume history, importances, report.

Computation and drawing are apart: `pareto.front_info` and `pareto.hypervolume_history` return
plain data, the `plot_*` functions only draw it, and `write_report` writes every file of a run
directory. `pareto.html` carries plotly itself, so it works on machines without internet.
"""
from __future__ import annotations

import csv
import math
import os
import textwrap
from typing import Any, Sequence

import numpy as np
import optuna

from search import analysis
from search import equivalence
from search import figures
from search import front_fit
from search import intervals
from search import pareto
from search import points
from search.pareto import FrontInfo

_STATES = {optuna.trial.TrialState.COMPLETE: 'complete', optuna.trial.TrialState.PRUNED: 'pruned',
           optuna.trial.TrialState.FAIL: 'failed', optuna.trial.TrialState.RUNNING: 'running',
           optuna.trial.TrialState.WAITING: 'waiting'}
# Trial attributes shown when hovering over a point of pareto.html (not the recorded config).
HOVER_ATTRS = ('params', 'fold_accuracies', 'run_accuracies', 'accuracy_ci95_low',
               'accuracy_ci95_high')


def trial_rows(trials: Sequence[optuna.trial.FrozenTrial], objectives: Sequence[str],
               found: dict[int, intervals.Interval] | None = None) -> list[dict[str, Any]]:
  """One row per trial: number, state, objectives, its interval (from the study's noise model
  where `found` has it), parameters, parameter count, pruning reason."""
  info = pareto.front_info(trials)
  on_front = {n for n, f in zip(info.numbers, info.on_front) if f}
  names = sorted({name for t in trials for name in t.params})
  rows = []
  for trial in sorted(trials, key=lambda t: t.number):
    row = {'number': trial.number, 'state': _STATES.get(trial.state, str(trial.state))}
    for k, objective in enumerate(objectives):
      row[pareto.METRIC_NAMES[objective]] = trial.values[k] if trial.values else ''
    row.update(_interval_cells(trial, found))
    row['params'] = trial.user_attrs.get('params', '')
    row.update({name: trial.params.get(name, '') for name in names})
    row['on_front'] = trial.number in on_front
    row['pruned_reason'] = trial.user_attrs.get('pruned_reason', '')
    rows.append(row)
  return rows


def _interval_cells(trial: optuna.trial.FrozenTrial,
                    found: dict[int, intervals.Interval] | None = None) -> dict[str, Any]:
  """The trial's accuracy interval columns: from the study's noise model where `found` has
  the trial, else as the trial recorded them ('' where not recorded or undefined)."""
  if found and trial.number in found:
    return {name: '' if math.isnan(value) else value
            for name, value in zip(intervals.COLUMNS, found[trial.number][:4])}
  cells = {name: trial.user_attrs.get(name) for name in intervals.COLUMNS}
  return {name: '' if value is None else value for name, value in cells.items()}


def write_csv(path: str, rows: Sequence[dict[str, Any]]) -> None:
  with open(path, 'w', newline='') as f:
    if not rows:
      return
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def interval_info(info: FrontInfo, found: dict[int, intervals.Interval]) -> FrontInfo:
  """`info` with each trial's interval from `found` (the study's noise model; NaN where it has
  none)."""
  bound = lambda k: np.array([found[n][k] if n in found else np.nan for n in info.numbers],
                             dtype=np.float64)
  return info._replace(accuracy_low=bound(2), accuracy_high=bound(3))


def caption_text(stats: analysis.StudyStats | None, evaluated_on: str = 'test') -> str:
  """What the bars and the band of pareto.png are, in one or two lines; `evaluated_on` names
  the faces the accuracies were measured on ('test' or 'validation')."""
  if stats is None or stats.model is None:
    return 'Bars: 95% t interval over each trial\'s own runs.'
  model = stats.model
  parts = [f'Bars: 95% interval of each trial from the study\'s seed-noise model '
           f'({model.within_df} df pooled over {model.groups} trial folds; logit scale).']
  if stats.fit is not None:
    parts.append('Band: 95% band of the fitted front (Gaussian process, best tried recipe at '
                 'each size, posterior draws).')
  if stats.test_images:
    sd = 100 * stats.test_set_sd
    parts.append(f'All conditional on the {stats.test_images:,} {evaluated_on} faces (another '
                 f'{evaluated_on} set: about +-{sd:.1f} points, 1 SD at the median accuracy).')
  return ' '.join(parts)


# Front points listed in pareto.png's key (the rest are in pareto.csv).
KEY_ROWS = 16
# Candidate offsets (points) of a front point's number from its marker, tried in order.
_LABEL_OFFSETS = ((5, 5), (5, -11), (-11, 5), (-11, -11), (8, -3), (-14, -3), (-3, 8),
                  (-3, -15), (12, 12), (12, -18), (-18, 12), (-18, -18))


def _place_numbers(ax, fig, points: Sequence[tuple[float, float]], texts: Sequence[str]):
  """Writes each text beside its point at the first offset where it overlaps no text placed
  before it (and no marker of `points`): labels of close front points never overprint."""
  renderer = fig.canvas.get_renderer()
  placed = []
  markers = [ax.transData.transform(p) for p in points]
  for (x, y), text in zip(points, texts):
    for dx, dy in _LABEL_OFFSETS:
      label = ax.annotate(text, (x, y), textcoords='offset points', xytext=(dx, dy),
                          fontsize=8, color=figures.FRONT, fontweight='bold', zorder=5)
      box = label.get_window_extent(renderer)
      clear = all(not box.overlaps(other) for other in placed) and not any(
          box.x0 - 1 < mx < box.x1 + 1 and box.y0 - 1 < my < box.y1 + 1 for mx, my in markers)
      if clear:
        placed.append(box)
        break
      label.remove()
    else:  # Every offset taken: keep the first; the key still names the point.
      placed.append(ax.annotate(text, (x, y), textcoords='offset points', xytext=(5, 5),
                                fontsize=8, color=figures.FRONT).get_window_extent(renderer))


def draw_pareto(info: FrontInfo, stats: analysis.StudyStats | None = None,
                baseline: FrontInfo | None = None, title: str = '', evaluated_on: str = 'test'):
  """The figure of pareto.png: accuracy against size (KB, log axis), dominated trials grey,
  front trials numbered with a key beside the axes, each with its 95% interval, the fitted
  front and its band, the knee, the grid baseline's front, and a caption line."""
  plt = figures.pyplot()
  fig = plt.figure(figsize=(9.5, 5.2))
  ax = fig.add_axes([0.08, 0.24, 0.56, 0.66])
  kb = info.size_bytes / 1000
  front = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  lows, highs = [100 * info.accuracy], [100 * info.accuracy]
  fit = stats.fit if stats is not None else None
  if fit is not None:
    ax.fill_between(fit.sizes / 1000, 100 * fit.low, 100 * fit.high, color=figures.BAND,
                    alpha=0.3, lw=0, label='fitted front, 95% band')
    ax.plot(fit.sizes / 1000, 100 * fit.mean, color=figures.FRONT, lw=1.5, label='fitted front')
    lows.append(100 * fit.low)
    highs.append(100 * fit.high)
  dominated = ~info.on_front
  bars = _error_bars(info)
  if bars is not None:
    known = ~np.isnan(bars).any(0)
    for chosen, colour in ((known & dominated, figures.OTHER), (known & info.on_front,
                                                                figures.FRONT)):
      if chosen.any():
        ax.errorbar(kb[chosen], 100 * info.accuracy[chosen], yerr=100 * bars[:, chosen],
                    fmt='none', ecolor=colour, elinewidth=0.9, capsize=2, zorder=2)
    lows.append(100 * info.accuracy_low[known])
    highs.append(100 * info.accuracy_high[known])
  ax.scatter(kb[dominated], 100 * info.accuracy[dominated], c=figures.OTHER, s=16,
             label='dominated trials', zorder=3)
  ax.scatter(kb[front], 100 * info.accuracy[front], c=figures.FRONT, s=30, zorder=4,
             label='front trials (numbered)')
  if info.knee is not None:
    ax.scatter([kb[info.knee]], [100 * info.accuracy[info.knee]], s=140, facecolors='none',
               edgecolors=figures.HIGHLIGHT, lw=1.5, label='knee (trials)', zorder=4)
  if baseline is not None and len(baseline.numbers):
    grid = np.argsort(baseline.size_bytes[baseline.on_front])
    ax.step(baseline.size_bytes[baseline.on_front][grid] / 1000,
            100 * baseline.accuracy[baseline.on_front][grid], where='post',
            c=figures.BASELINE, ls='--', lw=1, label='grid (paper) front')
    lows.append(100 * baseline.accuracy)
    highs.append(100 * baseline.accuracy)
  ax.set_xscale('log')
  figures.plain_log_ticks(ax, kb)
  ax.set_ylim(*figures.percent_limits(np.concatenate(lows), np.concatenate(highs)))
  ax.set_xlabel('student size (KB of float32 parameters)')
  ax.set_ylabel(f'{evaluated_on} accuracy (%)')
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3, which='both', lw=0.5)
  fig.canvas.draw()
  _place_numbers(ax, fig, [(kb[p], 100 * info.accuracy[p]) for p in front],
                 [str(k + 1) for k in range(len(front))])
  ax.legend(fontsize=7.5, loc='upper left', bbox_to_anchor=(1.02, 1.0), frameon=False)
  # The key fits beside the axes: parameters on a second line for up to 8 front points, one
  # line each for up to 16, and the rest in pareto.csv.
  shown = front[:KEY_ROWS]
  key = [f'{k + 1}: trial {info.numbers[p]}, {100 * info.accuracy[p]:.1f}%, '
         f'{kb[p]:,.0f} KB' + (f'\n     {info.labels[p]}' if info.labels[p] and
                               len(front) <= KEY_ROWS // 2 else '')
         for k, p in enumerate(shown)]
  if len(front) > len(shown):
    key.append(f'... {len(front) - len(shown)} more in pareto.csv')
  fig.text(0.655, 0.52, 'Front trials\n' + '\n'.join(key), fontsize=7, va='top', ha='left',
           family='monospace', linespacing=1.25)
  fig.text(0.01, 0.015, '\n'.join(textwrap.wrap(caption_text(stats, evaluated_on), 150)),
           fontsize=7, ha='left', va='bottom', color='#333333')
  return fig


def plot_pareto(path: str, info: FrontInfo, baseline: FrontInfo | None = None,
                title: str = '', stats: analysis.StudyStats | None = None,
                evaluated_on: str = 'test') -> list[str]:
  """pareto.png with a .pdf and .svg beside it (`draw_pareto`); returns their paths."""
  return figures.save(draw_pareto(info, stats, baseline, title, evaluated_on), path,
                      vector=True)


def evaluated_on(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
  """'validation' when the trials' config chose on a validation set, else 'test'."""
  for trial in trials:
    data = trial.user_attrs.get('config', {}).get('data', {})
    if data:
      return 'validation' if data.get('validation_fraction', 0.0) > 0 else 'test'
  return 'test'


def _error_bars(info: FrontInfo) -> np.ndarray | None:
  """[2, N] distances from each accuracy down and up to its interval's ends, or None if no
  trial has an interval."""
  if np.isnan(info.accuracy_low).all():
    return None
  return np.stack([info.accuracy - info.accuracy_low, info.accuracy_high - info.accuracy])


def plot_hypervolume(path: str, history: Sequence[float],
                     baseline: Sequence[float] | None = None, title: str = '') -> None:
  """hypervolume.png (`draw_hypervolume`)."""
  figures.save(draw_hypervolume(history, baseline, title), path)


def draw_hypervolume(history: Sequence[float], baseline: Sequence[float] | None = None,
                     title: str = ''):
  """Hypervolume against the number of trials, with the grid baseline's curve if given."""
  plt = figures.pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.8))
  ax.plot(range(1, len(history) + 1), history, marker='.', color=figures.FRONT,
          label='this study')
  if baseline:
    ax.plot(range(1, len(baseline) + 1), baseline, marker='.', ls='--', color=figures.BASELINE,
            label='grid (paper)')
  ax.set_xlabel('finished trials')
  ax.set_ylabel('hypervolume (accuracy x bytes)')
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc='lower right')
  fig.subplots_adjust(bottom=0.24, left=0.16)
  fig.text(0.01, 0.015, 'Area the front dominates up to the reference point, after each '
           'finished trial (pruned ones count).', fontsize=7, color='#333333')
  return fig


def write_pareto_csv(path: str, info: FrontInfo, trials: Sequence[optuna.trial.FrozenTrial],
                     stats: analysis.StudyStats | None = None) -> None:
  """The front's trials, smallest first, with their parameters, whether each is the knee, and
  the fitted front at each one's size with its band (empty without a fit)."""
  by_number = {t.number: t for t in trials}
  positions = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  found = stats.intervals if stats is not None else None
  fit = stats.fit if stats is not None else None
  rows = []
  for position in positions:
    trial = by_number[info.numbers[position]]
    fitted = fit.at(info.size_bytes[position]) if fit is not None else ('', '', '')
    rows.append({'number': trial.number, 'accuracy': info.accuracy[position],
                 'size_bytes': int(info.size_bytes[position]),
                 **_interval_cells(trial, found),
                 'fitted_accuracy': fitted[0], 'band_low': fitted[1], 'band_high': fitted[2],
                 'params': trial.user_attrs.get('params', ''), **trial.params,
                 'knee': position == info.knee})
  write_csv(path, rows)


def write_front_fit_csv(path: str, fit) -> None:
  """front_fit.csv: the fitted front on its grid of sizes, with the 95% band."""
  write_csv(path, [{'size_bytes': int(round(size)), 'fitted_accuracy': mean, 'band_low': low,
                    'band_high': high}
                   for size, mean, low, high in zip(fit.sizes, fit.mean, fit.low, fit.high)])


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
                     baseline: FrontInfo | None = None,
                     stats: analysis.StudyStats | None = None) -> None:
  """Optuna's interactive Pareto plot (hover shows the parameters) with the 95% intervals of
  `info`, the fitted front and its band (`stats`) and the grid's front, with plotly embedded so
  the page needs no network; the y axis holds the data, inside 0..100%."""
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
  lows, highs = [100 * info.accuracy], [100 * info.accuracy]
  if bars is not None:
    lows.append(100 * info.accuracy_low[~np.isnan(info.accuracy_low)])
    highs.append(100 * info.accuracy_high[~np.isnan(info.accuracy_high)])
  fit = stats.fit if stats is not None else None
  if fit is not None:
    figure.add_trace(go.Scatter(
        x=np.concatenate([fit.sizes, fit.sizes[::-1]]),
        y=100 * np.concatenate([fit.high, fit.low[::-1]]), fill='toself', mode='lines',
        line={'width': 0}, fillcolor='rgba(86,180,233,0.3)', name='fitted front, 95% band',
        hoverinfo='skip'))
    figure.add_trace(go.Scatter(x=fit.sizes, y=100 * fit.mean, mode='lines',
                                line={'color': figures.FRONT}, name='fitted front'))
    lows.append(100 * fit.low)
    highs.append(100 * fit.high)
  figure.update_yaxes(range=list(figures.percent_limits(np.concatenate(lows),
                                                        np.concatenate(highs))))
  figure.update_xaxes(type='log')
  figure.update_layout(title={'text': caption_text(
      stats, evaluated_on(study.get_trials(deepcopy=False))), 'font': {'size': 11}})
  figure.write_html(path, include_plotlyjs=True)


def plot_importances(path: str, importances: dict[str, float]) -> None:
  """Parameter importances for accuracy as horizontal bars."""
  plt = figures.pyplot()
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
  """Writes trials.csv, pareto.csv, front_fit.csv, pareto.png (.pdf, .svg), pareto.html,
  hypervolume.png, importances.png and report.md into `run_dir`; returns their paths by name.
  A study without a completed trial gets trials.csv and a report.md that says so."""
  trials = study.get_trials(deepcopy=False)
  objectives = study.user_attrs.get('search_config', {}).get('objectives', ['accuracy', 'size'])
  info = pareto.front_info(trials)
  paths = {name: os.path.join(run_dir, name) for name in (
      'trials.csv', 'pareto.csv', 'pareto.png', 'pareto.html', 'hypervolume.png',
      'importances.png', 'report.md')}
  margin = float(study.user_attrs.get('search_config', {}).get('ablation', {}).get(
      'target_margin', analysis.MARGIN_POINTS))
  stats = analysis.analyse(trials, info, margin) if info.numbers else None
  write_csv(paths['trials.csv'], trial_rows(trials, objectives,
                                            stats.intervals if stats else None))
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
  if stats.intervals:
    info = interval_info(info, stats.intervals)
  write_pareto_csv(paths['pareto.csv'], info, trials, stats)
  if stats.fit is not None:
    paths['front_fit.csv'] = os.path.join(run_dir, 'front_fit.csv')
    write_front_fit_csv(paths['front_fit.csv'], stats.fit)
  title = f'study {study.study_name}: {len(info.numbers)} completed trials'
  for path in plot_pareto(paths['pareto.png'], info, baseline_info, title, stats,
                          evaluated_on(trials))[1:]:
    paths[os.path.basename(path)] = path
  plot_pareto_html(paths['pareto.html'], study, info, baseline_info, stats)
  plot_hypervolume(paths['hypervolume.png'], history, baseline_history,
                   f'reference: accuracy 0, {size_limit:,.0f} bytes')
  weights = importances(study)
  if weights:
    plot_importances(paths['importances.png'], weights)
  else:
    del paths['importances.png']
  with open(paths['report.md'], 'w') as f:
    f.write(report_markdown(study.study_name, trials, info, history, baseline_history,
                            reference, weights, stats))
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


def _noise_lines(stats: analysis.StudyStats, info: FrontInfo,
                 trials: Sequence[optuna.trial.FrozenTrial]) -> list[str]:
  """report.md lines: the noise model, its degrees of freedom, and what it leaves out."""
  model = stats.model
  if model is None:
    return ['No trial has 2 or more runs on a fold, so the seed noise is unknown and no trial '
            'has an interval: set `config.search.replicates` to 2 or more.', '']
  front = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  by_number = {t.number: t for t in trials}
  at = lambda p: analysis.covariates(by_number[info.numbers[p]])
  lines = [f'**Seed noise**, one model for the whole study: pooled over {model.groups} trial '
           f'folds with 2 or more seeds ({model.within_df} degrees of freedom), one student\'s '
           f'accuracy varies by {100 * model.pooled_sd:.2f} points (standard deviation) with its '
           f'seed alone. Modelled as a smooth function of size: {model.describe()}.']
  if front and model.covariates:
    small, large = front[0], front[-1]
    lines[-1] += (f' At the smallest front point ({info.size_bytes[small]:,.0f} bytes) that is '
                  f'{100 * model.sd(at(small)):.2f} points, {model.df(at(small)):.0f} df; at '
                  f'the largest ({info.size_bytes[large]:,.0f} bytes) '
                  f'{100 * model.sd(at(large)):.2f} points, {model.df(at(large)):.0f} df.')
  if model.rejected:
    lines[-1] += (f' Also tried and left out (no evidence at 5%): '
                  f'{", ".join(name.replace("_", " ") for name in model.rejected)}.')
  lines[-1] += (' Every trial\'s interval uses this model (t with its degrees of freedom at '
                'the trial, on the logit scale so that it stays inside 0..100%), not the '
                'trial\'s own few runs.')
  if stats.test_images:
    sd = 100 * stats.test_set_sd
    lines.append(f'These intervals are conditional on the test set: they say how much another '
                 f'seed would move an accuracy measured on these {stats.test_images:,} test '
                 f'faces. Another test set of that size would move every accuracy by about '
                 f'{sd:.1f} points more (binomial standard deviation at the median accuracy), '
                 'shared by all trials, so comparisons between trials are less affected.')
  return lines + ['']


def _fit_lines(stats: analysis.StudyStats) -> list[str]:
  """report.md lines: the fitted front, its band and what it answers."""
  fit = stats.fit
  if fit is None:
    return [f'No fitted front: {stats.fit_note}.', ''] if stats.fit_note else []
  half = 100 * np.max(fit.high - fit.low) / 2
  lines = ['**Fitted front.** A Gaussian process over the searched parameters (size, and the '
           'recipe parameters), each trial weighted by its modelled noise, gives the best '
           'accuracy of the tried recipes at every size (`front_fit.csv`, the line and band in '
           f'the figure); its 95% band is at most {half:.1f} points either side. Kernel: '
           f'`{fit.kernel}`.']
  answers = []
  if stats.plateau is not None:
    p = stats.plateau
    answers.append(f'accuracy stops rising (within {front_fit.PLATEAU_POINTS:g} point of the '
                   f'best) from '
                   f'about {p.value / 1000:,.0f} KB (95% interval {p.low / 1000:,.0f} to '
                   f'{p.high / 1000:,.0f} KB)')
  if stats.halving is not None:
    h = stats.halving
    answers.append(f'halving the largest student ({fit.sizes[-1] / 1000:,.0f} KB) costs '
                   f'{100 * h.value:.1f} points (95% interval {100 * h.low:.1f} to '
                   f'{100 * h.high:.1f}' + ('; negative: the half-size student does better)'
                                            if h.value < 0 else ')'))
  if stats.knee is not None:
    k = stats.knee
    answers.append(f'the knee of the fitted front is at about {k.value / 1000:,.0f} KB (95% '
                   f'interval {k.low / 1000:,.0f} to {k.high / 1000:,.0f} KB)')
  if answers:
    lines.append('From it: ' + '; '.join(answers) + '.')
  lines.append('Front points are chosen by the same runs that score them, so their own means '
               'lean high (the winner\'s curse: a trial on the front is there partly because '
               'its seeds were lucky). The fitted accuracy at each front point borrows strength '
               'from every trial and its band comes from posterior draws of the best recipe, '
               'not from the selected trials; quote it (pareto.csv: `fitted_accuracy`, '
               '`band_low`, `band_high`) rather than the trial\'s own mean.')
  return lines + ['']


def _comparison_line(c: analysis.FrontComparison, info: FrontInfo, margin: float) -> str:
  name = lambda n: (f'trial {n} ({100 * info.accuracy[info.numbers.index(n)]:.1f}%, '
                    f'{info.size_bytes[info.numbers.index(n)] / 1000:,.0f} KB)')
  d = c.difference
  return (f'- {name(c.first)} - {name(c.second)}: {points.signed(d.mean)} points (95% interval '
          f'{points.signed(d.low)} to {points.signed(d.high)}, Holm p {c.p_holm:.2g}); MDE80 '
          f'{100 * c.mde80:.1f} points; 90% bound nearest the margin '
          f'{points.signed(c.equivalence_bound)}: '
          f'**{c.verdict.replace("margin", f"{margin:g} points")}**')


def _comparison_lines(stats: analysis.StudyStats, info: FrontInfo) -> list[str]:
  """report.md lines: neighbouring front points and the two ends, with verdicts."""
  if stats.model is None or not stats.neighbours:
    return []
  margin = 100 * stats.margin
  lines = [f'**Neighbouring front points** (larger minus smaller), with the noise model\'s '
           f'standard errors; Holm over the {len(stats.neighbours)} pairs for the difference and '
           f'for the equivalence test (TOST at +-{margin:g} points, '
           '`config.search.ablation.target_margin`, fixed before the study). MDE80: the least '
           'difference this design finds with 80% power at the Holm level alpha/m. Verdicts: '
           'differs; differs by less than the margin; equivalent within the margin; '
           'inconclusive (neither: too little data to say).', '']
  lines += [_comparison_line(c, info, margin) for c in stats.neighbours]
  counts = {v: sum(c.verdict == v for c in stats.neighbours) for v in equivalence.VERDICTS}
  lines += ['', 'Verdicts: ' + ', '.join(f'{n} {v.replace("margin", f"{margin:g} points")}'
                                         for v, n in counts.items() if n) + '.']
  if stats.extremes is not None:
    lines += ['', 'The two ends of the front (largest minus smallest, alone):', '',
              _comparison_line(stats.extremes, info, margin)]
  return lines + ['']


def report_markdown(name: str, trials: Sequence[optuna.trial.FrozenTrial], info: FrontInfo,
                    history: Sequence[float], baseline_history: Sequence[float] | None,
                    reference: tuple[float, float], weights: dict[str, float],
                    stats: analysis.StudyStats | None = None) -> str:
  """The text of report.md: counts, the front as a table with intervals and the fitted front,
  the noise model, the fitted front's answers, comparisons, hypervolume against the grid."""
  stats = stats if stats is not None else analysis.analyse(trials, info)
  fit = stats.fit
  lines = [f'# Study `{name}`', '', _counts(trials), '',
           '![Pareto front](pareto.png)', '', caption_text(stats, evaluated_on(trials)), '',
           '| # | trial | accuracy % | 95% interval | fitted % (95% band) | size (bytes) | '
           'parameters | knee |', '|---:|---:|---:|---:|---:|---:|---|---|']
  front = sorted(np.flatnonzero(info.on_front), key=lambda p: info.size_bytes[p])
  for k, position in enumerate(front):
    low, high = info.accuracy_low[position], info.accuracy_high[position]
    interval = '' if np.isnan(low) else f'{100 * low:.1f} to {100 * high:.1f}'
    fitted = ''
    if fit is not None:
      mean, band_low, band_high = fit.at(info.size_bytes[position])
      fitted = f'{100 * mean:.1f} ({100 * band_low:.1f} to {100 * band_high:.1f})'
    lines.append(f'| {k + 1} | {info.numbers[position]} | {100 * info.accuracy[position]:.2f} | '
                 f'{interval} | {fitted} | {info.size_bytes[position]:,.0f} | '
                 f'{info.labels[position]} | {"knee" if position == info.knee else ""} |')
  lines += ['']
  lines += _noise_lines(stats, info, trials) + _fit_lines(stats) + _comparison_lines(stats, info)
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
  lines += ['Files: trials.csv (every trial), pareto.csv (the front, with the fitted front at '
            'each point), front_fit.csv (the fitted front on a grid of sizes), pareto.png with '
            'pareto.pdf and pareto.svg, pareto.html (interactive).', '']
  return '\n'.join(lines)
