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


def pytest_configure(config):
  del config
  if 'JAXFER_CACHE_DIR' not in os.environ:
    import tempfile  # pylint: disable=g-import-not-at-top
    os.environ['JAXFER_CACHE_DIR'] = tempfile.mkdtemp(prefix='jaxfer-test-cache-')
  from jaxfer import xla_cache  # pylint: disable=g-import-not-at-top
  xla_cache.enable()


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


def jaxfer_command(*args):
  """The `jaxfer` command line as a user runs it (the installed entry point's module)."""
  return [sys.executable, '-m', 'jaxfer.cli', *args]


def search_command(*args):
  """The `jaxfer-search` command line as a user runs it."""
  return [sys.executable, '-m', 'search.cli', *args]


def file_times(directory):
  """{relative path: modification time} of every file under `directory`."""
  times = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      times[os.path.relpath(path, directory)] = os.stat(path).st_mtime_ns
  return times
