"""Ablations: paired statistics by hand, the comparisons of each kind on hand-built cells, and
`jaxfer-search ablate` end to end on the tiny test config."""
import csv
import itertools
import json
import math
import os
import shlex

import numpy as np
import optuna
import pytest

from conftest import run_in_process
from configs import search_test
from jaxfer import models
from search import ablation
from search import ablation_report
from search import cli
from search import configuration
from search import equivalence
from search import intervals
from search import pareto
from search import space as space_lib
from search import storage
from search import tuning
from search import workers


def test_paired_difference_over_folds_by_hand():
  first = [[0.60, 0.70], [0.80, 0.90], [0.50, 0.55]]
  second = [[0.50, 0.60], [0.70, 0.70], [0.50, 0.50]]
  # Seed-paired differences averaged within each fold: 0.1, 0.15, 0.025.
  d = [0.1, 0.15, 0.025]
  mean = sum(d) / 3
  sd = math.sqrt(sum((x - mean)**2 for x in d) / 2)
  t = mean / (sd / math.sqrt(3))
  found = intervals.paired_difference(first, second)
  assert found.unit == 'fold' and found.n == 3
  assert found.mean == pytest.approx(mean)
  assert found.t == pytest.approx(t)
  # Student's t with 2 degrees of freedom has a closed form: two-sided p = 1 - |t|/sqrt(2+t^2).
  assert found.p_value == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t))
  # t(0.975, 2) = 4.302653.
  assert found.low == pytest.approx(mean - 4.302653 * sd / math.sqrt(3), abs=1e-6)
  assert found.high == pytest.approx(mean + 4.302653 * sd / math.sqrt(3), abs=1e-6)
  assert found.effect_size == pytest.approx(mean / sd)


def test_paired_difference_with_one_fold_pairs_the_seeds():
  found = intervals.paired_difference([[0.5, 0.7, 0.6]], [[0.4, 0.5, 0.6]])
  d = [0.1, 0.2, 0.0]
  mean, sd = 0.1, math.sqrt(sum((x - 0.1)**2 for x in d) / 2)
  assert found.unit == 'seed' and found.n == 3
  assert found.mean == pytest.approx(mean)
  assert found.t == pytest.approx(mean / (sd / math.sqrt(3)))


def test_paired_difference_refuses_runs_that_do_not_pair():
  with pytest.raises(ValueError, match='same \\[fold\\]\\[seed\\] shape'):
    intervals.paired_difference([[0.5, 0.6]], [[0.5], [0.6]])


def test_holm_adjusted_p_values_by_hand_agree_with_the_rejections():
  p_values = [0.01, 0.04, 0.03, math.nan]
  # Sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to the running 0.06.
  adjusted = intervals.holm_adjusted(p_values)
  assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
  assert math.isnan(adjusted[3])
  assert [p < 0.05 for p in adjusted[:3]] == intervals.holm_rejections(p_values)[:3]


def _cell(number, size_bytes, runs, **params):
  return ablation.Cell(number, params, float(size_bytes), runs)


def test_kd_comparisons_pair_each_size_and_correct_for_both():
  cells = [
      _cell(0, 900, [[0.80, 0.82], [0.70, 0.74]], size='S', loss='microexpnet'),
      _cell(1, 900, [[0.78, 0.80], [0.70, 0.70]], size='S', loss='none'),
      _cell(2, 200, [[0.70, 0.75], [0.60, 0.65]], size='XXS', loss='microexpnet'),
      _cell(3, 200, [[0.60, 0.60], [0.50, 0.55]], size='XXS', loss='none'),
  ]
  found = ablation.comparisons('kd', cells)
  assert [(c.group, c.first, c.second) for c in found] == [
      ('S', 'distilled', 'not distilled'), ('XXS', 'distilled', 'not distilled')]
  # Fold means of the paired differences: S 0.02, 0.02 (gain 2 points, no spread);
  # XXS 0.125, 0.10.
  assert found[0].difference.mean == pytest.approx(0.02)
  assert found[0].difference.p_value == 0.0
  assert found[1].difference.mean == pytest.approx(0.1125)
  t = 0.1125 / (math.sqrt(2 * 0.0125**2) / math.sqrt(2))
  assert found[1].difference.t == pytest.approx(t)
  p = 1 - 2 * math.atan(t) / math.pi  # Student's t with 1 degree of freedom is Cauchy.
  assert found[1].difference.p_value == pytest.approx(p)
  # Holm: the smaller p (S's, 0) is multiplied by 2, the larger by 1.
  assert found[0].p_holm == 0.0 and found[1].p_holm == pytest.approx(p)
  text = ablation_report.markdown('kd', cells, found, expected_cells=4)
  assert '4 of 4 cells finished; 2 fold(s) x 2 seed(s) per cell.' in text
  assert '| XXS | distilled | not distilled | +11.2 |' in text


def test_pooling_compares_every_variant_with_no_pooling_at_each_size_and_loss():
  runs = [[0.5, 0.5]]
  cells = [_cell(k, 100, [[0.5 + 0.01 * k, 0.5]], size='XXS', pooling=pooling, loss=loss)
           for k, (pooling, loss) in enumerate(
               (p, l) for l in ('microexpnet', 'none') for p in ('v', 'p1', 'p12'))]
  cells.append(_cell(9, 50, runs, size='XS', pooling='p1', loss='none'))  # No v to pair with.
  found = ablation.comparisons('pooling', cells)
  assert [(c.group, c.first, c.second) for c in found] == [
      ('XXS, distilled (microexpnet)', 'p1', 'v'), ('XXS, distilled (microexpnet)', 'p12', 'v'),
      ('XXS, without distillation', 'p1', 'v'), ('XXS, without distillation', 'p12', 'v')]
  # One fold: the seeds pair; p1 of the distilled row differs from v by 0.01 in seed 0 only.
  assert found[0].difference.mean == pytest.approx(0.005)
  assert found[0].difference.unit == 'seed'


def test_kd_read_from_pooling_cells_gives_the_gain_of_each_variant():
  cells = [_cell(k, 100, [[0.5 + 0.1 * (loss != 'none') + 0.01 * (pooling == 'v')]],
                 size='XXS', pooling=pooling, loss=loss)
           for k, (pooling, loss) in enumerate(
               (p, l) for p in ('v', 'p12') for l in ('microexpnet', 'none'))]
  found = ablation.comparisons('kd', cells)
  assert [c.group for c in found] == ['XXS, v', 'XXS, p12']
  assert [c.difference.mean for c in found] == pytest.approx([0.1, 0.1])


def test_temperature_compares_the_best_with_each_other_and_names_the_plateau():
  cells = [
      _cell(0, 100, [[0.60, 0.62], [0.58, 0.61]], size='XXS', temperature=1.0),
      _cell(1, 100, [[0.70, 0.72], [0.68, 0.71]], size='XXS', temperature=4.0),
      _cell(2, 100, [[0.69, 0.73], [0.69, 0.69]], size='XXS', temperature=16.0),
  ]
  found = ablation.comparisons('temperature', cells)
  assert [(c.first, c.second) for c in found] == [('T=4', 'T=1'), ('T=4', 'T=16')]
  # T=4 beats T=1 by 10 points on both folds (p 0); against T=16 the fold differences are 0
  # and 0.005.
  assert found[0].difference.mean == pytest.approx(0.1)
  assert found[0].p_holm == 0.0
  assert found[1].difference.mean == pytest.approx(0.0025)
  text = ablation_report.markdown('temperature', cells, found, expected_cells=3)
  assert 'XXS: best T=4 (70.2%), means span 10.0 points' in text
  assert 'not distinguishable from the best: T=16.' in text


def test_study_config_builds_the_cells_of_each_kind():
  config = search_test.get_config()
  config.search.ablation.update(sizes=('S', 'XXS'), poolings=('v', 'p12'),
                                temperatures=(2.0, 8.0, 32.0))
  expected = {'pooling': 2 * 2 * 2, 'kd': 2 * 2, 'temperature': 2 * 3}
  for kind, cells in expected.items():
    study = ablation.study_config(config, kind)
    configuration.validate(study)
    assert study.search.n_trials == cells
    assert study.search.study_name == f'ablation_{kind}'
    assert (study.search.sampler, study.search.paired_seeds, study.search.prune) == (
        'grid', True, False)
  widths = config.copy_and_resolve_references()
  widths.search.ablation.widths = (0.5, 1.0, 2.0)
  space = ablation.study_config(widths, 'kd').search.space
  assert space.width.choices == (0.5, 1.0, 2.0) and 'size' not in space
  with pytest.raises(ValueError, match="the ablation 'dropout' does not exist"):
    ablation.study_config(config, 'dropout')
  config.distill.loss = 'none'
  with pytest.raises(ValueError, match="config.distill.loss = 'none'"):
    ablation.study_config(config, 'kd')


def _every_cell(config):
  """A finished cell for every point of the study's grid, 2 folds x 2 seeds of made-up runs."""
  choices = space_lib.grid_choices(config.search.space)
  rng = np.random.default_rng(0)
  return [_cell(number, 1000, rng.uniform(0.5, 0.9, size=(2, 2)).tolist(),
                **dict(zip(choices, values)))
          for number, values in enumerate(itertools.product(*choices.values()))]


def test_each_kind_makes_the_comparisons_it_expects_and_is_read_back_from_its_cells():
  config = search_test.get_config()
  config.search.ablation.update(sizes=('S', 'XXS'), poolings=('v', 'p1', 'p12'),
                                temperatures=(1.0, 8.0, 64.0))
  # pooling: 2 sizes x (with, without distillation) x (p1, p12 against v); kd: one per size;
  # temperature: 2 sizes x the 2 temperatures other than the best.
  expected = {'pooling': 2 * 2 * 2, 'kd': 2, 'temperature': 2 * 2}
  for kind, count in expected.items():
    cells = _every_cell(ablation.study_config(config, kind))
    assert ablation.expected_comparisons(config, kind) == count
    assert len(ablation.comparisons(kind, cells)) == count
    assert ablation.kind_of(cells).name == kind
  # Without the no-pooling variant, nothing is compared with it.
  config.search.ablation.poolings = ('p1', 'p12')
  assert ablation.expected_comparisons(config, 'pooling') == 0


def test_an_unknown_kind_is_refused_with_one_message_by_every_door():
  config = search_test.get_config()
  doors = [lambda: ablation.study_config(config, 'dropout'),
           lambda: ablation.expected_comparisons(config, 'dropout'),
           lambda: ablation.comparisons('dropout', []),
           lambda: ablation_report.markdown('dropout', [], [], expected_cells=0),
           lambda: ablation_report.draw('dropout', [], [], 0.02)]
  for door in doors:
    with pytest.raises(ValueError) as error:
      door()
    assert str(error.value) == ("the ablation 'dropout' does not exist; choose one of: pooling, "
                                'kd, temperature')


def test_every_kind_has_its_view_in_the_report():
  assert list(ablation_report.VIEWS) == list(ablation.KINDS)


def _front_trial(accuracy, size_bytes, **params):
  distributions = {name: optuna.distributions.FloatDistribution(0.0, 100.0) for name in params}
  return optuna.trial.create_trial(values=[accuracy, float(size_bytes)], params=params,
                                   distributions=distributions)


def test_tuned_table_takes_each_size_from_the_front_point_nearest_in_log_size():
  config = search_test.get_config()
  config.search.ablation.sizes = ('S', 'XXS')
  size = {name: models.student_size_bytes(space_lib.apply(config, {'size': name}).student,
                                          config.data.image_size) for name in ('S', 'XXS')}
  trials = [_front_trial(0.8, size['S'] * 1.5, temperature=2.0, lam=0.3),
            _front_trial(0.5, size['S'] * 1.05, temperature=64.0, lam=0.9),  # Dominated.
            _front_trial(0.7, size['XXS'] * 0.8, temperature=16.0, lam=0.7)]
  for number, trial in enumerate(trials):
    trial.number = number
  assert tuning.tuned_table(config, trials) == (('S', 2.0, 0.3), ('XXS', 16.0, 0.7))
  # Without the point below XXS, XXS takes the front point just below the geometric middle of
  # the two sizes, nearer to it in log size than the one at 1.5 x S; that study fixed its
  # temperature, so the config's is taken.
  middle = math.sqrt(size['S'] * size['XXS'])
  trials = [trials[0], _front_trial(0.75, middle * 0.99, lam=0.5)]
  trials[1].number = 1
  assert tuning.tuned_table(config, trials)[1] == ('XXS', config.distill.temperature, 0.5)


def test_tuned_values_set_only_what_the_ablation_grid_does_not_vary():
  config = search_test.get_config()
  config.search.ablation.update(sizes=('S', 'XXS'), tuned=(('S', 2.0, 0.3),))
  kd = ablation.study_config(config, 'kd')
  assert tuning.tuned_values(kd, {'size': 'S', 'loss': 'none'}) == {'temperature': 2.0,
                                                                    'lam': 0.3}
  assert tuning.tuned_values(kd, {'size': 'XXS', 'loss': 'none'}) == {}
  temperature = ablation.study_config(config, 'temperature')
  assert tuning.tuned_values(temperature, {'size': 'S', 'temperature': 8.0}) == {'lam': 0.3}


@pytest.mark.parametrize('field, value, message', [
    ('sizes', ('XXL',), "config.search.ablation.sizes = \\('XXL',\\) is not allowed"),
    ('poolings', (), 'config.search.ablation.poolings = \\(\\) is not allowed'),
    ('widths', (0.0,), 'config.search.ablation.widths = 0.0 is not allowed'),
    ('target_margin', 0.0, 'config.search.ablation.target_margin = 0.0 is not allowed; '
                           'expected a number > 0'),
])
def test_bad_ablation_settings_name_the_field(field, value, message):
  config = search_test.get_config()
  config.search.ablation[field] = value
  with pytest.raises(ValueError, match=message):
    configuration.validate(config)


@pytest.mark.parametrize('field, value, message', [
    ('target_margin', 'two', "config.search.ablation.target_margin = 'two' is not allowed; "
                             'expected a number > 0'),
    ('noise_from', 3, "config.search.ablation.noise_from = 3 is not allowed; expected a study "
                      "name, or '' for none"),
])
def test_ablation_settings_of_the_wrong_type_name_the_field(field, value, message):
  settings = search_test.get_config().search.ablation.to_dict()  # A config file's plain dict.
  settings[field] = value
  with pytest.raises(ValueError, match=message):
    configuration.check_ablation(settings)


def _ablate(capfd, kind, run_dir, data_dir, *extra):
  return run_in_process(cli.main, capfd, 'ablate', kind, '--config', 'configs/search_test.py',
                        '--workdir', run_dir, f'--config.data.data_dir={data_dir}', '--workers=1',
                        *extra)


def test_ablate_with_a_missing_noise_from_study_is_one_line_and_creates_nothing(tmp_path,
                                                                                capfd):
  run_dir = tmp_path / 'new'
  done = run_in_process(cli.main, capfd, 'ablate', 'kd', '--config', 'configs/search_test.py',
                        '--workdir', run_dir, '--config.search.ablation.noise_from=nosuch')
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == [
      "jaxfer-search ablate: error: config.search.ablation.noise_from = 'nosuch': no study "
      f"named 'nosuch' in sqlite:///{run_dir}/study.db; the storage holds: no study (check "
      '--study, --workdir and --storage)']
  assert not run_dir.exists()


@pytest.mark.slow
def test_ablate_kd_runs_paired_cells_tables_them_and_skips_them_when_run_again(tmp_path,
                                                                                data_dir, capfd):
  extra = ['--config.search.replicates=2', "--config.search.ablation.sizes=('S','XXS')"]
  done = _ablate(capfd, 'kd', tmp_path, data_dir, *extra)
  assert done.returncode == 0, done.stderr[-3000:]
  study = optuna.load_study(study_name='ablation_kd',
                            storage=storage.storage_url('', str(tmp_path)))
  trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
  assert sorted((t.params['size'], t.params['loss']) for t in trials) == [
      ('S', 'microexpnet'), ('S', 'none'), ('XXS', 'microexpnet'), ('XXS', 'none')]
  # Replicate r of every cell has the same student seed: the cells pair by fold and seed.
  seeds = {}
  for trial in trials:
    for replicate, name in enumerate(('fold_0', 'fold_0_replicate_1')):
      with open(os.path.join(trial.user_attrs['trial_dir'], name, 'student',
                             'config.json')) as f:
        seeds.setdefault(replicate, set()).add(json.load(f)['student']['seed'])
  assert all(len(s) == 1 for s in seeds.values()) and seeds[0] != seeds[1]
  # Before training, with no cells anywhere yet, the power plan says it has no noise estimate.
  assert 'No noise estimate yet: this study has no finished cell' in done.stderr
  assert 'Power plan: 2 comparisons' in done.stderr
  # The cells' intervals are those of the recorded runs: t over the 2 fold means (1 degree of
  # freedom), on the logit scale.
  with open(tmp_path / 'ablation_kd_cells.csv') as f:
    rows = {int(r['trial']): r for r in csv.DictReader(f)}
  for trial in trials:
    runs = np.asarray(trial.user_attrs['run_accuracies'])
    assert runs.shape == (2, 2)  # 2 folds x 2 seeds.
    folds = runs.mean(axis=1)
    mean, sem = folds.mean(), folds.std(ddof=1) / math.sqrt(2)
    row = rows[trial.number]
    assert float(row['accuracy_mean']) == pytest.approx(mean)
    if sem and 0 < mean < 1:
      half = 12.706205 * sem / (mean * (1 - mean))  # t(0.975, 1) x the logit's sem.
      logit = math.log(mean / (1 - mean))
      assert float(row['accuracy_ci95_low']) == pytest.approx(
          1 / (1 + math.exp(-(logit - half))), abs=1e-6)
      assert float(row['accuracy_ci95_high']) == pytest.approx(
          1 / (1 + math.exp(-(logit + half))), abs=1e-6)
  with open(tmp_path / 'ablation_kd.csv') as f:
    compared = list(csv.DictReader(f))
  assert [(r['at'], r['units'], r['n_units']) for r in compared] == [('S', 'fold', '2'),
                                                                     ('XXS', 'fold', '2')]
  text = (tmp_path / 'ablation_kd.md').read_text()
  assert '4 of 4 cells finished' in text and '| S | distilled | not distilled |' in text
  assert (tmp_path / 'ablation_kd.png').stat().st_size > 0
  # compare reads the same study: its hypervolume is that of the cells' (mean, size) points.
  shown = run_in_process(cli.main, capfd, 'compare', f'{tmp_path}:ablation_kd', '--out',
                         tmp_path / 'compare')
  assert shown.returncode == 0, shown.stderr[-3000:]
  points = [t.values for t in trials]
  largest = max(size for _, size in points)
  hypervolume = pareto.hypervolume_2d(points, (0.0, largest), pareto.ACCURACY_SIZE)
  assert f'| {tmp_path}:ablation_kd | 4 | 4 |' in (tmp_path / 'compare' / 'compare.md').read_text()
  assert f'{hypervolume:.4g} |' in (tmp_path / 'compare' / 'compare.md').read_text()
  # Run again: every cell is finished, so nothing is trained and the study is unchanged.
  again = _ablate(capfd, 'kd', tmp_path, data_dir, *extra)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'student epoch' not in again.stdout + again.stderr
  # Resumed, it plans from its own finished cells.
  assert "Noise from this study's 4 finished cells (2 fold(s) x 2 seed(s))" in again.stderr
  assert len(optuna.load_study(study_name='ablation_kd', storage=storage.storage_url(
      '', str(tmp_path))).trials) == len(study.trials)


@pytest.mark.slow
def test_ablate_with_tuned_from_distills_each_size_with_its_front_neighbours_settings(
    tmp_path, data_dir, capfd):
  search = run_in_process(cli.main, capfd, 'run', '--config', 'configs/search_test.py',
                          '--workdir', tmp_path, f'--config.data.data_dir={data_dir}',
                          '--workers=1')
  assert search.returncode == 0, search.stderr[-3000:]
  done = _ablate(capfd, 'kd', tmp_path, data_dir, "--config.search.ablation.sizes=('XXS',)",
                 '--config.search.ablation.tuned_from=test')
  assert done.returncode == 0, done.stderr[-3000:]
  url = storage.storage_url('', str(tmp_path))
  config = search_test.get_config()
  config.search.ablation.sizes = ('XXS',)
  (size, temperature, lam), = tuning.tuned_table(
      config, optuna.load_study(study_name='test', storage=url).trials)
  assert size == 'XXS'
  cells = optuna.load_study(study_name='ablation_kd', storage=url).trials
  assert len(cells) == 2
  for cell in cells:
    assert cell.user_attrs['tuned'] == {'temperature': temperature, 'lam': lam}
    recorded = cell.user_attrs['config']['distill']
    assert (recorded['temperature'], recorded['lam']) == (temperature, lam)
  with open(tmp_path / 'ablation_kd_cells.csv') as f:
    assert {(float(r['temperature']), float(r['lam'])) for r in csv.DictReader(f)} == {
        (temperature, lam)}


@pytest.mark.slow
@pytest.mark.parametrize('kind, extra, cells', [
    ('pooling', ["--config.search.ablation.sizes=('XXS',)",
                 "--config.search.ablation.poolings=('v','p12')"], 4),
    ('temperature', ["--config.search.ablation.sizes=('XXS',)",
                     '--config.search.ablation.temperatures=(2.0,16.0)'], 2),
])
def test_ablate_pooling_and_temperature_end_to_end(tmp_path, data_dir, capfd, kind, extra,
                                                   cells):
  done = _ablate(capfd, kind, tmp_path, data_dir, *extra)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(tmp_path / f'ablation_{kind}_cells.csv') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == cells
  text = (tmp_path / f'ablation_{kind}.md').read_text()
  assert f'{cells} of {cells} cells finished' in text
  comparisons = cells // 2 if kind == 'pooling' else cells - 1
  with open(tmp_path / f'ablation_{kind}.csv') as f:
    assert len(list(csv.DictReader(f))) == comparisons
  assert f'over the {comparisons} comparisons' in text
  # The study cites the command as it was typed (docs/reproduction.md quotes it).
  study = optuna.load_study(study_name=f'ablation_{kind}',
                            storage=f'sqlite:///{tmp_path}/study.db')
  assert study.user_attrs['command'] == shlex.join(
      ['jaxfer-search', 'ablate', kind, '--config', 'configs/search_test.py', '--workdir',
       str(tmp_path), f'--config.data.data_dir={data_dir}', '--workers=1', *extra])


@pytest.mark.parametrize('args, message', [
    ([], 'ablate needs a KIND: pooling, kd or temperature'),
    (['kd', "--config.search.ablation.sizes=('XXL',)"],
     "config.search.ablation.sizes = ('XXL',) is not allowed; expected some of: M, S, XS, XXS"),
    (['dropout'], "the ablation 'dropout' does not exist; choose one of: pooling, kd, "
                  'temperature'),
    (['kd', '--config.search.ablation.target_margin=-1.0'],
     'config.search.ablation.target_margin = -1.0 is not allowed; expected a number > 0'),
])
def test_ablate_without_a_known_kind_or_with_bad_cells_is_one_line_and_creates_nothing(
    tmp_path, capfd, args, message):
  run_dir = tmp_path / 'run'
  done = run_in_process(cli.main, capfd, 'ablate', *args, '--config', 'configs/search_test.py',
                        '--workdir', run_dir)
  assert done.returncode == 2
  assert message in done.stderr and 'Traceback' not in done.stderr
  assert not run_dir.exists()


def test_ablation_files_are_named_after_their_study_and_never_shared():
  assert ablation.output_name('kd', 'ablation_kd') == 'ablation_kd'
  assert ablation.output_name('kd', 'abl_kd2') == 'ablation_kd_abl_kd2'
  assert ablation.output_name('kd', 'a/b') == 'ablation_kd_a%2Fb'  # Stays one file name.
  names = ['ablation_kd', 'abl_kd2', 'ablation_kd_x', 'x', 'a/b', 'a%2Fb', '']
  stems = {(kind, ablation.output_name(kind, name)) for kind in ablation.KINDS for name in names}
  assert len({stem for _, stem in stems}) == len(ablation.KINDS) * len(names)


def _kd_study(run_dir, name, accuracy):
  """A kd ablation's study as `ablate kd --study NAME` opens it, its two cells added by hand."""
  config = search_test.get_config()
  config.search.ablation.sizes = ('S',)
  study = workers.open_study(ablation.study_config(config, 'kd', name), str(run_dir))
  loss = optuna.distributions.CategoricalDistribution(('microexpnet', 'none'))
  size = optuna.distributions.CategoricalDistribution(('S',))
  for cell_loss, runs in (('microexpnet', [[accuracy, accuracy + 0.02]]), ('none', [[0.5, 0.52]])):
    study.add_trial(optuna.trial.create_trial(
        values=[float(np.mean(runs)), 100_000.0], params={'size': 'S', 'loss': cell_loss},
        distributions={'size': size, 'loss': loss}, user_attrs={'run_accuracies': runs}))
  return study


def test_two_kd_studies_in_one_run_directory_keep_their_own_files(tmp_path, capfd):
  ablation_report.write_ablation(_kd_study(tmp_path, 'ablation_kd', 0.7), 'kd', str(tmp_path))
  names = ('.csv', '_cells.csv', '.md')
  before = {name: (tmp_path / f'ablation_kd{name}').read_bytes() for name in names}
  _kd_study(tmp_path, 'abl_kd2', 0.9)
  done = run_in_process(cli.main, capfd, 'report', '--ablation', 'kd', '--study', 'abl_kd2',
                        '--config', 'configs/search_test.py', '--workdir', tmp_path,
                        "--config.search.ablation.sizes=('S',)")
  assert done.returncode == 0, done.stderr[-3000:]
  assert {name: (tmp_path / f'ablation_kd{name}').read_bytes() for name in names} == before
  with open(tmp_path / 'ablation_kd_abl_kd2_cells.csv') as f:
    assert sorted(float(r['accuracy_mean']) for r in csv.DictReader(f)) == pytest.approx(
        [0.51, 0.91])
  assert (tmp_path / 'ablation_kd_abl_kd2.png').stat().st_size > 0


def test_a_resume_with_other_settings_names_the_flag_every_command_honours(tmp_path):
  config = search_test.get_config()
  workers.open_study(ablation.study_config(config, 'kd'), str(tmp_path))
  config.search.seed += 1
  with pytest.raises(ValueError, match='started with another run config') as refused:
    workers.open_study(ablation.study_config(config, 'kd'), str(tmp_path))
  assert 'with --study NAME' in str(refused.value)
  assert 'study_name' not in str(refused.value)  # ablate ignores --config.search.study_name.


def test_ablation_csv_holds_one_row_per_comparison_and_the_cells_go_beside_it(tmp_path):
  paths = ablation_report.write_ablation(_kd_study(tmp_path, 'ablation_kd', 0.7), 'kd',
                                         str(tmp_path))
  assert paths['cells.csv'] == str(tmp_path / 'ablation_kd_cells.csv')
  with open(tmp_path / 'ablation_kd.csv') as f:
    reader = csv.DictReader(f)
    rows = list(reader)
  assert reader.fieldnames == [
      'at', 'first', 'second', 'difference_points', 'ci95_low_points', 'ci95_high_points', 't',
      'p', 'p_holm', 'd_z', 'units', 'n_units', 'mde80_points', 'ci90_low_points',
      'ci90_high_points', 'equivalence_bound_points', 'margin_points', 'p_equivalence_holm',
      'verdict']
  # One fold, 2 seeds: distilled 0.70, 0.72 against 0.50, 0.52, so +20 points on both seeds.
  (row,) = rows
  assert (row['at'], row['first'], row['second'], row['units'], row['n_units']) == (
      'S', 'distilled', 'not distilled', 'seed', '2')
  assert float(row['difference_points']) == pytest.approx(20.0)
  assert float(row['margin_points']) == 2.0  # The study recorded the config's margin.
  assert row['verdict'] == 'differs'
  with open(tmp_path / 'ablation_kd_cells.csv') as f:
    assert sorted(float(r['accuracy_mean']) for r in csv.DictReader(f)) == pytest.approx(
        [0.51, 0.71])


def _pooling_cells(folds=10, seeds=1):
  """The CK+48 pooling ablation's 32 cells (4 sizes x 4 variants x 2 losses) from fixed noise:
  24 comparisons with every variant against v."""
  rng = np.random.default_rng(0)
  cells = []
  # About the sizes of the CK+48 students, 260 KB to 4 MB: a log axis over more than a decade.
  bytes_of = {'M': 4_011_232, 'S': 1_400_000, 'XS': 600_000, 'XXS': 285_472}
  for size in ('M', 'S', 'XS', 'XXS'):
    for loss in ('microexpnet', 'none'):
      for pooling in ('v', 'p1', 'p2', 'p12'):
        runs = (0.7 + 0.03 * rng.standard_normal((folds, seeds))).tolist()
        cells.append(_cell(len(cells), bytes_of[size], runs, size=size, loss=loss,
                           pooling=pooling))
  return ablation.cells_of([
      optuna.trial.create_trial(
          values=[0.7, c.size_bytes], params=c.params, user_attrs={'run_accuracies': c.runs},
          distributions={name: optuna.distributions.CategoricalDistribution([value])
                         for name, value in c.params.items()}) for c in cells])


def test_the_markdown_counts_the_verdicts_and_says_the_fold_is_the_unit():
  cells = _pooling_cells()
  found = ablation.comparisons('pooling', cells, margin=0.02)
  assert len(found) == 24
  text = ablation_report.markdown('pooling', cells, found, expected_cells=32)
  counts = {v: sum(c.verdict == v for c in found) for v in equivalence.VERDICTS}
  assert sum(counts.values()) == 24
  mdes = [100 * c.mde80 for c in found]
  assert f'(MDE {min(mdes):.1f} to {max(mdes):.1f} points).' in text
  assert f'{counts[equivalence.INCONCLUSIVE]} inconclusive' in text
  assert '| MDE (points) | 90% interval | bound | p equivalence (Holm) | verdict |' in text
  assert 'The fold is the unit' in text and 'more seeds per fold cannot average it away' in text
  first = found[0]
  assert (f'| {first.group} | {first.first} | v | {100 * first.difference.mean:+.1f} |' in text
          and f'{100 * first.mde80:.1f} | {100 * first.low90:+.1f} to {100 * first.high90:+.1f} '
          f'| {100 * first.equivalence_bound:+.1f} |' in text)


def test_the_forest_plot_of_24_comparisons_draws_no_label_over_another(monkeypatch):
  from search import figures  # pylint: disable=g-import-not-at-top
  cells = _pooling_cells()
  found = ablation.comparisons('pooling', cells, margin=0.02)
  fig = ablation_report.draw('pooling', cells, found, 0.02)
  forest = fig.axes[-1]
  assert len(forest.get_yticklabels()) == 24
  assert [t.get_text() for t in forest.texts] == [c.verdict for c in found]
  assert figures.overlapping_labels(fig) == []
  figures.pyplot().close(fig)
  # The height per row is what keeps them apart: squeezed, the labels collide.
  monkeypatch.setattr(ablation_report, 'ROW_HEIGHT', 0.04)
  squeezed = ablation_report.draw('pooling', cells, found, 0.02)
  assert figures.overlapping_labels(squeezed)
  figures.pyplot().close(squeezed)


def test_the_power_plan_takes_the_noise_of_the_noise_from_study_and_computes_it_by_hand(
    tmp_path):
  config = search_test.get_config()
  config.search.update(replicates=2)
  config.search.ablation.update(sizes=('S', 'XXS'), noise_from='source')
  source = workers.open_study(ablation.study_config(config, 'kd', 'source'), str(tmp_path))
  loss = optuna.distributions.CategoricalDistribution(('microexpnet', 'none'))
  size = optuna.distributions.CategoricalDistribution(('S', 'XXS'))
  runs = {('S', 'none'): [[0.60, 0.64], [0.70, 0.72]],
          ('S', 'microexpnet'): [[0.66, 0.68], [0.70, 0.76]],
          ('XXS', 'none'): [[0.50, 0.50], [0.56, 0.60]],
          ('XXS', 'microexpnet'): [[0.58, 0.54], [0.60, 0.60]]}
  for (cell_size, cell_loss), cell_runs in runs.items():
    source.add_trial(optuna.trial.create_trial(
        values=[float(np.mean(cell_runs)), 100_000.0],
        params={'size': cell_size, 'loss': cell_loss}, distributions={'size': size, 'loss': loss},
        user_attrs={'run_accuracies': cell_runs}))
  lines = ablation.plan(ablation.study_config(config, 'pooling'), 'pooling', str(tmp_path))
  # Seed SD: each (cell, fold) pair of seeds adds (a - b)^2 / 2, over 8 degrees of freedom.
  squares = sum((f[0] - f[1])**2 / 2 for cell_runs in runs.values() for f in cell_runs)
  seed_sd = math.sqrt(squares / 8)
  # Per-fold differences (distilled - not): S 0.05, 0.02; XXS 0.06, 0.02; one df each.
  pooled = ((0.05 - 0.02)**2 / 2 + (0.06 - 0.02)**2 / 2) / 2
  interaction = math.sqrt(max(0.0, pooled - 2 * seed_sd**2 / 2))
  assert lines[0].startswith('Power plan: 12 comparisons, Holm family; planning level 5% / 12 '
                             '= 0.00417')
  assert (f"Noise from the study 'source' (4 finished cells) (2 fold(s) x 2 seed(s)): seed SD "
          f'{100 * seed_sd:.1f} points') in lines[1]
  assert f'fold-by-cell interaction SD {100 * interaction:.1f} points' in lines[1]
  mde = equivalence.mde80(math.sqrt(interaction**2 + 2 * seed_sd**2 / 2), 2, 0.05 / 12)
  assert lines[2] == f'MDE with 80% power at 2 folds x 2 seed(s): {100 * mde:.1f} points.'
  # Two folds: the interaction alone puts the MDE above 2 points, whatever the seeds.
  assert equivalence.seeds_needed(seed_sd, interaction, 2, 0.02, 0.05 / 12) is None
  floor = equivalence.mde80(interaction, 2, 0.05 / 12)
  folds = equivalence.folds_needed(math.sqrt(interaction**2 + seed_sd**2), 0.02, 0.05 / 12)
  assert lines[3] == (
      'No number of seeds per fold detects ±2 points: the fold-by-cell interaction alone gives '
      f'an MDE of {100 * floor:.1f} points at 2 folds, and more seeds cannot average it away; '
      f'{folds} folds would at 2 seed(s).')
  config.search.ablation.noise_from = 'missing'
  with pytest.raises(ValueError, match="config.search.ablation.noise_from = 'missing': no study"):
    ablation.plan(ablation.study_config(config, 'pooling'), 'pooling', str(tmp_path))
