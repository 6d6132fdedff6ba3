"""Shared fixtures: the tiny test config, datasets prepared and a teacher trained once per session.

The session shares one JAX compilation cache (as the commands do, see `jaxfer.xla_cache`), in a
temporary folder, with every process the tests start: the same networks are compiled once.
"""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The real CK+48 faces beside the project (see ../shared/README.md); tests using it skip if absent.
CKPLUS48 = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'CK+48')


# XLA's backend optimisations cost more than they give to the tests' tiny networks: compiling
# them at level 0 halves the CPU time of a configs/test.py run (11.4 s to 6.3 s, cold cache).
# The tests compare runs with runs and with hand computations made under the same flags; the
# commands themselves keep XLA's defaults. Set here, before JAX starts, for every process the
# tests start too.
TEST_XLA_FLAGS = '--xla_backend_optimization_level=0'


def pytest_configure(config):
  del config
  os.environ['XLA_FLAGS'] = f'{os.environ.get("XLA_FLAGS", "")} {TEST_XLA_FLAGS}'.strip()
  # ONNX Runtime writes telemetry under ~/.cache at import unless told not to, as the commands
  # tell it (jaxfer.onnx_export.import_runtime); tests that import it directly tell it here.
  os.environ.setdefault('ORT_DISABLE_TELEMETRY', '1')
  if 'JAXFER_CACHE_DIR' not in os.environ:
    import tempfile  # pylint: disable=g-import-not-at-top
    os.environ['JAXFER_CACHE_DIR'] = tempfile.mkdtemp(prefix='jaxfer-test-cache-')
  from jaxfer import xla_cache  # pylint: disable=g-import-not-at-top
  xla_cache.enable()


# Each test module's fixtures, and each test (with every process they start), get an empty
# teacher store of their own, so that whether a run trains a teacher or copies one from the store
# (jaxfer/teacher.py) does not depend on which tests ran before.
@pytest.fixture(scope='module', autouse=True)
def module_teacher_store(tmp_path_factory):
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv('JAXFER_TEACHER_STORE', str(tmp_path_factory.mktemp('module_teacher_store')))
    yield


@pytest.fixture(autouse=True)
def optuna_logging_as_it_was():
  """Optuna's logger as before the test: a command run in the test's process routes its lines
  through the root logger's handlers (search.storage.log_optuna_through_root), which the next
  test does not have."""
  import logging  # pylint: disable=g-import-not-at-top
  logger = logging.getLogger('optuna')
  saved = logger.handlers[:], logger.level, logger.propagate
  yield
  logger.handlers[:], logger.level, logger.propagate = saved
  logger.setLevel(saved[1])


@pytest.fixture(autouse=True)
def test_teacher_store(module_teacher_store, tmp_path_factory, monkeypatch):
  del module_teacher_store  # Set first, so that this test's store replaces the module's.
  monkeypatch.setenv('JAXFER_TEACHER_STORE', str(tmp_path_factory.mktemp('teacher_store')))


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tfds'))


@pytest.fixture
def test_config(data_dir):
  """configs/test.py with its TFDS data in the session's temporary directory."""
  from configs import test
  config = test.get_config()
  config.data.data_dir = data_dir
  return config


@pytest.fixture(scope='session')
def teacher_dir(tmp_path_factory, data_dir):
  """The teacher of configs/test.py, trained once for the session (an artifact directory)."""
  from configs import test
  from jaxfer import data as data_lib
  from jaxfer import teacher
  config = test.get_config()
  config.data.data_dir = data_dir
  directory = str(tmp_path_factory.mktemp('teacher') / 'teacher')
  teacher.train(config, directory, data_lib.load(config.data))
  return directory


POSTGRES_ADMIN = 'postgresql://postgres@127.0.0.1:5432/test'


def postgres_admin():
  """An autocommit connection to the test server as its administrator; skips the test when there
  is no server."""
  psycopg = pytest.importorskip('psycopg')
  try:
    return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)
  except psycopg.OperationalError as error:
    pytest.skip(f'no PostgreSQL server at {POSTGRES_ADMIN}: {str(error).splitlines()[0]}')


@pytest.fixture
def postgres_url():
  """A PostgreSQL database of the test's own (made here, dropped after); skips without a server.

  The URL carries a password: the server trusts local connections, so it is never checked, and
  tests can look for it wherever a password must not appear.
  """
  import uuid  # pylint: disable=g-import-not-at-top
  name = f'jaxfer_test_{uuid.uuid4().hex[:10]}'
  with postgres_admin() as admin:
    admin.execute(f'CREATE DATABASE {name}')
  try:
    yield f'postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{name}'
  finally:
    with postgres_admin() as admin:
      admin.execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')


# The password in `postgres_url`: it must never be found in a log, file, attribute or message.
PASSWORD = 'pw-4f9c2e7d'


def jaxfer_command(*args):
  """The `jaxfer` command line as a user runs it (the installed entry point's module)."""
  return [sys.executable, '-m', 'jaxfer', *args]


def search_worker_arguments(run_dir, data_dir, storage, study, n_trials, *extra):
  """`jaxfer-search worker` arguments on configs/search_test.py, one fold per trial."""
  return ['worker', '--config', 'configs/search_test.py', '--workdir', str(run_dir),
          f'--storage={storage}', f'--study={study}', f'--n_trials={n_trials}',
          f'--config.data.data_dir={data_dir}', '--config.search.folds_per_trial=1', *extra]


def start_search_worker(*args):
  """A `jaxfer-search worker` process with `search_worker_arguments(*args)`."""
  import subprocess  # pylint: disable=g-import-not-at-top
  return subprocess.Popen(search_command(*search_worker_arguments(*args)), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(processes, timeout=900):
  """The outputs of `processes` once they have ended, each with status 0."""
  outputs = [process.communicate(timeout=timeout)[0] for process in processes]
  for process, output in zip(processes, outputs):
    assert process.returncode == 0, output[-3000:]
  return outputs


def assert_finished_exactly(study, n_trials):
  """`study` finished `n_trials` trials, each with its own parameters, and has none running; the
  failed ones are surplus trials (workers racing for the last one), never run."""
  import optuna  # pylint: disable=g-import-not-at-top
  from search import pareto  # pylint: disable=g-import-not-at-top
  finished = [t for t in study.trials if t.state in pareto.FINISHED]
  assert len(finished) == n_trials
  assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
  points = [tuple(sorted(t.params.items())) for t in finished]
  assert len(set(points)) == n_trials  # No trial was run twice.
  surplus = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
  assert all(t.user_attrs.get('surplus') for t in surplus)


def search_command(*args):
  """The `jaxfer-search` command line as a user runs it."""
  return [sys.executable, '-m', 'search', *args]


def run_in_process(main, capfd, *args):
  """`main(args)` of a command (`jaxfer.cli.main`, `search.cli.main`) in the test's process, as
  `subprocess.run(..., capture_output=True, text=True)` would report it: returncode, stdout and
  stderr read from the file descriptors. The process keeps its imports and compiled programs from
  one command to the next; the tests of process-level behaviour (signals, several workers, what
  Python prints at exit) start real processes instead.
  """
  import logging  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import builtins  # pylint: disable=g-import-not-at-top
  previous_handler, previous_hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
  previous_import = builtins.__import__  # A command defers Ctrl-C during imports.
  # What a command sets up for its process: its log handlers and levels.
  loggers = [logging.getLogger(name) for name in ('', 'absl', 'orbax', 'jax', 'jaxfer', 'optuna')]
  logging_state = [(logger, logger.handlers[:], logger.level, logger.propagate)
                   for logger in loggers]
  before = os.getcwd()
  os.chdir(REPO)
  try:
    status = main([str(arg) for arg in args])
  finally:
    os.chdir(before)
    signal.signal(signal.SIGINT, previous_handler)
    sys.unraisablehook = previous_hook
    builtins.__import__ = previous_import
    for logger, handlers, level, propagate in logging_state:
      logger.handlers[:] = handlers
      logger.setLevel(level)
      logger.propagate = propagate
  stdout, stderr = capfd.readouterr()
  return subprocess.CompletedProcess(['main', *args], status, stdout, stderr)


def separable_student(config, seed):
  """(model, variables, batch_stats) of the separable student of `config.student` at 48x48:
  initialised parameters, and BatchNorm statistics far from the initial ones (mean 0, variance
  1), as a trained student's are, so that a path that ignored them would change the logits."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  from jaxfer.data import classes  # pylint: disable=g-import-not-at-top
  model = models.make_student(config.student, len(classes.CLASS_NAMES))
  variables = jax.jit(model.init)(jax.random.key(0), np.zeros((1, 48, 48, 1), np.float32))
  rng = np.random.default_rng(seed)
  batch_stats = jax.tree_util.tree_map_with_path(
      lambda path, x: (rng.uniform(0.2, 3.0, x.shape) if path[-1].key == 'var'
                       else rng.normal(0, 0.5, x.shape)).astype(np.float32),
      variables['batch_stats'])
  return model, variables, batch_stats


def file_times(directory):
  """{relative path: modification time} of every file under `directory`."""
  times = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      times[os.path.relpath(path, directory)] = os.stat(path).st_mtime_ns
  return times


def write_untrained_student(folder):
  """configs/test.py's student at its initial parameters, written in `folder` as `export-best`
  writes one; returns the folder's path."""
  import json  # pylint: disable=g-import-not-at-top
  import flax.serialization  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from configs import test  # pylint: disable=g-import-not-at-top
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  from jaxfer.data import classes  # pylint: disable=g-import-not-at-top
  config = test.get_config()
  model = models.make_student(config.student, len(classes.CLASS_NAMES))
  size = config.data.image_size
  params = model.init(jax.random.key(0), np.zeros((1, size, size, 1), np.float32))['params']
  (folder / 'params.msgpack').write_bytes(flax.serialization.msgpack_serialize(
      jax.tree.map(np.asarray, params)))
  (folder / 'config.json').write_text(json.dumps(config.to_dict()))
  return str(folder)
