"""Every benchmark script answers --help with its usage, runs nothing and writes nothing, and runs
at its smallest size, printing the table it exists for: a script that no longer imports, ignores
its arguments or has drifted from the library it measures fails here.

The tiny runs call each script's `main(argv)` in this process (loaded from its path), from an
empty folder, so that the programs they compile are shared; only compile_cache.py, which times
fresh processes, starts any.
"""
import contextlib
import glob
import importlib.util
import io
import json
import math
import os
import re
import subprocess
import sys

import jax
import numpy as np
import optuna
import pytest

from conftest import CKPLUS48
from conftest import REPO
from search import storage

SCRIPTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'benchmarks', '*.py')))
# The smallest MicroExpNet step the benchmarks time; shared so that its programs compile once.
TINY_STEP = ['--batch', '4', '--size', '48']


def test_every_benchmark_is_listed():
  assert len(SCRIPTS) >= 13 and 'reproduction.py' in SCRIPTS


# Runs every script as `python benchmarks/SCRIPT --help` runs it (as __main__, its own argv),
# each from an empty folder of its own, in one process: its imports are paid once, not 14 times.
_HELP_RUNNER = """
import contextlib, io, json, os, runpy, sys, traceback
found = {}
for script, path, folder in json.loads(sys.argv[1]):
  os.chdir(folder)
  sys.argv = [path, '--help']
  out, status = io.StringIO(), 0
  try:
    with contextlib.redirect_stdout(out):
      runpy.run_path(path, run_name='__main__')
  except SystemExit as exit_:
    status = exit_.code or 0
  except Exception:  # pylint: disable=broad-except  (reported as the script's failure)
    status = 1
    out.write(traceback.format_exc())
  found[script] = (status, out.getvalue())
print(json.dumps(found))
"""


@pytest.fixture(scope='module')
def helps(tmp_path_factory):
  """{script: (exit status, stdout, files left in its folder)} of every script's --help."""
  runs = [(script, os.path.join(REPO, 'benchmarks', script),
           str(tmp_path_factory.mktemp(script[:-3]))) for script in SCRIPTS]
  done = subprocess.run([sys.executable, '-c', _HELP_RUNNER, json.dumps(runs)],
                        env={**os.environ, 'PYTHONPATH': REPO}, capture_output=True, text=True,
                        timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  found = json.loads(done.stdout.splitlines()[-1])
  return {script: (*found[script], os.listdir(folder)) for script, _, folder in runs}


@pytest.mark.parametrize('script', SCRIPTS)
def test_benchmark_answers_help_with_its_usage_and_writes_nothing(script, helps):
  status, stdout, left = helps[script]
  assert status == 0, stdout[-2000:]
  assert stdout.startswith(f'usage: {script}'), stdout[:300]
  assert left == []  # Run from an empty folder: --help left nothing there.


_LOADED = {}


def run_benchmark(script, argv, cwd):
  """(exit status, stdout, stderr) of benchmarks/`script`'s `main(argv)`, run in this process
  from `cwd`; argparse's refusals give status 2, and a message to SystemExit status 1 and that
  message on stderr, as they would in a process of their own."""
  if script not in _LOADED:
    path = os.path.join(REPO, 'benchmarks', script)
    spec = importlib.util.spec_from_file_location(f'benchmark_{script[:-3]}', path)
    _LOADED[script] = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = _LOADED[script]  # Flax modules and dataclasses look themselves up.
    spec.loader.exec_module(_LOADED[script])
  out, err, status = io.StringIO(), io.StringIO(), 0
  with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      _LOADED[script].main([str(arg) for arg in argv])
    except SystemExit as stop:
      status = stop.code if isinstance(stop.code, int) else 1
      if stop.code is not None and not isinstance(stop.code, int):
        print(stop.code, file=err)  # As Python prints a message given to SystemExit.
  return status, out.getvalue(), err.getvalue()


def _ran(script, argv, cwd):
  """The stdout of a run that succeeded."""
  status, out, err = run_benchmark(script, argv, cwd)
  assert status == 0, err[-3000:]
  return out


def _table(text, first_cell=''):
  """The cells of each markdown table row of `text` (separator rows left out) whose first cell
  starts with `first_cell`."""
  rows = [[cell.strip() for cell in line.strip().strip('|').split('|')]
          for line in text.splitlines() if line.startswith('|') and '---' not in line]
  return [row for row in rows if row[0].startswith(first_cell)]


def _number(cell):
  return float(cell.replace(',', ''))


def test_speed_prints_positive_training_and_inference_rates_in_one_json_line(tmp_path):
  out = _ran('speed.py', [*TINY_STEP, '--steps', '2', '--bs1-reps', '2', '--bs256-reps', '1'],
             tmp_path)
  result = json.loads(out.strip().splitlines()[-1])
  for metric in ('train_ips', 'infer_bs1_ips', 'infer_bs256_ips'):
    assert math.isfinite(result[metric]) and result[metric] > 0, result
    assert result['best'][metric] == result[metric]  # One round: its figures are the best.
  assert (result['batch'], result['size'], result['steps'], result['rounds']) == (4, 48, 2, 1)
  assert result['params'] == 23_528 and 'peer' not in result  # MicroExpNet at 48x48.
  assert os.listdir(tmp_path) == []


def test_speed_times_the_separable_family_s_reference_student(tmp_path):
  out = _ran('speed.py', [*TINY_STEP, '--steps', '2', '--bs1-reps', '2', '--bs256-reps', '1',
                          '--family', 'separable'], tmp_path)
  result = json.loads(out.strip().splitlines()[-1])
  assert all(result[metric] > 0 for metric in ('train_ips', 'infer_bs1_ips', 'infer_bs256_ips'))
  assert (result['model'], result['params']) == ('separable', 58_104)  # MiniXception, 8 classes.
  assert os.listdir(tmp_path) == []


# A stand-in for a PyTorch peer that reports, as the teacher's peer does, training and
# inference at its own batch only: its figures depend on its layout flag and its batch, so the
# test can tell which run each of speed.py's figures came from.
_PEER = """
import argparse, json
ap = argparse.ArgumentParser()
for flag in ('--batch', '--steps', '--size', '--classes'):
  ap.add_argument(flag, type=int)
ap.add_argument('--channels-last', action='store_true')
a = ap.parse_args()
print(json.dumps({'impl': 'stand-in', 'params': PARAMS, 'batch': a.batch,
                  'train_ips': 100.0 if a.channels_last else 50.0,
                  'infer_ips': a.batch * (2.0 if a.channels_last else 3.0)}))
"""
TINY_TEACHER = ['--model', 'resnet_small', '--steps', '2', '--bs1-reps', '2', '--bs256-reps', '1',
                '--batch', '4', '--size', '48']


def _peer(tmp_path, params):
  path = tmp_path / 'peer.py'
  path.write_text(_PEER.replace('PARAMS', str(params)))
  return ['--peer', path, '--peer-python', sys.executable]


def test_speed_takes_each_peer_figure_from_its_better_layout_and_inference_at_batch_256(tmp_path):
  out = _ran('speed.py', [*TINY_TEACHER, '--rounds', '2', *_peer(tmp_path, 308_328),
                          '--peer-layouts', 'default', 'channels-last'], tmp_path)
  result = json.loads(out.strip().splitlines()[-1])
  assert (result['model'], result['params']) == ('resnet_small', 308_328)
  peer = result['peer']
  # Training: channels-last's 100 beats 50; inference from a second run at batch 256, where
  # the default layout's 3 per image beats 2.
  assert (peer['train_ips'], peer['train_ips_layout']) == (100.0, 'channels-last')
  assert (peer['infer_bs256_ips'], peer['infer_bs256_ips_layout']) == (768.0, 'default')
  assert peer['layouts'] == {'default': {'train_ips': 50.0, 'infer_bs256_ips': 768.0},
                             'channels-last': {'train_ips': 100.0, 'infer_bs256_ips': 512.0}}
  assert result['ratio_train_ips'] == round(result['train_ips'] / 100.0, 3)
  assert result['ratio_infer_bs256_ips'] == round(result['infer_bs256_ips'] / 768.0, 3)
  assert 'infer_bs1_ips' not in peer and 'ratio_infer_bs1_ips' not in result  # Not measured.
  assert os.listdir(tmp_path) == ['peer.py']


@pytest.mark.parametrize('script, argv, message', [
    ('speed.py', ['--peer', '{tmp}/missing_peer.py'],
     '--peer {tmp}/missing_peer.py does not exist'),
    ('predict_speed.py', ['--model', '{tmp}/missing'], '--model {tmp}/missing: {tmp}/missing holds '
                                                      'no student'),
])
def test_a_missing_peer_or_model_is_one_line_and_exit_2(tmp_path, script, argv, message):
  status, out, err = run_benchmark(script, [a.format(tmp=tmp_path) for a in argv], tmp_path)
  assert (status, out) == (2, '') and message.format(tmp=tmp_path) in err
  assert 'Traceback' not in err and os.listdir(tmp_path) == []


def test_speed_refuses_a_peer_that_builds_another_network(tmp_path):
  status, out, err = run_benchmark('speed.py', [*TINY_TEACHER, *_peer(tmp_path, 23_528)],
                                   tmp_path)
  assert status == 1 and out == ''
  assert "builds a network of 23528 parameters, jaxfer's resnet_small has 308328" in err


def test_accelerator_speed_tabulates_every_network_and_the_populations(tmp_path):
  out = _ran('accelerator_speed.py', ['--steps', '2', '--batch', '4', '--size', '48',
                                      '--populations', '1,2', '--rounds', '1'], tmp_path)
  assert out.startswith(f'backend {jax.default_backend()}, device ')
  labels = ('MicroExpNet', 'MiniXception', 'resnet_small (teacher)')
  rows = {row[0]: row[1:] for row in _table(out) if row[0] in labels}
  assert {label: (cells[0], _number(cells[1])) for label, cells in rows.items()} == {
      'MicroExpNet': ('48x48', 23_528), 'MiniXception': ('48x48', 58_104),
      'resnet_small (teacher)': ('48x48', 308_328)}
  assert all(_number(cell) > 0 for cells in rows.values() for cell in cells[2:])
  assert [row[0] for row in _table(out) if row[0].isdigit()] == ['1', '2']  # R, one row each.
  assert os.listdir(tmp_path) == []


def test_population_prints_a_row_of_rates_and_ratios_for_each_population_size(tmp_path):
  # One student: its population program is still vmapped, and the wide batch is the same batch.
  out = _ran('population.py', [*TINY_STEP, '--populations', '1', '--steps', '2', '--rounds', '1'],
             tmp_path)
  assert '| R | in turn | population (vmap) | ratio | one student, batch R x 4 | ratio |' in out
  (row,) = _table(out, '1')
  turn, vmapped, ratio, wide, wide_ratio = (_number(cell) for cell in row[1:])
  assert turn > 0 and vmapped > 0 and wide > 0
  assert ratio == pytest.approx(vmapped / turn, abs=0.01 + 0.01 * vmapped / turn)
  assert wide_ratio == pytest.approx(wide / turn, abs=0.01 + 0.01 * wide / turn)


def test_profile_step_attributes_the_traced_time_to_the_parts_of_the_step(tmp_path):
  out = _ran('profile_step.py', [*TINY_STEP, '--steps', '2'], tmp_path)
  assert re.search(r'step, batches on the device: [\d.]+ ms \([\d,]+ images/s\); cores busy',
                   out), out
  parts = {row[0]: row for row in _table(out)[1:]}
  assert {'conv1 forward', 'conv2 backward', 'fc forward'} <= set(parts), out
  shares = [_number(row[2].rstrip('%')) for row in parts.values()]
  assert sum(shares) == pytest.approx(100, abs=len(shares))  # Rounded shares of the whole.
  assert all(_number(row[1]) >= 0 for row in parts.values())


def test_profile_conv_times_each_part_of_each_convolution_and_the_step(tmp_path):
  out = _ran('profile_conv.py', [*TINY_STEP, '--rounds', '1', '--reps', '1', '--impls', 'matmul',
                                 '--convs', 'conv2'], tmp_path)
  rows = {row[0]: row[1:] for row in _table(out)[1:]}
  parts = ('fwd', 'dkernel', 'dinput', 'training (fwd + needed grads)')
  expected = {f'conv2 {part}' for part in parts}
  assert expected | {'train_step', 'pool1 relu+max-pool fwd+bwd'} == set(rows), out
  assert all(len(cells) == 1 and _number(cells[0]) > 0 for cells in rows.values())


def test_onnx_speed_tabulates_onnx_runtime_beside_jaxfer(tmp_path):
  pytest.importorskip('onnxruntime', reason='onnxruntime is in the dev extra')
  pytest.importorskip('jax2onnx', reason='jax2onnx is in the onnx extra')
  out = _ran('onnx_speed.py', ['--fresh', '--rounds', '1', '--bs1_repeats', '3',
                               '--bs256_repeats', '1'], tmp_path)
  rows = {row[0]: row[1:] for row in _table(out, '') if row[0]}
  for impl in ('ONNX Runtime', 'jaxfer (XLA)'):
    median, p99, fps, ips = (_number(cell) for cell in rows[impl])
    assert 0 < median <= p99 and fps == pytest.approx(1000 / median, rel=0.01, abs=1) and ips > 0
  assert re.search(r'batch-1 latency, ONNX Runtime / jaxfer: [\d.]+', out)
  assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'needs the CK+48 faces in {CKPLUS48}')
def test_predict_speed_times_each_engine_and_thread_count_on_crops_and_frames(tmp_path):
  out = _ran('predict_speed.py', ['--rounds', '1', '--limit', '6', '--frames', '2',
                                  '--engines', 'jax'], tmp_path)
  assert out.startswith('6 crops, 2 frames, 1 round(s)')
  rows = _table(out, '')[1:]
  threads = sorted({1, os.cpu_count()})
  assert [(row[0], row[1], int(row[2])) for row in rows] == [
      (images, 'jax', n) for images in ('CK+48 crops, no detection',
                                        '640x490 frames, detection') for n in threads]
  assert all(_number(row[3]) > 0 and _number(row[4]) >= 0 for row in rows)
  assert os.listdir(tmp_path) == []  # The frames went to a temporary folder, now gone.


@pytest.mark.skipif(not os.path.isdir(CKPLUS48), reason=f'needs the CK+48 faces in {CKPLUS48}')
def test_imported_accuracy_classifies_the_faces_under_each_view(tmp_path):
  out = _ran('imported_accuracy.py', ['--models', 'CK', '--faces', '2'], tmp_path)
  assert out.startswith('14 CK+48 faces')  # 2 of each of CK+48's 7 expressions.
  rows = _table(out, 'CK')
  assert [row[1] for row in rows] == ['paper', 'center', 'full']
  assert all(0 <= _number(cell) <= 100 for row in rows for cell in row[2:])
  assert len(rows[0]) == 3 + 7  # Accuracy, then the recall of each expression present.


def _fold_results(workdir, accuracies, teacher_accuracies):
  """WORKDIR/fold_k/result.json as `jaxfer distill` writes them (the fields read here)."""
  for fold, (accuracy, teacher) in enumerate(zip(accuracies, teacher_accuracies)):
    os.makedirs(workdir / f'fold_{fold}')
    (workdir / f'fold_{fold}' / 'result.json').write_text(json.dumps(
        {'target': 'student', 'accuracy': accuracy, 'teacher_accuracy': teacher}))


def test_cv_compare_compares_fold_results_and_keeps_the_rows(tmp_path):
  _fold_results(tmp_path / 'plain', [0.8, 0.7, 0.9], [0.90, 0.80, 0.95])
  _fold_results(tmp_path / 'dlib', [0.85, 0.75, 0.9], [0.94, 0.85, 0.97])
  (tmp_path / 'empty').mkdir()
  out = _ran('cv_compare.py', ['--teacher', f'plain={tmp_path}/plain', '--teacher',
                                      f'dlib={tmp_path}/dlib', '--json', 'rows.json'],
             tmp_path / 'empty')
  assert '| dlib | **92.0** (' in out and '| plain | **88.3** (' in out
  saved = json.loads((tmp_path / 'empty' / 'rows.json').read_text())
  assert list(saved) == ['teacher'] and saved['teacher'][1]['folds'] == [0.94, 0.85, 0.97]


def test_cv_compare_judges_each_student_row_against_the_margin_given(tmp_path):
  _fold_results(tmp_path / 'plain', [0.80, 0.70, 0.90, 0.85], [0.9] * 4)
  _fold_results(tmp_path / 'same', [0.801, 0.699, 0.901, 0.850], [0.9] * 4)
  wide = _ran('cv_compare.py', ['--student', f'plain={tmp_path}/plain', '--student',
                                f'same={tmp_path}/same', '--margin', '1'], tmp_path)
  # Differences of +0.1, -0.1, +0.1, 0 points: inside a 1-point margin, not a 0.01-point one.
  assert wide.splitlines()[0].startswith('| student | accuracy % (95% interval over folds) |')
  assert 'verdict against ±1 points' in wide and '| equivalent within ±margin (MDE ' in wide
  narrow = _ran('cv_compare.py', ['--student', f'plain={tmp_path}/plain', '--student',
                                  f'same={tmp_path}/same', '--margin', '0.01'], tmp_path)
  assert '| inconclusive (MDE ' in narrow
  status, _, err = run_benchmark('cv_compare.py', ['--student', f'plain={tmp_path}/plain',
                                                   '--margin', '0'], tmp_path)
  assert status == 2 and err.strip().splitlines()[-1].endswith(
      '--margin 0: expected accuracy points between 0 and 100')


def _study(run_dir, name, trials):
  """A finished study `name` in `run_dir`'s SQLite storage: each trial (size, fold accuracies)
  with one seed a fold, as a search records it."""
  study = optuna.create_study(study_name=name, storage=storage.storage_url('', str(run_dir)),
                              directions=['maximize', 'minimize'])
  for k, (size, folds) in enumerate(trials):
    study.add_trial(optuna.trial.create_trial(
        values=[float(np.mean(folds)), float(size)], params={'temperature': 2.0 ** k},
        distributions={'temperature': optuna.distributions.FloatDistribution(1.0, 64.0,
                                                                              log=True)},
        user_attrs={'fold_accuracies': folds, 'run_accuracies': [[a] for a in folds]}))


@pytest.fixture(scope='module')
def searched(tmp_path_factory):
  """A run directory holding a tiny grid study and one sampler's, summarized once by
  search_vs_grid.py --summarize_only: (run directory, what it printed)."""
  run_dir = tmp_path_factory.mktemp('search_vs_grid')
  _study(run_dir, 'grid', [(100_000, [0.5, 0.6]), (200_000, [0.7, 0.7])])
  # Trial 1 cannot beat trial 0, smaller, after its first fold: pruning would stop it there.
  _study(run_dir, 'tpe_seed0', [(100_000, [0.8, 0.8]), (200_000, [0.3, 0.4]),
                                (50_000, [0.6, 0.7])])
  out = _ran('search_vs_grid.py', ['--config', os.path.join(REPO, 'configs', 'search_test.py'),
                                   '--workdir', run_dir, '--samplers', 'tpe', '--study_seeds',
                                   '0', '--summarize_only'], tmp_path_factory.mktemp('cwd'))
  return run_dir, out


def test_search_vs_grid_summarizes_the_hypervolume_of_each_study_by_trainings(searched):
  run_dir, out = searched
  summary = json.loads((run_dir / 'search_vs_grid.json').read_text())
  # Two trainings a trial (one seed, two folds): the grid spent 4, the sampler 6.
  assert summary['grid']['trainings'] == 4 and summary['budgets'] == [2, 4, 6]
  assert summary['samplers']['tpe']['trainings_spent'] == [6]
  # The sampler's first trial (0.8 at the grid's smallest size) already beats the grid's front.
  assert summary['samplers']['tpe']['reached_at'] == [2]
  assert summary['samplers']['tpe']['reached_within_third'] == 0  # 2 > 4 / 3.
  assert [row[0] for row in _table(out, '')[1:]] == ['2', '4', '6']
  assert 'not finished (trials): grid 2, tpe_seed0 3' in out
  assert (run_dir / 'search_vs_grid.png').read_bytes().startswith(b'\x89PNG')


def test_pruning_replay_counts_the_folds_pruning_would_have_saved(searched, tmp_path):
  run_dir, _ = searched
  out = _ran('pruning_replay.py', ['--config', os.path.join(REPO, 'configs', 'search_test.py'),
                                   '--workdir', run_dir, '--study', 'tpe_seed0'], tmp_path)
  assert 'study tpe_seed0: 3 trials, 6 folds trained without pruning' in out
  assert 'with pruning: 5 folds (17% saved), 1 trials pruned' in out
  assert 'trial 1: 200,000 bytes, folds 0.300, 0.400 -> 1 of 2 folds' in out
  assert 'front of all trials: [0, 2]' in out and 'front with pruning:  [0, 2]' in out


def test_reproduction_reports_the_search_claim_from_search_vs_grid(searched, tmp_path):
  run_dir, _ = searched
  out = _ran('reproduction.py', ['--synthetic', run_dir, '--out', 'docs/reproduction.md'],
             tmp_path)
  text = (tmp_path / 'docs' / 'reproduction.md').read_text()
  assert out.strip() == text.strip()
  search = text[text.index('## Temperature and size'):text.index('## FaceNet2ExpNet')]
  assert ("- synthetic faces: trainings to reach the grid's final hypervolume, whose grid took 4 "
          '(a third: 1): tpe [2] (within a third: 0 of 1 seeds)') in search
  assert '**not supported**' in search
  assert (tmp_path / 'docs' / 'figures' / 'synthetic_search_vs_grid.png').exists()


@pytest.mark.slow
def test_seed_noise_tabulates_the_spread_of_a_recipe_over_seeds(tmp_path, data_dir):
  out = _ran('seed_noise.py', ['--workdir', 'noise', '--seeds', '2', '--recipes', 'today',
                               '--data_dir', data_dir, '--config',
                               os.path.join(REPO, 'configs', 'search_test.py'),
                               '--config.search.folds_per_trial=1',
                               '--config.student.num_epochs=1', '--config.teacher.num_epochs=1'],
             tmp_path)
  (row,) = _table(out, 'search recipe')
  runs = [_number(run) for run in row[4].split()]
  assert len(runs) == 2 and all(0 <= run <= 100 for run in runs)
  assert _number(row[1]) == pytest.approx(np.mean(runs), abs=0.06)
  assert _number(row[2]) == pytest.approx(np.std(runs, ddof=1), abs=0.1)


@pytest.mark.slow
def test_ckplus48_cv_tabulates_the_teacher_and_both_students_over_the_folds(tmp_path, data_dir):
  out = _ran('ckplus48_cv.py', ['--workdir', 'cv', '--config',
                                os.path.join(REPO, 'configs', 'test.py'),
                                '--config.data.num_folds=2', f'--config.data.data_dir={data_dir}',
                                '--config.teacher.num_epochs=1', '--config.student.num_epochs=1'],
             tmp_path)
  assert '| model | parameters | accuracy % (mean ± std, 2 folds) |' in out
  rows = {row[0]: row for row in _table(out)[1:]}
  assert list(rows) == ['teacher (resnet_small)', 'MicroExpNet, distilled',
                        'MicroExpNet, no distillation']
  assert rows['MicroExpNet, distilled'][1] == '23,528'
  assert all(re.fullmatch(r'\d+\.\d ± \d+\.\d', row[2]) for row in rows.values())
  assert sorted(os.listdir(tmp_path)) == ['cv', 'cv_nokd']


@pytest.mark.slow
def test_compile_cache_times_distill_in_a_fresh_process(tmp_path, monkeypatch):
  monkeypatch.setenv('PYTHONPATH', REPO)
  out = _ran('compile_cache.py', ['--config', os.path.join(REPO, 'configs', 'test.py'), '--runs',
                                  '1', '--config.distill.loss=none',
                                  '--config.student.num_epochs=1'], tmp_path)
  seconds = float(re.fullmatch(r'run 1 \(empty cache\): ([\d.]+) s', out.strip()).group(1))
  assert seconds > 0
  assert os.listdir(tmp_path) == []


def test_script_arguments_take_config_overrides_and_refuse_anything_else_in_one_line(capsys):
  import argparse  # pylint: disable=g-import-not-at-top
  from jaxfer import config_file  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(prog='bench.py')
  parser.add_argument('--config', default=os.path.join(REPO, 'configs', 'test.py'))
  parser.add_argument('--runs', type=int, default=1)
  args, config, overrides = config_file.parse_script_args(
      parser, ['--runs', '3', '--config.student.width=0.5'])
  assert (args.runs, config.student.width, overrides) == (3, 0.5, ['--config.student.width=0.5'])
  for argv, message in ((['--bogus'], 'unrecognized arguments: --bogus'),
                        (['--config', '/no/such.py'], '--config /no/such.py: no such file')):
    with pytest.raises(SystemExit) as exit_info:
      config_file.parse_script_args(parser, argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f'bench.py: error: {message}')
