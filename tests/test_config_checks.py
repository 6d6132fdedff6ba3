"""Every setting of a config is checked, type and range, before a run creates anything: an absurd
value is one line naming the field and its range, exit status 2, and no folder made.

The table runs the commands' `main` in this process (a process each would spend seconds
importing JAX); the reported cases run the command as a user does.
"""
import subprocess

import ml_collections
import pytest

from conftest import REPO, jaxfer_command, run_in_process, search_command
from configs import default
from configs import search_default
from jaxfer import cli
from jaxfer import config_fields
from jaxfer import configuration
from search import cli as search_cli
from search import configuration as search_configuration

# (the overrides after configs/test.py, the error the line ends with)
ABSURD = {
    'separable width of a billion': (
        ['--config.student.family=separable', '--config.student.width=1e9'],
        'config.student.width = 1000000000.0 is not allowed; expected a number > 0 and <= 16.0'),
    'width of zero': (['--config.student.width=0'],
                      'config.student.width = 0.0 is not allowed; expected a number > 0 and '
                      '<= 16.0'),
    'separable depth of 9': (['--config.student.family=separable', '--config.student.depth=9'],
                             'config.student.depth = 9 is not allowed; expected an integer >= 1 '
                             'and <= 8'),
    'squeeze of a thousand': (['--config.student.squeeze=1000'],
                              'config.student.squeeze = 1000.0 is not allowed; expected a number '
                              '> 0 and <= 768.0'),
    # Each setting in range, together a student of billions of parameters.
    'widest and deepest separable': (
        ['--config.student.family=separable', '--config.student.width=16',
         '--config.student.depth=8'],
        'config.student: a separable student of width 16, depth 8 has 2,867,049,224 parameters '
        'at 48x48 (10,937 MiB of float32); the most allowed is 33,554,432: lower its width or '
        'depth (or config.data.image_size)'),
    'widest microexpnet on large images': (
        ['--config.student.width=16', '--config.data.image_size=256'],
        "config.student: a microexpnet student of width 16, squeeze 16, pooling 'p12' has "
        '102,784,520 parameters at 256x256 (392 MiB of float32); the most allowed is '
        '33,554,432: lower its width, or raise its squeeze (or config.data.image_size)'),
    'image size of 4096': (['--config.data.image_size=4096'],
                           'config.data.image_size = 4096 is not allowed; expected an integer >= '
                           '16 and <= 512'),
    'a hundred thousand folds': (['--config.data.num_folds=100000'],
                                 'config.data.num_folds = 100000 is not allowed; expected an '
                                 'integer >= 0 and <= 1000'),
    'seed beyond 32 bits': (['--config.seed=4294967296'],
                            'config.seed = 4294967296 is not allowed; expected an integer >= 0 '
                            'and <= 4294967295'),
    'student seed beyond 32 bits': (['--config.student.seed=4294967296'],
                                    'config.student.seed = 4294967296 is not allowed; expected '
                                    'an integer >= -1 and <= 4294967295'),
    'fold seed beyond 32 bits': (['--config.data.fold_seed=4294967296'],
                                 'config.data.fold_seed = 4294967296 is not allowed; expected an '
                                 'integer >= 0 and <= 4294967295'),
    'a hundred thousand epochs': (['--config.teacher.num_epochs=100000'],
                                  'config.teacher.num_epochs = 100000 is not allowed; expected an '
                                  'integer >= 1 and <= 10000'),
    'batch of a hundred thousand': (['--config.student.batch_size=100000'],
                                    'config.student.batch_size = 100000 is not allowed; expected '
                                    'an integer >= 1 and <= 8192'),
    'evaluation batch of a hundred thousand': (
        ['--config.eval_batch_size=100000'],
        'config.eval_batch_size = 100000 is not allowed; expected an integer >= 1 and <= 8192'),
    'evaluation every 0 epochs': (['--config.eval_every_epochs=0'],
                                  'config.eval_every_epochs = 0 is not allowed; expected an '
                                  'integer >= 1 and <= 10000'),
    'shift of more than half the image': (['--config.teacher.augment_shift=25'],
                                          'config.teacher.augment_shift = 25 is not allowed; '
                                          'expected an integer >= 0 and <= 24'),
    'learning rate of 10': (['--config.student.optimizer.learning_rate=10'],
                            'config.student.optimizer.learning_rate = 10.0 is not allowed; '
                            'expected a number > 0 and <= 1.0'),
    'weight decay of 5': (['--config.teacher.optimizer.weight_decay=5'],
                          'config.teacher.optimizer.weight_decay = 5.0 is not allowed; expected '
                          'a number >= 0 and <= 1.0'),
    'warm-up longer than training': (['--config.student.optimizer.warmup_epochs=4'],
                                     'config.student.optimizer.warmup_epochs = 4 is not allowed; '
                                     'expected an integer >= 0 and <= 3'),
    'temperature of a thousandth': (['--config.distill.temperature=0.001'],
                                    'config.distill.temperature = 0.001 is not allowed; expected '
                                    'a number >= 0.01 and <= 1000.0'),
    'temperature of a million': (['--config.distill.temperature=1e6'],
                                 'config.distill.temperature = 1000000.0 is not allowed; '
                                 'expected a number >= 0.01 and <= 1000.0'),
    'teacher stage without filters': (['--config.teacher.resnet_small.stage_features=(8, 0)'],
                                      'config.teacher.resnet_small.stage_features[1] = 0 is not '
                                      'allowed; expected an integer >= 1 and <= 2048'),
    'teacher of nine stages': (
        ['--config.teacher.resnet_small.stage_features=(8, 8, 8, 8, 8, 8, 8, 8, 8)'],
        'config.teacher.resnet_small.stage_features = (8, 8, 8, 8, 8, 8, 8, 8, 8) is not '
        "allowed; expected 1 to 8 stages' filters, e.g. (32, 64, 128)"),
    'teacher dropout of 1': (['--config.teacher.inception_v3.dropout=1.0'],
                             'config.teacher.inception_v3.dropout = 1.0 is not allowed; expected '
                             'a number >= 0 and <= 0.99'),
    'a hundred thousand synthetic subjects': (
        ['--config.data.synthetic.train_subjects=100000'],
        'config.data.synthetic.train_subjects = 100000 is not allowed; expected an integer >= 1 '
        'and <= 10000'),
    'a million synthetic images': (
        ['--config.data.synthetic.train_subjects=10000',
         '--config.data.synthetic.images_per_class=100'],
        'config.data.synthetic renders 8,003,200 images ((train_subjects 10000 + test_subjects 4) '
        'x 8 classes x images_per_class 100); the most allowed is 1,000,000'),
    'synthetic noise of 2': (['--config.data.synthetic.noise=2.0'],
                             'config.data.synthetic.noise = 2.0 is not allowed; expected a number '
                             '>= 0.0 and <= 1.0'),
    'face-net stage 1 of a hundred thousand epochs': (
        ['--config.facenet2expnet.stage1.num_epochs=100000'],
        'config.facenet2expnet.stage1.num_epochs = 100000 is not allowed; expected an integer '
        '>= 1 and <= 10000'),
}


@pytest.mark.parametrize('case', list(ABSURD))
def test_an_absurd_setting_is_one_line_naming_its_range_and_nothing_is_created(case, tmp_path,
                                                                               capfd):
  overrides, expected = ABSURD[case]
  workdir, data_dir = tmp_path / 'run', tmp_path / 'tfds'
  done = run_in_process(cli.main, capfd, 'distill', '--config', 'configs/test.py', '--workdir',
                        workdir, f'--config.data.data_dir={data_dir}', *overrides)
  assert done.returncode == 2
  assert done.stderr == f'jaxfer distill: error: {expected}\n'
  assert list(tmp_path.iterdir()) == []  # Neither the work folder nor the data folder.


def test_a_stored_image_size_beyond_the_datasets_frames_is_refused(tmp_path, capfd):
  download = tmp_path / 'download'
  download.mkdir()
  (download / 'anything').write_text('a file, so the folder is not empty')
  done = run_in_process(cli.main, capfd, 'distill', '--config', 'configs/ckplus48.py',
                        '--workdir', tmp_path / 'run', f'--config.data.manual_dir={download}',
                        f'--config.data.data_dir={tmp_path / "tfds"}',
                        '--config.data.builder_kwargs.image_size=4096')
  assert done.returncode == 2
  assert done.stderr == ('jaxfer distill: error: config.data.builder_kwargs.image_size = 4096 is '
                         'not allowed; expected an integer >= 1 and <= 1024\n')
  assert [path.name for path in tmp_path.iterdir()] == ['download']


SEARCH_ABSURD = {
    'a million trials': (['--config.search.n_trials=1000000'],
                         'config.search.n_trials = 1000000 is not allowed; expected an integer '
                         '>= 1 and <= 10000'),
    'a width range beyond the widest student': (
        ['--config.search.space.width.high=64.0'],
        'config.search.space.width: the value 64.0 gives a run config that is not allowed '
        '(config.student.width = 64.0 is not allowed; expected a number > 0 and <= 16.0)'),
    'an ablation width beyond the widest student': (
        ['--config.search.ablation.widths=(1.0, 100.0)'],
        'config.search.ablation.widths = 100.0 is not allowed; expected a number > 0 and '
        '<= 16.0'),
    'an ablation temperature of 0': (['--config.search.ablation.temperatures=(0.0, 8.0)'],
                                     'config.search.ablation.temperatures = 0.0 is not allowed; '
                                     'expected a number >= 0.01 and <= 1000.0'),
    'a margin beyond the accuracy scale': (['--config.search.ablation.target_margin=200.0'],
                                           'config.search.ablation.target_margin = 200.0 is not '
                                           'allowed; expected a number > 0 and <= 100'),
    'a heartbeat of a day': (['--config.search.heartbeat_interval=86400'],
                             'config.search.heartbeat_interval = 86400 is not allowed; expected '
                             'an integer >= 1 and <= 3600'),
    'a thousand replicates': (['--config.search.replicates=1000'],
                              'config.search.replicates = 1000 is not allowed; expected an '
                              'integer >= 1 and <= 100'),
    'a million latency repeats': (['--config.search.latency_repeats=1000000'],
                                  'config.search.latency_repeats = 1000000 is not allowed; '
                                  'expected an integer >= 1 and <= 10000'),
    'a thousand retries': (['--config.search.max_retry=1000'],
                           'config.search.max_retry = 1000 is not allowed; expected an integer '
                           '>= 0 and <= 100'),
}


@pytest.mark.parametrize('case', list(SEARCH_ABSURD))
def test_an_absurd_search_setting_is_one_line_naming_its_range_and_nothing_is_created(
    case, tmp_path, capfd):
  overrides, expected = SEARCH_ABSURD[case]
  done = run_in_process(search_cli.main, capfd, 'run', '--config', 'configs/search_test.py',
                        '--workdir', tmp_path / 'run',
                        f'--config.data.data_dir={tmp_path / "tfds"}', *overrides)
  assert done.returncode == 2
  assert done.stderr == f'jaxfer-search run: error: {expected}\n'
  assert list(tmp_path.iterdir()) == []


def _leaves(config):
  return config_fields.flatten(config)


def _with(config, field, value):
  """`config` as plain data with `field` set to `value`, whatever its type (as a config file
  may write it)."""
  data = config.to_dict()
  node = data
  *sections, name = field.split('.')
  for section in sections:
    node = node[section]
  node[name] = value
  return ml_collections.ConfigDict(data)


@pytest.mark.parametrize('field', list(_leaves(default.get_config())))
def test_every_field_of_the_default_config_refuses_a_huge_value_and_a_wrong_type(field):
  config = default.get_config()
  for value in (10**12, 'x' * 3 if not isinstance(_leaves(config)[field], str) else 7):
    with pytest.raises(ValueError) as refused:
      configuration.validate(_with(config, field, value))
    assert f'config.{field}' in str(refused.value), (value, str(refused.value))


@pytest.mark.parametrize('field', [name for name in _leaves(search_default.get_config())
                                   if name.startswith('search.')])
def test_every_search_field_refuses_a_huge_value_and_a_wrong_type(field):
  config = search_default.get_config()
  where = field if not field.startswith('search.space.') else field.rsplit('.', 1)[0]
  for value in (10**12, 'x' * 3 if not isinstance(_leaves(config)[field], str) else 7):
    with pytest.raises(ValueError) as refused:
      search_configuration.validate(_with(config, field, value))
    assert f'config.{where}' in str(refused.value), (value, str(refused.value))


def test_the_reported_width_is_refused_by_the_command_before_its_work_folder_exists(tmp_path):
  done = subprocess.run(jaxfer_command('distill', '--config', 'configs/test.py', '--workdir',
                                       str(tmp_path / 'W'), '--config.student.family=separable',
                                       '--config.student.width=1e9',
                                       f'--config.data.data_dir={tmp_path / "tfds"}'),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2 and done.stdout == ''
  assert done.stderr == ('jaxfer distill: error: config.student.width = 1000000000.0 is not '
                         'allowed; expected a number > 0 and <= 16.0\n')
  assert list(tmp_path.iterdir()) == []


def test_the_search_command_refuses_an_absurd_setting_before_its_run_folder_exists(tmp_path):
  done = subprocess.run(search_command('run', '--config', 'configs/search_test.py', '--workdir',
                                       str(tmp_path / 'run'), '--config.search.n_trials=1000000',
                                       f'--config.data.data_dir={tmp_path / "tfds"}'),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2 and done.stdout == ''
  assert done.stderr == ('jaxfer-search run: error: config.search.n_trials = 1000000 is not '
                         'allowed; expected an integer >= 1 and <= 10000\n')
  assert list(tmp_path.iterdir()) == []
