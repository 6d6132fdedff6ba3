"""Reading TensorFlow checkpoints without TensorFlow: the authors' MicroExpNet checkpoints."""
import os
import shutil

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
  with pytest.raises(tf_checkpoint.CheckpointError, match='is not a TensorFlow checkpoint index'):
    tf_checkpoint.read_index(str(tmp_path / 'model'))
  (tmp_path / 'other.index').write_bytes(b'')
  with pytest.raises(tf_checkpoint.CheckpointError, match='holds 2 .index files'):
    tf_checkpoint.prefix_in(str(tmp_path))
