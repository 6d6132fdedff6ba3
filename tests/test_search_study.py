"""A tiny study end to end: real trainings, real SQLite storage, resumption and pruning maths."""
import csv
import json
import logging
import os
import subprocess
import wsgiref.util

import flax.serialization
import jax
import ml_collections
import numpy as np
import optuna
import pytest

from conftest import REPO, file_times, run_in_process, search_command
from configs import search_test
from jaxfer import locks
from jaxfer import loop
from jaxfer import models
from jaxfer.models import measure
from search import cli
from search import export
from search import objective
from search import pareto
from search import storage
from search import workers


class _Lines(logging.Handler):
  """Collects the messages logged while it is attached."""

  def __init__(self):
    super().__init__()
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())


@pytest.fixture(scope='module')
def study_run(tmp_path_factory, data_dir):
  run_dir = str(tmp_path_factory.mktemp('search'))
  config = search_test.get_config()
  config.data.data_dir = data_dir
  lines = _Lines()
  logging.getLogger('jaxfer').addHandler(lines)
  logging.getLogger('jaxfer').setLevel(logging.INFO)
  try:
    study = workers.run_study(config, run_dir)
  finally:
    logging.getLogger('jaxfer').removeHandler(lines)
  return config, run_dir, study, lines.lines


@pytest.mark.slow
def test_a_study_finishes_its_trials_with_their_records(study_run):
  config, run_dir, study, _ = study_run
  trials = study.get_trials(states=pareto.FINISHED)
  assert [t.number for t in trials] == [0, 1, 2]
  assert os.path.exists(os.path.join(run_dir, 'study.db'))
  assert study.metric_names == ['accuracy', 'size_bytes']  # For optuna-dashboard.
  for trial in trials:
    recorded = trial.user_attrs['config']
    assert recorded['distill']['temperature'] == pytest.approx(trial.params['temperature'])
    assert recorded['student']['width'] == pytest.approx(trial.params['width'])
    assert trial.user_attrs['fold_hash'] and trial.user_attrs['versions']['optuna']
  complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
  for trial in complete:
    accuracies = trial.user_attrs['fold_accuracies']
    assert len(accuracies) == 2
    assert trial.values[0] == pytest.approx(sum(accuracies) / 2)
  assert study.user_attrs['run_config']['student'] == json.loads(config.student.to_json())


@pytest.mark.slow
def test_optuna_dashboard_opens_the_finished_study_with_both_objective_names(study_run):
  optuna_dashboard = pytest.importorskip(
      'optuna_dashboard', reason='optuna-dashboard is the dashboard extra: pip install -e ".[dev]"')
  _, run_dir, study, _ = study_run
  # The dashboard's own WSGI app on the storage the README tells users to open, as the
  # `optuna-dashboard sqlite:///RUN_DIR/study.db` server serves it.
  app = optuna_dashboard.wsgi(storage.storage_url('', run_dir))
  app.catchall = False  # A failure inside the dashboard raises here rather than a page of 500.

  def get(path):
    environ = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ['PATH_INFO'] = path
    replies = []
    body = b''.join(app(environ, lambda status, headers, *_: replies.append(status)))
    assert replies[0].startswith('200'), (path, replies, body[:300])
    return json.loads(body)

  summaries = get('/api/studies')['study_summaries']
  listed = {summary['study_name']: summary['study_id'] for summary in summaries}
  assert study.study_name in listed
  detail = get(f'/api/studies/{listed[study.study_name]}')
  assert detail['objective_names'] == ['accuracy', 'size_bytes']
  finished = [t for t in detail['trials'] if t['state'] in ('Complete', 'Pruned')]
  assert len(finished) == len(study.get_trials(states=pareto.FINISHED))


@pytest.mark.slow
def test_each_fold_teacher_is_trained_once_before_the_trials_and_only_read_by_them(study_run):
  _, run_dir, study, lines = study_run
  teachers = {fold: os.path.join(run_dir, 'teachers', f'fold_{fold}', 'teacher')
              for fold in (0, 1)}
  # Trained once each: one first epoch per fold in the whole study's log.
  assert sum(line.startswith('teacher epoch   1/') for line in lines) == 2
  first_trial = min(t.datetime_start for t in study.trials).timestamp()
  for fold, directory in teachers.items():
    manifest = json.loads(open(os.path.join(directory, 'artifact.json')).read())
    assert max(file_times(directory).values()) / 1e9 < first_trial  # Untouched by the trials.
    for trial in study.trials:
      fold_dir = os.path.join(trial.user_attrs['trial_dir'], f'fold_{fold}')
      result = json.loads(open(os.path.join(fold_dir, 'result.json')).read())
      assert result['teacher_artifact'] == directory
      assert result['teacher_logits_sha256'] == manifest['logits_sha256']
      assert not os.path.exists(os.path.join(fold_dir, 'teacher'))


@pytest.mark.slow
def test_the_same_config_and_seed_give_the_same_trials(study_run, tmp_path):
  config, _, study, _ = study_run
  again = workers.run_study(config, str(tmp_path), n_trials=3)  # A new run directory.
  first = [(t.params, t.state, t.values, t.user_attrs['config']['student']['seed'])
           for t in sorted(study.trials, key=lambda t: t.number)[:3]]
  second = [(t.params, t.state, t.values, t.user_attrs['config']['student']['seed'])
            for t in sorted(again.trials, key=lambda t: t.number)]
  assert second == first
  assert len({seed for *_, seed in first}) == 3  # Every trial's student has its own seed.


@pytest.mark.slow
def test_studies_sharing_a_run_directory_keep_their_trials_apart(study_run):
  config, run_dir, study, _ = study_run
  other = config.copy_and_resolve_references()
  other.search.update(study_name='other', seed=5, folds_per_trial=1)
  trial = workers.run_study(other, run_dir, n_trials=1).trials[0]
  # Its trial 0 has other parameters than the first study's trial 0, in its own directory.
  assert trial.state == optuna.trial.TrialState.COMPLETE
  assert trial.params != study.trials[0].params
  assert trial.user_attrs['trial_dir'] == os.path.join(run_dir, 'trials', 'other', 'trial_0000')
  assert study.trials[0].user_attrs['trial_dir'] == os.path.join(run_dir, 'trials', 'test',
                                                                 'trial_0000')


@pytest.mark.slow
def test_running_again_resumes_and_continues_the_numbering(study_run):
  config, run_dir, _, _ = study_run
  study = workers.run_study(config, run_dir, n_trials=4)
  assert [t.number for t in study.trials] == [0, 1, 2, 3]


@pytest.mark.parametrize('field,value', [('search.seed', 99), ('student.num_epochs', 1),
                                         ('distill.loss', 'hinton'),
                                         ('teacher.num_epochs', 3)])
@pytest.mark.slow
def test_resuming_with_other_settings_is_refused_naming_them(study_run, field, value):
  config, run_dir, _, _ = study_run
  changed = config.copy_and_resolve_references()
  section, name = field.split('.')
  changed[section][name] = value
  before = len(optuna.load_study(study_name='test', storage=storage.storage_url('', run_dir))
               .trials)
  with pytest.raises(ValueError, match=rf'started with another run config \(config\.{field} '
                     r'differ\); its trials would not compare'):
    workers.run_study(changed, run_dir, n_trials=10)
  after = optuna.load_study(study_name='test', storage=storage.storage_url('', run_dir)).trials
  assert len(after) == before  # No trial was added.


@pytest.mark.slow
def test_where_things_are_how_many_trials_and_metric_logs_may_change_on_resume(study_run,
                                                                              tmp_path):
  config, run_dir, _, _ = study_run
  moved = config.copy_and_resolve_references()
  moved.search.n_trials = 4  # Already reached by the test above, or reached here.
  moved.data.manual_dir = str(tmp_path)  # Unused by synthetic faces; a path, not a setting.
  moved.log.tensorboard = True  # What is written beside the runs, not what they are.
  assert workers.open_study(moved, run_dir).study_name == 'test'


def test_size_pruning_rule():
  front = [(0.9, 1000.0), (0.7, 200.0)]
  # A trial of 500 bytes that can still reach 0.8 is beaten by nothing at or below its size.
  assert objective.dominated_at_best(0.8, 500.0, front) is None
  assert objective.dominated_at_best(0.65, 500.0, front) == (0.7, 200.0)
  assert objective.dominated_at_best(0.95, 5000.0, front) is None


def test_reachable_accuracy_counts_every_remaining_fold_as_perfect():
  assert objective.reachable_accuracy([0.5], 4) == pytest.approx((0.5 + 3) / 4)
  assert objective.reachable_accuracy([0.5, 0.7], 2) == pytest.approx(0.6)


def test_replay_pruning_stops_trials_that_a_smaller_completed_trial_beats():
  trials = [
      (100.0, [0.9, 0.9, 0.9]),  # Completes: the front is (0.9, 100).
      (200.0, [0.5, 0.6, 0.7]),  # Larger; after 1 fold it can reach (0.5 + 2) / 3 < 0.9.
      (50.0, [0.1, 0.1, 0.1]),   # Smaller than every completed trial: never pruned.
      (300.0, [0.8, 0.9, 0.9]),  # Reachable after 1 fold 0.933, after 2 0.9 >= 0.9: pruned.
      (400.0, [1.0, 1.0, 0.2]),  # Reachable 1.0 until the last fold: runs every fold.
  ]
  assert objective.replay_pruning(trials) == [3, 1, 3, 2, 3]


def test_read_config_applies_overrides_not_on_the_command_line():
  # config_flags finds overrides in sys.argv unless told where; here sys.argv is pytest's.
  config = cli.read_config('configs/search_test.py', ['--config.search.sampler=random',
                                                      '--config.student.width=0.75'])
  assert (config.search.sampler, config.student.width) == ('random', 0.75)


@pytest.mark.slow
def test_report_and_export_best_from_the_command_line(study_run, tmp_path):
  config, run_dir, study, _ = study_run
  common = ['--config', 'configs/search_test.py', '--workdir', run_dir,
            f'--config.data.data_dir={config.data.data_dir}']
  done = subprocess.run(search_command('report', *common), cwd=REPO, capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  study = optuna.load_study(study_name='test', storage=storage.storage_url('', run_dir))
  with open(os.path.join(run_dir, 'trials.csv')) as f:
    rows = list(csv.DictReader(f))
  assert [int(r['number']) for r in rows] == [t.number for t in study.trials]
  assert [float(r['accuracy']) for r in rows] == [t.values[0] for t in study.trials]
  with open(os.path.join(run_dir, 'pareto.csv')) as f:
    front = [int(r['number']) for r in csv.DictReader(f)]
  assert front == sorted((t.number for t in study.best_trials),
                         key=lambda n: study.trials[n].values[1])
  best = export.pick(study, knee=True)
  done = subprocess.run(search_command('export-best', *common, '--knee', '--out',
                                       str(tmp_path / 'best')),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(tmp_path / 'best' / 'result.json') as f:
    result = json.load(f)
  assert result['trial'] == best.number and result['size_bytes'] == best.values[1]
  with open(tmp_path / 'best' / 'params.msgpack', 'rb') as f:
    params = flax.serialization.msgpack_restore(f.read())
  assert 4 * sum(np.size(x) for x in jax.tree.leaves(params)) == best.values[1]
  done = subprocess.run(search_command('export-best', *common, '--max_size=10', '--out',
                                       str(tmp_path / 'none')),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2 and 'no front trial is at most 10 bytes; the front:' in done.stderr


@pytest.mark.slow
def test_export_best_never_mixes_two_models_in_one_folder(study_run, tmp_path, capfd):
  config, run_dir, study, _ = study_run
  out = tmp_path / 'best'

  def export_best(*args):
    return run_in_process(cli.main, capfd, 'export-best', '--config', 'configs/search_test.py',
                          '--workdir', run_dir, f'--config.data.data_dir={config.data.data_dir}',
                          '--out', out, *args)

  done = export_best('--knee')
  assert done.returncode == 0, done.stderr[-3000:]
  first = file_times(out)
  assert sorted(first) == ['config.json', 'params.msgpack', 'result.json']
  smallest = export.pick(study, min_accuracy=0.0)
  again = export_best('--min_accuracy=0')
  assert again.returncode == 2 and f'--out {out} is not empty' in again.stderr
  assert file_times(out) == first
  replaced = export_best('--min_accuracy=0', '--overwrite')
  assert replaced.returncode == 0, replaced.stderr[-3000:]
  assert sorted(file_times(out)) == sorted(first)
  assert all(file_times(out)[name] != first[name] for name in first)
  with open(out / 'result.json') as f:
    assert json.load(f)['trial'] == smallest.number
  # A folder holding anything export-best does not write is someone's: never replaced.
  (out / 'notes.md').write_text('which model is this?\n')
  kept = file_times(out)
  refused = export_best('--knee', '--overwrite')
  assert refused.returncode == 2 and 'holds files this command does not write (notes.md)' in (
      refused.stderr)
  assert file_times(out) == kept
  assert not [p for p in tmp_path.iterdir() if p.name.startswith('.best')]  # No staging left.


@pytest.mark.slow
def test_export_best_as_onnx_gives_the_exported_students_logits(study_run, tmp_path, capfd):
  ort = pytest.importorskip('onnxruntime', reason='the onnx extra is not installed: '
                            'pip install -e ".[onnx]"')
  pytest.importorskip('jax2onnx', reason='the onnx extra is not installed')
  from jaxfer import model_files  # pylint: disable=g-import-not-at-top
  config, run_dir, _, _ = study_run
  done = run_in_process(cli.main, capfd, 'export-best', '--config', 'configs/search_test.py',
                        '--workdir', run_dir, f'--config.data.data_dir={config.data.data_dir}',
                        '--knee', '--format', 'onnx', '--out', tmp_path / 'best')
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.loads(done.stdout)['model.onnx'] == str(tmp_path / 'best' / 'model.onnx')
  student = model_files.load(str(tmp_path / 'best'))
  images = np.random.default_rng(1).integers(0, 256, (4, student.image_size,
                                                      student.image_size, 1))
  session = ort.InferenceSession(str(tmp_path / 'best' / 'model.onnx'),
                                 providers=['CPUExecutionProvider'])
  onnx_logits = session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]
  expected = student.model.apply({'params': student.params}, images.astype(np.float32) / 255.0)
  np.testing.assert_allclose(onnx_logits, np.asarray(expected), rtol=0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize('prune', [True, False])
def test_a_trial_that_cannot_reach_the_front_is_pruned_after_its_first_fold(tmp_path, data_dir,
                                                                             prune):
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.prune = prune
  study = workers.open_study(config, str(tmp_path))
  # A front point no real student can beat: 100% accuracy at 4 bytes.
  study.add_trial(optuna.trial.create_trial(values=[1.0, 4.0], params={}, distributions={}))
  study = workers.run_study(config, str(tmp_path), n_trials=2)
  trial = study.trials[1]
  folds_trained = len(os.listdir(tmp_path / 'trials' / 'test' / 'trial_0001'))
  if prune:
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert folds_trained == 1  # Only the first of the two folds was trained.
    assert 'cannot beat the front point (1.0000, 4 bytes)' in trial.user_attrs['pruned_reason']
  else:
    assert trial.state == optuna.trial.TrialState.COMPLETE and folds_trained == 2


def test_latency_objective_is_measured_in_milliseconds(monkeypatch):
  config = search_test.get_config()
  assert pareto.directions(('accuracy', 'size', 'latency')) == ['maximize', 'minimize',
                                                                'minimize']
  clock = iter(np.arange(0.0, 100.0, 0.002))  # Every reading 2 ms after the one before.
  monkeypatch.setattr(measure.time, 'perf_counter', lambda: float(next(clock)))
  latency = measure.latency_ms(config.student, config.data.image_size, repeats=5)
  assert latency == pytest.approx(2.0)  # 2 ms, not 0.002 (seconds) or 2000 (microseconds).
  with pytest.raises(ValueError, match="config.search.objectives has 'speed'"):
    pareto.directions(('accuracy', 'size', 'speed'))


@pytest.mark.slow
def test_a_replicated_study_records_every_run_and_tables_its_interval(tmp_path, data_dir):
  from scipy import stats  # pylint: disable=g-import-not-at-top
  from search import analysis  # pylint: disable=g-import-not-at-top
  from search import pareto  # pylint: disable=g-import-not-at-top
  from search import report  # pylint: disable=g-import-not-at-top
  from search import space  # pylint: disable=g-import-not-at-top
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.update(replicates=2, n_trials=2, prune=False)
  study = workers.run_study(config, str(tmp_path))
  report.write_report(study, str(tmp_path), space.size_limit(config))
  with open(tmp_path / 'trials.csv') as f:
    rows = {int(r['number']): r for r in csv.DictReader(f)}
  trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
  assert len(trials) == 2
  # The table's intervals are the study's noise model's (every trial and fold with 2 seeds).
  model, modelled = analysis.study_noise(study.trials, pareto.front_info(study.trials))
  assert model.within_df == 4 and model.groups == 4
  for trial in trials:
    runs = trial.user_attrs['run_accuracies']  # [fold][seed]
    assert len(runs) == 2 and all(len(fold) == 2 for fold in runs)
    flat = [a for fold in runs for a in fold]
    mean = sum(flat) / 4
    sem = np.sqrt(sum((a - mean) ** 2 for a in flat) / 3 / 4)
    half = stats.t.ppf(0.975, 3) * sem
    assert trial.values[0] == pytest.approx(mean)
    assert trial.user_attrs['fold_accuracies'] == pytest.approx([np.mean(f) for f in runs])
    expected = (mean, sem, mean - half, mean + half)
    recorded = [trial.user_attrs[name] for name in report.intervals.COLUMNS]
    tabled = [float(rows[trial.number][name]) for name in report.intervals.COLUMNS]
    assert sem > 0, runs  # The seeds' students differ (else the interval test is empty).
    assert recorded == pytest.approx(expected)  # The trial's own t interval, as it ran.
    assert tabled == pytest.approx(list(modelled[trial.number][:4]))
    assert tabled[0] == pytest.approx(mean) and 0 <= tabled[2] < mean < tabled[3] <= 1
    # Each seed trained its own student, in its own directory, from its own seed.
    trial_dir = trial.user_attrs['trial_dir']
    seeds = set()
    for fold in (0, 1):
      for name in (f'fold_{fold}', f'fold_{fold}_replicate_1'):
        recorded = json.loads(open(os.path.join(trial_dir, name, 'student', 'config.json')).read())
        seeds.add((fold, recorded['student']['seed']))
    assert len({seed for _, seed in seeds}) == 2 and len(seeds) == 4


@pytest.mark.slow
def test_a_worker_keeps_a_bounded_number_of_compiled_programs_mapped(tmp_path, data_dir,
                                                                     monkeypatch):
  # Every student of another width compiles its own steps, and XLA keeps each program mapped
  # (about 270 maps a run): unbounded, a worker died at the kernel's limit of 65,530 maps after
  # about 250 students. Here at most one train step is kept beside the newest.
  monkeypatch.setattr(loop, 'KEPT_PROGRAMS', 1)

  def maps():
    with open('/proc/self/maps') as f:
      return sum(1 for _ in f)
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.update(n_trials=1, prune=False, folds_per_trial=1)
  workers.run_study(config, str(tmp_path))
  before = maps()
  config.search.n_trials = 5
  study = workers.run_study(config, str(tmp_path))
  trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
  assert len(trials) == 5 and len({t.params['width'] for t in trials}) == 5
  assert loop.train_step._cache_size() <= 2  # pylint: disable=protected-access
  assert maps() - before < 600  # Four more students: about 1,070 more maps unbounded.


@pytest.mark.slow
def test_a_study_over_two_families_trains_each_with_its_own_ranges_on_one_front(tmp_path,
                                                                                data_dir):
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.update(sampler='size-aware', n_trials=4, folds_per_trial=1)
  config.search.space = dict(
      temperature=dict(low=1.0, high=8.0, log=True), width=dict(low=0.5, high=1.0, log=True),
      family=dict(choices=('microexpnet', 'separable'),
                  separable=dict(width=dict(low=0.25, high=0.5, log=True),
                                 depth=dict(choices=(1, 2)))))
  study = workers.run_study(config, str(tmp_path))
  trials = study.get_trials(states=pareto.FINISHED)
  assert len(trials) == 4
  assert {t.params['family'] for t in trials} == {'microexpnet', 'separable'}
  for trial in trials:
    student = trial.user_attrs['config']['student']
    assert student['family'] == trial.params['family']
    if student['family'] == 'separable':  # The family's own width range and depth.
      assert student['width'] == trial.params['separable.width']
      assert student['depth'] == trial.params['separable.depth']
      assert 'width' not in trial.params
    else:
      assert student['width'] == trial.params['width']
    # The size objective is the size of the family's own network at those settings.
    assert trial.values[1] == models.student_size_bytes(
        ml_collections.ConfigDict(student), config.data.image_size)
  # One front over both families: every finished trial is on it or dominated by one that is.
  info = pareto.front_info(trials)
  front = [(a, s) for a, s, on in zip(info.accuracy, info.size_bytes, info.on_front) if on]
  for accuracy, size in zip(info.accuracy, info.size_bytes):
    assert any(a >= accuracy and s <= size for a, s in front)


def test_a_worker_first_trains_the_teachers_of_folds_no_other_worker_has_claimed(
    tmp_path, data_dir, caplog):
  config = search_test.get_config()
  config.data.data_dir = data_dir
  teachers = [os.path.dirname(objective.teachers_template(str(tmp_path)).format(fold=fold))
              for fold in (0, 1)]
  caplog.set_level(logging.INFO, logger='jaxfer')
  # As if another worker were training fold 0's teacher: its claim is held (and released
  # unused, so that this worker trains fold 0 too once it has done fold 1).
  with locks.claimed(teachers[0], objective.TEACHER_CLAIM) as held:
    assert held
    objective.prepare_teachers(config, str(tmp_path))
  started = [m for m in caplog.messages if m.startswith('teacher of fold')]
  assert started == [f'teacher of fold 1: {teachers[1]}',
                     f'teacher of fold 0: {teachers[0]} (trained by another worker)']
  for directory in teachers:
    assert os.path.exists(os.path.join(directory, 'teacher', 'artifact.json'))
