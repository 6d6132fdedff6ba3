"""Run-directory records: the fingerprints jaxfer writes in config.json, and the refusal of a run
whose settings differ from the recorded ones.

tests/data/recorded/ holds config.json files written by jaxfer before the fingerprints were one
function (configs/test.py: a student distilled from its teacher, and one pre-trained by
FaceNet2ExpNet with the identity face net, EMA and label smoothing): a run directory of that
time must resume, so today's fingerprint of the same config must match them exactly, apart from
settings added since at the value that does what jaxfer did then.
"""
import json
import os

import pytest

from conftest import REPO
from jaxfer import run_records

RECORDED = os.path.join(REPO, 'tests', 'data', 'recorded')


def _recorded(name):
  with open(os.path.join(RECORDED, name)) as f:
    return json.load(f)


def _pretrained(config):
  config.student.pretrain = 'facenet2expnet'
  config.facenet2expnet.face_net = 'identity'
  config.facenet2expnet.identity.num_epochs = 1
  config.facenet2expnet.stage1.num_epochs = 1
  config.distill.loss = 'hinton'
  config.student.ema_decay = 0.9
  config.student.label_smoothing = 0.1
  return config


def _as_recorded(found, recorded):
  """`found` without the settings added since `recorded` was written, where they keep the value
  that does what jaxfer did before (`run_records.ADDED_SETTINGS`)."""
  found = json.loads(json.dumps(found))
  for field, old_value in run_records.ADDED_SETTINGS.items():
    *parents, leaf = field.split('.')
    node, before = found, recorded
    for part in parents:
      node, before = node.get(part, {}), before.get(part, {})
    if leaf not in before and node.get(leaf, old_value) == old_value:
      node.pop(leaf, None)
  return found


def test_fingerprints_equal_what_earlier_versions_recorded_so_their_runs_resume(test_config):
  student = _recorded('student.json')
  assert run_records.fingerprint('teacher', test_config) == _recorded('teacher.json')
  found = run_records.fingerprint('student', test_config,
                                  teacher_logits_sha256=student['teacher_logits_sha256'])
  assert _as_recorded(found, student) == student
  assert run_records.changed_fields(student, found) == []
  assert found['student']['family'] == 'microexpnet'  # Added since: MicroExpNet, as then.
  pretrained = _recorded('student_pretrained.json')
  config = _pretrained(test_config)
  assert run_records.fingerprint('face_net', config) == _recorded('face_net.json')
  found = run_records.fingerprint('student', config,
                                  teacher_logits_sha256=pretrained['teacher_logits_sha256'])
  assert _as_recorded(found, pretrained) == pretrained
  assert run_records.changed_fields(pretrained, found) == []
  # The other family is a change the record refuses.
  config.student.family = 'separable'
  changed = run_records.fingerprint('student', config,
                                    teacher_logits_sha256=pretrained['teacher_logits_sha256'])
  assert run_records.changed_fields(pretrained, changed) == ['student.family']


def test_where_the_data_are_is_not_part_of_any_fingerprint(test_config):
  before = {section: run_records.fingerprint(section, test_config)
            for section in ('data', 'teacher', 'face_net')}
  test_config.data.data_dir = '/elsewhere/tfds'
  test_config.data.manual_dir = '/elsewhere/manual'
  assert {section: run_records.fingerprint(section, test_config) for section in before} == before


def test_a_teacher_fingerprint_holds_only_the_chosen_architecture(test_config):
  found = run_records.fingerprint('teacher', test_config)
  assert test_config.teacher.model in found['teacher']
  assert not set(found['teacher']) & {'artifact'}
  other = {'resnet_small', 'inception_v3'} - {test_config.teacher.model}
  assert not set(found['teacher']) & other


def test_a_resumed_directory_with_other_settings_is_refused_naming_the_fields(tmp_path,
                                                                             test_config):
  directory = str(tmp_path / 'student')
  run_records.record_or_compare(directory, run_records.fingerprint('student', test_config),
                                'student')
  with open(os.path.join(directory, 'config.json')) as f:
    assert json.load(f)['student']['width'] == test_config.student.width
  run_records.record_or_compare(directory, run_records.fingerprint('student', test_config),
                                'student')  # The same settings: resumes.
  test_config.distill.temperature = 3.0
  test_config.student.width = 0.5
  with pytest.raises(ValueError, match=r'holds a student trained with other settings \(config.'
                     r'distill.temperature, config.student.width differ\)'):
    run_records.record_or_compare(directory, run_records.fingerprint('student', test_config),
                                  'student')


def test_a_setting_added_later_changes_nothing_at_its_old_value():
  recorded = {'student': {'width': 1.0}}
  assert run_records.changed_fields(recorded, {'student': {'width': 1.0, 'ema_decay': 0.0}}) == []
  assert run_records.changed_fields(recorded, {'student': {'width': 1.0, 'ema_decay': 0.9}}) == [
      'student.ema_decay']
