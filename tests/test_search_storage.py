"""Where studies live: passwords never shown, read-only commands never create, bad input refused.

Commands that fail on their input are run in-process (`cli.main`): they stop before logging is
set up or anything is created; the rest run as subprocesses, as a user runs them.
"""
import logging
import os
import sys
import unicodedata
import warnings

import optuna
import pytest
import sqlalchemy

from conftest import PASSWORD, run_in_process
from configs import search_test
from search import cli
from search import storage
from search import workers


def _common(run_dir, data_dir, *extra):
  return ['--config', 'configs/search_test.py', '--workdir', str(run_dir),
          f'--config.data.data_dir={data_dir}', *extra]


@pytest.mark.parametrize('url,expected', [
    ('postgresql://alice:s3cret@db.example:5432/studies',
     'postgresql://alice:***@db.example:5432/studies'),
    ('postgresql://:s3cret@db.example/studies', 'postgresql://:***@db.example/studies'),
    ('postgresql://db.example/studies?password=s3cret', 'postgresql://db.example/studies?password=***'),
    ('postgresql://db.example/studies?sslmode=require&password=s3cret&connect_timeout=5',
     'postgresql://db.example/studies?sslmode=require&password=***&connect_timeout=5'),
    ('postgresql://alice:p%40ss@db.example/studies', 'postgresql://alice:***@db.example/studies'),
    # Unencoded: a space, '@' (masked up to the last '@'), ':' and '/', quotes.
    ('postgresql://alice:Zq6 space@db.example/studies',
     'postgresql://alice:***@db.example/studies'),
    ('postgresql://alice:p@ss@word@db.example/studies',
     'postgresql://alice:***@db.example/studies'),
    ('postgresql://alice:sp ace@at:col@db.example/studies',
     'postgresql://alice:***@db.example/studies'),
    ('postgresql://alice:pa:ss/wo%rd@db.example/studies',
     'postgresql://alice:***@db.example/studies'),
    ('postgresql://alice:qu\'ote"d@db.example/studies',
     'postgresql://alice:***@db.example/studies'),
    ('postgresql://db.example/studies?password=Zq6 space&sslmode=require',
     'postgresql://db.example/studies?password=***&sslmode=require'),
])
def test_every_form_of_password_in_a_url_is_masked(url, expected):
  assert storage.redact(url) == expected
  secret = storage.passwords(url)[0]
  message = f'connection to {url} failed: password {secret} rejected for "{secret}"'
  assert secret not in storage.redact(message, url)


@pytest.mark.parametrize('text', [
    # The host a driver saw after an unencoded '@', and the port after an unencoded ':'.
    "failed to resolve host 'ss@word@127.0.0.1'",
    "invalid port 'at:col@127.0.0.1'",
    # Escaped by JSON and by repr(), percent-encoded, in the other Unicode normal form.
    '{"storage": "postgresql://alice:qu\'ote\\"d@h/db"}',
    "password 'qu\\'ote\"d' and Zq6%20space and Zq6+space",
    unicodedata.normalize('NFD', 'ünïcode-pw'),
])
def test_a_password_s_pieces_and_written_forms_in_a_message_are_masked(text):
  url = ("postgresql://alice:p@ss@word@h/db?password=sp ace@at:col&password=qu'ote\"d"
         '&password=Zq6 space&password=ünïcode-pw')
  masked = storage.redact(text, url)
  secrets = ['p@ss@word', 'sp ace@at:col', 'qu\'ote"d', 'Zq6 space', 'ünïcode-pw']
  shown = {s[i:i + 4] for s in secrets for i in range(len(s) - 3)}
  assert '***' in masked and not [piece for piece in shown if piece in masked], masked


def test_a_url_in_the_environment_is_read_and_its_password_masked(tmp_path, monkeypatch):
  url = 'postgresql://alice:Zq6 space@db.example/studies'
  monkeypatch.setenv('JAXFER_TEST_URL', url)
  assert storage.storage_url('env:JAXFER_TEST_URL', str(tmp_path)) == url
  assert storage.public_url('env:JAXFER_TEST_URL') == 'postgresql://alice:***@db.example/studies'
  assert storage.redact(f'cannot reach {url}', 'env:JAXFER_TEST_URL') == (
      'cannot reach postgresql://alice:***@db.example/studies')


def test_a_logged_exception_is_masked_traceback_and_all():
  url = 'postgresql://alice:Zq6 space@db.example/studies'
  try:
    raise ValueError(f'cannot reach {url}')
  except ValueError:
    import sys  # pylint: disable=g-import-not-at-top
    record = logging.LogRecord('jaxfer', logging.ERROR, __file__, 1, 'failed on %s', (url,),
                               sys.exc_info())
  assert storage.RedactingFilter(url).filter(record)
  text = logging.Formatter().format(record)
  assert 'ValueError: cannot reach postgresql://alice:***@' in text and 'space' not in text


@pytest.mark.parametrize('url', ['postgresql://alice:s3cret@127.0.0.1:1/none',
                                 'postgresql://:s3cret@127.0.0.1:1/none',
                                 'postgresql://127.0.0.1:1/none?password=s3cret'])
def test_a_storage_that_cannot_be_opened_is_named_without_its_password(url):
  with pytest.raises(ValueError, match='cannot open the study storage') as error:
    storage.make_storage(url)
  assert 's3cret' not in str(error.value) and '***' in str(error.value)


@pytest.mark.slow
def test_a_storage_password_never_reaches_attributes_files_logs_or_messages(
    tmp_path, data_dir, postgres_url, capfd):
  run_dir = tmp_path / 'run'
  outputs = []

  def command(*args, status=0):
    done = run_in_process(cli.main, capfd, *args)
    assert done.returncode == status, done.stdout[-2000:] + done.stderr[-2000:]
    outputs.append(done.stdout + done.stderr)

  # The password given in the documented config field, then with --storage.
  command('worker', *_common(run_dir, data_dir, f'--config.search.storage={postgres_url}',
                             '--n_trials=1', '--config.search.folds_per_trial=1'))
  command('report', *_common(run_dir, data_dir, f'--storage={postgres_url}',
                             '--config.search.folds_per_trial=1'))
  command('export-best', *_common(run_dir, data_dir, f'--storage={postgres_url}', '--knee',
                                  '--config.search.folds_per_trial=1', '--out',
                                  str(tmp_path / 'best')))
  command('report', *_common(run_dir, data_dir, f'--storage={postgres_url}', '--study=nope'),
          status=2)
  assert 'no study named' in outputs[-1] and ':***@127.0.0.1' in outputs[-1]
  assert 'pareto.html' in outputs[1]  # The report was written.

  study = optuna.load_study(study_name='test', storage=storage.make_storage(postgres_url))
  assert 'run_config' in study.user_attrs and 'config' in study.trials[0].user_attrs
  # Every row of every table of the study's database: attributes of studies and trials alike.
  engine = sqlalchemy.create_engine(postgres_url.replace('postgresql://',
                                                         'postgresql+psycopg://'))
  try:
    with engine.connect() as connection:
      metadata = sqlalchemy.MetaData()
      metadata.reflect(connection)
      rows = [str(row) for table in metadata.sorted_tables
              for row in connection.execute(table.select())]
  finally:
    engine.dispose()
  assert any('run_config' in row for row in rows)
  assert not [row for row in rows if PASSWORD in row]
  files = [os.path.join(root, name) for folder in (run_dir, tmp_path / 'best')
           for root, _, names in os.walk(folder) for name in names]
  assert any(path.endswith('pareto.html') for path in files)
  assert any(path.endswith('config.json') for path in files)
  for path in files:
    with open(path, 'rb') as f:
      assert PASSWORD.encode() not in f.read(), path
  for output in outputs:
    assert PASSWORD not in output


def _empty_study(run_dir, data_dir, storage_url=''):
  """A study that exists and has no trials (created as `run` creates it, nothing trained)."""
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.storage = storage_url
  return workers.open_study(config, str(run_dir))


@pytest.mark.parametrize('objectives', [('accuracy', 'size'), ('accuracy', 'size', 'latency')])
def test_every_study_names_its_objectives_for_the_dashboard(tmp_path, data_dir, objectives):
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.objectives = objectives
  workers.open_study(config, str(tmp_path))
  study = optuna.load_study(study_name='test', storage=storage.storage_url('', tmp_path))
  assert study.metric_names == ['accuracy', 'size_bytes', 'latency_ms'][:len(objectives)]


@pytest.mark.parametrize('kind', ['sqlite', 'journal'])
def test_opening_a_study_shows_no_experimental_warning_and_leaves_the_filters_as_they_were(
    tmp_path, data_dir, kind):
  config = search_test.get_config()
  config.data.data_dir = data_dir
  config.search.storage = f'journal:{tmp_path}/journal.log' if kind == 'journal' else ''
  with warnings.catch_warnings(record=True) as shown:
    warnings.simplefilter('always')  # Every warning reaches `shown`, however often it repeats.
    before = list(warnings.filters)
    study = workers.open_study(config, str(tmp_path))
    trial = study.ask()
    storage.queue_again(study, study.tell(trial.number, state=optuna.trial.TrialState.FAIL), 2)
    storage.load_study('test', str(tmp_path), config.search.storage)
    after = list(warnings.filters)
  assert after == before
  assert [w for w in shown if issubclass(w.category, optuna.exceptions.ExperimentalWarning)] == []
  # The failed trial was queued again, so the quieted call did its work.
  assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.FAIL,
                                                   optuna.trial.TrialState.WAITING]


@pytest.mark.parametrize('command', ['report', 'export-best'])
def test_read_only_commands_on_a_mistyped_study_create_nothing(tmp_path, data_dir, capsys,
                                                                command):
  run_dir = tmp_path / 'run'
  _empty_study(run_dir, data_dir)
  database = run_dir / 'study.db'
  before = (sorted(os.listdir(run_dir)), database.stat().st_mtime_ns)
  extra = ['--knee', '--out', str(tmp_path / 'best')] if command == 'export-best' else []
  status = cli.main([command, *_common(run_dir, data_dir, '--study=tset', *extra)])
  err = capsys.readouterr().err
  assert status == 2 and err.count('\n') == 1
  assert (f"error: no study named 'tset' in sqlite:///{database}; the storage holds: 'test'"
          in err)
  assert (sorted(os.listdir(run_dir)), database.stat().st_mtime_ns) == before
  names = [s.study_name for s in optuna.get_all_study_summaries(f'sqlite:///{database}')]
  assert names == ['test'] and not (tmp_path / 'best').exists()


@pytest.mark.parametrize('where', ['run directory', 'journal file'])
def test_read_only_commands_on_a_mistyped_path_create_nothing(tmp_path, data_dir, capsys, where):
  run_dir = tmp_path / 'mistyped'
  extra = [f'--storage=journal:{tmp_path}/mistyped.log'] if where == 'journal file' else []
  status = cli.main(['report', *_common(run_dir, data_dir, *extra)])
  err = capsys.readouterr().err
  assert status == 2 and 'the storage holds: no study' in err
  assert os.listdir(tmp_path) == []


def test_read_only_commands_create_no_table_in_a_postgresql_database(tmp_path, data_dir, capsys,
                                                                     postgres_url):
  status = cli.main(['report', *_common(tmp_path / 'run', data_dir, f'--storage={postgres_url}')])
  err = capsys.readouterr().err
  assert status == 2 and 'the storage holds: no study' in err and PASSWORD not in err
  engine = sqlalchemy.create_engine(postgres_url.replace('postgresql://',
                                                         'postgresql+psycopg://'))
  try:
    assert sqlalchemy.inspect(engine).get_table_names() == []
  finally:
    engine.dispose()
  assert os.listdir(tmp_path) == []


def test_a_postgresql_storage_without_its_driver_names_the_extra_and_creates_nothing(
    tmp_path, data_dir, capsys, monkeypatch):
  monkeypatch.setitem(sys.modules, 'psycopg', None)  # As in an install without [postgres].
  run_dir = tmp_path / 'run'
  status = cli.main(['run', *_common(run_dir, data_dir),
                     f'--storage=postgresql://alice:{PASSWORD}@127.0.0.1:5432/test'])
  err = capsys.readouterr().err
  assert status == 2
  assert err.count('\n') == 1, err
  assert 'config.search.storage is a PostgreSQL URL' in err
  assert 'pip install -e ".[postgres]"' in err
  assert PASSWORD not in err
  assert not run_dir.exists()


def test_report_on_a_study_without_trials_says_so(tmp_path, data_dir, capfd):
  run_dir = tmp_path / 'run'
  _empty_study(run_dir, data_dir)
  done = run_in_process(cli.main, capfd, 'report', *_common(run_dir, data_dir))
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'No trial has completed yet' in done.stdout
  assert 'log-scaled' not in done.stdout + done.stderr


def _a_file(tmp_path):
  path = tmp_path / 'a_file'
  path.write_text('not a folder')
  return str(path)


# (command, arguments besides --config and --workdir, what the one-line error says); {file} is a
# file in the test's folder, and arguments may replace --config and --workdir.
BAD_INPUT = {
    'zero trials': ('run', ['--n_trials=0'], 'flag --n_trials=0: 0 is not a positive integer'),
    'unknown sampler': ('run', ['--config.search.sampler=bayes'],
                        "config.search.sampler = 'bayes' is not allowed; choose one of: "
                        'size-aware, tpe, nsga2, gp, random, grid-paper'),
    'space beyond what a run allows': ('run', ['--config.search.space.lam.high=1.5'],
                                       'config.search.space.lam: the value 1.5 gives a run '
                                       'config that is not allowed (config.distill.lam = 1.5'),
    'unknown objective': ('run', ["--config.search.objectives=('accuracy', 'size', 'speed')"],
                          "config.search.objectives has 'speed'; choose among: accuracy, size, "
                          'latency'),
    'more folds per trial than folds': ('run', ['--config.search.folds_per_trial=3'],
                                        'config.search.folds_per_trial = 3 is more than '
                                        'config.data.num_folds = 2'),
    'no replicates': ('run', ['--config.search.replicates=0'],
                      'config.search.replicates = 0 is not allowed'),
    'storage that is not a URL': ('worker', ['--storage=postgres-db.example'],
                                  "config.search.storage = 'postgres-db.example' is not allowed"),
    'storage password with an unencoded @': (
        'run', ['--storage=postgresql://alice:p@ss@word@127.0.0.1:1/db'],
        "config.search.storage does not read as a URL: write any '@', ':' or '/' of its user "
        "name or secret as %40, %3A or %2F; got 'postgresql://alice:***@127.0.0.1:1/db'"),
    'storage in an unset environment variable': (
        'worker', ['--storage=env:JAXFER_TEST_UNSET'],
        "config.search.storage = 'env:JAXFER_TEST_UNSET' names an environment variable that is "
        'not set'),
    'run directory below a file': ('run', ['--workdir={file}/run'],
                                   '{file} is a file, not a folder'),
    'unknown override': ('run', ['--config.search.n_trails=3'],
                         'has no field config.search.n_trails; did you mean '
                         'config.search.n_trials?'),
    'a run config as search config': ('run', ['--config=configs/test.py'],
                                      'the config has no search section'),
}


@pytest.mark.parametrize('case', list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_creates_nothing(case, tmp_path, data_dir, capsys):
  command, extra, expected = BAD_INPUT[case]
  a_file = _a_file(tmp_path)
  extra = [argument.replace('{file}', a_file) for argument in extra]
  given = {argument.split('=')[0] for argument in extra}
  defaults = [f'--config={"configs/search_test.py"}', f'--workdir={tmp_path / "run"}']
  arguments = [a for a in defaults if a.split('=')[0] not in given]
  arguments += [f'--config.data.data_dir={data_dir}', *extra]
  before = sorted(os.listdir(tmp_path))
  status = cli.main([command, *arguments])
  err = capsys.readouterr().err
  assert status == 2
  assert err.count('\n') == 1 and 'Traceback' not in err, err
  assert expected.replace('{file}', a_file) in err
  assert sorted(os.listdir(tmp_path)) == before  # Nothing created.


# Asked by hand here, where the worker loop has Optuna's optimize (and its heartbeats) ask.
@pytest.mark.filterwarnings('ignore:Heartbeat of storage is supposed to be used')
@pytest.mark.parametrize('kind', ['sqlite', 'journal', 'postgresql'])
def test_an_interrupted_trial_is_queued_again_under_its_own_number_with_its_parameters(
    tmp_path, kind, request):
  url = {'sqlite': f'sqlite:///{tmp_path}/study.db', 'journal': f'journal:{tmp_path}/j.log',
         'postgresql': None}[kind] or request.getfixturevalue('postgres_url')
  study = optuna.create_study(storage=storage.make_storage(url, heartbeat_interval=1),
                              directions=['maximize', 'minimize'])
  first = study.ask()
  width = first.suggest_float('width', 0.25, 2.0)
  first.set_user_attr('origin_trial', first.number)
  study.tell(study.ask(), [0.5, 100.0])  # Another worker's trial, finished meanwhile.
  storage.queue_in_place(study, first._trial_id)  # pylint: disable=protected-access
  assert [t.state for t in study.trials] == [optuna.trial.TrialState.WAITING,
                                             optuna.trial.TrialState.COMPLETE]
  storage.refresh_heartbeats(study, study.get_trials(states=(optuna.trial.TrialState.WAITING,)))
  resumed = study.ask()  # What the next worker takes: the same trial, as it was.
  assert resumed.number == first.number
  assert resumed.suggest_float('width', 0.25, 2.0) == width
  assert resumed.user_attrs['origin_trial'] == first.number
  assert study.ask().number == 2  # The next trial is the one that would have come next.


def test_optuna_s_own_log_lines_are_masked_as_the_commands_log_them(capfd):
  logger = logging.getLogger('optuna')
  saved = logger.handlers[:], logger.level, logger.propagate
  root = logging.getLogger()
  root_saved = root.handlers[:], root.level
  url = f'postgresql://alice:{PASSWORD}@db.example/studies'
  try:
    from jaxfer import cli as jaxfer_cli  # pylint: disable=g-import-not-at-top
    jaxfer_cli.configure_logging(storage.RedactingFilter(url))
    storage.log_optuna_through_root()
    optuna.logging.get_logger('optuna.study').warning('Trial 3 failed: cannot reach %s', url)
  finally:
    logger.handlers[:], logger.level, logger.propagate = saved
    root.handlers[:], root.level = root_saved
  err = capfd.readouterr().err
  assert 'Trial 3 failed: cannot reach postgresql://alice:***@db.example/studies' in err
  assert PASSWORD not in err
