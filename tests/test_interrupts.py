"""Ctrl-C: not lost when Python drops it (inside a garbage-collection callback), one line and
exit status 130 from `jaxfer`, and a rerun that resumes to the same numbers."""
import gc
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, jaxfer_command, run_in_process
from configs import test
from jaxfer import cli
from jaxfer import crossval
from jaxfer import interrupts
from jaxfer import train


def test_a_ctrl_c_dropped_inside_a_gc_callback_is_raised_at_the_next_check():
  previous, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
  interrupts.install()

  def press_ctrl_c(phase, info):  # pylint: disable=unused-argument
    if phase == 'start':
      interrupts._handler(signal.SIGINT, None)  # pylint: disable=protected-access

  gc.callbacks.append(press_ctrl_c)
  try:
    gc.collect()  # The KeyboardInterrupt raised in the callback is dropped here.
  finally:
    gc.callbacks.remove(press_ctrl_c)
    signal.signal(signal.SIGINT, previous)
    sys.unraisablehook = hook
  with pytest.raises(KeyboardInterrupt):
    interrupts.check()
  interrupts.check()  # One press, one interrupt.


def test_a_ctrl_c_dropped_inside_a_gc_callback_prints_nothing():
  script = '''
import gc, signal
from jaxfer import interrupts
interrupts.install()
def press_ctrl_c(phase, info):
  if phase == 'start':
    interrupts._handler(signal.SIGINT, None)
gc.callbacks.append(press_ctrl_c)
gc.collect()
gc.callbacks.remove(press_ctrl_c)
try:
  interrupts.check()
except KeyboardInterrupt:
  print('raised at the check')
'''
  done = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True,
                        timeout=60)
  assert done.returncode == 0, done.stderr
  assert done.stdout == 'raised at the check\n'
  assert done.stderr == ''  # Python prints 'Exception ignored in ...' and a traceback otherwise.


def test_check_is_silent_when_nothing_was_pressed():
  previous, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
  interrupts.install()
  signal.signal(signal.SIGINT, previous)
  sys.unraisablehook = hook
  interrupts.check()


# Enough epochs that a Ctrl-C sent after the first checkpoint lands while the model trains.
TEACHER_EPOCHS, STUDENT_EPOCHS, FOLDS = 12, 16, 2
LONGER = (f'--config.teacher.num_epochs={TEACHER_EPOCHS}',
          f'--config.student.num_epochs={STUDENT_EPOCHS}')
INTERRUPTED = 'jaxfer distill: interrupted; run the same command again to resume'
CV = ('--cv', f'--config.data.num_folds={FOLDS}')
# Where each run is, not what it found: these differ between two runs of the same config.
PLACES = ('workdir', 'checkpoint_dir', 'teacher_artifact', 'train_seconds')


def _distill(workdir, data_dir, *extra):
  return jaxfer_command('distill', '--config', 'configs/test.py', '--workdir', str(workdir),
                        f'--config.data.data_dir={data_dir}', *LONGER, *extra)


def _numbers(workdir):
  """result.json of `workdir` without the fields that name places and times."""
  result = json.loads((workdir / 'result.json').read_text())
  return {key: value for key, value in result.items() if key not in PLACES}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, data_dir):
  """`_numbers` of what `jaxfer distill` with LONGER, and the same with --cv, run: the function
  each calls, here in the test's process, uninterrupted."""
  config = test.get_config()
  config.data.data_dir = data_dir
  config.teacher.num_epochs, config.student.num_epochs = TEACHER_EPOCHS, STUDENT_EPOCHS
  found = {'distill': tmp_path_factory.mktemp('uninterrupted_distill'),
           'cv': tmp_path_factory.mktemp('uninterrupted_cv')}
  train.train_and_evaluate(config, str(found['distill']))
  config.data.num_folds = FOLDS
  crossval.cross_validate(config, str(found['cv']))
  return {name: _numbers(workdir) for name, workdir in found.items()}


def _wait_for_a_checkpoint(process, directory, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.isdir(directory) and any(name.isdigit() for name in os.listdir(directory)):
      return
    if process.poll() is not None:
      raise AssertionError(f'the run ended before its first checkpoint in {directory}: '
                           f'{process.communicate()}')
    time.sleep(0.02)
  raise AssertionError(f'no checkpoint in {directory} after {timeout}s')


def _interrupt(command, checkpoints):
  """Runs `command`, presses Ctrl-C once `checkpoints` holds a checkpoint; returns its log."""
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
  _wait_for_a_checkpoint(process, checkpoints)
  process.send_signal(signal.SIGINT)  # Ctrl-C.
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == 130, stderr[-3000:]
  # The log ends in the one line that says so; no result reaches stdout.
  assert [line for line in stderr.splitlines() if line.strip()][-1] == INTERRUPTED
  assert stderr.count(INTERRUPTED) == 1 and stdout == ''
  for words in ('traceback', 'exception', 'cannot schedule new futures'):  # Orbax's threads too.
    assert words not in (stdout + stderr).lower()
  # Interrupted while the model trained: it has no result yet.
  model = os.path.dirname(str(checkpoints))
  assert not os.path.exists(os.path.join(model, 'result.json'))
  assert not os.path.exists(os.path.join(model, 'artifact.json'))
  return stderr


@pytest.mark.slow
@pytest.mark.parametrize('run,models', [('distill', ('teacher', 'student')),
                                        ('cv', ('fold_1/student',))])
def test_ctrl_c_during_distill_is_one_line_and_exit_130_and_the_rerun_gives_the_same_numbers(
    tmp_path, data_dir, uninterrupted, capfd, run, models):
  """Ctrl-C while each model trains; each run after that resumes the model it interrupted (a
  distill interrupted in its teacher and then in its student), and the last gives the numbers
  of an uninterrupted run. The last rerun runs in the test's process: the signal handling is the
  interrupted processes'."""
  workdir = tmp_path / 'run'
  command = _distill(workdir, data_dir, *(CV if run == 'cv' else ()))
  _interrupt(command, workdir / models[0] / 'checkpoints')
  for interrupted, model in zip(models, models[1:]):
    log = _interrupt(command, workdir / model / 'checkpoints')
    assert f'{os.path.basename(interrupted)}: resumed from the checkpoint of epoch' in log
    assert 'cannot be restored' not in log

  rerun = run_in_process(cli.main, capfd, *command[3:])
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f'{os.path.basename(models[-1])}: resumed from the checkpoint of epoch' in rerun.stderr
  assert 'cannot be restored' not in rerun.stdout + rerun.stderr  # The last one was intact.
  assert _numbers(workdir) == uninterrupted[run]


def _script(body):
  """Runs `body` (Python, after `from jaxfer import interrupts` and `interrupts.install()`) in a
  process of its own, where real SIGINTs are sent with `press()`; returns its output."""
  script = ('import os, signal, sys, threading, time\n'
            'from jaxfer import interrupts\n'
            'interrupts.install()\n'
            'def press(after=0.0):\n'
            '  threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT)).start()\n' + body)
  done = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True,
                        timeout=120)
  assert done.returncode == 0, done.stderr
  assert done.stderr == ''
  return done.stdout.splitlines()


def test_a_second_ctrl_c_while_the_first_is_handled_is_remembered_not_raised():
  assert _script('''
try:
  press()
  time.sleep(60)
except KeyboardInterrupt:
  press()
  time.sleep(0.5)  # Cleaning up: the second press lands here.
  print('cleaned up')
try:
  interrupts.check()
except KeyboardInterrupt:
  print('remembered')
''') == ['cleaned up', 'remembered']


def test_immediate_raises_a_ctrl_c_pressed_in_a_deferred_block_and_lets_the_next_land():
  assert _script('''
with interrupts.deferred():
  press()
  time.sleep(0.5)
  print('deferred')
  try:
    with interrupts.immediate():
      print('not reached')
  except KeyboardInterrupt:
    print('raised as immediate() began')
''') == ['deferred', 'raised as immediate() began']
  assert _script('''
with interrupts.deferred():
  try:
    with interrupts.immediate():
      press(0.2)
      time.sleep(60)
  except KeyboardInterrupt:
    print('raised where it landed')
''') == ['raised where it landed']


def test_sleep_ends_on_ctrl_c_inside_a_deferred_block():
  assert _script('''
with interrupts.deferred():
  press(0.2)
  try:
    interrupts.sleep(600)  # The subprocess's timeout is far shorter.
  except KeyboardInterrupt:
    print('woken')
''') == ['woken']


@pytest.mark.parametrize('module', ['jax', 'tensorstore'])
def test_ctrl_c_while_a_compiled_library_loads_is_raised_once_it_has_loaded(module):
  # JAX crashes the interpreter (at once or seconds later), and tensorstore fails to import, when
  # a KeyboardInterrupt cuts their import short; deferred, each press lands after, with the
  # library whole. Presses at several moments of the import.
  for after in (0.02, 0.05, 0.1, 0.2, 0.4):
    assert _script(f'''
press({after})
try:
  import {module}
  time.sleep(60)
except KeyboardInterrupt:
  print('interrupted', '{module}' in sys.modules)  # Imported whole: not taken out again.
''') == ['interrupted True']  # Neither a crash nor an ImportError.


# Seconds after the start: while the command line is read, JAX is imported, the dataset is
# prepared, the first programs compile, and the teacher trains.
EARLY_S = (0.1, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0)


@pytest.mark.slow
def test_ctrl_c_on_distill_at_any_early_moment_is_one_line_and_exit_130(tmp_path, data_dir):
  for moment in EARLY_S:
    process = subprocess.Popen(_distill(tmp_path / 'run', data_dir), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    time.sleep(moment)
    os.killpg(process.pid, signal.SIGINT)  # As a terminal sends Ctrl-C.
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (moment, stderr[-3000:])  # Not a crash (-11) or -2.
    assert stdout == ''
    assert stderr.strip().splitlines()[-1] in (INTERRUPTED, 'jaxfer: interrupted'), stderr
    for words in ('traceback', 'exception', 'error'):
      assert words not in stderr.lower(), (moment, stderr[-3000:])


def test_a_ctrl_c_is_raised_in_the_main_thread_only_never_in_an_import_of_another():
  # Orbax saves a checkpoint in threads of its own, which import modules as they go: a Ctrl-C
  # raised there would cut the save short.
  assert _script('''
outcome = []
def save():
  try:
    import json, uuid  # Imports in another thread, with a Ctrl-C pending.
    with interrupts.deferred():
      pass
    interrupts.check()
    outcome.append('whole')
  except KeyboardInterrupt:
    outcome.append('cut short')
with interrupts.deferred():
  press()
  time.sleep(0.5)
  worker = threading.Thread(target=save)
  worker.start()
  worker.join()
print(outcome[0])
try:
  interrupts.check()
except KeyboardInterrupt:
  print('raised in the main thread')
''') == ['whole', 'raised in the main thread']
