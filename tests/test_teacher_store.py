"""Damaged teachers in the store and in a work directory: found by their checksums, never copied.

A damaged stored teacher is named in one warning, set aside beside the store's entries and
trained afresh, so the run goes on; a damaged teacher in a work directory is one line and exit
status 2, and following its advice trains the teacher again instead of copying the damage back.
"""
import glob
import json
import logging
import os
import shutil
import subprocess

import pytest

from conftest import REPO, jaxfer_command, run_in_process
from jaxfer import cli
from jaxfer import data as data_lib
from jaxfer import teacher


@pytest.fixture
def entry(teacher_dir, test_config):
  """The store's entry for configs/test.py's teacher, as `jaxfer distill` stores it: the trained
  artifact without the run's own lock and settings record (in the test's own store)."""
  path = os.path.join(teacher.store_dir(),
                      teacher.store_key(test_config, data_lib.load(test_config.data)))
  shutil.copytree(teacher_dir, path, ignore=shutil.ignore_patterns('.lock', 'config.json'))
  return path


def _manifest(directory):
  with open(os.path.join(directory, 'artifact.json')) as f:
    return json.load(f)


def _distill(capfd, data_dir, workdir):
  return run_in_process(cli.main, capfd, 'distill', '--config', 'configs/test.py', '--workdir',
                        workdir, f'--config.data.data_dir={data_dir}')


def _checkpoint_file(directory):
  """The largest file of the last checkpoint in `directory`, relative to it."""
  paths = glob.glob(os.path.join(directory, 'checkpoints', '*', '**', '*'), recursive=True)
  largest = max((path for path in paths if os.path.isfile(path)), key=os.path.getsize)
  return os.path.relpath(largest, directory)


def _flip_a_byte(path):
  data = bytearray(open(path, 'rb').read())
  data[len(data) // 2] ^= 0xFF
  open(path, 'wb').write(bytes(data))


def _cut_in_half(path):
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)


def _edit_the_data_identity(path):
  """A change that leaves valid JSON: the teacher now claims other data."""
  text, claimed = open(path).read(), '"dataset": "synthetic_faces"'
  assert claimed in text
  open(path, 'w').write(text.replace(claimed, '"dataset": "synthetic_facez"'))


DAMAGES = {
    'truncated logits': ('logits.npz', lambda path: open(path, 'r+b').truncate(100)),
    'a flipped byte in the logits': ('logits.npz', _flip_a_byte),
    'cut manifest': ('artifact.json', _cut_in_half),
    'edited manifest': ('artifact.json', _edit_the_data_identity),
    'cut result': ('result.json', _cut_in_half),
    'a flipped byte in a checkpoint': (None, _flip_a_byte),
}


def _damage(directory, how):
  """Damages a file of the artifact in `directory` as `how` says; (its name, its bytes now)."""
  name, damage = DAMAGES[how]
  name = name or _checkpoint_file(directory)
  damage(os.path.join(directory, name))
  return name, open(os.path.join(directory, name), 'rb').read()


def _damage_warnings(stderr):
  return [line for line in stderr.splitlines() if 'is damaged' in line]


@pytest.mark.parametrize('how', sorted(DAMAGES))
def test_a_damaged_stored_teacher_is_named_set_aside_and_trained_afresh(
    entry, teacher_dir, data_dir, test_config, tmp_path, capfd, how):
  name, damaged = _damage(entry, how)
  run = _distill(capfd, data_dir, tmp_path / 'run')
  assert run.returncode == 0, run.stderr
  (aside,) = glob.glob(f'{entry}.damaged-*')
  (warning,) = _damage_warnings(run.stderr)
  assert f'teacher: the stored teacher {entry} is damaged ({name} ' in warning
  assert f'set aside as {aside}, training the teacher afresh' in warning
  # Kept as it was found, for a look; nothing of it reached the run directory.
  assert open(os.path.join(aside, name), 'rb').read() == damaged
  assert 'copied from the store' not in run.stderr and 'teacher epoch   2/2' in run.stderr
  # The teacher trained afresh is the one that was damaged (same settings, same data), and it
  # is stored whole in the damaged one's place.
  original = _manifest(teacher_dir)['logits_sha256']
  with open(tmp_path / 'run' / 'result.json') as f:
    assert json.load(f)['teacher_logits_sha256'] == original
  assert teacher.load(entry, data_lib.load(test_config.data)).logits_sha256 == original


def test_a_rerun_after_the_damage_copies_the_fresh_teacher(entry, data_dir, tmp_path, capfd):
  _damage(entry, 'a flipped byte in the logits')
  assert _distill(capfd, data_dir, tmp_path / 'first').returncode == 0
  second = _distill(capfd, data_dir, tmp_path / 'second')
  assert second.returncode == 0, second.stderr
  assert 'copied from the store' in second.stderr and 'teacher epoch' not in second.stderr
  assert not _damage_warnings(second.stderr)
  assert len(glob.glob(f'{entry}.damaged-*')) == 1


def _without_checksums(directory):
  """`directory`'s manifest as jaxfer wrote it before its files had checksums."""
  manifest = _manifest(directory)
  del manifest['files_sha256'], manifest['manifest_sha256']
  with open(os.path.join(directory, 'artifact.json'), 'w') as f:
    json.dump(manifest, f, indent=2)


def test_an_intact_stored_teacher_without_checksums_is_copied_not_trained(
    entry, data_dir, test_config, tmp_path, capfd):
  _without_checksums(entry)
  run = _distill(capfd, data_dir, tmp_path / 'run')
  assert run.returncode == 0, run.stderr
  assert 'copied from the store' in run.stderr and 'teacher epoch' not in run.stderr
  assert not _damage_warnings(run.stderr) and not glob.glob(f'{entry}.damaged-*')
  assert 'files_sha256' not in _manifest(entry)  # The store is only read.
  # The run directory's copy has the checksums of what was copied.
  copy = str(tmp_path / 'run' / 'teacher')
  assert 'logits.npz' in _manifest(copy)['files_sha256']
  assert teacher.load(copy, data_lib.load(test_config.data)).logits_sha256 == (
      _manifest(entry)['logits_sha256'])


@pytest.mark.parametrize('how', ['truncated logits', 'cut result'])
def test_a_damaged_stored_teacher_without_checksums_is_set_aside(entry, data_dir, tmp_path,
                                                                 capfd, how):
  _without_checksums(entry)
  name, _ = _damage(entry, how)
  run = _distill(capfd, data_dir, tmp_path / 'run')
  assert run.returncode == 0, run.stderr
  (warning,) = _damage_warnings(run.stderr)
  assert f'the stored teacher {entry} is damaged ({name} ' in warning
  assert len(glob.glob(f'{entry}.damaged-*')) == 1 and 'copied from the store' not in run.stderr


@pytest.mark.parametrize('how', ['cut manifest', 'cut result', 'a flipped byte in a checkpoint'])
def test_a_damaged_teacher_in_the_workdir_is_one_line_and_deleting_it_trains_afresh(
    entry, data_dir, tmp_path, capfd, how):
  workdir = tmp_path / 'run'
  assert _distill(capfd, data_dir, workdir).returncode == 0
  # The damage the run directory got from a stored teacher damaged the same way, copied
  # before stored teachers were checked.
  name, _ = _damage(str(workdir / 'teacher'), how)
  shutil.copyfile(workdir / 'teacher' / name, os.path.join(entry, name))
  refused = _distill(capfd, data_dir, workdir)
  assert refused.returncode == 2
  (line,) = refused.stderr.strip().splitlines()
  assert line.startswith(f'jaxfer distill: error: the teacher artifact {workdir}/teacher is '
                         f'damaged: {workdir}/teacher/{name} ')
  assert line.endswith(f'; delete {workdir}/teacher to train the teacher again')
  shutil.rmtree(workdir / 'teacher')
  again = _distill(capfd, data_dir, workdir)
  assert again.returncode == 0, again.stderr
  assert 'copied from the store' not in again.stderr and 'teacher epoch   2/2' in again.stderr
  (warning,) = _damage_warnings(again.stderr)
  assert f'the stored teacher {entry} is damaged ({name} ' in warning


def test_damaged_logits_in_the_workdir_are_computed_again_from_the_checkpoint(
    entry, data_dir, tmp_path, capfd):
  workdir = tmp_path / 'run'
  assert _distill(capfd, data_dir, workdir).returncode == 0
  expected = _manifest(workdir / 'teacher')['logits_sha256']
  _damage(str(workdir / 'teacher'), 'truncated logits')
  again = _distill(capfd, data_dir, workdir)
  assert again.returncode == 0, again.stderr
  assert (f'{workdir}/teacher/logits.npz is not a readable .npz file of logits' in again.stderr
          or f'{workdir}/teacher/logits.npz does not match its sha256' in again.stderr)
  assert 'computing the logits again from the last checkpoint' in again.stderr
  assert 'teacher epoch' not in again.stderr
  assert _manifest(workdir / 'teacher')['logits_sha256'] == expected


def test_a_damaged_artifact_named_by_config_is_refused_naming_the_file(
    teacher_dir, test_config, tmp_path):
  directory = str(tmp_path / 'teacher')
  shutil.copytree(teacher_dir, directory)
  _cut_in_half(os.path.join(directory, 'result.json'))
  with pytest.raises(ValueError, match=f'the teacher artifact {directory} is damaged: '
                     f'{directory}/result.json does not match its sha256 checksum in '
                     'artifact.json; delete it and train the teacher again'):
    teacher.load(directory, data_lib.load(test_config.data))


def test_of_two_processes_finding_the_same_damage_one_sets_it_aside(entry, teacher_dir,
                                                                    caplog):
  caplog.set_level(logging.WARNING, logger='jaxfer')
  damage = teacher._Damaged(('logits.npz', 'is missing'))  # pylint: disable=protected-access
  examined = os.stat(entry)
  teacher._set_aside(entry, examined, damage)  # pylint: disable=protected-access
  (aside,) = glob.glob(f'{entry}.damaged-*')
  # The second finds it gone; then the teacher trained afresh is stored, and the second (late)
  # moves nothing either: only the folder it examined would be moved.
  teacher._set_aside(entry, examined, damage)  # pylint: disable=protected-access
  shutil.copytree(teacher_dir, entry, ignore=shutil.ignore_patterns('.lock', 'config.json'))
  teacher._set_aside(entry, examined, damage)  # pylint: disable=protected-access
  assert glob.glob(f'{entry}.damaged-*') == [aside] and os.path.isdir(entry)
  assert 'set aside as' in caplog.records[0].getMessage()
  assert [record.getMessage().endswith('another process has set it aside; training the teacher '
                                       'afresh') for record in caplog.records] == [False, True,
                                                                                   True]


@pytest.mark.slow
def test_two_workers_meeting_a_damaged_stored_teacher_both_finish(entry, data_dir, test_config,
                                                                  tmp_path):
  _damage(entry, 'truncated logits')
  workers = [subprocess.Popen(jaxfer_command(
      'distill', '--config', 'configs/test.py', '--workdir', str(tmp_path / f'run{number}'),
      f'--config.data.data_dir={data_dir}'), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for number in range(2)]
  errors = [worker.communicate(timeout=600)[1] for worker in workers]
  assert [worker.returncode for worker in workers] == [0, 0], errors
  assert sum('set aside as' in error for error in errors) == 1
  assert len(glob.glob(f'{entry}.damaged-*')) == 1
  assert teacher.load(entry, data_lib.load(test_config.data)).logits_sha256
