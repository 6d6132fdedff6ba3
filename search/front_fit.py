"""The fitted front: accuracy as a smooth function of the searched parameters, and its best value
at each size with a 95% band, from a Gaussian process over every trial of a study.

A front drawn through single trials is as noisy as one trial; a curve fitted to all of them is
far more precise, and the questions asked of a front (where it stops rising, what halving the
size costs, where its knee is) are questions about that curve. Everything here is pure: arrays
in, a `FrontFit` out; report.py draws and tabulates it.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple, Sequence

import numpy as np

CONFIDENCE = 0.95
DRAWS = 1000
GRID = 40
# The plateau is where the front comes within this many accuracy points of its best.
PLATEAU_POINTS = 1.0
# Kernel hyperparameter bounds (accuracy^2, and length scales in the unit box). With ten or
# twenty noisy trials, maximum marginal likelihood tends to explain the front as noise around a
# flat line (a tiny amplitude or a long length scale) and the band then misses a front that
# rises steeply at the small end. The bounds are the prior that rules this out: the front may
# vary by 5.5 points (standard deviation) or more over the sizes, and may turn within a third
# of the size range. With them the 95% band covered the true front of 400 simulated main jobs
# 93% of the time (tests/test_front_fit.py), against 75% with free hyperparameters.
SIZE_AMPLITUDE_BOUNDS = (3e-3, 0.1)
RECIPE_AMPLITUDE_BOUNDS = (1e-5, 0.1)
SIZE_LENGTH_BOUNDS = (0.1, 0.3)
RECIPE_LENGTH_BOUNDS = (0.1, 100.0)


class FrontFit(NamedTuple):
  """The fitted front on a grid of sizes, its band, and what it answers, each with an interval.

  front[g] is the best posterior accuracy at size sizes[g] over the recipes the study tried
  (its trials' other parameters, carried to that size); `draws` are joint posterior draws of
  it, from which the band and every interval come.
  """
  sizes: np.ndarray  # [G] bytes, log-spaced over the trials' sizes.
  mean: np.ndarray  # [G] posterior mean of the front.
  low: np.ndarray  # [G] 2.5% of the draws.
  high: np.ndarray  # [G] 97.5% of the draws.
  draws: np.ndarray  # [D, G]
  trial_mean: np.ndarray  # [N] posterior mean of each trial's own expected accuracy.
  kernel: str  # The fitted kernel, for the report.

  def at(self, size: float) -> tuple[float, float, float]:
    """(mean, low, high) of the front at `size` bytes, interpolated in log size."""
    x = np.log(self.sizes)
    values = [np.interp(math.log(size), x, series) for series in (self.mean, self.low, self.high)]
    return tuple(float(v) for v in values)


def _on_dims(kernel, dims: Sequence[int]):
  """`kernel` applied to the input columns `dims` only (scikit-learn's kernels see every
  column; an additive kernel needs each part on its own)."""
  from sklearn.gaussian_process import kernels  # pylint: disable=g-import-not-at-top

  class OnDims(kernels.Kernel):
    """A kernel of some input columns; hyperparameters are the wrapped kernel's."""

    def __init__(self, kernel, dims):
      self.kernel = kernel
      self.dims = tuple(dims)

    def get_params(self, deep=True):
      params = dict(kernel=self.kernel, dims=self.dims)
      if deep:
        params.update(('kernel__' + k, v) for k, v in self.kernel.get_params().items())
      return params

    @property
    def hyperparameters(self):
      return [kernels.Hyperparameter('kernel__' + h.name, h.value_type, h.bounds, h.n_elements)
              for h in self.kernel.hyperparameters]

    @property
    def theta(self):
      return self.kernel.theta

    @theta.setter
    def theta(self, theta):
      self.kernel.theta = theta

    @property
    def bounds(self):
      return self.kernel.bounds

    def __call__(self, X, Y=None, eval_gradient=False):
      columns = list(self.dims)
      X = np.asarray(X)[:, columns]
      Y = None if Y is None else np.asarray(Y)[:, columns]
      return self.kernel(X, Y, eval_gradient=eval_gradient)

    def diag(self, X):
      return self.kernel.diag(np.asarray(X)[:, list(self.dims)])

    def is_stationary(self):
      return self.kernel.is_stationary()

    def __repr__(self):
      return f'{self.kernel!r} on columns {list(self.dims)}'

  return OnDims(kernel, dims)


def _gp(inputs: np.ndarray, targets: np.ndarray, noise_variance: np.ndarray, seed: int):
  """A GP regressor fitted by maximum marginal likelihood, with each trial's known noise.

  The kernel is additive: a Matern 5/2 of size plus one of the other parameters (temperature,
  lambda, with a length scale each). Additive, because ten or twenty trials cannot pin down how
  a recipe's effect changes with size, and a product kernel lets each recipe's curve wander on
  its own, so that the best of ten recipes at a size, taken in every draw, is biased upward
  (simulations of the main job: the band sat above the true front at the small end in 40% of
  studies). Inputs are in the unit box, so a length scale of 0.1 turns within a tenth of the
  space and one of 100 is flat across it (a parameter that does not matter).
  """
  # pylint: disable=g-import-not-at-top  (scikit-learn only when a front is fitted)
  from sklearn.exceptions import ConvergenceWarning
  from sklearn.gaussian_process import GaussianProcessRegressor
  from sklearn.gaussian_process import kernels
  dims = inputs.shape[1]
  kernel = kernels.ConstantKernel(0.01, SIZE_AMPLITUDE_BOUNDS) * _on_dims(
      kernels.Matern(length_scale=0.2, length_scale_bounds=SIZE_LENGTH_BOUNDS, nu=2.5), [0])
  if dims > 1:
    kernel = kernel + kernels.ConstantKernel(0.001, RECIPE_AMPLITUDE_BOUNDS) * _on_dims(
        kernels.Matern(length_scale=np.ones(dims - 1), length_scale_bounds=RECIPE_LENGTH_BOUNDS,
                       nu=2.5), range(1, dims))
  gp = GaussianProcessRegressor(kernel=kernel, alpha=noise_variance, normalize_y=False,
                                n_restarts_optimizer=2, random_state=seed)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', ConvergenceWarning)
    gp.fit(inputs, targets)
  return gp


def mean_variance(run_sd: float, runs: int, df: float) -> float:
  """The noise variance of a trial's mean accuracy as the GP takes it: (run_sd^2 / runs) times
  (t(0.975, df) / z(0.975))^2.

  The GP treats its noise as known, but the noise model estimates it from a few degrees of
  freedom; widening it as a t interval widens a z interval keeps the band honest about that
  (without it, simulations of the main job covered the true front 84 to 87% of the time).
  """
  from scipy import stats  # pylint: disable=g-import-not-at-top
  tail = 0.5 + CONFIDENCE / 2
  return run_sd**2 / runs * (float(stats.t.ppf(tail, df)) / float(stats.norm.ppf(tail)))**2


def size_feature(size_bytes):
  """The GP's input for size: -size^(-1/2), increasing with size like log size but stretched at
  the small end. Accuracy saturates as students grow (error falls as a power of size, as in
  scaling laws); on this scale a front that rises steeply and then levels off is nearly
  straight, so a stationary GP neither smooths away its steep small end nor (in simulations of
  the main job, tests/test_front_fit.py) leaves its band there too high, as one on log size did.
  """
  return -np.power(np.asarray(size_bytes, np.float64), -0.5)


def fit(sizes: Sequence[float], recipes: np.ndarray, means: Sequence[float],
        mean_variances: Sequence[float], size_range: Sequence[float], recipe_box: np.ndarray,
        draws: int = DRAWS, grid: int = GRID, seed: int = 0) -> FrontFit:
  """Fits the front of trials of `sizes` bytes with other parameters `recipes` [N, K] (log
  scale where searched on it), mean accuracies `means` whose noise variances are
  `mean_variances` (the noise model's sigma^2 / runs).

  `size_range` (smallest, largest bytes of the space) and `recipe_box` [2, K] (low and high of
  each other parameter) scale the inputs to the unit box. The GP's mean is the trials' weighted
  mean accuracy; the front at a size is the best of the tried recipes there. The band is the
  2.5 and 97.5% points of joint posterior draws of that best: the maximum of a posterior mean
  would understate the front's uncertainty and ignore that the best recipe is itself chosen.
  """
  sizes = np.asarray(sizes, np.float64)
  recipes = np.asarray(recipes, np.float64).reshape(len(sizes), -1)
  y = np.asarray(means, np.float64)
  noise = np.asarray(mean_variances, np.float64)
  recipe_box = np.asarray(recipe_box, np.float64).reshape(2, recipes.shape[1])
  low = np.concatenate([[size_feature(min(size_range))], recipe_box[0]])
  high = np.concatenate([[size_feature(max(size_range))], recipe_box[1]])
  span = np.where(high > low, high - low, 1.0)
  scale = lambda x: (x - low) / span
  inputs = np.column_stack([size_feature(sizes), recipes])
  weights = 1.0 / noise
  centre = float(np.sum(weights * y) / np.sum(weights))
  gp = _gp(scale(inputs), y - centre, noise, seed)
  grid_sizes = np.exp(np.linspace(np.log(sizes.min()), np.log(sizes.max()), grid))
  candidates = np.unique(recipes, axis=0)
  points = np.column_stack([np.repeat(size_feature(grid_sizes), len(candidates)),
                            np.tile(candidates, (grid, 1))])
  mean, cov = gp.predict(scale(points), return_cov=True)
  rng = np.random.default_rng(seed)
  chol = np.linalg.cholesky(cov + 1e-10 * np.eye(len(cov)))
  samples = mean + rng.standard_normal((draws, len(mean))) @ chol.T + centre
  fronts = samples.reshape(draws, grid, len(candidates)).max(-1)
  tail = (1 - CONFIDENCE) / 2
  return FrontFit(grid_sizes, fronts.mean(0), np.quantile(fronts, tail, axis=0),
                  np.quantile(fronts, 1 - tail, axis=0), fronts,
                  gp.predict(scale(inputs)) + centre, str(gp.kernel_))


class Estimate(NamedTuple):
  """A quantity of the fitted front with its 95% interval (over the posterior draws)."""
  value: float
  low: float
  high: float


def _estimate(values: np.ndarray) -> Estimate:
  tail = (1 - CONFIDENCE) / 2
  return Estimate(float(np.median(values)), float(np.quantile(values, tail)),
                  float(np.quantile(values, 1 - tail)))


def plateau_size(fitted: FrontFit, tolerance: float = PLATEAU_POINTS / 100) -> Estimate:
  """The smallest size at which the front comes within `tolerance` of its best over the sizes
  studied: larger students gain less than that. Per draw, then its median and 95% interval.
  (Not 'from which it stays close': a front that falls again at the largest sizes, as
  undertrained wide students can make it, would have no such size.)"""
  best = fitted.draws.max(1, keepdims=True)
  first = (fitted.draws >= best - tolerance).argmax(1)  # The first True; the best is one.
  return _estimate(fitted.sizes[first])


def halving_cost(fitted: FrontFit, size: float | None = None) -> Estimate | None:
  """Points of accuracy lost by halving the student from `size` (default: the largest size
  studied), front(size) - front(size / 2) per draw; None if size / 2 is below the sizes."""
  size = float(fitted.sizes[-1] if size is None else size)
  if size / 2 < fitted.sizes[0] * (1 - 1e-9):
    return None
  x = np.log(fitted.sizes)
  at = lambda s: np.array([np.interp(math.log(s), x, draw) for draw in fitted.draws])
  return _estimate(at(size) - at(size / 2))


def knee_size(fitted: FrontFit) -> Estimate:
  """The size at the knee of each drawn front: the point farthest from the chord between its
  ends, with log size and accuracy scaled to [0, 1] over the drawn curve (as `pareto.knee_index`
  does for trials)."""
  x = np.log(fitted.sizes)
  x = (x - x[0]) / (x[-1] - x[0])
  found = []
  for draw in fitted.draws:
    span = np.ptp(draw)
    y = (draw - draw.min()) / span if span > 0 else np.zeros_like(draw)
    chord = np.array([1.0, y[-1] - y[0]])
    distance = np.abs(chord[0] * (y - y[0]) - chord[1] * x) / np.hypot(*chord)
    found.append(fitted.sizes[int(np.argmax(distance))])
  return _estimate(np.asarray(found))
