"""Report data of a study built from fixed trials: front, knee, hypervolume history, tables."""
import csv
import re
import shutil
import subprocess
import sys

import numpy as np
import optuna
import PIL.Image
import pytest

from conftest import REPO
import search
from search import pareto
from search import report

# (accuracy, size_bytes, temperature, width) of completed trials, then one pruned trial.
POINTS = [(0.60, 50_000, 2.0, 0.5), (0.80, 260_000, 8.0, 1.0), (0.70, 300_000, 4.0, 1.2),
          (0.85, 1_000_000, 16.0, 2.0), (0.75, 120_000, 8.0, 0.7)]


def _trials():
  distributions = {'temperature': optuna.distributions.FloatDistribution(1, 64, log=True),
                   'width': optuna.distributions.FloatDistribution(0.5, 4, log=True)}
  trials = [optuna.trial.create_trial(values=[a, s], params={'temperature': t, 'width': w},
                                      distributions=distributions, user_attrs={'params': s // 4})
            for a, s, t, w in POINTS]
  trials.append(optuna.trial.create_trial(
      state=optuna.trial.TrialState.PRUNED, params={'temperature': 1.0, 'width': 3.0},
      distributions=distributions, user_attrs={'pruned_reason': 'cannot reach the front'}))
  trials.insert(2, optuna.trial.create_trial(  # Crashed: not counted as a trial in histories.
      state=optuna.trial.TrialState.FAIL, params={'temperature': 2.0, 'width': 1.0},
      distributions=distributions))
  study = optuna.create_study(directions=['maximize', 'minimize'])
  study.add_trials(trials)
  return study.trials


# Okabe-Ito blue, vermillion and orange, as the plots use them (search/figures.py).
BLUE, RED, ORANGE = (0x00, 0x72, 0xb2), (0xd5, 0x5e, 0x00), (0xe6, 0x9f, 0x00)


def _image(path):
  return np.asarray(PIL.Image.open(path).convert('RGB')).astype(int)


def _pixels_of(image, colour, tolerance=12):
  """How many pixels of `image` have `colour` (within `tolerance` on every channel)."""
  return int(np.sum(np.all(np.abs(image - np.array(colour)) <= tolerance, axis=-1)))


def test_front_info_marks_the_front_and_its_knee():
  info = pareto.front_info(_trials())
  assert info.numbers == [0, 1, 3, 4, 5]
  assert info.on_front.tolist() == [True, True, False, True, True]  # (0.70, 300k) is dominated.
  assert info.knee == search.knee_index([p[:2] for p in POINTS], pareto.ACCURACY_SIZE)
  assert info.labels[1] == 'T=8 w=1.00'


def test_hypervolume_history_grows_to_the_hypervolume_of_all_trials():
  trials = _trials()
  reference = pareto.reference_point(1_100_000)
  history = pareto.hypervolume_history(trials, reference)
  assert len(history) == 6 and all(np.diff(history) >= 0)  # 5 completed, 1 pruned; not the failed.
  assert history[0] == pytest.approx(0.60 * (1_100_000 - 50_000))
  final = search.hypervolume_2d([p[:2] for p in POINTS], reference, pareto.ACCURACY_SIZE)
  assert history[-1] == pytest.approx(final)


def test_tables_hold_every_trial_and_the_front(tmp_path):
  trials = _trials()
  rows = report.trial_rows(trials, ('accuracy', 'size'))
  assert [r['state'] for r in rows] == ['complete'] * 2 + ['failed'] + ['complete'] * 3 + ['pruned']
  assert rows[6]['pruned_reason'] == 'cannot reach the front' and rows[6]['accuracy'] == ''
  assert [r['on_front'] for r in rows] == [True, True, False, False, True, True, False]
  report.write_pareto_csv(str(tmp_path / 'pareto.csv'), pareto.front_info(trials), trials)
  with open(tmp_path / 'pareto.csv') as f:
    front = list(csv.DictReader(f))
  assert [int(r['size_bytes']) for r in front] == [50_000, 120_000, 260_000, 1_000_000]
  assert [r['number'] for r in front] == ['0', '5', '1', '4']
  assert sum(r['knee'] == 'True' for r in front) == 1


def test_write_report_writes_every_file_and_compares_with_the_grid(tmp_path):
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='toy')
  study.add_trials([optuna.trial.create_trial(values=list(t.values), params=t.params,
                                              distributions=t.distributions)
                    for t in _trials() if t.values])
  grid = optuna.create_study(directions=['maximize', 'minimize'], study_name='grid')
  grid.add_trials([optuna.trial.create_trial(values=[0.5, 260_000], params={}, distributions={}),
                   optuna.trial.create_trial(values=[0.7, 900_000], params={}, distributions={})])
  paths = report.write_report(study, str(tmp_path), 1_100_000, baseline=grid)
  # 5 completed trials of 2 parameters: fewer than 5 per parameter, so no importances.
  assert set(paths) == {'trials.csv', 'pareto.csv', 'pareto.png', 'pareto.pdf', 'pareto.svg',
                        'pareto.html', 'hypervolume.png', 'report.md'}
  assert (tmp_path / 'pareto.pdf').read_bytes().startswith(b'%PDF')
  # The figures draw what they should: the front in blue, its knee circled in vermillion, the
  # grid's front dashed in orange; the hypervolume curves of both studies.
  front = _image(tmp_path / 'pareto.png')
  assert front.shape[:2] == (780, 1425)
  assert _pixels_of(front, BLUE) > 100 and _pixels_of(front, RED) > 20
  assert _pixels_of(front, ORANGE, tolerance=50) > 100  # A thin dashed line: anti-aliased.
  curves = _image(tmp_path / 'hypervolume.png')
  assert _pixels_of(curves, BLUE) > 100 and _pixels_of(curves, ORANGE, tolerance=50) > 100
  text = (tmp_path / 'report.md').read_text()
  grid_final = search.hypervolume_2d([(0.5, 260_000), (0.7, 900_000)], (0, 1_100_000),
                                     pareto.ACCURACY_SIZE)
  assert f'The grid (paper) baseline reached {grid_final:.6g} after 2 trials' in text
  # The first trial (0.60 at 50 kB) alone already beats the grid's hypervolume.
  assert 'reached the grid\'s final hypervolume after 1 trials' in text
  # One run each: no interval, no fitted front.
  assert '| 2 | 4 | 75.00 |  |  | 120,000 | T=8 w=0.70 |' in text
  assert 'No trial has 2 or more runs on a fold, so the seed noise is unknown' in text
  assert ('Parameter importances are not reported: 5 completed trials for 2 searched '
          'parameters; they are reported from 5 completed trials per parameter (10)') in text
  assert 'grid (paper) front' in (tmp_path / 'pareto.html').read_text()
  assert paths['report.md'] == str(tmp_path / 'report.md')


def test_a_study_without_completed_trials_gets_a_report_that_says_so(tmp_path):
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='empty')
  study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={},
                                            distributions={}))
  paths = report.write_report(study, str(tmp_path), 1_100_000)
  assert set(paths) == {'trials.csv', 'report.md'}
  text = (tmp_path / 'report.md').read_text()
  assert '1 trials: 1 failed.' in text and 'No trial has completed yet' in text
  assert not (tmp_path / 'pareto.png').exists()


def test_importances_explain_accuracy_by_the_parameter_that_drives_it():
  # Accuracy follows temperature exactly and ignores width: fANOVA must say so (Optuna 5's
  # default evaluator ranks what makes a target low, the wrong way round for accuracy).
  rng = np.random.default_rng(0)
  distributions = {'temperature': optuna.distributions.FloatDistribution(1, 64),
                   'width': optuna.distributions.FloatDistribution(0.5, 4)}
  study = optuna.create_study(directions=['maximize', 'minimize'])
  for temperature, width in rng.uniform([1, 0.5], [64, 4], size=(20, 2)):
    study.add_trial(optuna.trial.create_trial(
        values=[temperature / 64, 1000.0], params={'temperature': temperature, 'width': width},
        distributions=distributions))
  weights = report.importances(study)
  assert weights['temperature'] > 0.9 > 0.1 > weights['width']


CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.mark.skipif(CHROMIUM is None, reason='no chromium on PATH (Debian: apt install chromium)')
def test_pareto_html_draws_every_trial_in_a_browser_without_network(tmp_path):
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='toy')
  study.add_trials([t for t in _trials() if t.state == optuna.trial.TrialState.COMPLETE])
  report.write_report(study, str(tmp_path), 1_100_000)
  page = tmp_path / 'pareto.html'
  assert not re.search(r'<script[^>]+src="https?:', page.read_text())  # Nothing to download.
  # Any request the page makes goes to a proxy that does not exist, as on an offline node.
  done = subprocess.run(
      [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
       '--disable-background-networking', '--disable-component-update', '--disable-sync',
       '--proxy-server=127.0.0.1:9', f'--user-data-dir={tmp_path / "profile"}',
       '--virtual-time-budget=10000', '--dump-dom', page.as_uri()],
      capture_output=True, text=True, timeout=180)
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'class="main-svg"' in done.stdout  # Plotly ran and drew the figure.
  assert done.stdout.count('class="point"') == len(POINTS)  # One marker per completed trial.


def _main_job_like_study(trials=10, seed=0):
  """A study shaped like the main job's: width, temperature and lambda, 2 seeds per trial,
  accuracy rising steeply with size and then levelling off."""
  rng = np.random.default_rng(seed)
  distributions = {'temperature': optuna.distributions.FloatDistribution(1, 64, log=True),
                   'width': optuna.distributions.FloatDistribution(0.5, 2, log=True),
                   'lam': optuna.distributions.FloatDistribution(0, 1)}
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='main-like')
  for _ in range(trials):
    width = float(np.exp(rng.uniform(np.log(0.5), np.log(2))))
    size = int(253_936 * width**2 + 6_064 * width)
    truth = 0.69 - 0.13 * np.exp(-np.log(size / 66_528) / 0.9)
    runs = [[float(np.round(rng.normal(truth, 0.025) * 600) / 600) for _ in range(2)]]
    study.add_trial(optuna.trial.create_trial(
        values=[float(np.mean(runs)), size],
        params={'temperature': float(np.exp(rng.uniform(0, np.log(64)))), 'width': width,
                'lam': float(rng.uniform())},
        distributions=distributions,
        user_attrs={'run_accuracies': runs, 'params': size // 4, 'test_images': [600]}))
  return study


def test_pareto_figure_draws_no_label_over_another_and_keeps_the_axis_to_the_data():
  from search import analysis  # pylint: disable=g-import-not-at-top
  from search import figures  # pylint: disable=g-import-not-at-top
  for seed in range(3):
    study = _main_job_like_study(seed=seed)
    info = pareto.front_info(study.trials)
    stats = analysis.analyse(study.trials, info, draws=200)
    info = report.interval_info(info, stats.intervals)
    fig = report.draw_pareto(info, stats, title='main-like')
    assert figures.overlapping_labels(fig) == []
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert 0 <= low and high <= 100
    values = np.concatenate([100 * info.accuracy, 100 * stats.fit.low, 100 * stats.fit.high])
    assert low <= values.min() and values.max() <= high and high - low < 40
    assert ax.get_xscale() == 'log' and 'KB' in ax.get_xlabel()
    texts = [t.get_text() for t in fig.texts]
    assert any('seed-noise model (' in t and 'df' in t for t in texts)  # The caption line.
    assert any(t.startswith('Front trials\n1: trial ') for t in texts)  # The key.
    figures.pyplot().close(fig)


def test_the_caption_names_the_faces_the_study_was_scored_on():
  from search import analysis  # pylint: disable=g-import-not-at-top
  from search import figures  # pylint: disable=g-import-not-at-top
  study = _main_job_like_study()
  info = pareto.front_info(study.trials)
  stats = analysis.analyse(study.trials, info, draws=50)
  assert 'conditional on the 600 test faces (another test set' in report.caption_text(stats)
  validation = report.caption_text(stats, 'validation')
  assert 'conditional on the 600 validation faces (another validation set' in validation
  assert 'test' not in validation
  fig = report.draw_pareto(report.interval_info(info, stats.intervals), stats,
                           evaluated_on='validation')
  assert any('600 validation faces' in t.get_text() for t in fig.texts)
  assert fig.axes[0].get_ylabel() == 'validation accuracy (%)'
  figures.pyplot().close(fig)


def test_pareto_csv_and_front_fit_csv_carry_the_fitted_front(tmp_path):
  study = _main_job_like_study()
  paths = report.write_report(study, str(tmp_path), 1_100_000)
  with open(paths['pareto.csv']) as f:
    front = list(csv.DictReader(f))
  with open(paths['front_fit.csv']) as f:
    grid = list(csv.DictReader(f))
  assert len(grid) == 40
  sizes = [float(r['size_bytes']) for r in grid]
  assert sizes == sorted(sizes)
  for row in front + grid:
    low, mean, high = (float(row[k]) for k in ('band_low', 'fitted_accuracy', 'band_high'))
    assert low <= mean <= high
  for row in front:  # Each trial's own interval from the noise model, inside 0..1.
    assert 0 < float(row['accuracy_ci95_low']) < float(row['accuracy_ci95_high']) < 1
  text = (tmp_path / 'report.md').read_text()
  assert 'From it: accuracy stops rising' in text and 'winner\'s curse' in text
  assert 'conditional on the test set' in text and 'these 600 test faces' in text


def test_hypervolume_figure_draws_no_label_over_another():
  from search import figures  # pylint: disable=g-import-not-at-top
  history = list(np.cumsum(np.linspace(1e5, 1e4, 30)))
  fig = report.draw_hypervolume(history, history[:20], 'reference: accuracy 0, 1,100,000 bytes')
  assert figures.overlapping_labels(fig) == []
  figures.pyplot().close(fig)


def test_pareto_figure_with_twenty_front_points_keeps_its_key_clear_of_the_caption():
  from search import analysis  # pylint: disable=g-import-not-at-top
  from search import figures  # pylint: disable=g-import-not-at-top
  distributions = {'width': optuna.distributions.FloatDistribution(0.5, 2, log=True)}
  study = optuna.create_study(directions=['maximize', 'minimize'], study_name='many')
  for k in range(20):  # Every trial on the front: larger and more accurate.
    study.add_trial(optuna.trial.create_trial(
        values=[0.5 + 0.01 * k, 60_000 * 1.15**k], params={'width': 0.5 * 1.07**k},
        distributions=distributions,
        user_attrs={'run_accuracies': [[0.5 + 0.01 * k - 0.01, 0.5 + 0.01 * k + 0.01]]}))
  info = pareto.front_info(study.trials)
  stats = analysis.analyse(study.trials, info, draws=100)
  fig = report.draw_pareto(report.interval_info(info, stats.intervals), stats)
  key = next(t.get_text() for t in fig.texts if t.get_text().startswith('Front trials'))
  assert key.endswith('... 4 more in pareto.csv')
  assert figures.overlapping_labels(fig) == []
  figures.pyplot().close(fig)


def test_the_objective_imports_no_report_or_plotting_code():
  # In a fresh interpreter: this test process has imported the report already.
  probe = ('import search.objective, sys; print(sorted(m for m in sys.modules if '
           "m.split('.')[0] == 'matplotlib' or m in ('search.report', 'search.figures', "
           "'search.ablation_report', 'search.compare', 'search.analysis')))")
  done = subprocess.run([sys.executable, '-c', probe], cwd=REPO, capture_output=True, text=True,
                        check=True)
  assert done.stdout.strip() == '[]'
