"""Per-epoch metrics as TensorBoard event files (config.log.tensorboard), read back with
TensorBoard's own reader: one value per epoch, the result's final accuracy, the configured
learning rates, a resumed run read as one, and logs that never change which run a config is."""
import math
import os
import shutil
import sys

import ml_collections
import numpy as np
import pytest

from jaxfer import configuration
from jaxfer import data as data_lib
from jaxfer import metric_logs
from jaxfer import run_records
from jaxfer import teacher as teacher_lib
from jaxfer import train

TRAINING_TAGS = {metric_logs.TRAIN_LOSS, metric_logs.TRAIN_ACCURACY, metric_logs.LEARNING_RATE}


def _event_accumulator():
  """TensorBoard's reader; skips the test without tensorboardX (to write) or tensorboard."""
  pytest.importorskip('tensorboardX', reason='writing the logs needs tensorboardX: '
                      'pip install -e ".[tensorboard]"')
  return pytest.importorskip('tensorboard.backend.event_processing.event_accumulator',
                             reason='reading the logs back needs tensorboard (the dev extra)')


def _scalars(model_dir) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value), ...]} of the event files of `model_dir`, as TensorBoard reads them."""
  accumulator = _event_accumulator().EventAccumulator(str(model_dir / 'tensorboard'))
  accumulator.Reload()
  return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()['scalars']}


def _steps(scalars):
  return {tag: [step for step, _ in values] for tag, values in scalars.items()}


def _values(scalars, tag):
  return [value for _, value in scalars[tag]]


def _float32(value):
  """`value` as the event file holds it."""
  return float(np.float32(value))


def test_each_epoch_is_logged_as_the_run_computed_it_and_a_resumed_run_reads_as_one(
    test_config, tmp_path):
  _event_accumulator()
  test_config.log.tensorboard = True
  result = train.train_and_evaluate(test_config, str(tmp_path))
  teacher, student = _scalars(tmp_path / 'teacher'), _scalars(tmp_path / 'student')
  steps_per_epoch = len(data_lib.load(test_config.data).train['label']) // 32
  assert test_config.teacher.batch_size == test_config.student.batch_size == 32
  for logged, settings in ((teacher, test_config.teacher), (student, test_config.student)):
    # Evaluated every epoch (configs/test.py), on the test split (no validation set).
    epochs = list(range(1, settings.num_epochs + 1))
    assert _steps(logged) == {tag: epochs for tag in TRAINING_TAGS | {'test/accuracy'}}
    assert all(np.isfinite(loss) and loss > 0 for loss in _values(logged, 'train/loss'))
    for accuracy in _values(logged, 'train/accuracy'):  # Correct images of the epoch's batches.
      correct = accuracy * steps_per_epoch * 32
      assert correct == pytest.approx(round(correct), abs=1e-3) and 0 <= accuracy <= 1
  # The final epoch's evaluation is the accuracy the run reports.
  assert _values(student, 'test/accuracy')[-1] == _float32(result.accuracy)
  assert _values(teacher, 'test/accuracy')[-1] == _float32(result.teacher_accuracy)
  # The rate of each epoch's last update: the student's is constant; the teacher's warms up over
  # its first epoch (linearly from 0), then decays to 0 along a cosine over the second.
  assert _values(student, 'train/learning_rate') == [_float32(1e-3)] * 3
  peak, n = 2e-3, steps_per_epoch
  assert test_config.teacher.optimizer.to_dict() == dict(
      learning_rate=peak, schedule='warmup_cosine', weight_decay=5e-4, warmup_epochs=1)
  assert _values(teacher, 'train/learning_rate') == pytest.approx(
      [peak * (n - 1) / n, peak * 0.5 * (1 + math.cos(math.pi * (n - 1) / n))], rel=1e-6)

  # The student is interrupted before its last checkpoint: the rerun trains epoch 3 again and
  # appends files; TensorBoard drops the first epoch 3 and reads one value per epoch.
  teacher_files = sorted(os.listdir(tmp_path / 'teacher' / 'tensorboard'))
  student_files = sorted(os.listdir(tmp_path / 'student' / 'tensorboard'))
  shutil.rmtree(tmp_path / 'student' / 'checkpoints' / '3')
  resumed = train.train_and_evaluate(test_config, str(tmp_path))
  assert resumed.accuracy == result.accuracy and resumed.train_seconds > 0
  assert _scalars(tmp_path / 'student') == student  # The same numbers, once each.
  assert len(os.listdir(tmp_path / 'student' / 'tensorboard')) == len(student_files) + 2
  assert sorted(os.listdir(tmp_path / 'teacher' / 'tensorboard')) == teacher_files  # Reused.


def test_the_logs_are_part_of_no_fingerprint(test_config):
  test_config.data.validation_fraction = 0.25
  dataset = data_lib.load(test_config.data)

  def identities():
    return ({section: run_records.fingerprint(section, test_config)
             for section in run_records.FINGERPRINTS},
            teacher_lib.store_key(test_config, dataset))

  without_logs = identities()
  test_config.log.tensorboard = True
  assert identities() == without_logs


def test_without_logs_no_folder_is_made_and_turning_them_on_resumes_the_same_run(test_config,
                                                                                   tmp_path):
  _event_accumulator()
  test_config.distill.loss = 'none'  # The student alone.
  test_config.data.validation_fraction = 0.25
  first = train.train_and_evaluate(test_config, str(tmp_path))
  assert not [folder for folder, names, _ in os.walk(tmp_path) if 'tensorboard' in names]
  test_config.log.tensorboard = True
  again = train.train_and_evaluate(test_config, str(tmp_path))  # Not refused, not retrained.
  assert again.train_seconds == 0 and again.accuracy == first.accuracy
  assert not (tmp_path / 'student' / 'tensorboard').exists()  # Nothing trained, nothing logged.
  shutil.rmtree(tmp_path / 'student' / 'checkpoints' / '3')
  resumed = train.train_and_evaluate(test_config, str(tmp_path))
  assert resumed.train_seconds > 0 and resumed.accuracy == first.accuracy
  logged = _scalars(tmp_path / 'student')
  # Only what this call trained; evaluated on the validation set, and named for it.
  assert _steps(logged) == {tag: [3] for tag in TRAINING_TAGS | {'validation/accuracy'}}
  assert _values(logged, 'validation/accuracy') == [_float32(resumed.accuracy)]
  assert resumed.evaluated_on == 'validation'


def test_logs_without_tensorboardx_are_refused_in_one_line_before_anything_is_made(
    test_config, tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorboardX', None)  # Its import fails, as when absent.
  test_config.log.tensorboard = True
  with pytest.raises(ValueError) as error:
    train.train_and_evaluate(test_config, str(tmp_path / 'run'))
  message = str(error.value)
  assert message.startswith('config.log.tensorboard = True needs tensorboardX')
  assert 'pip install -e ".[tensorboard]"' in message and '\n' not in message
  assert not (tmp_path / 'run').exists()
  test_config.log.tensorboard = False  # Without logs, tensorboardX is not needed.
  configuration.validate(test_config)


@pytest.mark.parametrize('section,message', [
    ({'tensorboard': 'yes'}, "config.log.tensorboard = 'yes' is not allowed; choose one of: "
     'False, True'),
    ({}, 'config.log.tensorboard is missing; start from configs/default.py'),
])
def test_a_bad_or_missing_log_setting_names_the_field(test_config, section, message):
  test_config.log = ml_collections.ConfigDict(section)
  with pytest.raises(ValueError, match=message.replace('.', r'\.')):
    configuration.validate(test_config)
