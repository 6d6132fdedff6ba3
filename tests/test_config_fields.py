"""`jaxfer config`: every field of a config with its value, its default and the comment of the
config file that defines it; read-only, and one line for a mistake."""
import fcntl
import os
import subprocess
import sys

import pytest

from conftest import REPO, run_in_process
from jaxfer import cli
from jaxfer import config_fields
from jaxfer import config_file

SOURCE = '''
import ml_collections


def optimizer(rate):
  """Adam settings."""
  return ml_collections.ConfigDict(dict(learning_rate=rate))


def get_config():
  config = ml_collections.ConfigDict()
  config.seed = 0  # Beside the field.
  # Above the field,
  # on two lines.
  config.size = 84
  config.section = ml_collections.ConfigDict(dict(
      width=1.0,  # Inside a dict.
      depth=4,
  ))
  config.opt = optimizer(1e-3)
  # Why the derived value.
  config.opt.update(learning_rate=3e-3)
  return config
'''


def test_descriptions_are_the_comments_beside_above_inside_dicts_and_of_helpers():
  found = config_fields.descriptions(SOURCE)
  assert found['seed'] == 'Beside the field.'
  assert found['size'] == 'Above the field, on two lines.'
  assert found['section.width'] == 'Inside a dict.'
  assert found['section.depth'] == ''  # Its section's description is used in the listing.
  assert found['opt'] == 'Adam settings.'  # The helper's docstring.
  assert found['opt.learning_rate'] == ''  # The helper's own field: first seen there, bare.


def _listing(capsys, *arguments):
  status = cli.main(['config', *arguments])
  out, err = capsys.readouterr()
  assert status == 0, err
  return out.splitlines(), err


def _entry(lines, name):
  """(the field's line, its description joined) in the listing."""
  start = next(i for i, line in enumerate(lines) if line.startswith(f'{name} = '))
  description = []
  for line in lines[start + 1:]:
    if not line.startswith('    '):
      break
    description.append(line.strip())
  return lines[start], ' '.join(description)


def test_config_lists_values_defaults_and_the_defining_file_s_comment(capsys):
  lines, err = _listing(capsys, 'show', '--config', 'configs/search_default.py',
                        '--config.student.width=2')
  assert err == ''
  line, description = _entry(lines, 'student.width')
  assert line == 'student.width = 2.0   (default: 1.0)'  # The override, against the default.
  assert description.startswith('Multiplier on the filters')
  # Changed by search_default.py, described by default.py: what the field is, not why the
  # derived file changed it.
  line, description = _entry(lines, 'teacher.num_epochs')
  assert line == 'teacher.num_epochs = 16   (default: 24)'
  assert 'A study trains many students' not in description
  line, description = _entry(lines, 'search.replicates')
  assert line == 'search.replicates = 2'
  assert description.startswith('Student seeds per fold')
  # Fields of a dict without a comment of their own get their section's.
  assert _entry(lines, 'student.optimizer.learning_rate')[1].startswith('Adam(W) settings')
  listed = [line.split(' = ')[0] for line in lines if ' = ' in line and not line[0].isspace()]
  expected = config_fields.flatten(config_file.read('configs/search_default.py'))
  assert sorted(listed) == sorted(expected) and lines[0].startswith('# configs/search_default.py')


@pytest.mark.parametrize('path', ['configs/default.py', 'configs/search_default.py'])
def test_every_field_of_the_default_configs_has_a_description(path):
  config = config_file.read(path)
  sources = {source: open(source).read() for source in config_fields.config_sources(path)}
  from configs import default  # pylint: disable=g-import-not-at-top
  listed = config_fields.fields(config, default.get_config(), sources)
  assert [field.name for field in listed if not field.description] == []


@pytest.mark.parametrize('arguments,expected', [
    (['--config', 'configs/nope.py'], 'jaxfer config: error: --config configs/nope.py: no such '
                                      'file; expected a Python file with get_config()'),
    (['--config', 'configs/test.py', '--config.student.widht=2'],
     'has no field config.student.widht; did you mean config.student.width?'),
    (['list', '--config', 'configs/test.py'], 'config takes --config PATH'),
])
def test_config_mistakes_are_one_line_exit_2_and_nothing_is_created(arguments, expected,
                                                                     tmp_path):
  done = subprocess.run([sys.executable, '-m', 'jaxfer.cli', 'config', *arguments],
                        cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 2 and done.stdout == ''
  assert done.stderr.count('\n') == 1 and expected in done.stderr, done.stderr
  assert 'Traceback' not in done.stderr


@pytest.mark.parametrize('path,override,expected', [
    ('configs/test.py', '--config.data.validation_fraction=0.7',
     'config.data.validation_fraction = 0.7 is not allowed; expected a number >= 0 and < 0.5'),
    ('configs/search_test.py', '--config.student.width=100',
     'config.student.width = 100.0 is not allowed; expected a number > 0 and <= 16.0'),
])
def test_config_refuses_what_distill_refuses_in_the_same_words_and_creates_nothing(
    path, override, expected, tmp_path, capfd):
  data_dir = f'--config.data.data_dir={tmp_path / "tfds"}'
  listed = subprocess.run([sys.executable, '-m', 'jaxfer.cli', 'config', '--config', path,
                           override, data_dir], cwd=REPO, capture_output=True, text=True)
  distilled = run_in_process(cli.main, capfd, 'distill', '--config', path, '--workdir',
                             tmp_path / 'run', override, data_dir)
  assert listed.returncode == distilled.returncode == 2
  assert listed.stdout == ''
  assert listed.stderr == f'jaxfer config: error: {expected}\n'
  assert distilled.stderr == f'jaxfer distill: error: {expected}\n'
  assert list(tmp_path.iterdir()) == []


def test_config_piped_into_a_reader_that_stops_early_ends_quietly():
  read_end, write_end = os.pipe()
  # A pipe smaller than the listing, so the command is still writing when the reader leaves.
  fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
  listing = subprocess.Popen([sys.executable, '-m', 'jaxfer.cli', 'config', '--config',
                              'configs/search_default.py'], cwd=REPO, stdout=write_end,
                             stderr=subprocess.PIPE)
  os.close(write_end)
  first = os.read(read_end, 40)
  os.close(read_end)  # As `| head -1` does once it has its line.
  assert listing.wait(timeout=60) == 0
  assert first.startswith(b'# configs/search_default.py')
  assert listing.stderr.read() == b''


def test_search_and_configs_import_from_this_repository_from_any_folder(tmp_path):
  # Installed as top-level packages with generic names: another package of the same name must
  # not be what the commands and tests import.
  done = subprocess.run([sys.executable, '-c', 'import configs, search; '
                         'print(configs.__file__); print(search.__file__)'],
                        cwd=tmp_path, capture_output=True, text=True, check=True)
  assert done.stdout.split() == [os.path.join(REPO, 'configs', '__init__.py'),
                                 os.path.join(REPO, 'search', '__init__.py')]
