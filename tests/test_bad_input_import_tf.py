"""`jaxfer import-tf`'s bad-input table: every mistake a user can make with the checkpoint or
--out is one line on stderr naming the file, exit status 2, no traceback, and nothing created or
changed. Damaged checkpoints are copies of the authors' CK checkpoint with bytes edited."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO, file_times, jaxfer_command
from jaxfer import tf_checkpoint

MODELS = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'microexpnet-tf', 'Models')
needs_models = pytest.mark.skipif(not os.path.isdir(MODELS),
                                  reason=f'the authors\' checkpoints are not at {MODELS}')
MODEL = 'MicroExpNet_CK'
INDEX, DATA = f'{MODEL}.index', f'{MODEL}.data-00000-of-00001'


def _copy(tmp_path, name='ck'):
  """A writable copy of the CK checkpoint folder in tmp_path/`name`."""
  folder = tmp_path / name
  folder.mkdir()
  for file in os.listdir(os.path.join(MODELS, 'CK')):
    shutil.copyfile(os.path.join(MODELS, 'CK', file), folder / file)
  return folder


def _first_varint(data):
  value, shift = 0, 0
  for byte in data:
    value |= (byte & 0x7F) << shift
    shift += 7
    if not byte & 0x80:
      return value
  raise ValueError('no varint')


def _edit_index(folder, old, new):
  """Replaces the one `old` in the index's (only) data block by `new`, and seals the block with
  its new checksum, as a writer of such a checkpoint would have."""
  index = (folder / INDEX).read_bytes()
  assert index.count(old) == 1 and len(old) == len(new)
  index = index.replace(old, new)
  # The data block starts the file and ends (before its 5-byte trailer) where the metaindex
  # block, the footer's first handle, begins.
  size = _first_varint(index[-48:]) - 5
  crc = tf_checkpoint.masked_crc32c(index[:size + 1])
  (folder / INDEX).write_bytes(index[:size + 1] + crc.to_bytes(4, 'little') + index[size + 5:])


def _flip(path, byte):
  raw = bytearray(path.read_bytes())
  raw[byte] ^= 0x10
  path.write_bytes(bytes(raw))


def _checkpoint(tmp_path):
  return [str(tmp_path / 'ck'), '--out', str(tmp_path / 'out')]


def damaged_index(tmp_path):
  _flip(_copy(tmp_path) / INDEX, 100)
  return _checkpoint(tmp_path)


def truncated_index(tmp_path):
  index = _copy(tmp_path) / INDEX
  index.write_bytes(index.read_bytes()[:400])
  return _checkpoint(tmp_path)


def damaged_data(tmp_path):
  folder = _copy(tmp_path)
  wfc = tf_checkpoint.read_index(str(folder / MODEL))['wfc']
  _flip(folder / DATA, wfc.offset + 1000)
  return _checkpoint(tmp_path)


def truncated_data(tmp_path):
  data = _copy(tmp_path) / DATA
  data.write_bytes(data.read_bytes()[:300000])
  return _checkpoint(tmp_path)


def index_without_data(tmp_path):
  (_copy(tmp_path) / DATA).unlink()
  return _checkpoint(tmp_path)


def other_network(tmp_path):
  # wo (48, 8) recorded as (8, 48): the same bytes, another network's layer.
  _edit_index(_copy(tmp_path), bytes.fromhex('120208301202080820e8a92f'),
              bytes.fromhex('120208081202083020e8a92f'))
  return _checkpoint(tmp_path)


def missing_variable(tmp_path):
  # The key 'wo' (shares 'w' with the key before it) becomes 'wx': no wo, wo/Adam, wo/Adam_1.
  _edit_index(_copy(tmp_path), b'\x01\x01\x18o\x08', b'\x01\x01\x18x\x08')
  return _checkpoint(tmp_path)


def index_is_a_folder(tmp_path):
  index = _copy(tmp_path) / INDEX
  index.unlink()
  index.mkdir()
  return _checkpoint(tmp_path)


def unreadable_index(tmp_path):
  os.chmod(_copy(tmp_path) / INDEX, 0)
  return _checkpoint(tmp_path)


def not_an_index(tmp_path):
  (_copy(tmp_path) / INDEX).write_text('model_checkpoint_path: "MicroExpNet_CK"\n' * 3)
  return _checkpoint(tmp_path)


def no_checkpoint_in_folder(tmp_path):
  (tmp_path / 'ck').mkdir()
  (tmp_path / 'ck' / 'notes.txt').write_text('weights to come\n')
  return _checkpoint(tmp_path)


def two_checkpoints(tmp_path):
  folder = _copy(tmp_path)
  (folder / 'checkpoint').unlink()
  shutil.copyfile(folder / INDEX, folder / 'MicroExpNet_CK-2.index')
  shutil.copyfile(folder / DATA, folder / 'MicroExpNet_CK-2.data-00000-of-00001')
  return _checkpoint(tmp_path)


def recorded_path_absent_and_two_checkpoints(tmp_path):
  folder = _copy(tmp_path)
  (folder / 'checkpoint').write_text('model_checkpoint_path: "/home/someone/run/model-900"\n')
  shutil.copyfile(folder / INDEX, folder / 'MicroExpNet_CK-2.index')
  return _checkpoint(tmp_path)


def missing_checkpoint_dir(tmp_path):
  return [str(tmp_path / 'ck'), '--out', str(tmp_path / 'out')]


def checkpoint_dir_is_a_file(tmp_path):
  (tmp_path / 'ck').write_text('not a folder\n')
  return _checkpoint(tmp_path)


def out_is_a_file(tmp_path):
  (tmp_path / 'out').write_text('my notes\n')
  return [os.path.join(MODELS, 'CK'), '--out', str(tmp_path / 'out')]


def out_not_empty(tmp_path):
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'params.msgpack').write_bytes(b'an earlier import')
  return [os.path.join(MODELS, 'CK'), '--out', str(tmp_path / 'out')]


def overwrite_of_a_folder_import_tf_did_not_write(tmp_path):
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'params.msgpack').write_bytes(b'an earlier import')
  (tmp_path / 'out' / 'thesis.tex').write_text('years of work\n')
  return [os.path.join(MODELS, 'CK'), '--out', str(tmp_path / 'out'), '--overwrite']


def overwrite_from_a_damaged_checkpoint(tmp_path):
  (tmp_path / 'out').mkdir()
  for name in ('params.msgpack', 'config.json', 'source.json'):
    (tmp_path / 'out' / name).write_text('an earlier import\n')
  damaged_data(tmp_path)
  return [*_checkpoint(tmp_path), '--overwrite']


def out_inside_a_file(tmp_path):
  (tmp_path / 'out').write_text('my notes\n')
  return [os.path.join(MODELS, 'CK'), '--out', str(tmp_path / 'out' / 'ck')]


_INDEX_FAULT = '{tmp}/ck/MicroExpNet_CK.index is not a readable TensorFlow checkpoint index: '
ROWS = [
    (damaged_index, _INDEX_FAULT + 'its data block at byte 0 does not match its checksum'),
    (truncated_index, _INDEX_FAULT + 'no table footer'),
    (not_an_index, _INDEX_FAULT + 'no table footer'),
    (damaged_data, 'wfc in {tmp}/ck/MicroExpNet_CK.data-00000-of-00001 does not match its '
                   'checksum'),
    (truncated_data, '{tmp}/ck/MicroExpNet_CK.data-00000-of-00001 ends (at 300000 bytes) '
                     'before the bytes of'),
    (index_without_data, '{tmp}/ck/MicroExpNet_CK.data-00000-of-00001 does not exist; the '
                         'index {tmp}/ck/MicroExpNet_CK.index keeps its tensors there'),
    (other_network, "{tmp}/ck/MicroExpNet_CK: its wo has the shape (8, 48); MicroExpNet's out "
                    'kernel is (48, 8): not a MicroExpNet checkpoint'),
    (missing_variable, '{tmp}/ck/MicroExpNet_CK has no tensor wo; it holds:'),
    (index_is_a_folder, '{tmp}/ck/MicroExpNet_CK.index cannot be read (Is a directory)'),
    (unreadable_index, '{tmp}/ck/MicroExpNet_CK.index cannot be read (Permission denied)'),
    (no_checkpoint_in_folder, '{tmp}/ck holds no .index file; expected the folder of a '
                              'TensorFlow checkpoint'),
    (two_checkpoints, '{tmp}/ck holds 2 checkpoints (MicroExpNet_CK, MicroExpNet_CK-2) and no '
                      '`checkpoint` file naming one'),
    (recorded_path_absent_and_two_checkpoints,
     '{tmp}/ck/checkpoint names /home/someone/run/model-900, which is not there, and {tmp}/ck '
     'holds 2 checkpoints'),
    (missing_checkpoint_dir, '{tmp}/ck does not exist; expected the folder of a TensorFlow '
                             'checkpoint'),
    (checkpoint_dir_is_a_file, '{tmp}/ck is a file, not a folder'),
    (out_is_a_file, '--out {tmp}/out is a file; expected a new or empty folder'),
    (out_not_empty, '--out {tmp}/out is not empty; choose a new folder, or add --overwrite'),
    (overwrite_of_a_folder_import_tf_did_not_write,
     '--out {tmp}/out holds files this command does not write (thesis.tex)'),
    (overwrite_from_a_damaged_checkpoint, 'wfc in {tmp}/ck/MicroExpNet_CK.data-00000-of-00001 '
                                          'does not match its checksum'),
    (out_inside_a_file, '--out {tmp}/out/ck cannot be made: {tmp}/out is a file, not a folder'),
]
# Rows that need no copy of the authors' checkpoint.
_WITHOUT_MODELS = {no_checkpoint_in_folder, missing_checkpoint_dir, checkpoint_dir_is_a_file}


def _marks(setup):
  marks = [] if setup in _WITHOUT_MODELS else [needs_models]
  if setup is unreadable_index:
    marks.append(pytest.mark.skipif(os.geteuid() == 0, reason='root reads any file'))
  return marks


def _tree(folder):
  """Every file with its modification time, and every folder, under `folder`."""
  folders = {os.path.relpath(root, folder) for root, _, _ in os.walk(folder)}
  return file_times(folder), folders


@pytest.mark.parametrize('setup, message', [
    pytest.param(setup, message, id=setup.__name__.replace('_', '-'), marks=_marks(setup))
    for setup, message in ROWS])
def test_bad_input_is_one_line_naming_the_file_exit_2_and_nothing_created(tmp_path, setup,
                                                                           message):
  args = setup(tmp_path)
  before = _tree(tmp_path)
  done = subprocess.run(jaxfer_command('import-tf', *args), cwd=REPO, capture_output=True,
                        text=True, timeout=300)
  lines = [line for line in done.stderr.splitlines()
           if line.strip() and 'deprecated' not in line]
  assert done.returncode == 2, done.stderr[-3000:]
  assert len(lines) == 1, done.stderr[-3000:]
  assert lines[0].startswith('jaxfer import-tf: error: ')
  assert message.format(tmp=tmp_path) in lines[0]
  assert 'Traceback' not in done.stderr + done.stdout and not done.stdout
  assert _tree(tmp_path) == before
