"""Every benchmark script answers --help with its usage, runs nothing and writes nothing: a
script that no longer imports, or that ignores its arguments and starts measuring, fails here."""
import glob
import os
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'benchmarks', '*.py')))


def test_every_benchmark_is_listed():
  assert len(SCRIPTS) >= 13 and 'reproduction.py' in SCRIPTS


@pytest.mark.parametrize('script', SCRIPTS)
def test_benchmark_answers_help_with_its_usage_and_writes_nothing(script, tmp_path):
  env = {**os.environ, 'PYTHONPATH': REPO}
  found = subprocess.run([sys.executable, os.path.join(REPO, 'benchmarks', script), '--help'],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  assert found.returncode == 0, found.stderr[-2000:]
  assert found.stdout.startswith(f'usage: {script}'), found.stdout[:300]
  assert os.listdir(tmp_path) == []  # Run from an empty folder: --help left nothing there.
