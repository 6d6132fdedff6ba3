"""The lock across processes that teachers, students, face nets and datasets are made under."""
import logging
import subprocess
import sys
import threading
import time

from conftest import REPO
from jaxfer import locks

HOLDER = '''
import sys
from jaxfer import locks
with locks.held(sys.argv[1], 'teacher'):
  print('held', flush=True)
  sys.stdin.readline()
'''


def test_a_folder_held_by_another_process_is_waited_for_and_then_taken(tmp_path, caplog):
  holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(tmp_path)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline() == 'held\n'
    taken = threading.Event()

    def take():
      with locks.held(str(tmp_path), 'teacher'):
        taken.set()

    with caplog.at_level(logging.INFO, logger='jaxfer'):
      waiter = threading.Thread(target=take)
      waiter.start()
      time.sleep(1.0)
      assert not taken.is_set()  # Excluded while the other process holds it.
      assert caplog.messages == [f'teacher: another process is working in {tmp_path}; waiting '
                                 'for it to finish']
      holder.stdin.write('release\n')
      holder.stdin.flush()
      waiter.join(timeout=30)
    assert taken.is_set()
  finally:
    holder.kill()
    holder.wait()


def test_a_lock_of_a_dead_process_is_free_and_taking_it_logs_nothing(tmp_path, caplog):
  holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(tmp_path)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline() == 'held\n'
  holder.kill()  # As a killed run: its lock file stays, its lock does not.
  holder.wait()
  with caplog.at_level(logging.INFO, logger='jaxfer'):
    with locks.held(str(tmp_path), 'student'):
      pass
  assert caplog.messages == []
  assert sorted(p.name for p in tmp_path.iterdir()) == [locks.LOCK_FILE]


def test_the_package_imports_without_fcntl_as_on_windows():
  script = '''
import sys, warnings
sys.modules['fcntl'] = None  # Windows has no fcntl: importing it fails.
warnings.simplefilter('ignore')  # filelock warns that it falls back to its soft lock here.
import jaxfer.cli, jaxfer.data, jaxfer.facenet2expnet, jaxfer.teacher, jaxfer.train
print('imported')
'''
  done = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True,
                        timeout=300)
  assert done.stdout == 'imported\n', done.stderr[-2000:]
