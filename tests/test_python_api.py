"""The Python API as documented: `import jaxfer` is light, and the examples of docs/python_api.md
and the README run as written and agree with the files and studies they read."""
import json
import os
import re
import subprocess
import sys
import warnings

import cv2
import numpy as np
import optuna
import pytest

from conftest import REPO, write_untrained_student
import jaxfer

# A study as `jaxfer-search run` leaves it: (accuracy, size in bytes, 95% interval, width).
TRIALS = [(0.60, 70_000, (0.55, 0.65), 0.5), (0.70, 300_000, (0.66, 0.74), 1.5),
          (0.65, 400_000, (0.60, 0.70), 2.0), (0.50, 100_000, (0.45, 0.55), 0.7)]
FRONT = [0, 1]  # Trial 2 is larger and worse than 1, trial 3 larger and worse than 0.


def _python_blocks(path: str) -> list[str]:
  with open(path) as f:
    return re.findall(r'^```python\n(.*?)^```', f.read(), re.S | re.M)


def _make_study(run_dir: str) -> None:
  os.makedirs(run_dir)
  study = optuna.create_study(study_name='default', storage=f'sqlite:///{run_dir}/study.db',
                              directions=['maximize', 'minimize'])
  with warnings.catch_warnings():  # Experimental in Optuna, and used as `run` uses it.
    warnings.simplefilter('ignore', optuna.exceptions.ExperimentalWarning)
    study.set_metric_names(['accuracy', 'size_bytes'])
  for accuracy, size, (low, high), width in TRIALS:
    study.add_trial(optuna.trial.create_trial(
        values=[accuracy, size], params={'width': width},
        distributions={'width': optuna.distributions.FloatDistribution(0.5, 2.0, log=True)},
        user_attrs={'accuracy_mean': accuracy, 'accuracy_ci95_low': low,
                    'accuracy_ci95_high': high}))


@pytest.fixture
def example_folder(tmp_path, data_dir, monkeypatch):
  """A folder set up as the repository's, for the examples: configs/, the synthetic faces
  already rendered (TFDS_DATA_DIR, which config.data.data_dir='' reads), and runs/search."""
  os.symlink(os.path.join(REPO, 'configs'), tmp_path / 'configs')
  monkeypatch.setenv('TFDS_DATA_DIR', str(data_dir))
  monkeypatch.chdir(tmp_path)
  _make_study(str(tmp_path / 'runs' / 'search'))
  return tmp_path


def _run_blocks(path: str) -> dict:
  namespace = {'__name__': '__example__'}
  blocks = _python_blocks(path)
  assert blocks, f'{path} has no python example'
  for block in blocks:
    exec(compile(block, path, 'exec'), namespace)  # pylint: disable=exec-used
  return namespace


def test_import_jaxfer_loads_neither_jax_nor_optuna_and_lists_its_entry_points():
  done = subprocess.run(
      [sys.executable, '-c', 'import sys, jaxfer; '
       'print(sorted({"jax", "optuna", "flax"} & set(sys.modules)), jaxfer.__all__)'],
      capture_output=True, text=True, cwd=REPO, check=True)
  loaded, names = done.stdout.split(' ', 1)[0], done.stdout
  assert loaded == '[]', done.stdout
  assert all(callable(getattr(jaxfer, name)) for name in jaxfer.__all__)
  assert {'train_and_evaluate', 'load_model', 'predict_arrays', 'predict_files', 'open_study',
          'pareto_front'} <= set(jaxfer.__all__), names


@pytest.mark.slow
def test_the_python_api_example_runs_as_written_and_agrees_with_its_files(example_folder,
                                                                           capsys):
  namespace = _run_blocks(os.path.join(REPO, 'docs', 'python_api.md'))
  printed = capsys.readouterr().out
  with open(example_folder / 'runs' / 'api_example' / 'result.json') as f:
    recorded = json.load(f)
  result = namespace['result']
  assert result.accuracy == recorded['accuracy'] and result.target == 'student'
  assert f'{result.accuracy:.1%} with {result.params:,} parameters' in printed
  # The faces in memory and the same faces read back from PNG files get the same labels.
  predictions, outcome = namespace['predictions'], namespace['outcome']
  assert predictions.probabilities.shape == (4, len(predictions.class_names))
  np.testing.assert_allclose(predictions.probabilities.sum(axis=1), 1.0, rtol=1e-6)
  assert [os.path.basename(face.path) for face in outcome.faces] == [
      f'face_{number}.png' for number in range(4)]
  assert [face.label for face in outcome.faces] == predictions.labels
  np.testing.assert_allclose([face.probabilities for face in outcome.faces],
                             predictions.probabilities, atol=1e-6)
  # The front: the non-dominated trials, smallest first, with their recorded intervals.
  front = jaxfer.pareto_front(namespace['study'])
  assert [point.number for point in front] == FRONT
  assert [(point.accuracy_low, point.accuracy_high) for point in front] == [
      TRIALS[number][2] for number in FRONT]
  assert 'trial 1: 70.0% at 300,000 bytes (95% interval 66.0% to 74.0%)' in printed


def test_predict_arrays_reads_colour_as_rgb_and_matches_the_gray_image(tmp_path):
  student = _untrained_student(tmp_path)
  rng = np.random.default_rng(1)
  gray = rng.integers(0, 256, size=(3, 40, 40), dtype=np.uint8)
  rgb = np.repeat(gray[..., None], 3, axis=-1)
  rgb[..., 0] = 255 - gray  # A red channel unlike the others: RGB and BGR readings differ.
  as_gray = np.stack([cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
                      for image in rgb])
  as_if_bgr = np.stack([cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
                        for image in rgb])
  assert not np.array_equal(as_gray, as_if_bgr)
  from_rgb = jaxfer.predict_arrays(student, rgb).probabilities
  np.testing.assert_allclose(from_rgb, jaxfer.predict_arrays(student, as_gray).probabilities,
                             atol=1e-6)
  assert not np.allclose(from_rgb, jaxfer.predict_arrays(student, as_if_bgr).probabilities,
                         atol=1e-6)


def test_predict_arrays_names_the_argument_of_a_wrong_shape(tmp_path):
  student = _untrained_student(tmp_path)
  with pytest.raises(ValueError, match=r'faces: expected images of shape \[H, W\] or '
                     r'\[H, W, channels\], got one of shape \(2, 3, 4, 5\)'):
    jaxfer.predict_arrays(student, np.zeros((1, 2, 3, 4, 5), np.uint8))


def _untrained_student(folder):
  return jaxfer.load_model(write_untrained_student(folder))


def test_open_study_on_a_mistyped_folder_is_an_error_and_creates_nothing(tmp_path):
  missing = tmp_path / 'runs' / 'serach'
  with pytest.raises(ValueError, match='holds no studies; expected a run directory'):
    jaxfer.open_study(str(missing))
  assert not (tmp_path / 'runs').exists()


def test_open_study_with_several_studies_asks_for_a_name_listing_them(tmp_path):
  _make_study(str(tmp_path / 'run'))
  optuna.create_study(study_name='ablation_pooling',
                      storage=f'sqlite:///{tmp_path}/run/study.db')
  with pytest.raises(ValueError, match="holds 2 studies .*'ablation_pooling'.*; name one"):
    jaxfer.open_study(str(tmp_path / 'run'))
  assert jaxfer.open_study(str(tmp_path / 'run'), 'default').study_name == 'default'


@pytest.mark.slow
def test_the_readme_s_python_example_runs_as_written(example_folder, capsys):
  namespace = _run_blocks(os.path.join(REPO, 'README.md'))
  printed = capsys.readouterr().out
  with open(example_folder / 'runs' / 'test' / 'result.json') as f:
    assert namespace['result'].accuracy == json.load(f)['accuracy']
  assert [point.number for point in namespace['front']] == FRONT
  assert printed
