"""Shared fixtures: the tiny test config, with datasets prepared once per session."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def jaxfer_command(*args):
  """The `jaxfer` command line as a user runs it (the installed entry point's module)."""
  return [sys.executable, '-m', 'jaxfer.cli', *args]


# The real CK+48 faces beside the project (see ../shared/README.md); tests using it skip if absent.
CKPLUS48 = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'CK+48')
