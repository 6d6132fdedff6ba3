"""`jaxfer-search compare`: fronts of several studies, hypervolumes at a shared reference point
with bootstrap intervals, read-only on the studies."""
import csv
import subprocess

import numpy as np
import optuna
import pytest

from conftest import REPO, file_times, run_in_process, search_command
from configs import search_test
from search import cli
from search import compare
from search import pareto
from search import storage
from search import workers

# (accuracy runs [fold][seed], size) of two hand-built studies.
STUDIES = {
    'pooled': [([[0.70, 0.74], [0.66, 0.70]], 100_000), ([[0.80, 0.82], [0.78, 0.84]], 400_000),
               ([[0.60, 0.62], [0.58, 0.60]], 500_000)],
    'plain': [([[0.72, 0.72], [0.72, 0.72]], 200_000), ([[0.75, 0.79], [0.77, 0.81]], 800_000)],
}


def _make_studies(run_dir):
  run_dir.mkdir()
  url = storage.storage_url('', str(run_dir))
  for name, trials in STUDIES.items():
    study = optuna.create_study(study_name=name, storage=url,
                                directions=list(pareto.ACCURACY_SIZE))
    for runs, size in trials:
      study.add_trial(optuna.trial.create_trial(
          values=[float(np.mean(runs)), float(size)], params={},
          distributions={}, user_attrs={'run_accuracies': runs}))


def test_bootstrap_of_equal_runs_is_the_hypervolume_and_samples_stay_between_extremes():
  runs = [[0.5, 0.5, 0.5], [0.8, 0.8]]
  sizes = [100.0, 300.0]
  exact = pareto.hypervolume_2d([[0.5, 100.0], [0.8, 300.0]], (0.0, 400.0), pareto.ACCURACY_SIZE)
  assert np.all(pareto.hypervolume_bootstrap(runs, sizes, (0.0, 400.0), samples=50) == exact)
  runs = [[0.4, 0.6], [0.7, 0.9]]
  samples = pareto.hypervolume_bootstrap(runs, sizes, (0.0, 400.0), samples=200)
  lowest = pareto.hypervolume_2d([[0.4, 100.0], [0.7, 300.0]], (0.0, 400.0),
                                 pareto.ACCURACY_SIZE)
  highest = pareto.hypervolume_2d([[0.6, 100.0], [0.9, 300.0]], (0.0, 400.0),
                                  pareto.ACCURACY_SIZE)
  assert lowest <= samples.min() and samples.max() <= highest
  assert samples.min() < samples.max()  # The runs differ, so the resamples do.


@pytest.mark.slow
def test_compare_writes_both_fronts_and_hypervolumes_at_a_shared_reference(tmp_path):
  _make_studies(tmp_path / 'run')
  before = file_times(tmp_path / 'run')
  out = tmp_path / 'out'
  done = subprocess.run(search_command('compare', f'{tmp_path}/run:pooled',
                                       f'{tmp_path}/run:plain', '--out', str(out)),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert file_times(tmp_path / 'run') == before  # The studies were only read.
  text = (out / 'compare.md').read_text()
  # Reference: accuracy 0 and the largest student of both studies, 800,000 bytes.
  assert 'reference point accuracy 0 and 800,000 bytes' in text
  expected = {}
  for name, trials in STUDIES.items():
    points = [[np.mean(runs), size] for runs, size in trials]
    expected[name] = pareto.hypervolume_2d(points, (0.0, 800_000.0), pareto.ACCURACY_SIZE)
    assert f'| {tmp_path}/run:{name} | {len(trials)} | 4 |' in text
    assert f'{expected[name]:.4g} |' in text
  # pooled: 0.70 at 100 KB and 0.81 at 400 KB are the front; 0.60 at 500 KB is dominated.
  assert expected['pooled'] == pytest.approx(0.70 * 700_000 + (0.81 - 0.70) * 400_000)
  with open(out / 'compare.csv') as f:
    rows = list(csv.DictReader(f))
  assert [(r['study'].rsplit(':', 1)[1], r['on_front']) for r in rows] == [
      ('pooled', 'True'), ('pooled', 'True'), ('pooled', 'False'), ('plain', 'True'),
      ('plain', 'True')]
  assert (out / 'compare.png').stat().st_size > 0


@pytest.mark.parametrize('sources, message', [
    (['{run}'], 'holds 2 studies (pooled, plain); name one as {run}:STUDY'),
    (['{run}:missing'], "no study named 'missing' in sqlite:///{run}/study.db; the storage "
                        "holds: 'pooled', 'plain'"),
    (['pooled'], 'pooled is neither a run directory nor RUN_DIR:STUDY; a study name needs '
                 '--storage or --workdir'),
])
def test_compare_with_a_source_that_is_not_one_study_is_one_line_and_creates_nothing(
    tmp_path, capfd, sources, message):
  run = tmp_path / 'run'
  _make_studies(run)
  done = run_in_process(cli.main, capfd, 'compare', *[s.format(run=run) for s in sources],
                        '--out', tmp_path / 'out')
  assert done.returncode == 2
  assert message.format(run=run) in done.stderr and 'Traceback' not in done.stderr
  assert not (tmp_path / 'out').exists()


def test_compare_names_studies_by_name_in_the_run_directory(tmp_path, capfd):
  _make_studies(tmp_path / 'run')
  done = run_in_process(cli.main, capfd, 'compare', 'plain', '--workdir', tmp_path / 'run',
                        '--out', tmp_path / 'out')
  assert done.returncode == 0, done.stderr[-3000:]
  assert '| plain | 2 | 4 | 2 |' in (tmp_path / 'out' / 'compare.md').read_text()


def _opened_study(run_dir, name, objectives, points):
  """A study as `jaxfer-search run` opens it (its run config recorded), trials added by hand."""
  config = search_test.get_config()
  config.search.update(study_name=name, objectives=objectives)
  study = workers.open_study(config, str(run_dir))
  for values in points:
    study.add_trial(optuna.trial.create_trial(values=list(values), params={}, distributions={}))
  return study


def test_compare_says_which_objectives_it_leaves_out_and_overwrites_only_when_asked(tmp_path,
                                                                                   capfd):
  run = tmp_path / 'run'
  _opened_study(run, 'fast', ('accuracy', 'size', 'latency'),
                [(0.7, 100_000.0, 1.5), (0.8, 300_000.0, 4.0)])
  _opened_study(run, 'plain', ('accuracy', 'size'), [(0.75, 200_000.0)])
  out = tmp_path / 'out'
  command = ['compare', f'{run}:fast', f'{run}:plain', '--out', out]
  done = run_in_process(cli.main, capfd, *command)
  assert done.returncode == 0, done.stderr[-3000:]  # Same dataset: compared.
  text = (out / 'compare.md').read_text()
  assert f'Compared on accuracy and size only: {run}:fast also has the objective latency_ms, ' \
         'left out here' in text
  assert f'{run}:plain also has' not in text
  first = file_times(out)
  again = run_in_process(cli.main, capfd, *command)
  assert again.returncode == 2 and f'--out {out} is not empty' in again.stderr
  assert file_times(out) == first
  replaced = run_in_process(cli.main, capfd, *command, '--overwrite')
  assert replaced.returncode == 0, replaced.stderr[-3000:]
  assert sorted(file_times(out)) == ['compare.csv', 'compare.md', 'compare.png']
  assert all(file_times(out)[name] != first[name] for name in first)
  assert not [p for p in tmp_path.iterdir() if p.name.startswith('.out')]  # No staging left.


def test_compare_refuses_studies_of_different_datasets_naming_them(tmp_path):
  config = search_test.get_config()
  studies = []
  for name, fold_seed in (('a', 0), ('b', 3)):
    config.search.study_name = name
    config.data.fold_seed = fold_seed
    studies.append((name, workers.open_study(config, str(tmp_path))))
  with pytest.raises(ValueError, match='different datasets.*a: data.name=synthetic_faces, '
                     'data.fold_seed=0; b: data.name=synthetic_faces, data.fold_seed=3'):
    compare.check_same_data(studies)
  compare.check_same_data(studies[:1] + [('old', optuna.create_study())])  # Not recorded.


def _in_memory_study(validation_fraction):
  study = optuna.create_study(directions=list(pareto.ACCURACY_SIZE))
  for accuracy, size in ((0.6, 100_000), (0.7, 300_000)):
    study.add_trial(optuna.trial.create_trial(
        values=[accuracy, float(size)], params={}, distributions={},
        user_attrs={'run_accuracies': [[accuracy]],
                    'config': {'data': {'validation_fraction': validation_fraction}}}))
  return study


def test_the_axis_and_the_summary_name_the_faces_the_studies_chose_on():
  chose_on_validation = [('families', _in_memory_study(0.1)), ('baseline', _in_memory_study(0.1))]
  found, reference = compare.compare(chose_on_validation)
  assert compare.accuracy_label(found) == 'validation accuracy (%)'
  assert "Accuracy is measured on each study's validation faces." in compare.markdown(
      found, reference)
  mixed, reference = compare.compare([('families', _in_memory_study(0.1)),
                                      ('old', _in_memory_study(0.0))])
  assert compare.accuracy_label(mixed) == 'accuracy (%): families on validation, old on test'
  assert ('different faces (families: validation, old: test), so the fronts compare only '
          'roughly') in compare.markdown(mixed, reference)
