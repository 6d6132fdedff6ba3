"""A storage password, whatever characters it holds, never shows: not in a message, a log, a file,
a study or trial attribute, nor on the command line of a worker that `run --workers` starts.

"Shows" means any 4 characters in a row of the password, as a user typed it or percent-encoded.
Only loopback addresses are contacted: 127.0.0.1 port 1 is closed, 5432 is the test server.
"""
import json
import logging
import os
import subprocess
import time
import urllib.parse
import uuid

import optuna
import pytest
import sqlalchemy

from conftest import (PASSWORD, REPO, assert_finished_exactly, file_times, postgres_admin,
                      run_in_process, search_command)
from search import cli as search_cli
from search import storage

PASSWORDS = {
    'space': 'Zq6 space',
    'at signs': 'p@ss@word',
    'colon slash percent': 'pa:ss/wo%rd',
    'space at colon': 'sp ace@at:col',
    'quotes': 'qu\'ote"d',
    'non-ASCII': 'ünïcode-pw',
    'plain': 'pw-4f9c2e7d',
}
CLOSED = '127.0.0.1:1'
SERVER = '127.0.0.1:5432'
NOT_A_URL = "does not read as a URL: write any '@', ':' or '/' of its user name or secret as %40"


def _pieces(*secrets):
  return {secret[i:i + 4] for secret in secrets for i in range(len(secret) - 3)}


def _shown(text, *secrets):
  """The 4-character pieces of `secrets` in `text` (str or bytes)."""
  if isinstance(text, bytes):
    return sorted(p for p in _pieces(*secrets) if p.encode() in text)
  return sorted(p for p in _pieces(*secrets) if p in text)


def _url(written, where=CLOSED, database='db'):
  return f'postgresql://postgres:{written}@{where}/{database}'


def _opened(where, database):
  return f'cannot open the study storage postgresql://postgres:***@{where}/{database}: '


# id: (the password, as written in the URL, the --storage value, the environment's additions,
# words of the error line: a string, or a tuple of them).
CASES = {}
for _name, _password in PASSWORDS.items():
  _encoded = urllib.parse.quote(_password, safe='')
  if _encoded != _password:
    CASES[f'{_name}, encoded, closed port'] = (_password, _encoded, _url(_encoded), {},
                                               (_opened(CLOSED, 'db'), 'Connection refused'))
  CASES[f'{_name}, as typed, closed port'] = (
      _password, _password, _url(_password), {},
      f'config.search.storage {NOT_A_URL}' if '@' in _password else
      (_opened(CLOSED, 'db'), 'Connection refused'))
_QUOTES = urllib.parse.quote(PASSWORDS['quotes'], safe='')
CASES.update({
    'space, as typed, no study in the database (the case reported)': (
        'Zq6 space', 'Zq6 space', _url('Zq6 space', SERVER, 'test'), {},
        "no study named 'test' in postgresql://postgres:***@127.0.0.1:5432/test"),
    'space, as typed, no such database': (
        'Zq6 space', 'Zq6 space', _url('Zq6 space', SERVER, 'jaxfer_no_such_db'), {},
        (_opened(SERVER, 'jaxfer_no_such_db'),
         'database "jaxfer_no_such_db" does not exist')),
    'quotes, encoded, no such database': (
        PASSWORDS['quotes'], _QUOTES, _url(_QUOTES, SERVER, 'jaxfer_no_such_db'), {},
        'does not exist'),
    'non-ASCII, as typed, no such database': (
        PASSWORDS['non-ASCII'], PASSWORDS['non-ASCII'],
        _url(PASSWORDS['non-ASCII'], SERVER, 'jaxfer_no_such_db'), {}, 'does not exist'),
    'space in password=, closed port': (
        'Zq6 space', 'Zq6 space', f'postgresql://postgres@{CLOSED}/db?password=Zq6 space', {},
        f'cannot open the study storage postgresql://postgres@{CLOSED}/db?password=***: '),
    'at signs in password=': (
        'p@ss@word', 'p@ss@word', f'postgresql://postgres@{SERVER}/db?password=p@ss@word', {},
        f'config.search.storage {NOT_A_URL}'),
    'space, in env:VARIABLE, closed port': (
        'Zq6 space', 'Zq6 space', 'env:JAXFER_TEST_STORAGE',
        {'JAXFER_TEST_STORAGE': _url('Zq6 space')}, (_opened(CLOSED, 'db'), 'Connection refused')),
    'at signs, in env:VARIABLE': (
        'p@ss@word', 'p@ss@word', 'env:JAXFER_TEST_STORAGE',
        {'JAXFER_TEST_STORAGE': _url('p@ss@word')},
        "config.search.storage = 'env:JAXFER_TEST_STORAGE': the URL in $JAXFER_TEST_STORAGE "
        + NOT_A_URL),
})


# These run as the user runs them, in a process of their own (whatever Python itself prints at
# exit is read too); the rest call the same `main` in the test's process, output read from its
# file descriptors, a second apiece instead of four.
AS_A_PROCESS = ('space, as typed, no study in the database (the case reported)',
                'space, in env:VARIABLE, closed port')


@pytest.mark.parametrize('case', list(CASES))
def test_a_storage_that_fails_is_one_line_exit_2_without_any_piece_of_its_password(
    case, tmp_path, data_dir, capfd, monkeypatch):
  password, written, url, environment, expected = CASES[case]
  before = file_times(tmp_path)
  arguments = ['report', '--config', 'configs/search_test.py', '--workdir', str(tmp_path / 'run'),
               f'--config.data.data_dir={data_dir}', '--storage', url]
  if case in AS_A_PROCESS:
    done = subprocess.run(search_command(*arguments), cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **environment})
  else:
    from search import cli  # pylint: disable=g-import-not-at-top
    for name, value in environment.items():
      monkeypatch.setenv(name, value)
    done = run_in_process(cli.main, capfd, *arguments)
  lines = [line for line in done.stderr.splitlines() if 'deprecated' not in line]
  assert done.returncode == 2, done.stderr[-2000:]
  assert len(lines) == 1 and lines[0] and 'Traceback' not in done.stderr, done.stderr
  assert all(words in lines[0] for words in ((expected,) if isinstance(expected, str) else
                                              expected)), lines[0]
  assert not _shown(done.stdout + done.stderr, password, written), lines[0]
  assert file_times(tmp_path) == before == {}


# A space and an '@' (written %40, as the message for an unencoded one asks). No 4-character
# piece of either is made of hex digits alone: checkpoints hold hex ids, and a piece like '40ce'
# turned up in an orbax manifest by chance.
RUN_PASSWORD = 'Zq6 sp@Qk-9x'
RUN_WRITTEN = 'Zq6 sp%40Qk-9x'


@pytest.fixture
def postgres_role_url():
  """A PostgreSQL role with the password RUN_PASSWORD and a database it owns (made here, dropped
  after), as a storage URL; skips without a server."""
  pytest.importorskip('psycopg')
  from psycopg import sql  # pylint: disable=g-import-not-at-top
  name = f'jaxfer_secret_{uuid.uuid4().hex[:10]}'
  with postgres_admin() as admin:
    admin.execute(sql.SQL('CREATE ROLE {} LOGIN PASSWORD {}').format(
        sql.Identifier(name), sql.Literal(RUN_PASSWORD)))
    admin.execute(sql.SQL('CREATE DATABASE {} OWNER {}').format(sql.Identifier(name),
                                                              sql.Identifier(name)))
  try:
    yield f'postgresql://{name}:{RUN_WRITTEN}@{SERVER}/{name}'
  finally:
    with postgres_admin() as admin:
      admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(
          sql.Identifier(name)))
      admin.execute(sql.SQL('DROP ROLE IF EXISTS {}').format(sql.Identifier(name)))


def _children_arguments(pid):
  """The command lines (lists of bytes) of the running children of process `pid`."""
  found = []
  for entry in os.listdir('/proc'):
    if not entry.isdigit():
      continue
    try:
      with open(f'/proc/{entry}/stat') as f:
        parent = int(f.read().rsplit(')', 1)[1].split()[1])
      if parent == pid:
        with open(f'/proc/{entry}/cmdline', 'rb') as f:
          found.append(f.read().split(b'\0'))
    except (OSError, ValueError, IndexError):  # It ended while read.
      continue
  return found


def _database_rows(url):
  engine = sqlalchemy.create_engine(url.replace('postgresql://', 'postgresql+psycopg://'))
  try:
    with engine.connect() as connection:
      metadata = sqlalchemy.MetaData()
      metadata.reflect(connection)
      return [str(row) for table in metadata.sorted_tables
              for row in connection.execute(table.select())]
  finally:
    engine.dispose()


@pytest.mark.slow
def test_two_workers_on_postgresql_finish_exactly_n_trials_showing_no_piece_of_a_password(
    tmp_path, data_dir, postgres_role_url, capfd):
  run_dir, best = tmp_path / 'run', tmp_path / 'best'
  common = ['--config', 'configs/search_test.py', '--workdir', str(run_dir),
            f'--config.data.data_dir={data_dir}', '--config.search.folds_per_trial=1',
            f'--storage={postgres_role_url}']
  secrets = (RUN_PASSWORD, RUN_WRITTEN)
  with open(tmp_path / 'run.log', 'w') as log:
    run = subprocess.Popen(search_command('run', *common, '--workers=2', '--n_trials=2'),
                           cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    helpers = []
    while run.poll() is None and not helpers:  # The helper lives as long as the study runs.
      helpers = [a for a in _children_arguments(run.pid) if b'worker' in a]
      time.sleep(0.1)
    run.wait(timeout=900)
  output = (tmp_path / 'run.log').read_text()
  assert run.returncode == 0, output[-3000:]
  assert len(helpers) == 1, 'the helper worker was not seen running'
  assert not _shown(b' '.join(helpers[0]), *secrets), helpers[0]
  assert 'worker done: study test has' in (run_dir / 'worker_1.log').read_text()
  # Warned once, by the command the password was given to; its helper read it from its
  # environment.
  assert output.count('holds a password, which every user of this machine can read') == 1
  assert 'holds a password' not in (run_dir / 'worker_1.log').read_text()
  export = run_in_process(search_cli.main, capfd, 'export-best', *common, '--knee', '--out', best)
  assert export.returncode == 0, export.stderr[-2000:]

  masked = storage.redact(postgres_role_url, postgres_role_url)
  assert masked.endswith(f':***@{SERVER}/{masked.rsplit("/", 1)[1]}')
  backend = storage.make_storage(postgres_role_url)
  study = optuna.load_study(study_name='test', storage=backend)
  assert_finished_exactly(study, 2)
  assert masked in study.user_attrs['command']  # Recorded, masked.
  # A surplus trial (two workers raced for the last one) never runs and records no config.
  assert {t.user_attrs['config']['search']['storage'] for t in study.trials
          if not t.user_attrs.get('surplus')} == {masked}
  attributes = [study.user_attrs,
                backend.get_study_system_attrs(backend.get_study_id_from_name('test'))]
  attributes += [a for t in study.trials for a in (t.user_attrs, t.system_attrs)]
  assert not _shown(json.dumps(attributes, ensure_ascii=False), *secrets)
  # Every row of every table of the study's database, whatever Optuna keeps there.
  assert not _shown('\n'.join(_database_rows(postgres_role_url)), *secrets)
  files = [os.path.join(root, name) for folder in (run_dir, best)
           for root, _, names in os.walk(folder) for name in names]
  assert any(p.endswith('config.json') for p in files) and any(
      p.endswith('worker_1.log') for p in files)
  for path in files:
    with open(path, 'rb') as f:
      assert not _shown(f.read(), *secrets), path
  assert not _shown(output + export.stdout + export.stderr, *secrets)


@pytest.mark.parametrize('arguments,warned', [
    (['run', '--storage', f'postgresql://alice:{PASSWORD}@db.example/studies'], True),
    (['run', f'--storage=postgresql://alice:{PASSWORD}@db.example/studies'], True),
    (['run', f'--config.search.storage=postgresql://db.example/s?password={PASSWORD}'], True),
    (['run', '--storage=env:STUDY_URL'], False),
    (['run', '--storage=postgresql://alice@db.example/studies'], False),
    (['run', '--storage=sqlite:///runs/study.db'], False),
])
def test_a_password_on_the_command_line_is_warned_of_in_one_line_without_it(arguments, warned,
                                                                            caplog):
  with caplog.at_level(logging.WARNING, logger='jaxfer'):
    search_cli._warn_of_password_in_arguments(arguments)  # pylint: disable=protected-access
  lines = [record.getMessage() for record in caplog.records]
  assert len(lines) == warned
  if warned:
    assert 'env:VARIABLE' in lines[0] and PASSWORD not in lines[0]
