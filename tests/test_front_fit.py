"""The fitted front: its band covers a known true front in simulated studies of the main job's
design, and the quantities read from it (plateau, halving cost, knee) by hand."""
import math

import numpy as np
import pytest
from scipy import stats

from search import front_fit
from search import noise

# The main job's space (configs/search_default.py): width 0.5 to 2, temperature 1 to 64 (log),
# lambda 0 to 1; a student's float32 bytes are 253,936 w^2 + 6,064 w (66,528 at w = 0.5,
# 1,027,872 at w = 2, as models.student_size_bytes gives them).
SMALLEST, LARGEST = 66_528.0, 1_027_872.0
RECIPE_BOX = np.array([[0.0, 0.0], [math.log(64.0), 1.0]])


def _size(width):
  return 253_936.0 * width**2 + 6_064.0 * width


def _true_accuracy(size, log_temperature, lam):
  """A front like the main job's: 56% at the smallest student, levelling off near 69%, with a
  best temperature of 8 and lambda of 0.6 (3 and 2 points lost at the ends)."""
  return (0.69 - 0.13 * np.exp(-np.log(size / SMALLEST) / 0.9)
          - 0.03 * ((log_temperature - math.log(8.0)) / math.log(8.0))**2
          - 0.02 * (lam - 0.6)**2)


def _run_sd(size):
  """Seed noise of one run: 3 points at width 1, more for smaller students."""
  return 0.03 * np.exp(-0.25 * np.log(size / 260_000.0))


def _simulated_study(seed, trials=10, runs=2):
  """A study of the main job's design (10 trials at random points, as TPE's start, 2 seeds
  each) with the true curve and the modelled noise; returns the fit and the true front."""
  rng = np.random.default_rng(seed)
  width = np.exp(rng.uniform(math.log(0.5), math.log(2.0), trials))
  log_temperature = rng.uniform(0.0, math.log(64.0), trials)
  lam = rng.uniform(0.0, 1.0, trials)
  sizes = _size(width)
  truth = _true_accuracy(sizes, log_temperature, lam)
  accuracies = [rng.normal(truth[k], _run_sd(sizes[k]), runs) for k in range(trials)]
  groups = [noise.Group(list(a), {noise.LOG_SIZE: math.log(s)})
            for a, s in zip(accuracies, sizes)]
  model = noise.fit(groups)
  variances = [front_fit.mean_variance(model.sd(g.covariates), runs, model.df(g.covariates))
               for g in groups]
  fitted = front_fit.fit(sizes, np.column_stack([log_temperature, lam]),
                         [a.mean() for a in accuracies], variances, (SMALLEST, LARGEST),
                         RECIPE_BOX, draws=400, grid=20, seed=seed)
  true_front = np.array([_true_accuracy(s, log_temperature, lam).max() for s in fitted.sizes])
  return fitted, true_front


@pytest.mark.slow
def test_band_covers_the_true_front_of_100_simulated_main_jobs_about_95_percent():
  # 100 studies give 94.4% (standard error 1.3 points over the studies), 200 gave 93.2% and 400
  # 93.3% (benchmarks/RESULTS.md): a band that covered 90% or 99% would be refused here.
  inside, widths = [], []
  for seed in range(100):
    fitted, true_front = _simulated_study(seed)
    inside.append((fitted.low <= true_front) & (true_front <= fitted.high))
    widths.append(np.max(fitted.high - fitted.low) / 2)
  coverage = float(np.mean(inside))
  assert 0.92 <= coverage <= 0.98, coverage
  # And the band is not bought by being useless: its widest half-width averages under 7 points.
  assert np.mean(widths) < 0.07


def test_fit_recovers_a_front_and_orders_its_band():
  fitted, true_front = _simulated_study(1, trials=30, runs=3)
  assert np.all(fitted.low <= fitted.mean) and np.all(fitted.mean <= fitted.high)
  assert np.mean(np.abs(fitted.mean - true_front)) < 0.02
  assert fitted.sizes[0] >= SMALLEST and fitted.sizes[-1] <= LARGEST
  mean, low, high = fitted.at(fitted.sizes[3])
  assert (mean, low, high) == pytest.approx((fitted.mean[3], fitted.low[3], fitted.high[3]))


def _fit_of(draws, sizes):
  draws = np.asarray(draws, np.float64)
  return front_fit.FrontFit(np.asarray(sizes, np.float64), draws.mean(0), draws.min(0),
                            draws.max(0), draws, np.zeros(0), '')


def test_plateau_halving_cost_and_knee_read_from_each_draw_by_hand():
  sizes = [1_000, 2_000, 4_000, 8_000, 16_000]
  fitted = _fit_of([[0.50, 0.60, 0.695, 0.70, 0.70],  # Within 1 point of 0.70 from 4,000.
                    [0.50, 0.55, 0.60, 0.695, 0.70]],  # From 8,000.
                   sizes)
  plateau = front_fit.plateau_size(fitted)
  assert sorted([plateau.low, plateau.high]) == pytest.approx([4_000 + 100, 8_000 - 100],
                                                              abs=150)
  cost = front_fit.halving_cost(fitted)  # front(16,000) - front(8,000): 0 and 0.005.
  assert cost.value == pytest.approx(0.0025)
  assert front_fit.halving_cost(fitted, size=1_500) is None  # 750 is below the sizes.
  # A front that falls again at the large end: the plateau is where it first comes close.
  falling = front_fit.plateau_size(_fit_of([[0.5, 0.70, 0.65, 0.60, 0.55]] * 2, sizes))
  assert falling.value == 2_000
  knee = front_fit.knee_size(_fit_of([[0.5, 0.68, 0.69, 0.695, 0.70]] * 2, sizes))
  assert knee.value == 2_000  # The bend, farthest above the chord.


def test_mean_variance_widens_by_the_t_quantile_over_the_normal_one():
  assert front_fit.mean_variance(0.03, 2, 10) == pytest.approx(
      0.03**2 / 2 * (stats.t.ppf(0.975, 10) / stats.norm.ppf(0.975))**2)
  assert front_fit.mean_variance(0.03, 2, 1e9) == pytest.approx(0.03**2 / 2, rel=1e-6)
