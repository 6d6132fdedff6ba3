"""`jaxfer-search` given bad input: one line on stderr, exit status 2, nothing created or changed.

The studies are made without training (`workers.open_study`, then trials added by hand). The
table runs the command's `main` in this process (a new process would spend seconds importing JAX
for each row); the tests below it run the installed command's module as a user does.
"""
import logging
import os
import signal
import subprocess

import optuna
import pytest

from conftest import REPO, file_times, run_in_process, search_command
from configs import search_test
from search import cli
from search import pareto
from search import workers

CONFIG = ['--config', 'configs/search_test.py']
DEPRECATION = 'deprecated'  # A notice about a renamed flag may precede the error line.


def _study(run_dir, name='test', trials=((0.6, 50_000.0), (0.8, 200_000.0)), **data):
  """A study as `jaxfer-search run` opens it in `run_dir`, with completed trials added by hand."""
  config = search_test.get_config()
  config.search.study_name = name
  config.data.update(data)
  study = workers.open_study(config, str(run_dir))
  for accuracy, size in trials:
    study.add_trial(optuna.trial.create_trial(values=[accuracy, size], params={},
                                              distributions={}))
  return study


@pytest.fixture(scope='module')
def world(tmp_path_factory):
  """Run directories a/ (studies 'test' and 'empty') and b/ (its own 'test'), a file, an empty
  folder, a folder holding someone's files and one holding an earlier export-best."""
  root = tmp_path_factory.mktemp('world')
  _study(root / 'a')
  _study(root / 'a', name='empty', trials=())
  _study(root / 'b', fold_seed=1)
  (root / 'file.txt').write_text('not a folder\n')
  (root / 'empty_folder').mkdir()
  (root / 'mine').mkdir()
  (root / 'mine' / 'notes.md').write_text('my notes\n')
  (root / 'earlier_export').mkdir()
  for name in ('params.msgpack', 'config.json', 'result.json'):
    (root / 'earlier_export' / name).write_text('{}')
  (root / 'earlier_export' / 'README.md').write_text('an earlier model, annotated\n')
  return root


def _tree(root):
  """Every folder and file under `root`, with the files' modification times."""
  folders = {os.path.relpath(path, root) for path, _, _ in os.walk(root)}
  return folders, file_times(root)


RUN = ['run', *CONFIG]
EXPORT = ['export-best', *CONFIG, '--workdir', '{root}/a']
CASES = [
    # run, worker: the storage and the study to join are checked before the run folder is made.
    ('run_storage_url_is_a_folder', [*RUN, '--workdir', '{root}/new',
                                     '--storage=sqlite:///{root}/empty_folder'],
     ['empty_folder is a folder; expected a file name']),
    ('run_storage_under_a_file', [*RUN, '--workdir', '{root}/new',
                                  '--storage=sqlite:///{root}/file.txt/study.db'],
     ['file.txt is a file, not a folder']),
    ('run_journal_is_a_folder', [*RUN, '--workdir', '{root}/new',
                                 '--storage=journal:{root}/empty_folder'],
     ['journal:', 'empty_folder is a folder']),
    ('ablate_storage_url_is_a_folder', ['ablate', 'kd', *CONFIG, '--workdir', '{root}/new',
                                        '--storage=sqlite:///{root}/empty_folder'],
     ['empty_folder is a folder']),
    ('ablate_unknown_kind', ['ablate', 'dropout', *CONFIG, '--workdir', '{root}/new'],
     ["the ablation 'dropout' does not exist; choose one of: pooling, kd, temperature"]),
    ('worker_without_study_and_storage', ['worker', *CONFIG, '--workdir', '{root}/new'],
     ["there is no study 'test' in", '`jaxfer-search run` starts one']),
    ('worker_without_storage_in_an_empty_run_dir', ['worker', *CONFIG, '--workdir',
                                                    '{root}/empty_folder', '--study=other'],
     ["there is no study 'other' in", '`jaxfer-search run` starts one']),
    # report: reads the study, writes only into the run directory it was run in.
    ('report_run_dir_missing', ['report', *CONFIG, '--workdir', '{root}/missing',
                                '--storage=sqlite:///{root}/a/study.db'],
     ['--workdir {root}/missing does not exist']),
    ('report_unknown_study', ['report', *CONFIG, '--workdir', '{root}/a', '--study=nope'],
     ["no study named 'nope'", "the storage holds: 'test', 'empty'"]),
    ('report_study_of_another_run_dir', ['report', *CONFIG, '--workdir', '{root}/b',
                                         '--storage=sqlite:///{root}/a/study.db'],
     ["the study 'test' was run in {root}/a, not in --workdir {root}/b",
      'report it with --workdir {root}/a']),
    # export-best: the choice and --out are checked before the study is read.
    ('export_without_a_choice', [*EXPORT, '--out', '{root}/best'],
     ['one of --knee, --max_size=BYTES or --min_accuracy=X; got none']),
    ('export_with_two_choices', [*EXPORT, '--knee', '--max_size=100000', '--out',
                                 '{root}/best'], ['got --knee and --max_size']),
    ('export_min_accuracy_above_one', [*EXPORT, '--min_accuracy=1.5', '--out', '{root}/best'],
     ['--min_accuracy=1.5 is not allowed; expected an accuracy from 0 to 1']),
    ('export_negative_max_size', [*EXPORT, '--max_size=-1', '--out', '{root}/best'],
     ['--max_size=-1 is not allowed; expected a size in bytes > 0']),
    ('export_out_is_a_file', [*EXPORT, '--knee', '--out', '{root}/file.txt'],
     ['--out {root}/file.txt is a file; expected a new or empty folder']),
    ('export_out_holds_an_earlier_export', [*EXPORT, '--knee', '--out', '{root}/earlier_export'],
     ['--out {root}/earlier_export is not empty', 'add --overwrite']),
    ('export_overwrite_of_a_folder_with_other_files', [*EXPORT, '--knee', '--overwrite', '--out',
                                                       '{root}/earlier_export'],
     ['holds files this command does not write (README.md)']),
    ('export_overwrite_of_someones_folder', [*EXPORT, '--knee', '--overwrite', '--out',
                                             '{root}/mine'], ['(notes.md)']),
    ('export_study_without_completed_trial', [*EXPORT, '--knee', '--study=empty', '--out',
                                              '{root}/best'],
     ["the study 'empty' has no completed trial yet"]),
    ('export_unknown_study', [*EXPORT, '--knee', '--study=nope', '--out', '{root}/best'],
     ["no study named 'nope'"]),
    ('export_nothing_on_the_front_fits', [*EXPORT, '--max_size=10', '--out', '{root}/best'],
     ['no front trial is at most 10 bytes; the front: 60.0% at 50,000 bytes']),
    # compare: reads the studies, writes only a new --out.
    ('compare_out_is_a_file', ['compare', '{root}/a:test', '--out', '{root}/file.txt'],
     ['--out {root}/file.txt is a file']),
    ('compare_out_is_not_empty', ['compare', '{root}/a:test', '--out', '{root}/mine'],
     ['--out {root}/mine is not empty']),
    ('compare_source_missing', ['compare', '{root}/missing', '--out', '{root}/cmp'],
     ['{root}/missing is neither a run directory nor RUN_DIR:STUDY']),
    ('compare_study_missing_in_run_dir', ['compare', 'nope', '--workdir', '{root}/a', '--out',
                                          '{root}/cmp'], ["no study named 'nope'"]),
    ('compare_without_out', ['compare', '{root}/a:test'], ['compare needs one or more SOURCEs '
                                                           'and --out DIR']),
    ('compare_different_datasets', ['compare', '{root}/a:test', '{root}/b:test', '--out',
                                    '{root}/cmp'],
     ['different datasets', '{root}/a:test: data.name=synthetic_faces, data.fold_seed=0',
      '{root}/b:test: data.name=synthetic_faces, data.fold_seed=1']),
]


@pytest.fixture
def process_settings():
  """Puts back what a command sets up for its own process once past the checks (logging, the
  Ctrl-C handler), so the next test runs as before."""
  handlers, level = logging.root.handlers[:], logging.root.level
  sigint = signal.getsignal(signal.SIGINT)
  yield
  logging.root.handlers[:] = handlers
  logging.root.setLevel(level)
  signal.signal(signal.SIGINT, sigint)


@pytest.mark.parametrize('args, expected', [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, args, expected, capsys,
                                                          monkeypatch, process_settings):
  monkeypatch.chdir(REPO)  # As the command runs: configs/ relative to the repository.
  before = _tree(world)
  status = cli.main([arg.format(root=world) for arg in args])  # A traceback would raise here.
  out, err = capsys.readouterr()
  lines = [line for line in err.splitlines() if line.strip() and DEPRECATION not in line]
  assert status == 2, err[-3000:]
  assert len(lines) == 1, err[-3000:]
  assert 'Traceback' not in err + out
  for words in expected:
    assert words.format(root=world) in lines[0]
  assert _tree(world) == before


def test_the_command_exits_with_status_2_and_one_line(world):
  done = subprocess.run(search_command('export-best', *CONFIG, '--workdir', str(world / 'a'),
                                       '--knee', '--out', str(world / 'earlier_export')),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2
  assert [line for line in done.stderr.splitlines() if DEPRECATION not in line] == [
      f'jaxfer-search export-best: error: --out {world}/earlier_export is not empty; choose a '
      'new folder, or add --overwrite to replace what is there']


def test_report_of_a_study_recorded_elsewhere_is_allowed_once_that_folder_is_gone(tmp_path,
                                                                                  capfd):
  # A run directory that was moved: the study records the old place, which no longer exists.
  _study(tmp_path / 'old')
  os.rename(tmp_path / 'old', tmp_path / 'moved')
  done = run_in_process(cli.main, capfd, 'report', *CONFIG, '--workdir', tmp_path / 'moved',
                        f'--storage=sqlite:///{tmp_path}/moved/study.db')
  assert done.returncode == 0, done.stderr[-3000:]
  assert (tmp_path / 'moved' / 'report.md').exists()


def test_report_of_a_study_that_records_no_run_directory_is_allowed(tmp_path, capfd):
  # Studies made before run directories were recorded.
  (tmp_path / 'other').mkdir()
  study = optuna.create_study(study_name='test', storage=f'sqlite:///{tmp_path}/other/study.db',
                              directions=list(pareto.ACCURACY_SIZE))
  study.add_trial(optuna.trial.create_trial(values=[0.5, 1000.0], params={}, distributions={}))
  (tmp_path / 'run').mkdir()
  done = run_in_process(cli.main, capfd, 'report', *CONFIG, '--workdir', tmp_path / 'run',
                        f'--storage=sqlite:///{tmp_path}/other/study.db')
  assert done.returncode == 0, done.stderr[-3000:]
  assert (tmp_path / 'run' / 'report.md').exists()


def test_a_study_records_the_run_directory_it_was_opened_in(tmp_path):
  study = _study(tmp_path / 'run', trials=())
  assert study.user_attrs['run_dir'] == str(tmp_path / 'run')
  # Opened again from elsewhere (a moved run directory), it keeps the first record.
  config = search_test.get_config()
  config.search.storage = f'sqlite:///{tmp_path}/run/study.db'
  again = workers.open_study(config, str(tmp_path / 'elsewhere'))
  assert again.user_attrs['run_dir'] == str(tmp_path / 'run')


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write in any folder')
def test_run_with_a_storage_in_a_folder_that_cannot_be_written_creates_nothing(
    tmp_path, capsys, monkeypatch, process_settings):
  monkeypatch.chdir(REPO)
  (tmp_path / 'locked').mkdir(mode=0o500)
  before = _tree(tmp_path)
  status = cli.main(['run', *CONFIG, '--workdir', str(tmp_path / 'new'),
                     f'--storage=sqlite:///{tmp_path}/locked/db/study.db'])
  err = capsys.readouterr().err
  assert status == 2 and f'cannot write in {tmp_path}/locked' in err, err
  assert _tree(tmp_path) == before
