"""The study's noise model: a Gamma GLM of seed variances, checked against the pooled variance,
known slopes and hand computations of intervals and comparisons."""
import math

import numpy as np
import pytest
from scipy import stats

from search import intervals
from search import noise


def _groups(rng, sds, sizes, runs=2, extra=None):
  return [noise.Group(list(rng.normal(0.6, sd, runs)),
                      {noise.LOG_SIZE: math.log(size), **(extra(k) if extra else {})})
          for k, (sd, size) in enumerate(zip(sds, sizes))]


def test_a_model_without_covariates_is_the_pooled_variance_with_its_degrees_of_freedom():
  rng = np.random.default_rng(0)
  groups = _groups(rng, [0.03] * 7, [260_000] * 7, runs=3)
  model = noise.fit(groups)
  pooled = intervals.pooled_seed_noise([g.runs for g in groups])
  assert model.covariates == ()  # One size: nothing to model the variance on.
  assert math.exp(model.coefficients[0]) == pytest.approx(pooled.sd**2)
  assert model.within_df == 14 and model.groups == 7
  # A pooled variance of nu degrees of freedom: Var(log s^2) = 2 / nu, so df is nu again.
  assert model.covariance[0, 0] == pytest.approx(2 / 14)
  assert model.df({noise.LOG_SIZE: math.log(260_000)}) == pytest.approx(14)


def test_the_slope_in_log_size_is_recovered_on_average_and_df_falls_away_from_the_centre():
  rng = np.random.default_rng(1)
  sizes = np.exp(np.linspace(math.log(66_000), math.log(1_000_000), 40))
  true_sd = lambda s: 0.02 * math.exp(-0.4 * (math.log(s) - math.log(260_000)))
  small, middle = [], []
  for _ in range(100):
    model = noise.fit(_groups(rng, [true_sd(s) for s in sizes], sizes))
    small.append(model.sd({noise.LOG_SIZE: math.log(66_000)}))
    middle.append(model.sd({noise.LOG_SIZE: math.log(260_000)}))
  assert np.mean(small) == pytest.approx(true_sd(66_000), rel=0.1)
  assert np.mean(middle) == pytest.approx(true_sd(260_000), rel=0.1)
  assert model.covariates == (noise.LOG_SIZE,)
  edge = model.df({noise.LOG_SIZE: math.log(66_000)})
  centre = model.df({noise.LOG_SIZE: float(model.centre[0])})
  assert edge < centre == pytest.approx(40)


def test_another_parameter_joins_only_when_the_data_show_it():
  rng = np.random.default_rng(2)
  sizes = [260_000] * 40
  lam = np.linspace(0, 1, 40)
  # The seed noise grows five-fold with lambda; the temperature does nothing.
  groups = [noise.Group(list(rng.normal(0.6, 0.01 * (1 + 4 * l), 3)),
                        {noise.LOG_SIZE: math.log(s), 'lam': l, 'log_temperature': t})
            for s, l, t in zip(sizes, lam, rng.uniform(0, 4, 40))]
  model = noise.fit(groups, ['lam', 'log_temperature'])
  assert model.covariates == ('lam',)
  assert model.rejected == ('log_temperature',)
  assert model.sd({'lam': 1.0}) > 3 * model.sd({'lam': 0.0})


def test_a_tie_between_seeds_does_not_pull_the_variance_to_zero():
  rng = np.random.default_rng(3)
  groups = _groups(rng, [0.03] * 9, [260_000] * 9)
  groups.append(noise.Group([0.6, 0.6], {noise.LOG_SIZE: math.log(260_000)}))
  model = noise.fit(groups)
  assert model.sd({noise.LOG_SIZE: math.log(260_000)}) > 0.01


def test_no_group_with_two_runs_gives_no_model():
  assert noise.fit([noise.Group([0.6], {noise.LOG_SIZE: 11.0})]) is None


def test_trial_interval_and_comparison_by_hand_from_a_constant_model():
  rng = np.random.default_rng(4)
  model = noise.fit(_groups(rng, [0.03] * 11, [260_000] * 11))
  at = {noise.LOG_SIZE: math.log(260_000)}
  sd = model.sd(at)
  found = noise.trial_interval(model, 0.65, 2, at)
  assert (found.low, found.high) == pytest.approx(intervals.logit_interval(0.65, sd / math.sqrt(2),
                                                                           11)[2:4])
  assert 0 < found.low < 0.65 < found.high < 1
  difference = noise.compare(model, (0.70, 2, at), (0.60, 3, at))
  se = math.sqrt(sd**2 / 2 + sd**2 / 3)
  assert difference.se == pytest.approx(se)
  assert difference.df == pytest.approx(11)
  assert difference.p_value == pytest.approx(2 * stats.t.sf(0.1 / se, 11))
  assert difference.high - difference.mean == pytest.approx(stats.t.ppf(0.975, 11) * se)


def test_test_set_sd_is_the_binomial_one():
  assert noise.test_set_sd(0.6, 600) == pytest.approx(math.sqrt(0.24 / 600))
  assert math.isnan(noise.test_set_sd(0.6, 0))


def test_with_fewer_than_entry_df_no_other_parameter_is_tried():
  rng = np.random.default_rng(5)
  lam = np.linspace(0, 1, 10)
  groups = [noise.Group(list(rng.normal(0.6, 0.01 * (1 + 9 * l), 2)),
                        {noise.LOG_SIZE: math.log(260_000 + 1000 * k), 'lam': l})
            for k, l in enumerate(lam)]
  assert sum(len(g.runs) - 1 for g in groups) < noise.ENTRY_DF
  model = noise.fit(groups, ['lam'])
  assert model.covariates == (noise.LOG_SIZE,) and model.rejected == ()
