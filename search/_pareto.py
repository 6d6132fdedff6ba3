"""Pareto maths of a size-accuracy study, as pure functions on plain arrays.

Objectives come as an [N, M] array with one direction per column ('maximize' or 'minimize');
internally everything is turned into minimisation. Plotting and reports only draw what these
functions return.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DIRECTIONS = ('maximize', 'minimize')


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
