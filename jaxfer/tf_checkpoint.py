"""Reads TensorFlow checkpoints (the V2 tensor-bundle format) with numpy alone, no TensorFlow.

A checkpoint PREFIX is `PREFIX.index` and `PREFIX.data-0000K-of-0000N`. The index is a LevelDB
table (sorted string table): blocks of prefix-compressed key/value entries, an index block that
points to them, and a 48-byte footer. Each key is a tensor's name, each value a
`BundleEntryProto` (protobuf): dtype, shape, shard, offset and size of its little-endian bytes
in the data file, and their masked CRC32C. Written here from the format's documentation
(tensorflow/core/util/tensor_bundle, leveldb table_format.md) because the only maintained
reader is TensorFlow itself, far too heavy a dependency for reading eight arrays.
"""
from __future__ import annotations

import os
import struct
from typing import NamedTuple

import numpy as np

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_TRAILER = 5  # Each block is followed by its compression type (1 byte) and CRC (4 bytes).
# TensorFlow's DataType enum values of the dtypes a checkpoint of a network holds.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 6: np.int8, 9: np.int64,
           10: np.bool_, 19: np.float16}


class CheckpointError(ValueError):
  """The files are not a TensorFlow checkpoint this reader understands, or are damaged."""


class Entry(NamedTuple):
  """Where one tensor lives: dtype, shape, data shard, byte offset and size, masked CRC32C."""
  dtype: np.dtype
  shape: tuple[int, ...]
  shard: int
  offset: int
  size: int
  crc32c: int | None


def _varint(data: bytes, position: int) -> tuple[int, int]:
  """(value, next position) of the base-128 varint at `position`."""
  value, shift = 0, 0
  while True:
    if position >= len(data):
      raise CheckpointError('truncated varint')
    byte = data[position]
    value |= (byte & 0x7F) << shift
    position += 1
    if not byte & 0x80:
      return value, position
    shift += 7


def _fields(message: bytes):
  """(field number, wire type, value) of each field of a protobuf message; length-delimited
  values are bytes, fixed32 ints, varints ints."""
  position = 0
  while position < len(message):
    key, position = _varint(message, position)
    number, wire = key >> 3, key & 7
    if wire == 0:
      value, position = _varint(message, position)
    elif wire == 2:
      length, position = _varint(message, position)
      value, position = message[position:position + length], position + length
    elif wire == 5:
      value, position = struct.unpack_from('<I', message, position)[0], position + 4
    elif wire == 1:
      value, position = struct.unpack_from('<Q', message, position)[0], position + 8
    else:
      raise CheckpointError(f'unsupported protobuf wire type {wire}')
    yield number, wire, value


def _entry(message: bytes, name: str) -> Entry:
  """A `BundleEntryProto`: 1 dtype, 2 shape (TensorShapeProto: 2 dim {1 size}), 3 shard_id,
  4 offset, 5 size, 6 crc32c, 7 slices (partitioned variables: not supported)."""
  dtype, shape, shard, offset, size, crc = None, [], 0, 0, 0, None
  for number, _, value in _fields(message):
    if number == 1:
      dtype = value
    elif number == 2:
      shape = [next((v for n, _, v in _fields(dim) if n == 1), 0)
               for n, _, dim in _fields(value) if n == 2]
    elif number == 3:
      shard = value
    elif number == 4:
      offset = value
    elif number == 5:
      size = value
    elif number == 6:
      crc = value
    elif number == 7:
      raise CheckpointError(f'{name} is a sliced (partitioned) tensor; not supported')
  if dtype not in _DTYPES:
    raise CheckpointError(f'{name} has the TensorFlow dtype {dtype}; supported: '
                          f'{", ".join(np.dtype(t).name for t in _DTYPES.values())}')
  return Entry(np.dtype(_DTYPES[dtype]), tuple(shape), shard, offset, size, crc)


def _block_entries(block: bytes):
  """(key, value) of each entry of a table block (keys share prefixes with the previous key)."""
  restarts = struct.unpack_from('<I', block, len(block) - 4)[0]
  end = len(block) - 4 - 4 * restarts
  position, key = 0, b''
  while position < end:
    shared, position = _varint(block, position)
    unshared, position = _varint(block, position)
    length, position = _varint(block, position)
    key = key[:shared] + block[position:position + unshared]
    position += unshared
    yield key, block[position:position + length]
    position += length


def _block(data: bytes, handle: bytes) -> bytes:
  offset, position = _varint(handle, 0)
  size, _ = _varint(handle, position)
  if offset + size + _TRAILER > len(data):
    raise CheckpointError('a block runs past the end of the index file')
  if data[offset + size] != 0:
    raise CheckpointError('compressed index blocks are not supported')
  return data[offset:offset + size]


def read_index(prefix: str) -> dict[str, Entry]:
  """{tensor name: Entry} from `prefix`.index."""
  path = f'{prefix}.index'
  with open(path, 'rb') as f:
    data = f.read()
  if len(data) < _FOOTER or struct.unpack_from('<Q', data, len(data) - 8)[0] != _MAGIC:
    raise CheckpointError(f'{path} is not a TensorFlow checkpoint index (no table footer)')
  footer = data[len(data) - _FOOTER:]
  _, position = _varint(footer, 0)  # The metaindex block's handle (offset, size): unused.
  _, position = _varint(footer, position)
  index = _block(data, footer[position:])
  entries = {}
  for _, handle in _block_entries(index):
    for key, value in _block_entries(_block(data, handle)):
      if key:  # The empty key holds the bundle's header (shard count, endianness).
        name = key.decode()
        entries[name] = _entry(value, name)
  return entries


def _crc32c_table() -> np.ndarray:
  table = np.arange(256, dtype=np.uint32)
  for _ in range(8):
    table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1)
  return table.astype(np.uint32)


_TABLE = _crc32c_table().tolist()


def masked_crc32c(data: bytes) -> int:
  """CRC32C (Castagnoli) of `data`, masked as TensorFlow stores it: rotate right by 15 bits,
  add 0xa282ead8."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  crc ^= 0xFFFFFFFF
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def prefix_in(directory: str) -> str:
  """The checkpoint prefix of a directory: the one its `checkpoint` file names, else its only
  `.index` file."""
  state = os.path.join(directory, 'checkpoint')
  if os.path.isfile(state):
    with open(state) as f:
      for line in f:
        if line.startswith('model_checkpoint_path:'):
          name = line.split(':', 1)[1].strip().strip('"')
          return name if os.path.isabs(name) else os.path.join(directory, name)
  indexes = sorted(name for name in os.listdir(directory) if name.endswith('.index'))
  if len(indexes) != 1:
    raise CheckpointError(f'{directory} holds {len(indexes)} .index files and no `checkpoint` '
                          'file naming one; expected a TensorFlow checkpoint directory')
  return os.path.join(directory, indexes[0][:-len('.index')])


def read(prefix: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
  """The tensors `names` (default: all) of the checkpoint `prefix`, checked against their
  CRC32C."""
  index = read_index(prefix)
  shards = 1 + max((entry.shard for entry in index.values()), default=0)
  missing = sorted(set(names or ()) - set(index))
  if missing:
    raise CheckpointError(f'{prefix} has no tensor {", ".join(missing)}; it holds: '
                          f'{", ".join(sorted(index))}')
  arrays = {}
  for name in names or sorted(index):
    entry = index[name]
    path = f'{prefix}.data-{entry.shard:05d}-of-{shards:05d}'
    with open(path, 'rb') as f:
      f.seek(entry.offset)
      raw = f.read(entry.size)
    if len(raw) != entry.size:
      raise CheckpointError(f'{path} ends before the bytes of {name}')
    if entry.crc32c is not None and masked_crc32c(raw) != entry.crc32c:
      raise CheckpointError(f'{name} in {path} does not match its checksum: damaged file')
    arrays[name] = np.frombuffer(raw, dtype=entry.dtype.newbyteorder('<')).reshape(
        entry.shape).astype(entry.dtype)
  return arrays
