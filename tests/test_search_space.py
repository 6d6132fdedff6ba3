"""The search space, the paper's grid and seeded samplers (cheap objectives, no training)."""
import ml_collections
import numpy as np
import optuna
import pytest

import search
from configs import default
from configs import search_default
from jaxfer import models
from search import configuration
from search import samplers
from search import space as space_lib

SPACE = {'temperature': {'low': 1.0, 'high': 64.0, 'log': True},
         'width': {'low': 0.5, 'high': 4.0, 'log': True},
         'lam': {'low': 0.0, 'high': 1.0}, 'pooling': 'p12'}
DIRECTIONS = ['maximize', 'minimize']


def _study(sampler, space, n_trials):
  """A study whose objective is a closed form of the sampled parameters."""
  study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)

  def objective(trial):
    values = space_lib.suggest(trial, space)
    size = models.SIZES[values['size']] if 'size' in values else values['width']
    return values['temperature'] / 64, size

  study.optimize(objective, n_trials=n_trials)
  return study


def test_grid_paper_runs_exactly_the_28_paper_points():
  sampler = search.make_sampler('grid-paper', seed=0, space=SPACE)
  study = _study(sampler, space_lib.paper_grid(SPACE), n_trials=40)  # The grid stops at 28.
  points = sorted((t.params['temperature'], t.params['size']) for t in study.trials)
  assert len(points) == 28 == len(set(points))
  assert set(points) == {(t, s) for t in (1, 2, 4, 8, 16, 32, 64) for s in ('M', 'S', 'XS', 'XXS')}


def test_grid_paper_workers_asking_at_once_take_different_points():
  # Each of two workers asks before either tells, as concurrent workers do; the grid point of a
  # trial follows from its number, so no point is taken twice. (After the 28th, GridSampler
  # stops the study, which only works inside optimize: 26 trials here.)
  storage = optuna.storages.InMemoryStorage()
  grid = space_lib.paper_grid(SPACE)
  workers = [optuna.create_study(study_name='grid', storage=storage, directions=DIRECTIONS,
                                 load_if_exists=True,
                                 sampler=search.TrialSeededSampler('grid-paper', 0, SPACE))
             for _ in range(2)]
  for _ in range(13):
    trials = [worker.ask() for worker in workers]
    for worker, trial in zip(workers, trials):
      space_lib.suggest(trial, grid)
      worker.tell(trial, [0.5, 1.0])
  points = {(t.params['temperature'], t.params['size']) for t in workers[0].trials}
  assert len(points) == 26


def test_paper_grid_fixes_width_and_keeps_fixed_values():
  grid = space_lib.paper_grid(SPACE)
  assert grid['width'] == 1.0 and grid['pooling'] == 'p12' and 'lam' not in grid


@pytest.mark.parametrize('name', ['size-aware', 'tpe', 'nsga2', 'random'])
def test_same_seed_same_trials_other_seed_other_trials(name):
  def params(seed):
    study = _study(search.make_sampler(name, seed=seed), SPACE, n_trials=10)
    return [t.params for t in study.trials]

  first = params(3)
  assert first == params(3)
  assert first != params(4)
  for values in first:
    assert 1.0 <= values['temperature'] <= 64.0 and 0.5 <= values['width'] <= 4.0


@pytest.mark.parametrize('name', ['size-aware', 'tpe', 'random'])
def test_trial_seeded_sampler_gives_concurrent_trials_other_points(name):
  # Two workers that ask at the same moment see the same history; before, both drew the same
  # seed from the trial count and ran the same point twice.
  storage = optuna.storages.InMemoryStorage()
  workers = [optuna.create_study(study_name='s', storage=storage, directions=DIRECTIONS,
                                 load_if_exists=True,
                                 sampler=search.TrialSeededSampler(name, seed=0, space=SPACE))
             for _ in range(2)]
  for _ in range(5):  # Past TPE's 4 random start-up trials.
    trial = workers[0].ask()
    values = space_lib.suggest(trial, SPACE)
    workers[0].tell(trial, [values['temperature'] / 64, values['width']])
  first, second = workers[0].ask(), workers[1].ask()
  assert space_lib.suggest(first, SPACE) != space_lib.suggest(second, SPACE)


def test_trial_seeded_sampler_repeats_a_study_and_resumes_it_identically():
  def params(sampler, n_trials, study=None):
    study = study or optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    for _ in range(n_trials):
      trial = study.ask()
      values = space_lib.suggest(trial, SPACE)
      study.tell(trial, [values['temperature'] / 64, values['width']])
    return study

  whole = [t.params for t in params(search.TrialSeededSampler('tpe', 7, SPACE), 8).trials]
  # Resumed by another process: a new sampler object on the study's history.
  half = params(search.TrialSeededSampler('tpe', 7, SPACE), 4)
  half.sampler = search.TrialSeededSampler('tpe', 7, SPACE)
  assert [t.params for t in params(None, 4, half).trials] == whole
  other = [t.params for t in params(search.TrialSeededSampler('tpe', 8, SPACE), 8).trials]
  assert other != whole


@pytest.mark.parametrize('bins', [2, 4, 8, 16])
def test_spread_puts_one_trial_in_each_bin(bins):
  points = [search.spread(number, 0.5, 4.0, log=True) for number in range(bins)]
  fractions = np.log(np.array(points) / 0.5) / np.log(4.0 / 0.5)
  assert sorted(np.floor(fractions * bins).astype(int)) == list(range(bins))
  assert points[0] == pytest.approx(np.sqrt(0.5 * 4.0))  # The middle of the log range first.
  assert search.spread(1, 0.0, 8.0) == 2.0 and search.spread(2, 0.0, 8.0) == 6.0


def test_size_adjusted_removes_the_trend_with_log_size():
  sizes = np.array([1e5, 3e5, 1e6, 4e6])
  on_line = 0.2 + 0.05 * np.log(sizes)
  np.testing.assert_allclose(search.size_adjusted(on_line, sizes), 0.0, atol=1e-12)
  # A trial above the line scores best although others are more accurate.
  bumped = on_line + np.array([0.0, 0.04, 0.0, 0.0])
  assert np.argmax(search.size_adjusted(bumped, sizes)) == 1 and np.argmax(bumped) == 3
  np.testing.assert_allclose(search.size_adjusted([0.3, 0.5], [1e5, 1e6]), [-0.1, 0.1])


def test_size_aware_follows_the_best_accuracy_for_its_size():
  # Four trials lie on a line in log size; the one at T=2 is far above the line but less
  # accurate than the widest (T=50). Ranked by accuracy alone, TPE would follow T=50.
  distributions = {'temperature': optuna.distributions.FloatDistribution(1.0, 64.0, log=True),
                   'width': optuna.distributions.FloatDistribution(0.5, 4.0, log=True)}
  history = [optuna.trial.create_trial(
      params={'temperature': temperature, 'width': width}, distributions=distributions,
      values=[accuracy, width ** 2 * 65_000])
      for temperature, width, accuracy in [(8.0, 0.5, 0.30), (16.0, 1.0, 0.40), (32.0, 2.0, 0.50),
                                           (50.0, 4.0, 0.60), (2.0, 0.7, 0.50)]]
  for seed in range(8):
    study = optuna.create_study(directions=DIRECTIONS,
                                sampler=search.make_sampler('size-aware', seed=seed))
    study.add_trials(history)
    trial = study.ask(distributions)
    assert trial.params['temperature'] < np.sqrt(2.0 * 50.0), seed
    assert trial.params['width'] == search.spread(trial.number, 0.5, 4.0, log=True)


def test_apply_sets_the_run_config_fields():
  config = default.get_config()
  run = space_lib.apply(config, {'temperature': 3.5, 'size': 'S', 'width': 1.0, 'pooling': 'v',
                              'lam': 0.25, 'learning_rate': 1e-4})
  assert (run.distill.temperature, run.student.squeeze, run.student.pooling) == (3.5, 4.0, 'v')
  assert (run.distill.lam, run.student.optimizer.learning_rate) == (0.25, 1e-4)
  assert config.distill.temperature == 8.0  # The original is untouched.


@pytest.mark.parametrize('method, pretrain, loss', [
    ('kd', 'none', 'microexpnet'), ('facenet2expnet', 'facenet2expnet', 'none'),
    ('both', 'facenet2expnet', 'microexpnet')])
def test_method_sets_the_students_pretraining_and_its_distillation(method, pretrain, loss):
  run = space_lib.apply(default.get_config(), {'method': method})
  assert (run.student.pretrain, run.distill.loss) == (pretrain, loss)


def test_every_trial_of_a_study_shares_one_face_net_per_fold(tmp_path):
  from search import objective
  config = default.get_config()
  config.search = search_default.search_settings()
  first = objective.trial_config(config, {'method': 'both'}, 0, str(tmp_path))
  second = objective.trial_config(config, {'method': 'facenet2expnet'}, 5, str(tmp_path))
  assert first.facenet2expnet.artifact == second.facenet2expnet.artifact == str(
      tmp_path / 'teachers' / 'fold_{fold}' / 'face_net')


@pytest.mark.parametrize('space, message', [
    ({'method': {'choices': ('kd', 'fitnets')}}, 'methods must be among kd, facenet2expnet, both'),
    ({'temp': 2.0}, 'config.search.space.temp is not a search parameter'),
    ({'width': {'low': 2.0, 'high': 1.0}}, r'config.search.space.width = .*expected 0 < low'),
    ({'temperature': {'low': 0.0, 'high': 8.0, 'log': True}}, 'config.search.space.temperature'),
    ({'size': {'choices': ('M', 'L')}}, 'sizes must be among M, S, XS, XXS'),
    ({'width': {'min': 1}}, 'is neither a fixed value'),
])
def test_bad_spaces_name_the_parameter(space, message):
  with pytest.raises(ValueError, match=message):
    space_lib.check(ml_collections.ConfigDict(space))


UNKNOWN_SAMPLER = ("config.search.sampler = 'cma' is not allowed; choose one of: size-aware, "
                   'tpe, nsga2, gp, random, grid-paper, grid')


def test_unknown_sampler_names_the_choices_wherever_it_is_looked_up():
  config = search_default.get_config()
  config.search.sampler = 'cma'
  lookups = [lambda: search.make_sampler('cma', seed=0),
             lambda: samplers.trial_limit('cma', SPACE), lambda: samplers.trial_space('cma', SPACE),
             lambda: search.TrialSeededSampler('cma', 0), lambda: configuration.validate(config)]
  for lookup in lookups:
    with pytest.raises(ValueError) as error:
      lookup()
    assert str(error.value) == UNKNOWN_SAMPLER


def test_grids_end_after_their_points_and_other_samplers_never():
  assert samplers.trial_limit('grid-paper', SPACE) == space_lib.PAPER_GRID_TRIALS == 28
  # The paper's grid is its own: a space of choices does not change it.
  chosen = {'temperature': {'choices': (1.0, 2.0)}, 'size': {'choices': ('S', 'XXS')},
            'pooling': {'choices': ('v', 'p1', 'p12')}, 'lam': 0.5}
  assert samplers.trial_limit('grid-paper', chosen) == 28
  assert samplers.trial_limit('grid', chosen) == 2 * 2 * 3
  assert samplers.trial_space('grid-paper', SPACE) == space_lib.paper_grid(SPACE)
  for name in ('size-aware', 'tpe', 'nsga2', 'random'):
    assert samplers.trial_limit(name, SPACE) is None
    assert samplers.trial_space(name, SPACE) is SPACE


# Two families, the second with ranges of its own (a conditional space).
FAMILIES = {'temperature': {'low': 1.0, 'high': 64.0, 'log': True},
            'width': {'low': 0.5, 'high': 2.0, 'log': True},
            'family': {'choices': ('microexpnet', 'separable'),
                       'separable': {'width': {'low': 0.25, 'high': 1.0, 'log': True},
                                     'depth': {'choices': (2, 3, 4)}}}}


def _family_study(sampler, n_trials):
  """A study over FAMILIES whose objective is a closed form of the sampled values; returns it
  with the values each trial's suggest gave."""
  study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
  given = {}

  def objective(trial):
    values = space_lib.suggest(trial, FAMILIES)
    given[trial.number] = values
    return values['temperature'] / 64, values['width'] * (2 if values['family'] == 'separable'
                                                          else 1)

  study.optimize(objective, n_trials=n_trials)
  return study, given


def test_each_family_samples_its_own_ranges_under_names_of_its_own():
  study, given = _family_study(search.make_sampler('random', seed=0), n_trials=24)
  families = {given[t.number]['family'] for t in study.trials}
  assert families == {'microexpnet', 'separable'}
  for trial in study.trials:
    values = given[trial.number]
    if values['family'] == 'separable':
      assert set(trial.params) == {'family', 'temperature', 'separable.width', 'separable.depth'}
      assert 0.25 <= trial.params['separable.width'] <= 1.0
      assert values['width'] == trial.params['separable.width']
      assert values['depth'] == trial.params['separable.depth'] in (2, 3, 4)
    else:  # The shared width range; no depth is sampled.
      assert set(trial.params) == {'family', 'temperature', 'width'}
      assert 0.5 <= values['width'] == trial.params['width'] <= 2.0
      assert 'depth' not in values


def test_size_aware_spreads_each_family_s_own_width_over_that_family_s_trials():
  study, _ = _family_study(search.make_sampler('size-aware', seed=0), n_trials=16)
  low, high = FAMILIES['family']['separable']['width']['low'], 1.0
  separable = [t.params['separable.width'] for t in study.trials
               if 'separable.width' in t.params]
  assert len(separable) >= 3
  # The k-th trial of the family takes point k of the sequence over the family's own range.
  assert separable == pytest.approx([samplers.spread(k, low, high, log=True)
                                     for k in range(len(separable))])
  shared = [t for t in study.trials if 'width' in t.params]
  assert [t.params['width'] for t in shared] == pytest.approx(
      [samplers.spread(t.number, 0.5, 2.0, log=True) for t in shared])


@pytest.mark.parametrize('family,problem', [
    ({'choices': ('microexpnet', 'resnet')}, 'families must be among'),
    ({'choices': ('microexpnet',), 'separable': {'depth': {'choices': (2, 3)}}},
     "config.search.space.family.separable: 'separable' is not one of the choices"),
    ({'choices': ('separable',), 'separable': {'colour': 1}},
     'config.search.space.family.separable.colour is not a search parameter'),
    ({'choices': ('separable',), 'separable': {'width': {'low': 2.0, 'high': 1.0}}},
     'config.search.space.family.separable.width'),
])
def test_a_family_space_that_cannot_be_searched_is_refused_naming_where(family, problem):
  with pytest.raises(ValueError, match=problem.replace('(', r'\(').replace('.', r'\.')):
    space_lib.check({**FAMILIES, 'family': family})


def test_a_grid_refuses_families_with_spaces_of_their_own():
  with pytest.raises(ValueError, match='a grid cannot follow each family'):
    space_lib.grid_choices({'family': FAMILIES['family']})


def test_the_reference_size_is_the_largest_student_of_any_family():
  config = search_default.get_config()
  config.search.space = {**FAMILIES, 'family': {**FAMILIES['family'], 'separable': {
      'width': {'low': 0.25, 'high': 16.0, 'log': True}, 'depth': {'choices': (2, 3)}}}}
  widest = config.copy_and_resolve_references()
  widest.student.update(family='separable', width=16.0, depth=3)
  separable = models.student_size_bytes(widest.student, config.data.image_size)
  microexpnet = space_lib.size_limit(search_default.get_config())  # M, or width 2.
  assert separable > microexpnet
  assert space_lib.size_limit(config) == separable
