"""--help, -h and --version of both commands, and the old flag spellings that still work.

Every subcommand's help lists the flags its own parser defines, with their defaults, and (for
commands that read a config) the --config.FIELD=VALUE convention with an example; exit 0.
"""
import os
import subprocess

import pytest

from conftest import REPO, jaxfer_command, search_command
from jaxfer import cli as jaxfer_cli
from jaxfer import config_file
from search import cli as search_cli

# (tool, subcommand words, flags its help must list, whether it reads a config)
SUBCOMMANDS = [
    (jaxfer_cli, ['train-teacher'], ['--workdir', '--[no]cv'], True),
    (jaxfer_cli, ['distill'], ['--workdir', '--[no]cv'], True),
    (jaxfer_cli, ['evaluate'], ['--workdir', '--model'], True),
    (jaxfer_cli, ['import-tf'], ['--out'], False),
    (jaxfer_cli, ['predict'], ['--model', '--annotate', '--batch_size', '--[no]detect',
                               '--[no]whole_image_fallback'], False),
    (jaxfer_cli, ['export'], ['--model', '--out', '--format'], False),
    (search_cli, ['run'], ['--workdir', '--workers', '--storage', '--study'], True),
    (search_cli, ['worker'], ['--workdir', '--storage', '--study'], True),
    (search_cli, ['report'], ['--workdir', '--baseline_study', '--ablation'], True),
    (search_cli, ['export-best'], ['--[no]knee', '--max_size', '--min_accuracy', '--out',
                                   '--format'], True),
    (search_cli, ['ablate'], ['--workdir', '--study'], True),
    (search_cli, ['ablate', 'pooling'], ['--workdir', '--study'], True),
    (search_cli, ['compare'], ['--out', '--storage', '--workdir', '--reference_size'], False),
]


@pytest.mark.parametrize('help_flag', ['--help', '-h'])
@pytest.mark.parametrize('tool,words,flags,reads_config', SUBCOMMANDS,
                         ids=[f'{t.__name__.split(".")[0]}-{" ".join(w)}'
                              for t, w, _, _ in SUBCOMMANDS])
def test_every_subcommand_help_lists_its_flags_with_defaults_and_exits_0(
    tool, words, flags, reads_config, help_flag, capsys):
  status = tool.main([*words, help_flag])
  shown = capsys.readouterr()
  assert status == 0, shown.err
  assert shown.err == ''
  assert shown.out.startswith(f'usage: {"jaxfer" if tool is jaxfer_cli else "jaxfer-search"} '
                              f'{words[0]}')
  for flag in flags:
    assert f'\n  {flag}' in shown.out, flag
  assert 'example' in shown.out and tool.EXAMPLES[words[0]] in shown.out
  assert ('--config.FIELD=VALUE' in shown.out) == reads_config
  assert 'Exit status: 0 done, 1 a run failed, 2 a mistake in the input' in shown.out


def test_help_shows_each_flags_default():
  shown = subprocess.run(jaxfer_command('predict', '--help'), cwd=REPO, capture_output=True,
                         text=True)
  assert shown.returncode == 0, shown.stderr
  lines = shown.stdout.splitlines()
  batch = next(k for k, line in enumerate(lines) if line.startswith('  --batch_size'))
  assert '(default: 256)' in ' '.join(lines[batch:batch + 2])
  detect = next(k for k, line in enumerate(lines) if line.startswith('  --[no]detect'))
  assert '(default: true)' in ' '.join(lines[detect:detect + 3])


def test_help_wins_over_a_broken_config_and_missing_flags(tmp_path, capsys):
  broken = tmp_path / 'broken.py'
  broken.write_text('def get_config(:\n')
  assert jaxfer_cli.main(['distill', '--config', str(broken), '--help']) == 0
  assert capsys.readouterr().out.startswith('usage: jaxfer distill')
  assert search_cli.main(['report', '--config', str(broken), '-h']) == 0
  assert capsys.readouterr().out.startswith('usage: jaxfer-search report')
  assert [path.name for path in tmp_path.iterdir()] == ['broken.py']  # Nothing created.


@pytest.mark.parametrize('command,name', [(jaxfer_command, 'jaxfer'),
                                          (search_command, 'jaxfer-search')])
def test_version_prints_the_installed_version(command, name):
  from importlib import metadata
  shown = subprocess.run(command('--version'), cwd=REPO, capture_output=True, text=True)
  assert shown.returncode == 0, shown.stderr
  assert shown.stdout.strip() == f'{name} {metadata.version("jaxfer")}'


def test_respell_reads_old_and_hyphenated_spellings_as_the_current_flags(capsys):
  argv = ['predict', '--output', 'x.csv', '--no-detect', '--whole-image-fallback',
          '--batch-size=8', '--config.data.image_size=48', '--model', 'my-model', '-1']
  assert config_file.respell(argv, {'output': 'out'}, 'jaxfer') == [
      'predict', '--out', 'x.csv', '--nodetect', '--whole_image_fallback', '--batch_size=8',
      '--config.data.image_size=48', '--model', 'my-model', '-1']
  notices = capsys.readouterr().err.splitlines()
  assert notices == [
      'jaxfer: deprecated: --output is now --out; the old spelling still works for now',
      'jaxfer: deprecated: --no-detect is now --nodetect; the old spelling still works for now',
      'jaxfer: deprecated: --whole-image-fallback is now --whole_image_fallback; the old '
      'spelling still works for now',
      'jaxfer: deprecated: --batch-size is now --batch_size; the old spelling still works for '
      'now']


def test_old_run_dir_flag_still_names_the_work_directory_with_a_notice(tmp_path):
  missing = tmp_path / 'never_run'
  done = subprocess.run(search_command('report', '--config', 'configs/search_test.py',
                                       '--run_dir', str(missing)),
                        cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 2
  notice, error = done.stderr.strip().splitlines()
  assert notice == ('jaxfer-search: deprecated: --run_dir is now --workdir; the old spelling '
                    'still works for now')
  assert error.startswith("jaxfer-search report: error: no study named 'test' in "
                          f'sqlite:///{missing}/study.db')
  assert not missing.exists()


@pytest.mark.parametrize('tool,argv,line', [
    (jaxfer_cli, ['predict', '--model', 'runs/x'],
     'jaxfer predict: predict needs --model DIR and one or more images or folders; see `jaxfer '
     'predict --help`'),
    (jaxfer_cli, ['distill', '--config', 'configs/test.py'],
     'jaxfer distill: --config and --workdir are required, e.g. --config configs/default.py '
     '--workdir runs/default; see `jaxfer distill --help`'),
    (search_cli, ['export-best', '--config', 'configs/search_test.py', '--workdir', 'runs/x'],
     'jaxfer-search export-best: export-best needs --out DIR (and --knee, --max_size or '
     '--min_accuracy); see `jaxfer-search export-best --help`'),
    (search_cli, ['ablate'],
     'jaxfer-search ablate: ablate needs a KIND: pooling, kd or temperature, e.g. jaxfer-search '
     'ablate pooling --config configs/search_default.py --workdir runs/search; see '
     '`jaxfer-search ablate --help`'),
])
def test_a_usage_mistake_is_one_line_pointing_to_the_commands_help(tool, argv, line, capsys):
  assert tool.main(argv) == 2
  assert capsys.readouterr().err == line + '\n'


# An unknown command, asked for help in every way a user may: refused as without --help.
UNKNOWN_COMMAND_LINES = [['bogus'], ['bogus', '--help'], ['bogus', '-h'], ['help', 'bogus'],
                         ['--help', 'bogus'], ['-v', 'bogus', '--workdir', 'runs/x', '--helpfull']]


@pytest.mark.parametrize('words', UNKNOWN_COMMAND_LINES, ids=' '.join)
@pytest.mark.parametrize('tool,command,name', [(jaxfer_cli, jaxfer_command, 'jaxfer'),
                                               (search_cli, search_command, 'jaxfer-search')],
                         ids=['jaxfer', 'jaxfer-search'])
def test_an_unknown_command_is_refused_alike_with_or_without_help(tool, command, name, words,
                                                                  tmp_path):
  done = subprocess.run(command(*words), cwd=tmp_path, capture_output=True, text=True)
  assert done.returncode == 2 and done.stdout == ''
  assert done.stderr == (f"{name}: expected one command, got ['bogus']; the commands: "
                         f'{", ".join(tool.USAGES)} (`{name} COMMAND --help` for one)\n')
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('words', [['help', 'distill'], ['--help', 'distill'],
                                   ['-q', 'distill', '--config', 'x.py', '-h']])
def test_help_before_or_after_a_known_command_shows_that_command_s_help(words, capsys):
  assert jaxfer_cli.main(words) == 0
  assert capsys.readouterr().out.startswith('usage: jaxfer distill --config PATH')


@pytest.mark.parametrize('words', [['help'], ['-h'], ['--config', 'configs/test.py', '--help'],
                                   ['--workdir=runs/x', '--help']])
def test_help_without_a_command_is_the_general_usage(words, capsys):
  assert jaxfer_cli.main(words) == 0
  assert capsys.readouterr().out.startswith('usage: jaxfer COMMAND [flags]')


def test_the_command_of_a_command_line_is_its_first_word_that_is_no_flag_or_flag_value():
  assert config_file.first_positional(['--config', 'x.py', 'bogus', '--help']) == 'bogus'
  assert config_file.first_positional(['--help', 'bogus']) == 'bogus'
  assert config_file.first_positional(['--workdir=W', 'bogus']) == 'bogus'
  assert config_file.first_positional(['--config', 'x.py', '--workdir=W', '-h']) is None


@pytest.mark.parametrize('command', [jaxfer_command('predict', '--help'),
                                     jaxfer_command('--help'),
                                     search_command('run', '--help')])
def test_help_into_a_reader_gone_or_a_full_disk_is_quiet_or_one_line(command):
  read_end, write_end = os.pipe()
  os.close(read_end)  # The reader has gone, as `| head -1` goes once it has its line.
  gone = subprocess.run(command, cwd=REPO, stdout=write_end, stderr=subprocess.PIPE, text=True,
                        timeout=120)
  os.close(write_end)
  assert (gone.returncode, gone.stderr) == (0, '')
  with open('/dev/full', 'w') as full:  # Every write: No space left on device.
    done = subprocess.run(command, cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True,
                          timeout=120)
  assert done.returncode == 2
  assert done.stderr.count('\n') == 1 and 'No space left on device' in done.stderr
  assert 'Traceback' not in done.stderr
