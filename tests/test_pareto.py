"""Pareto front, 2-D hypervolume and knee point against closed forms and against Optuna."""
import numpy as np
import optuna
import pytest
from optuna import _hypervolume

import search

ACC_SIZE = ('maximize', 'minimize')


def test_pareto_mask_keeps_exactly_the_non_dominated_points():
  points = [(0.9, 100), (0.8, 50), (0.85, 120), (0.8, 50), (0.7, 60), (0.95, 400)]
  # (0.85, 120) is beaten by (0.9, 100); (0.7, 60) by (0.8, 50); equal points both stay.
  assert search.pareto_mask(points, ACC_SIZE).tolist() == [True, True, False, True, False, True]
  assert search.pareto_mask(np.zeros((0, 2)), ACC_SIZE).tolist() == []


def test_pareto_mask_matches_optuna_best_trials():
  rng = np.random.default_rng(0)
  values = np.round(rng.random((60, 2)), 1)  # Coarse values, so ties and duplicates occur.
  study = optuna.create_study(directions=list(ACC_SIZE))
  study.add_trials([optuna.trial.create_trial(values=list(v), params={}, distributions={})
                    for v in values])
  expected = sorted(t.number for t in study.best_trials)
  assert np.flatnonzero(search.pareto_mask(values, ACC_SIZE)).tolist() == expected


def test_hypervolume_of_closed_form_staircases():
  staircase = [(1, 3), (2, 2), (3, 1)]
  assert search.hypervolume_2d(staircase, (4, 4), ('minimize', 'minimize')) == 6.0
  assert search.hypervolume_2d([(2, 2)], (4, 5), ('minimize', 'minimize')) == 6.0
  # Maximise accuracy, minimise size: 0.4 * 100 + 0.3 * 50.
  assert search.hypervolume_2d([(0.9, 100), (0.8, 50)], (0.5, 200), ACC_SIZE) == pytest.approx(55)
  # Dominated points and points beyond the reference add nothing.
  assert search.hypervolume_2d([(0.9, 100), (0.8, 50), (0.7, 80), (0.4, 10), (0.99, 300)],
                               (0.5, 200), ACC_SIZE) == pytest.approx(55)
  assert search.hypervolume_2d(np.zeros((0, 2)), (0.5, 200), ACC_SIZE) == 0.0


def test_hypervolume_matches_optuna_on_random_fronts():
  rng = np.random.default_rng(1)
  for _ in range(20):
    values = rng.random((int(rng.integers(1, 30)), 2))
    ours = search.hypervolume_2d(values, (0.0, 1.0), ACC_SIZE)
    losses = values * np.array([-1.0, 1.0])
    theirs = _hypervolume.compute_hypervolume(losses, np.array([0.0, 1.0]))
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_knee_is_the_point_farthest_from_the_chord_of_the_front():
  points = [(0.0, 1.0), (0.1, 0.3), (0.5, 0.2), (1.0, 0.0), (0.6, 0.6)]
  assert search.knee_index(points, ('minimize', 'minimize')) == 1
  # The same front as accuracy (maximised) and size: the knee does not depend on directions.
  flipped = [(-x, y) for x, y in points]
  assert search.knee_index(flipped, ACC_SIZE) == 1


def test_knee_of_straight_or_tiny_fronts_is_the_point_nearest_the_ideal_corner():
  assert search.knee_index([(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)],
                           ('minimize', 'minimize')) == 1
  assert search.knee_index([(0.8, 50)], ACC_SIZE) == 0
  assert search.knee_index([(0.7, 80), (0.8, 50)], ACC_SIZE) == 1  # The other is dominated.


def test_bad_input_names_what_was_expected():
  with pytest.raises(ValueError, match="direction 'max' is not allowed"):
    search.pareto_mask([(1, 2)], ('max', 'minimize'))
  with pytest.raises(ValueError, match=r'expected values of shape \[N, 2\]'):
    search.hypervolume_2d([(1, 2, 3)], (0, 0), ACC_SIZE)


def _trial(number, values, runs, state=optuna.trial.TrialState.COMPLETE):
  trial = optuna.trial.create_trial(
      state=state, values=values if state == optuna.trial.TrialState.COMPLETE else None,
      params={}, distributions={}, user_attrs={'run_accuracies': runs})
  trial.number = number
  return trial


def test_hypervolume_by_trainings_counts_every_run_of_every_finished_trial():
  from search import pareto
  reference = (0.0, 10.0)
  trials = [
      _trial(0, [0.5, 4.0], [[0.4, 0.6], [0.5, 0.5]]),  # 2 folds x 2 seeds: 4 trainings.
      _trial(1, None, [[0.1]], optuna.trial.TrialState.PRUNED),  # Pruned after one run.
      _trial(2, [0.8, 6.0], [[0.8, 0.8], [0.7, 0.9]]),
      _trial(3, None, [[0.9, 0.9]], optuna.trial.TrialState.FAIL),  # Not finished: not counted.
  ]
  steps, values = pareto.hypervolume_by_trainings(trials, reference)
  assert steps.tolist() == [4, 5, 9]
  # (0.5 x 6) alone, unchanged by the pruned trial, then the staircase 0.5 x 6 + 0.3 x 4.
  np.testing.assert_allclose(values, [3.0, 3.0, 3.0 + 0.3 * 4.0])
  np.testing.assert_allclose(pareto.value_at(steps, values, [4, 8, 9]), [3.0, 3.0, 4.2])
  read = pareto.value_at(steps, values, [3, 10])
  assert np.isnan(read).all()  # Before the first trial and beyond what the study spent.
  assert pareto.budget_to_reach(steps, values, 4.0) == 9
  assert pareto.budget_to_reach(steps, values, 2.0) == 4
  assert pareto.budget_to_reach(steps, values, 5.0) is None
