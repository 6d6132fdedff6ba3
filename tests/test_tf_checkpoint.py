"""Reading TensorFlow checkpoints without TensorFlow: the authors' MicroExpNet checkpoints."""
import os
import shutil

import numpy as np
import pytest

from conftest import REPO
from jaxfer import tf_checkpoint

MODELS = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'microexpnet-tf', 'Models')
needs_models = pytest.mark.skipif(not os.path.isdir(MODELS),
                                  reason=f'the authors\' checkpoints are not at {MODELS}')
# MicroExpNet.py's variables, as ../shared/README.md lists them.
SHAPES = {'wc1': (8, 8, 1, 16), 'wc2': (4, 4, 16, 32), 'wfc': (1152, 48), 'wo': (48, 8),
          'bc1': (16,), 'bc2': (32,), 'bfc': (48,), 'bo': (8,)}


def test_masked_crc32c_of_the_standard_check_string_by_hand():
  crc = 0xE3069283  # CRC32C('123456789'), the Castagnoli polynomial's published check value.
  masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
  assert tf_checkpoint.masked_crc32c(b'123456789') == masked


def _bitwise_crc32c(data):
  """CRC32C from its definition: reflected polynomial 0x82F63B78, one bit at a time."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc ^= byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
  return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize('length', [0, 1, 5, 4095, 4096, 4097, 5000, 65536, 70001])
def test_masked_crc32c_of_short_and_long_data_matches_the_bitwise_definition(length):
  data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
  crc = _bitwise_crc32c(data)
  masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
  assert tf_checkpoint.masked_crc32c(data) == masked


@needs_models
@pytest.mark.parametrize('model', ['CK', 'OuluCASIA'])
def test_the_index_lists_every_variable_and_accounts_for_every_byte_of_the_data(model):
  prefix = tf_checkpoint.prefix_in(os.path.join(MODELS, model))
  index = tf_checkpoint.read_index(prefix)
  for name, shape in SHAPES.items():
    # Each weight with Adam's two slots, of the same shape.
    for slot in ('', '/Adam', '/Adam_1'):
      assert index[name + slot].shape == shape and index[name + slot].dtype.name == 'float32'
  assert set(index) - {n + s for n in SHAPES for s in ('', '/Adam', '/Adam_1')} == {
      'beta1_power', 'beta2_power'}
  # The entries tile the data file exactly: offsets in order, no gap, no overlap.
  spans = sorted((e.offset, e.size) for e in index.values())
  assert all(a + n == b for (a, n), (b, _) in zip(spans, spans[1:]))
  assert spans[-1][0] + spans[-1][1] == os.path.getsize(f'{prefix}.data-00000-of-00001')
  arrays = tf_checkpoint.read(prefix, list(SHAPES))  # Every checksum is verified.
  assert {name: a.shape for name, a in arrays.items()} == SHAPES


@needs_models
def test_a_damaged_data_file_fails_its_checksum_naming_the_tensor(tmp_path):
  for name in os.listdir(os.path.join(MODELS, 'CK')):
    shutil.copy(os.path.join(MODELS, 'CK', name), tmp_path / name)
  prefix = tf_checkpoint.prefix_in(str(tmp_path))
  entry = tf_checkpoint.read_index(prefix)['wfc']
  data = tmp_path / 'MicroExpNet_CK.data-00000-of-00001'
  raw = bytearray(data.read_bytes())
  raw[entry.offset + 100] ^= 0x01
  data.write_bytes(bytes(raw))
  assert set(tf_checkpoint.read(prefix, ['wc1', 'bo'])) == {'wc1', 'bo'}  # Untouched ones read.
  with pytest.raises(tf_checkpoint.CheckpointError, match='wfc in .* does not match its checksum'):
    tf_checkpoint.read(prefix, ['wfc'])
  with pytest.raises(tf_checkpoint.CheckpointError, match='has no tensor wd1; it holds: bc1'):
    tf_checkpoint.read(prefix, ['wd1'])


def test_a_file_that_is_not_an_index_is_refused(tmp_path):
  (tmp_path / 'model.index').write_bytes(b'not a table' * 10)
  with pytest.raises(tf_checkpoint.CheckpointError,
                     match='is not a readable TensorFlow checkpoint index: no table footer'):
    tf_checkpoint.read_index(str(tmp_path / 'model'))
  (tmp_path / 'other.index').write_bytes(b'')
  with pytest.raises(tf_checkpoint.CheckpointError,
                     match=r'holds 2 checkpoints \(model, other\) and no `checkpoint` file'):
    tf_checkpoint.prefix_in(str(tmp_path))


def _copy_of_ck(tmp_path):
  """A writable copy of the authors' CK checkpoint; its prefix."""
  for name in os.listdir(os.path.join(MODELS, 'CK')):
    shutil.copyfile(os.path.join(MODELS, 'CK', name), tmp_path / name)
  return str(tmp_path / 'MicroExpNet_CK')


def _flipped(path, bit):
  """Flips one bit of the file in place (no truncating rewrite: thousands of flips stay fast)."""
  with open(path, 'r+b') as f:
    f.seek(bit // 8)
    byte = f.read(1)[0]
    f.seek(bit // 8)
    f.write(bytes([byte ^ 1 << bit % 8]))


def _same_arrays(got, expected):
  return got.keys() == expected.keys() and all(
      got[k].dtype == expected[k].dtype and np.array_equal(got[k], expected[k]) for k in got)


@needs_models
def test_every_single_bit_flip_of_the_index_is_refused_naming_it_or_reads_the_same_weights(
    tmp_path):
  prefix = _copy_of_ck(tmp_path)
  index = tmp_path / 'MicroExpNet_CK.index'
  expected = tf_checkpoint.read(prefix, list(SHAPES))
  original = index.read_bytes()
  refused, same = 0, 0
  for bit in range(8 * len(original)):
    _flipped(index, bit)
    try:
      got = tf_checkpoint.read(prefix, list(SHAPES))
    except ValueError as error:  # Any other exception fails the test, naming the bit.
      assert str(index) in str(error), (bit, error)
      refused += 1
    else:
      assert _same_arrays(got, expected), f'bit {bit} gave other weights'
      same += 1
    _flipped(index, bit)
  assert index.read_bytes() == original
  # Only the footer's zero padding (34 bytes) carries no information.
  assert refused == 8 * len(original) - same and same <= 8 * 34 + 8, (refused, same)


@needs_models
def test_bit_flips_spread_over_the_data_file_are_refused_naming_it_or_read_the_same_weights(
    tmp_path):
  prefix = _copy_of_ck(tmp_path)
  data = tmp_path / 'MicroExpNet_CK.data-00000-of-00001'
  expected = tf_checkpoint.read(prefix, list(SHAPES))
  original = data.read_bytes()
  entries = tf_checkpoint.read_index(prefix)
  in_weights = 0
  for bit in np.linspace(0, 8 * len(original) - 1, 200).astype(int):
    _flipped(data, bit)
    read_by_import = any(entries[n].offset <= bit // 8 < entries[n].offset + entries[n].size
                         for n in SHAPES)
    try:
      got = tf_checkpoint.read(prefix, list(SHAPES))
    except ValueError as error:
      assert read_by_import and str(data) in str(error), (bit, error)
      assert 'does not match its checksum' in str(error)
      in_weights += 1
    else:  # A flip in Adam's slots, which an import does not read.
      assert not read_by_import and _same_arrays(got, expected), bit
    _flipped(data, bit)
  assert data.read_bytes() == original
  assert in_weights >= 50  # The weights are a third of the file.


@needs_models
def test_a_checkpoint_file_naming_another_machines_path_falls_back_to_the_folder(tmp_path):
  prefix = _copy_of_ck(tmp_path)
  state = tmp_path / 'checkpoint'
  state.write_text('model_checkpoint_path: "/home/someone/train/MicroExpNet_CK"\n'
                   'all_model_checkpoint_paths: "/home/someone/train/MicroExpNet_CK"\n')
  location = tf_checkpoint.locate(str(tmp_path))
  assert location.prefix == prefix
  assert location.found == (f'{state} names /home/someone/train/MicroExpNet_CK, which is not '
                            f'there; used MicroExpNet_CK in {tmp_path}')
  # A Windows path, as TensorFlow's text format escapes it; another name: the only checkpoint.
  state.write_text('model_checkpoint_path: "C:\\\\runs\\\\model-1000"\n')
  location = tf_checkpoint.locate(str(tmp_path))
  assert location.prefix == prefix and location.found.endswith(
      f'names C:\\runs\\model-1000, which is not there; used the only checkpoint in '
      f'{tmp_path}, MicroExpNet_CK')
  # A relative name that is there is used as TensorFlow uses it.
  state.write_text('model_checkpoint_path: "MicroExpNet_CK"\n')
  assert tf_checkpoint.locate(str(tmp_path)) == (prefix, f'{state} names it')


@needs_models
def test_a_checkpoint_may_be_given_by_its_prefix_or_its_index(tmp_path):
  prefix = _copy_of_ck(tmp_path)
  shutil.copyfile(f'{prefix}.index', tmp_path / 'other.index')  # Two checkpoints in the folder.
  assert tf_checkpoint.locate(prefix).prefix == prefix
  assert tf_checkpoint.locate(f'{prefix}.index').prefix == prefix
