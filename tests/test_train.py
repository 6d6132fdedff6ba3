"""The training engine: finite steps, overfitting, determinism, resume, errors."""
import json
import os
import signal
import subprocess
import time

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import REPO, jaxfer_command, run_in_process
from jaxfer import cli
from jaxfer import configuration
from jaxfer import data as data_lib
from jaxfer import loop
from jaxfer import models
from jaxfer import optimizers
from jaxfer import teacher
from jaxfer import train


def _student_state(learning_rate=1e-3, dropout=0.5, size=84):
  model = models.ExpNet(dropout=dropout)
  optimizer = optimizers.make_optimizer(
      ml_collections.ConfigDict(dict(learning_rate=learning_rate, schedule='constant',
                                     weight_decay=0.0, warmup_epochs=0)), 10, 10)
  return loop.create_train_state(model, (size, size, 1), optimizer, jax.random.key(0))


def _batch(n, size=84, seed=0):
  rng = np.random.default_rng(seed)
  return {'image': rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8),
          'label': rng.integers(0, 8, n),
          'teacher_logits': rng.normal(size=(n, 8)).astype(np.float32)}


def _checkpoint_params(model_dir):
  """The parameters of the latest checkpoint, as numpy arrays."""
  with ocp.CheckpointManager(os.path.join(model_dir, 'checkpoints')) as manager:
    restored = manager.restore(manager.latest_step(), args=ocp.args.StandardRestore())
  return restored['params']


DISTILL = loop.StepHparams.create('microexpnet', temperature=8.0, lam=0.5)


def test_one_train_step_is_finite_and_moves_every_parameter():
  state = _student_state()
  new_state, metrics = loop.train_step(state, _batch(64), jax.random.key(1), DISTILL)
  assert np.isfinite(float(metrics['loss']))
  for before, after in zip(jax.tree.leaves(state.params), jax.tree.leaves(new_state.params)):
    assert np.all(np.isfinite(after))
    assert not np.array_equal(before, after)
  assert int(new_state.step) == 1


def test_moving_average_of_the_parameters_by_hand():
  # After update n (counting from 0) the decay is min(decay, (1+n)/(10+n)): 0.1, then 2/11.
  state = _student_state()
  state = state.replace(ema_params=state.params)
  batch = _batch(8)
  hparams = loop.StepHparams.create('microexpnet', temperature=8.0, lam=0.5, ema_decay=0.99)
  first, _ = loop.train_step(state, batch, jax.random.key(1), hparams)
  second, _ = loop.train_step(first, batch, jax.random.key(1), hparams)
  leaf = lambda tree: np.asarray(tree['conv2']['kernel'], np.float64)
  p0, p1, p2 = leaf(state.params), leaf(first.params), leaf(second.params)
  ema1 = 0.1 * p0 + 0.9 * p1
  np.testing.assert_allclose(leaf(first.ema_params), ema1, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(leaf(second.ema_params), 2 / 11 * ema1 + 9 / 11 * p2, rtol=1e-5,
                             atol=1e-7)
  assert float(loop.ema_decay_at(0.99, 10_000)) == pytest.approx(0.99)
  # Evaluation uses the average: logits of the state equal the model's on the averaged weights.
  images = batch['image']
  expected = second.apply_fn({'params': second.ema_params}, images.astype(np.float32) / 255.0,
                             train=False)
  np.testing.assert_allclose(loop.predict(second, images, 8), expected, rtol=1e-5, atol=1e-5)
  assert not np.allclose(loop.predict(second.replace(ema_params={}), images, 8), expected,
                         atol=1e-5)


def test_a_state_without_an_average_is_evaluated_with_its_parameters():
  state = _student_state()
  assert loop.evaluated_params(state) is state.params
  assert loop.evaluated_params({'params': 1, 'ema_params': {}}) == 1
  assert loop.evaluated_params({'params': 1, 'ema_params': 2}) == 2


def test_dropout_key_is_derived_from_the_step():
  state = _student_state()
  batch = _batch(8)
  first, _ = loop.train_step(state, batch, jax.random.key(1), DISTILL)
  again, _ = loop.train_step(state, batch, jax.random.key(1), DISTILL)
  later, _ = loop.train_step(state.replace(step=5), batch, jax.random.key(1), DISTILL)
  leaf = lambda s: np.asarray(s.params['fc']['kernel'])
  np.testing.assert_array_equal(leaf(first), leaf(again))
  assert not np.array_equal(leaf(first), leaf(later))


def test_student_overfits_one_batch():
  state = _student_state(learning_rate=3e-3, dropout=0.0)
  batch = _batch(16, seed=3)
  for _ in range(150):
    state, metrics = loop.train_step(state, batch, jax.random.key(0),
                                     loop.StepHparams.create('none'))
  predictions = loop.predict(state, batch['image'], 16).argmax(-1)
  np.testing.assert_array_equal(predictions, batch['label'])
  assert float(metrics['loss']) < 0.05


def test_the_supervised_step_reads_no_teacher_and_no_distillation_setting():
  state = _student_state()
  batch = {key: value for key, value in _batch(8).items() if key != 'teacher_logits'}
  plain, plain_metrics = loop.train_step(state, batch, jax.random.key(1),
                                         loop.StepHparams.create('none'))
  other, other_metrics = loop.train_step(state, batch, jax.random.key(1), loop.StepHparams.create(
      'none', temperature=8.0, lam=0.5))
  assert float(plain_metrics['loss']) == float(other_metrics['loss'])
  jax.tree.map(np.testing.assert_array_equal, plain.params, other.params)
  # Label smoothing is the one setting it reads.
  smoothed, _ = loop.train_step(state, batch, jax.random.key(1), loop.StepHparams.create(
      'none', label_smoothing=0.1))
  assert not np.array_equal(smoothed.params['out']['kernel'], plain.params['out']['kernel'])


@pytest.mark.parametrize('loss,distance', [('regression_l2', np.square), ('regression_l1', np.abs)])
def test_a_regression_step_regresses_the_batch_targets(loss, distance):
  # No dropout: the step's training-mode features are the inference-mode ones, to compare.
  model = models.FeatureRegressor(models.ExpNet(dropout=0.0), 5)
  optimizer = optimizers.make_optimizer(ml_collections.ConfigDict(dict(
      learning_rate=1e-3, schedule='constant', weight_decay=0.0, warmup_epochs=0)), 10, 10)
  state = loop.create_train_state(model, (84, 84, 1), optimizer, jax.random.key(0))
  images = _batch(4)['image']
  targets = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
  batch = {'image': images, 'label': np.zeros(4, np.int64), 'targets': targets}
  _, metrics = loop.train_step(state, batch, jax.random.key(1), loop.StepHparams.create(loss))
  features = np.asarray(state.apply_fn({'params': state.params},
                                       images.astype(np.float32) / 255.0), np.float64)
  assert float(metrics['loss']) == pytest.approx(np.mean(distance(features - targets)), rel=1e-5)


def test_no_two_seed_and_stream_pairs_share_a_data_order():
  # Streams: teacher 0, student 1, identity face net 2, their FaceNet2ExpNet stage 1 10 to 12.
  # With seed * 2 + stream, the teacher of seed 1 and the face net of seed 0 had one order.
  pairs = [(seed, stream) for seed in range(5) for stream in range(13)]
  for epoch in (0, 1):
    orders = {pair: np.concatenate(list(data_lib.epoch_batches(
        100, 100, loop.data_seed(*pair), epoch))).tobytes() for pair in pairs}
    assert len(set(orders.values())) == len(pairs)
  # The augmentation draws of each pair differ too.
  shifts = {np.random.default_rng([loop.data_seed(*pair), 1, 1]).integers(0, 2**32, 4).tobytes()
            for pair in pairs}
  assert len(shifts) == len(pairs)
  assert loop.data_seed(1, 0) == loop.data_seed(1, 0)  # A pure function: resumes see the same.


def test_the_teacher_and_the_student_take_their_seeds_streams_and_losses_from_the_config(
    test_config):
  test_config.seed, test_config.distill.loss, test_config.distill.temperature = 3, 'hinton', 4.0
  teacher = loop.fit_spec(test_config, 'teacher', 8)
  assert (teacher.name, teacher.seed, teacher.stream, teacher.loss) == ('teacher', 3, 0, 'none')
  assert teacher.settings is test_config.teacher
  student = loop.fit_spec(test_config, 'student', 8)
  assert (student.name, student.seed, student.stream) == ('student', 3, 1)
  assert (student.loss, student.temperature, student.lam) == ('hinton', 4.0,
                                                               test_config.distill.lam)
  test_config.student.seed = 11  # The student's own seed, when set, wins.
  assert loop.fit_spec(test_config, 'student', 8).seed == 11


def test_per_class_accuracy_is_each_class_s_recall_and_skips_an_absent_class():
  confusion = np.array([[3, 1, 0], [0, 0, 0], [2, 0, 6]])
  assert loop.per_class_accuracy(confusion, ('a', 'b', 'c')) == {'a': 0.75, 'c': 0.75}


def test_evaluate_logits_counts_by_hand():
  logits = np.eye(3)[[0, 1, 1, 2, 0]]
  labels = np.array([0, 1, 2, 2, 1])
  metrics = loop.evaluate_logits(logits, labels, ('a', 'b', 'c'))
  assert metrics['accuracy'] == pytest.approx(3 / 5)
  assert metrics['per_class_accuracy'] == {'a': 1.0, 'b': 0.5, 'c': 0.5}
  assert metrics['confusion_matrix'] == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]


def test_same_config_and_seed_give_the_same_numbers(test_config, tmp_path):
  first = train.train_and_evaluate(test_config, str(tmp_path / 'a'))
  second = train.train_and_evaluate(test_config, str(tmp_path / 'b'))
  assert first.accuracy == second.accuracy and first.teacher_accuracy == second.teacher_accuracy
  a, b = _checkpoint_params(first.workdir), _checkpoint_params(second.workdir)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  test_config.seed = 1
  other = train.train_and_evaluate(test_config, str(tmp_path / 'c'))
  c = _checkpoint_params(other.workdir)
  assert not np.array_equal(a['fc']['kernel'], c['fc']['kernel'])
  # result.json carries what the search engine reads.
  with open(tmp_path / 'a' / 'result.json') as f:
    written = json.load(f)
  assert written['accuracy'] == first.accuracy
  assert written['params'] == first.params == models.count_params(a)
  assert written['size_bytes'] == 4 * first.params


def test_runs_of_one_architecture_in_one_process_share_their_compiled_steps(test_config,
                                                                          tmp_path):
  jax.clear_caches()
  train.train_and_evaluate(test_config, str(tmp_path / 'a'))
  compiled = loop.train_step._cache_size()  # pylint: disable=protected-access
  test_config.seed = 1  # Other weights, the same programs.
  train.train_and_evaluate(test_config, str(tmp_path / 'b'))
  assert loop.train_step._cache_size() == compiled  # pylint: disable=protected-access
  test_config.student.width = 0.75  # Another architecture: its own step.
  train.train_and_evaluate(test_config, str(tmp_path / 'c'))
  assert loop.train_step._cache_size() > compiled  # pylint: disable=protected-access


def test_a_run_with_a_moving_average_is_evaluated_with_the_average(test_config, tmp_path):
  test_config.student.ema_decay = 0.9
  result = train.train_and_evaluate(test_config, str(tmp_path))
  restored = _checkpoint_params_and_average(result.workdir)
  assert set(restored['ema_params']) == set(restored['params'])
  assert not np.allclose(restored['ema_params']['fc']['kernel'], restored['params']['fc']['kernel'])
  again = train.evaluate(test_config, str(tmp_path))
  assert again.accuracy == result.accuracy
  # The same checkpoint evaluated with its raw parameters scores differently on at least one
  # image's logits: the average is what was evaluated.
  spec = loop.fit_spec(test_config, 'student', 8)
  dataset = data_lib.load(test_config.data)
  state, _ = loop.initial_state(spec, dataset)
  state, _ = loop.checkpoints.restore_newest_intact(result.workdir, state, 'student')
  with_average = loop.predict(state, dataset.test['image'], 64)
  raw = loop.predict(state.replace(ema_params={}), dataset.test['image'], 64)
  assert not np.allclose(with_average, raw, atol=1e-4)


def _checkpoint_params_and_average(model_dir):
  with ocp.CheckpointManager(os.path.join(model_dir, 'checkpoints')) as manager:
    return manager.restore(manager.latest_step(), args=ocp.args.StandardRestore())


def test_student_without_distillation_needs_no_teacher(test_config, tmp_path):
  test_config.distill.loss = 'none'
  result = train.train_and_evaluate(test_config, str(tmp_path))
  assert result.teacher_accuracy is None
  assert not os.path.exists(tmp_path / 'teacher')
  assert os.path.exists(tmp_path / 'student' / 'checkpoints')


def test_non_finite_loss_stops_the_run(test_config, tmp_path):
  # A rate the config's checks refuse (jaxfer/configuration.py): the loop's own guard, below them.
  test_config.teacher.optimizer.learning_rate = 1e30
  test_config.teacher.cache = False
  with pytest.raises(FloatingPointError, match='loss became nan at epoch 1'):
    teacher.train(test_config, str(tmp_path / 'teacher'), data_lib.load(test_config.data))


@pytest.mark.parametrize('field,value,message', [
    ('student.pooling', 'p3', "config.student.pooling = 'p3' is not allowed; choose one of: "
     'v, p1, p2, p12'),
    ('distill.loss', 'kl', 'config.distill.loss'),
    ('distill.lam', 1.5, r'config.distill.lam = 1.5 is not allowed; expected a number >= 0 and '
     '<= 1'),
    ('teacher.model', 'vgg', 'inception_v3, resnet_small'),
    ('student.optimizer.schedule', 'step', 'constant, cosine, warmup_cosine'),
    ('teacher.num_epochs', 0, 'config.teacher.num_epochs = 0'),
    ('student.ema_decay', 1.0, r'config.student.ema_decay = 1.0 is not allowed; expected a '
     'number >= 0 and <= 0.9999'),
    ('teacher.label_smoothing', -0.1, 'config.teacher.label_smoothing = -0.1'),
])
def test_bad_config_value_names_the_field_and_choices(test_config, tmp_path, field, value,
                                                      message):
  section, name = field.rsplit('.', 1)
  parent = test_config
  for part in section.split('.'):
    parent = parent[part]
  parent[name] = value
  with pytest.raises(ValueError, match=message.replace('(', r'\(')):
    train.train_and_evaluate(test_config, str(tmp_path))
  assert not os.path.exists(tmp_path / 'teacher')  # Nothing started.


def test_changed_settings_in_an_old_workdir_are_refused(test_config, tmp_path):
  test_config.distill.loss = 'none'
  train.train_and_evaluate(test_config, str(tmp_path))
  test_config.student.width = 2.0
  with pytest.raises(ValueError, match=r'\(config.student.width differ\); delete it or use '
                     'another directory') as error:
    train.train_and_evaluate(test_config, str(tmp_path))
  assert '--workdir' not in str(error.value)  # The search, too, reports it; it has no --workdir.
  # A run recorded before a setting existed (here augment_flip) resumes with that setting's
  # default; the finished student is only evaluated again.
  test_config.student.width = 1.0
  path = tmp_path / 'student' / 'config.json'
  recorded = json.loads(path.read_text())
  del recorded['student']['augment_flip']
  path.write_text(json.dumps(recorded))
  first = json.loads((tmp_path / 'result.json').read_text())
  again = train.train_and_evaluate(test_config, str(tmp_path))
  assert again.accuracy == first['accuracy'] and again.train_seconds == 0


def test_a_run_recorded_before_the_moving_average_refuses_to_resume_with_one(test_config,
                                                                            tmp_path):
  test_config.distill.loss = 'none'
  train.train_and_evaluate(test_config, str(tmp_path))
  path = tmp_path / 'student' / 'config.json'
  recorded = json.loads(path.read_text())
  del recorded['student']['ema_decay']  # As recorded before the setting existed: no average.
  path.write_text(json.dumps(recorded))
  checkpoints_before = sorted(os.listdir(tmp_path / 'student' / 'checkpoints'))
  test_config.student.ema_decay = 0.99
  with pytest.raises(ValueError, match=r'\(config.student.ema_decay differ\)'):
    train.train_and_evaluate(test_config, str(tmp_path))
  # Refused before restoring: no checkpoint was set aside as damaged.
  assert sorted(os.listdir(tmp_path / 'student' / 'checkpoints')) == checkpoints_before
  assert not (tmp_path / 'student' / 'damaged_checkpoints').exists()
  test_config.student.ema_decay = 0.0  # The behaviour the run was trained with: it resumes.
  assert train.train_and_evaluate(test_config, str(tmp_path)).train_seconds == 0


def test_evaluate_without_a_checkpoint_says_what_to_run(test_config, tmp_path):
  with pytest.raises(FileNotFoundError, match='jaxfer distill'):
    train.evaluate(test_config, str(tmp_path))


def _wait_for_checkpoint(process, directory, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.isdir(directory) and any(name.isdigit() for name in os.listdir(directory)):
      return
    if process.poll() is not None:
      raise AssertionError(f'the run ended before its first checkpoint: {process.stdout.read()}')
    time.sleep(0.02)
  raise AssertionError(f'no checkpoint in {directory} after {timeout}s')


@pytest.mark.slow
def test_killed_run_resumes_and_matches_an_uninterrupted_run(test_config, data_dir, tmp_path,
                                                             capfd):
  overrides = [f'--config.data.data_dir={data_dir}', '--config.student.num_epochs=40']
  test_config.student.num_epochs = 40
  reference = train.train_and_evaluate(test_config, str(tmp_path / 'reference'))

  workdir = str(tmp_path / 'killed')
  command = jaxfer_command('distill', '--config', 'configs/test.py', '--workdir', workdir,
                           *overrides)
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
  _wait_for_checkpoint(process, os.path.join(workdir, 'student', 'checkpoints'))
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert not os.path.exists(os.path.join(workdir, 'result.json'))

  finished = run_in_process(cli.main, capfd, *command[3:])  # The rerun needs no process.
  assert finished.returncode == 0, finished.stderr[-3000:]
  resumed = [line for line in finished.stderr.splitlines() if 'student: resumed' in line]
  assert resumed, finished.stderr
  epoch = int(resumed[0].split('epoch ')[1].split()[0])
  assert 0 < epoch < 40
  with open(os.path.join(workdir, 'result.json')) as f:
    result = json.load(f)
  assert result['accuracy'] == reference.accuracy
  jax.tree.map(np.testing.assert_array_equal, _checkpoint_params(reference.workdir),
               _checkpoint_params(os.path.join(workdir, 'student')))


def test_an_unknown_schedule_is_refused_by_the_config_check_naming_the_field(test_config):
  test_config.student.optimizer.schedule = 'step'
  with pytest.raises(ValueError, match="config.student.optimizer.schedule = 'step' is not "
                     'allowed; choose one of: constant, cosine, warmup_cosine'):
    configuration.validate(test_config)


def _summary(stdout):
  """The JSON summary `jaxfer distill` prints on stdout, alone there."""
  return json.loads(stdout)


@pytest.mark.slow
def test_two_distill_runs_on_one_workdir_train_each_model_once_to_the_same_result(data_dir,
                                                                                   tmp_path):
  workdir = tmp_path / 'shared'
  # Long enough for the two runs to overlap in every stage.
  command = jaxfer_command('distill', '--config', 'configs/test.py', '--workdir', str(workdir),
                           f'--config.data.data_dir={data_dir}', '--config.teacher.num_epochs=8',
                           '--config.student.num_epochs=12')
  runs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True) for _ in range(2)]
  outputs = [run.communicate(timeout=600) for run in runs]
  for run, (stdout, stderr) in zip(runs, outputs):
    assert run.returncode == 0, stdout[-2000:] + stderr[-3000:]
  first, second = (_summary(stdout) for stdout, _ in outputs)
  assert first['accuracy'] == second['accuracy']
  assert first['teacher_accuracy'] == second['teacher_accuracy']
  assert first['per_class_accuracy'] == second['per_class_accuracy']
  assert json.loads((workdir / 'result.json').read_text())['accuracy'] == first['accuracy']
  # Each model was trained by one run; the other waited for it instead of training beside it.
  logs = ''.join(stderr for _, stderr in outputs)
  assert logs.count('teacher epoch   1/8') == 1 and logs.count('student epoch  12/12') == 1
  assert 'another process is working in' in logs
  # Nothing stale or extra: the last two epochs of each model, no temporary or damaged ones.
  for model, epochs in (('teacher', 8), ('student', 12)):
    assert sorted(os.listdir(workdir / model / 'checkpoints')) == [str(epochs - 1), str(epochs)]
    assert not (workdir / model / 'damaged_checkpoints').exists()
  assert not [path for path in workdir.rglob('*') if 'tmp' in path.name]


def _separable_state(learning_rate=1e-2, size=24):
  optimizer = optimizers.make_optimizer(
      ml_collections.ConfigDict(dict(learning_rate=learning_rate, schedule='constant',
                                     weight_decay=0.0, warmup_epochs=0)), 10, 10)
  return loop.create_train_state(models.SeparableNet(width=0.5, depth=2), (size, size, 1),
                                 optimizer, jax.random.key(0))


def test_separable_student_overfits_one_batch_and_learns_its_batch_statistics():
  state = _separable_state()
  initial_stats = state.batch_stats
  batch = _batch(16, size=24, seed=3)
  for _ in range(40):
    state, metrics = loop.train_step(state, batch, jax.random.key(0),
                                     loop.StepHparams.create('none'))
  # Inference runs on the running statistics, which training moved towards the batch's.
  assert not np.allclose(state.batch_stats['stem0_bn']['mean'],
                         initial_stats['stem0_bn']['mean'])
  predictions = loop.predict(state, batch['image'], 16).argmax(-1)
  np.testing.assert_array_equal(predictions, batch['label'])
  assert float(metrics['loss']) < 0.05


def test_a_separable_student_distills_resumes_and_loads_from_its_files(data_dir, teacher_dir,
                                                                       tmp_path, capfd):
  import flax.serialization  # pylint: disable=g-import-not-at-top
  import optuna  # pylint: disable=g-import-not-at-top
  from jaxfer import model_files  # pylint: disable=g-import-not-at-top
  from search import export  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / 'run'
  args = ['distill', '--config', 'configs/test.py', '--workdir', workdir,
          f'--config.data.data_dir={data_dir}', f'--config.teacher.artifact={teacher_dir}',
          '--config.student.family=separable', '--config.student.width=0.5',
          '--config.student.depth=3']
  done = run_in_process(cli.main, capfd, *args)
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'student epoch   3/3' in done.stderr
  result = json.loads((workdir / 'result.json').read_text())
  assert result['params'] == 6_288 and result['size_bytes'] == 4 * 6_288  # test_models' pin.
  assert result['teacher_artifact'] == teacher_dir

  # Finished: a second run only evaluates; another family is refused, naming the field.
  again = run_in_process(cli.main, capfd, *args)
  assert again.returncode == 0 and json.loads((workdir / 'result.json').read_text())[
      'train_seconds'] == 0
  other = run_in_process(cli.main, capfd, *args, '--config.student.family=microexpnet')
  assert other.returncode == 2 and '(config.student.family differ)' in other.stderr

  # The checkpoint and an export-best folder load with the trained BatchNorm statistics and
  # score the test images as the run did.
  student = model_files.load(str(workdir))
  assert isinstance(student.model, models.SeparableNet)
  config = ml_collections.ConfigDict(json.loads((workdir / 'student' / 'config.json').read_text()))
  trial = optuna.trial.create_trial(
      values=[result['accuracy'], result['size_bytes']],
      user_attrs={'trial_dir': str(tmp_path / 'trial'), 'config': config.to_dict()})
  (tmp_path / 'trial').mkdir()
  os.symlink(workdir, tmp_path / 'trial' / 'fold_0')
  written = export.export(trial, str(tmp_path / 'exported'))
  assert sorted(written) == ['batch_stats.msgpack', 'config.json', 'params.msgpack',
                             'result.json']
  exported = model_files.load(str(tmp_path / 'exported'))
  test = data_lib.load(_with_data_dir(config, data_dir)).test
  logits = model_files.logits(student, test['image'])
  np.testing.assert_array_equal(model_files.logits(exported, test['image']), logits)
  assert float(np.mean(logits.argmax(-1) == test['label'])) == result['accuracy']
  # With the initial statistics (mean 0, variance 1) the logits differ: the files' are used.
  initial = jax.tree_util.tree_map_with_path(
      lambda path, x: np.ones_like(x) if path[-1].key == 'var' else np.zeros_like(x),
      student.batch_stats)
  assert not np.allclose(model_files.logits(student._replace(batch_stats=initial), test['image']),
                         logits, atol=1e-3)
  os.remove(tmp_path / 'exported' / 'batch_stats.msgpack')
  with pytest.raises(ValueError, match='has params.msgpack but no batch_stats.msgpack'):
    model_files.load(str(tmp_path / 'exported'))
  with open(tmp_path / 'exported' / 'batch_stats.msgpack', 'wb') as f:
    f.write(flax.serialization.msgpack_serialize({'stem0_bn': student.batch_stats['stem0_bn']}))
  with pytest.raises(ValueError, match=r"batch_stats.msgpack does not fit the network .*"
                     r"\['module0_sep0_bn'\]\['mean'\] is missing"):
    model_files.load(str(tmp_path / 'exported'))


def _with_data_dir(recorded, data_dir):
  """The data config of a recorded run, with the TFDS folder it was prepared in."""
  data = ml_collections.ConfigDict(recorded.data.to_dict())
  data.data_dir = data_dir
  data.manual_dir = ''
  return data
