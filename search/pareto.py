"""Pareto maths of a size-accuracy study, as pure functions on plain data.

Objectives come as an [N, M] array with one direction per column ('maximize' or 'minimize');
internally everything is turned into minimisation. `front_info` and `hypervolume_history` read a
study's trials into plain arrays; the runner (pruning), reports and exports all use them, and
plotting only draws what they return.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import optuna

from search import intervals

DIRECTIONS = ('maximize', 'minimize')
# The objectives a study may have, and their directions. Accuracy and size always come first.
OBJECTIVES = {'accuracy': 'maximize', 'size': 'minimize', 'latency': 'minimize'}
ACCURACY_SIZE = (OBJECTIVES['accuracy'], OBJECTIVES['size'])
# Names of the objectives as stored with the study (Optuna's metric names) and in tables.
METRIC_NAMES = {'accuracy': 'accuracy', 'size': 'size_bytes', 'latency': 'latency_ms'}
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def directions(objectives: Sequence[str]) -> list[str]:
  """Optuna directions of the configured objectives, or ValueError naming the bad one."""
  for name in objectives:
    if name not in OBJECTIVES:
      raise ValueError(f'config.search.objectives has {name!r}; choose among: '
                       f'{", ".join(OBJECTIVES)}')
  if list(objectives[:2]) != ['accuracy', 'size'] or len(set(objectives)) != len(objectives):
    raise ValueError(f'config.search.objectives = {tuple(objectives)}; expected accuracy and '
                     'size first (latency may follow), each once')
  return [OBJECTIVES[name] for name in objectives]


def _as_minimization(values, directions: Sequence[str]) -> np.ndarray:
  """`values` [N, M] with maximised columns negated, so that smaller is better everywhere."""
  values = np.asarray(values, dtype=np.float64)
  if values.ndim != 2 or values.shape[1] != len(directions):
    raise ValueError(f'expected values of shape [N, {len(directions)}] (one column per '
                     f'direction), got {values.shape}')
  for direction in directions:
    if direction not in DIRECTIONS:
      raise ValueError(f'direction {direction!r} is not allowed; choose one of: '
                       f'{", ".join(DIRECTIONS)}')
  signs = np.array([-1.0 if d == 'maximize' else 1.0 for d in directions])
  return values * signs


def pareto_mask(values, directions: Sequence[str]) -> np.ndarray:
  """True for every point no other point dominates (at least as good everywhere, better once).

  Equal points do not dominate each other, so duplicates on the front are all kept, as in
  Optuna's `study.best_trials`.
  """
  points = _as_minimization(values, directions)
  if not len(points):
    return np.zeros(0, bool)
  no_worse = (points[None, :, :] <= points[:, None, :]).all(-1)  # [i, j]: j no worse than i.
  better = (points[None, :, :] < points[:, None, :]).any(-1)
  return ~(no_worse & better).any(1)


def hypervolume_2d(values, reference: Sequence[float], directions: Sequence[str]) -> float:
  """Area dominated by the points and bounded by `reference` (two objectives).

  Points that do not strictly improve on the reference in both objectives add nothing. Written
  out here (a sort and a sweep) rather than taken from Optuna's private `_hypervolume` module,
  which the tests use as a cross-check.
  """
  if len(directions) != 2:
    raise ValueError(f'hypervolume_2d needs 2 objectives, got {len(directions)}')
  points = _as_minimization(values, directions)
  ref = _as_minimization([reference], directions)[0]
  points = points[(points < ref).all(1)]
  if not len(points):
    return 0.0
  points = points[np.lexsort((points[:, 1], points[:, 0]))]  # By first objective, then second.
  area, best_second = 0.0, ref[1]
  for first, second in points:
    if second < best_second:
      area += (ref[0] - first) * (best_second - second)
      best_second = second
  return float(area)


def knee_index(values, directions: Sequence[str]) -> int:
  """Index (into `values`) of the knee of the Pareto front of two objectives.

  Both objectives are scaled to [0, 1] over the front; the knee is the front point farthest from
  the straight line through the two extreme points (the point that gives up least of one
  objective for most of the other). With fewer than 3 front points, or a straight front, it is
  the front point nearest to the ideal corner.
  """
  if len(directions) != 2:
    raise ValueError(f'knee_index needs 2 objectives, got {len(directions)}')
  points = _as_minimization(values, directions)
  if not len(points):
    raise ValueError('knee_index needs at least one point')
  front = np.flatnonzero(pareto_mask(values, directions))
  scaled = points[front]
  low, span = scaled.min(0), np.ptp(scaled, 0)
  scaled = (scaled - low) / np.where(span > 0, span, 1.0)
  order = np.argsort(scaled[:, 0], kind='stable')
  start, end = scaled[order[0]], scaled[order[-1]]
  chord = end - start
  length = np.hypot(*chord)
  if len(front) >= 3 and length > 0:
    distance = np.abs(chord[0] * (scaled[:, 1] - start[1]) - chord[1] * (scaled[:, 0] - start[0]))
    distance = distance / length
    if distance.max() > 1e-12:
      return int(front[np.argmax(distance)])
  return int(front[np.argmin(np.hypot(scaled[:, 0], scaled[:, 1]))])


class FrontInfo(NamedTuple):
  """Completed trials of a study and which of them form the size-accuracy front."""
  numbers: list[int]
  accuracy: np.ndarray
  size_bytes: np.ndarray
  labels: list[str]
  on_front: np.ndarray
  knee: int | None  # Position (in these lists) of the knee point of the front.
  # The 95% interval of each accuracy over its runs (search/intervals.py); NaN when unknown
  # (one run per trial, or a trial recorded before intervals were).
  accuracy_low: np.ndarray
  accuracy_high: np.ndarray


def trial_label(params: dict[str, Any]) -> str:
  """A short name of a trial's parameters for plots: 'T=8 w=1.00 XXS'."""
  parts = []
  if 'temperature' in params:
    parts.append(f'T={params["temperature"]:.3g}')
  if 'width' in params:
    parts.append(f'w={params["width"]:.2f}')
  if 'size' in params:
    parts.append(str(params['size']))
  return ' '.join(parts)


def front_info(trials: Sequence[optuna.trial.FrozenTrial]) -> FrontInfo:
  """The (accuracy, size) points of the completed `trials`, their front and knee."""
  done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
  values = np.array([t.values[:2] for t in done], dtype=np.float64).reshape(-1, 2)
  on_front = pareto_mask(values, ACCURACY_SIZE)
  knee = knee_index(values, ACCURACY_SIZE) if len(done) else None
  bound = lambda name: np.array([np.nan if t.user_attrs.get(name) is None else
                                 t.user_attrs[name] for t in done], dtype=np.float64)
  return FrontInfo([t.number for t in done], values[:, 0], values[:, 1],
                   [trial_label(t.params) for t in done], on_front, knee,
                   *(bound(name) for name in intervals.COLUMNS[2:]))


class FrontPoint(NamedTuple):
  """A trial on the size-accuracy front: its number, objectives, parameters and the 95% interval
  of its accuracy over its runs (NaN when unknown)."""
  number: int
  accuracy: float
  size_bytes: float
  params: dict[str, Any]
  accuracy_low: float
  accuracy_high: float


def front_points(trials: Sequence[optuna.trial.FrozenTrial]) -> list[FrontPoint]:
  """The completed `trials` on the size-accuracy front, smallest first."""
  info = front_info(trials)
  params = {t.number: t.params for t in trials}
  points = [FrontPoint(info.numbers[i], float(info.accuracy[i]), float(info.size_bytes[i]),
                       params[info.numbers[i]], float(info.accuracy_low[i]),
                       float(info.accuracy_high[i]))
            for i in np.flatnonzero(info.on_front)]
  return sorted(points, key=lambda point: point.size_bytes)


def reference_point(size_limit: float) -> tuple[float, float]:
  """The hypervolume reference: accuracy 0 and `size_limit` bytes (e.g. the largest size in the
  space), so every useful trial counts and studies with the same limit compare."""
  return 0.0, float(size_limit)


def hypervolume_history(trials: Sequence[optuna.trial.FrozenTrial],
                        reference: Sequence[float]) -> list[float]:
  """Hypervolume of the completed trials among the first k finished trials, k = 1, 2, ...

  Pruned trials count (they trained); failed ones (crashed, interrupted, surplus) do not.
  """
  history, points = [], []
  for trial in sorted((t for t in trials if t.state in FINISHED), key=lambda t: t.number):
    if trial.state == optuna.trial.TrialState.COMPLETE:
      points.append(trial.values[:2])
    history.append(hypervolume_2d(np.array(points).reshape(-1, 2), reference, ACCURACY_SIZE))
  return history


def student_trainings(trial: optuna.trial.FrozenTrial) -> int:
  """Students a trial trained (its replicates times its folds, fewer if it was pruned)."""
  return sum(len(runs) for runs in trial.user_attrs.get('run_accuracies', []))


def hypervolume_by_trainings(trials: Sequence[optuna.trial.FrozenTrial],
                             reference: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
  """(students trained so far, hypervolume) after each finished trial, in trial order: the
  compute a study spent against what it found, pruned trials' trainings included."""
  finished = sorted((t for t in trials if t.state in FINISHED), key=lambda t: t.number)
  trainings = np.cumsum([student_trainings(t) for t in finished], dtype=np.int64)
  return trainings, np.asarray(hypervolume_history(finished, reference))


def value_at(steps: np.ndarray, values: np.ndarray, budgets: Sequence[float]) -> np.ndarray:
  """The step curve (steps[i], values[i]) read at each budget: the value of the last step at or
  below it, NaN before the first step and beyond the last (the study never spent that much)."""
  steps, values, budgets = np.asarray(steps), np.asarray(values, np.float64), np.asarray(budgets)
  if not len(steps):
    return np.full(budgets.shape, np.nan)
  index = np.searchsorted(steps, budgets, side='right') - 1
  inside = (index >= 0) & (budgets <= steps[-1])
  return np.where(inside, values[np.clip(index, 0, None)], np.nan)


def budget_to_reach(steps: np.ndarray, values: np.ndarray, target: float) -> int | None:
  """The fewest students trained after which the curve is at or above `target`, else None."""
  reached = np.flatnonzero(np.asarray(values) >= target)
  return int(np.asarray(steps)[reached[0]]) if len(reached) else None


def hypervolume_bootstrap(runs: Sequence[Sequence[float]], sizes: Sequence[float],
                          reference: Sequence[float], samples: int = 1000,
                          seed: int = 0) -> np.ndarray:
  """Hypervolumes of the front when each trial's runs (seeds and folds) are resampled.

  Each sample draws every trial's runs with replacement, takes their mean as its accuracy and
  computes the hypervolume of (accuracy, size) at `reference`; the spread of the samples is how
  much the front's hypervolume owes to seed and fold noise. Trials with one run stay fixed.
  """
  rng = np.random.default_rng(seed)
  points = np.empty((len(runs), 2))
  points[:, 1] = sizes
  found = np.empty(samples)
  for sample in range(samples):
    for k, values in enumerate(runs):
      values = np.asarray(values, dtype=np.float64)
      points[k, 0] = values[rng.integers(0, len(values), len(values))].mean()
    found[sample] = hypervolume_2d(points, reference, ACCURACY_SIZE)
  return found
