"""Reads TensorFlow checkpoints (the V2 tensor-bundle format) with numpy alone, no TensorFlow.

A checkpoint PREFIX is `PREFIX.index` and `PREFIX.data-0000K-of-0000N`. The index is a LevelDB
table (sorted string table): blocks of prefix-compressed key/value entries, each followed by its
masked CRC32C, an index block that points to them, and a 48-byte footer. Each key is a tensor's
name, each value a `BundleEntryProto` (protobuf): dtype, shape, shard, offset and size of its
bytes in the data file, and their masked CRC32C. Written here from the format's documentation
(tensorflow/core/util/tensor_bundle, leveldb table_format.md) because the only maintained
reader is TensorFlow itself, far too heavy a dependency for reading eight arrays. Every length
and offset is checked against the file and every checksum verified, so a damaged file is one
CheckpointError naming it, never wrong weights.
"""
from __future__ import annotations

import math
import os
import re
import struct
from typing import NamedTuple

import numpy as np

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_TRAILER = 5  # Each block is followed by its compression type (1 byte) and CRC (4 bytes).
# TensorFlow's DataType enum values of the dtypes a checkpoint of a network holds.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 6: np.int8, 9: np.int64,
           10: np.bool_, 19: np.float16}
# Protobuf wire types of BundleEntryProto's fields (0 varint, 2 bytes, 5 fixed32).
_ENTRY_WIRES = {1: 0, 2: 2, 3: 0, 4: 0, 5: 0, 6: 5, 7: 2}
STATE_FILE = 'checkpoint'  # TensorFlow's text file that names a folder's latest checkpoint.
LAYOUT = 'MODEL.index and MODEL.data-00000-of-00001, optionally a `checkpoint` file naming MODEL'


class CheckpointError(ValueError):
  """The files are not a TensorFlow checkpoint this reader understands, or are damaged."""


class _Malformed(Exception):
  """A fault inside the index; read_index says which file."""


class Entry(NamedTuple):
  """Where one tensor lives: dtype, shape, data shard, byte offset and size, masked CRC32C."""
  dtype: np.dtype
  shape: tuple[int, ...]
  shard: int
  offset: int
  size: int
  crc32c: int | None


class Location(NamedTuple):
  """The checkpoint prefix found for a path, and how it was found (said to the user)."""
  prefix: str
  found: str


class _Bundle(NamedTuple):
  num_shards: int
  byte_order: str  # '<' or '>', as numpy spells it.
  entries: dict[str, Entry]


def _varint(data: bytes, position: int) -> tuple[int, int]:
  """(value, next position) of the base-128 varint at `position`."""
  value, shift = 0, 0
  while True:
    if position >= len(data):
      raise _Malformed('a number runs past its end')
    if shift > 63:
      raise _Malformed('a number is longer than 64 bits')
    byte = data[position]
    value |= (byte & 0x7F) << shift
    position += 1
    if not byte & 0x80:
      return value, position
    shift += 7


def _fields(message: bytes):
  """(field number, wire type, value) of each field of a protobuf message; length-delimited
  values are bytes, fixed32 and fixed64 ints, varints ints."""
  position = 0
  while position < len(message):
    key, position = _varint(message, position)
    number, wire = key >> 3, key & 7
    if wire == 0:
      value, position = _varint(message, position)
    elif wire == 2:
      length, position = _varint(message, position)
      if position + length > len(message):
        raise _Malformed('a protobuf field runs past its message')
      value, position = message[position:position + length], position + length
    elif wire in (1, 5):
      width = 8 if wire == 1 else 4
      if position + width > len(message):
        raise _Malformed('a protobuf field runs past its message')
      value = int.from_bytes(message[position:position + width], 'little')
      position += width
    else:
      raise _Malformed(f'unsupported protobuf wire type {wire}')
    yield number, wire, value


def _shape(message: bytes, name: str) -> tuple[int, ...]:
  """A TensorShapeProto: 2 dim {1 size, 2 name}, 3 unknown_rank."""
  shape = []
  for number, wire, dim in _fields(message):
    if number == 2 and wire == 2:
      sizes = [v for n, w, v in _fields(dim) if n == 1 and w == 0] or [0]
      if sizes[-1] >= 1 << 63:  # A negative int64: a dimension of unknown size.
        raise _Malformed(f'{name} has a dimension of unknown size')
      shape.append(sizes[-1])
    elif number == 3 and dim:
      raise _Malformed(f'{name} has an unknown rank')
  return tuple(shape)


def _entry(message: bytes, name: str) -> Entry:
  """A `BundleEntryProto`: 1 dtype, 2 shape, 3 shard_id, 4 offset, 5 size, 6 crc32c,
  7 slices (partitioned variables: not supported)."""
  values = {}
  for number, wire, value in _fields(message):
    if number in _ENTRY_WIRES and wire != _ENTRY_WIRES[number]:
      raise _Malformed(f'{name}\'s field {number} has the protobuf wire type {wire}')
    values[number] = value
  if 7 in values:
    raise _Malformed(f'{name} is a sliced (partitioned) tensor; not supported')
  dtype = values.get(1)
  if dtype not in _DTYPES:
    raise _Malformed(f'{name} has the TensorFlow dtype {dtype}; supported: '
                     f'{", ".join(np.dtype(t).name for t in _DTYPES.values())}')
  dtype = np.dtype(_DTYPES[dtype])
  shape = _shape(values.get(2, b''), name)
  size = values.get(5, 0)
  if size != math.prod(shape) * dtype.itemsize:
    raise _Malformed(f'{name} is recorded as {size} bytes, but its shape {shape} of '
                     f'{dtype.name} takes {math.prod(shape) * dtype.itemsize}')
  return Entry(dtype, shape, values.get(3, 0), values.get(4, 0), size, values.get(6))


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
  """(key, value) of each entry of a table block (keys share prefixes with the previous key)."""
  if len(block) < 4:
    raise _Malformed('a block is too short to hold its restart points')
  restarts = int.from_bytes(block[-4:], 'little')
  end = len(block) - 4 - 4 * restarts
  if end < 0:
    raise _Malformed('a block\'s restart points run past its start')
  position, key, entries = 0, b'', []
  while position < end:
    shared, position = _varint(block, position)
    unshared, position = _varint(block, position)
    length, position = _varint(block, position)
    if shared > len(key) or position + unshared + length > end:
      raise _Malformed('a block entry runs past its block')
    key = key[:shared] + block[position:position + unshared]
    position += unshared
    entries.append((key, block[position:position + length]))
    position += length
  return entries


def _handle(data: bytes, position: int) -> tuple[tuple[int, int], int]:
  """((offset, size) of a block, next position) from the block handle at `position`."""
  offset, position = _varint(data, position)
  size, position = _varint(data, position)
  return (offset, size), position


def _block(data: bytes, handle: tuple[int, int], kind: str) -> bytes:
  """The contents of the block at `handle`, checked against the checksum that follows it."""
  offset, size = handle
  if offset + size + _TRAILER > len(data) - _FOOTER:
    raise _Malformed(f'its {kind} block (bytes {offset} to {offset + size}) runs past the '
                     f'blocks\' end (byte {len(data) - _FOOTER})')
  stored = int.from_bytes(data[offset + size + 1:offset + size + _TRAILER], 'little')
  # The checksum covers the contents and the compression type byte.
  if masked_crc32c(data[offset:offset + size + 1]) != stored:
    raise _Malformed(f'its {kind} block at byte {offset} does not match its checksum: the '
                     'file is damaged')
  if data[offset + size] != 0:
    raise _Malformed(f'its {kind} block is compressed (type {data[offset + size]}); only '
                     'uncompressed tables are supported')
  return data[offset:offset + size]


def _table(data: bytes) -> dict[bytes, bytes]:
  """{key: value} of a LevelDB table, every block checked against its checksum."""
  if len(data) < _FOOTER or struct.unpack_from('<Q', data, len(data) - 8)[0] != _MAGIC:
    raise _Malformed('no table footer (it does not end in the table\'s magic number)')
  footer = data[len(data) - _FOOTER:]
  metaindex, position = _handle(footer, 0)
  index, _ = _handle(footer, position)
  _block(data, metaindex, 'metaindex')  # Unused (it lists no filters), but checked.
  table = {}
  for _, handle in _block_entries(_block(data, index, 'index')):
    table.update(_block_entries(_block(data, _handle(handle, 0)[0], 'data')))
  return table


def _bundle(table: dict[bytes, bytes]) -> _Bundle:
  """The bundle held by the table: its header (the empty key: BundleHeaderProto 1 num_shards,
  2 endianness) and an Entry for every other key."""
  if b'' not in table:
    raise _Malformed('it has no bundle header')
  header = {number: value for number, _, value in _fields(table[b''])}
  num_shards, big_endian = header.get(1, 0), header.get(2, 0)
  if not isinstance(num_shards, int) or not 1 <= num_shards < 100000:
    raise _Malformed(f'its header records {num_shards} data shards')
  entries = {}
  for key, value in table.items():
    if key:
      try:
        name = key.decode()
      except UnicodeDecodeError:
        raise _Malformed(f'the tensor name {key!r} is not UTF-8') from None
      entry = _entry(value, name)
      if entry.shard >= num_shards:
        raise _Malformed(f'{name} is in the data shard {entry.shard} of {num_shards}')
      entries[name] = entry
  return _Bundle(num_shards, '>' if big_endian == 1 else '<', entries)


def _read_bytes(path: str, kind: str) -> bytes:
  """The whole file `path`; CheckpointError naming it if it cannot be read."""
  try:
    with open(path, 'rb') as f:
      return f.read()
  except FileNotFoundError:
    raise CheckpointError(f'{path} does not exist; expected the {kind} of a TensorFlow '
                          f'checkpoint ({LAYOUT})') from None
  except OSError as error:
    raise CheckpointError(f'{path} cannot be read ({error.strerror}); expected the {kind} of '
                          'a TensorFlow checkpoint') from None


def _read_bundle(prefix: str) -> _Bundle:
  path = f'{prefix}.index'
  data = _read_bytes(path, 'index')
  try:
    return _bundle(_table(data))
  except _Malformed as fault:
    raise CheckpointError(f'{path} is not a readable TensorFlow checkpoint index: '
                          f'{fault}') from None


def read_index(prefix: str) -> dict[str, Entry]:
  """{tensor name: Entry} from `prefix`.index."""
  return _read_bundle(prefix).entries


def _crc32c_table() -> np.ndarray:
  """The register after one byte, by the byte XOR the register's low byte."""
  table = np.arange(256, dtype=np.uint32)
  for _ in range(8):
    table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1)
  return table.astype(np.uint32)


_TABLE = _crc32c_table()
_BYTE_TABLE = _TABLE.tolist()
_BITS = np.uint32(1) << np.arange(32, dtype=np.uint32)


def _apply(values: np.ndarray, operator: np.ndarray) -> np.ndarray:
  """A linear map of CRC registers (`operator[k]`: the image of bit k) applied to each value."""
  out = np.zeros(len(values), np.uint32)
  for bit, image in zip(_BITS, operator):
    out ^= np.where(values & bit, image, np.uint32(0))
  return out


def _past_zeros(count: int) -> np.ndarray:
  """The linear map that moves a CRC register past `count` zero bytes (by squaring)."""
  step, result = _TABLE[_BITS & 0xFF] ^ (_BITS >> 8), _BITS.copy()
  while count:
    if count & 1:
      result = _apply(result, step)
    step = _apply(step, step)
    count >>= 1
  return result


def masked_crc32c(data: bytes) -> int:
  """CRC32C (Castagnoli) of `data`, masked as TensorFlow stores it: rotate right by 15 bits,
  add 0xa282ead8."""
  # None of the dependencies brings a CRC32C (google-crc32c would be the library to take), and
  # a byte-at-a-time loop in Python takes 0.15 s a megabyte. So long data is cut into lanes
  # whose CRCs numpy computes side by side, joined as zlib's crc32_combine joins them: the CRC
  # is linear, and a lane's register is moved past the bytes after it by a 32x32 bit matrix.
  if len(data) < 4096:
    crc = 0xFFFFFFFF
    for byte in data:
      crc = _BYTE_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  else:
    raw = np.frombuffer(data, np.uint8)
    lanes = 1 << round(np.log2(len(raw)) / 2)
    length = -(-len(raw) // lanes)
    # Leading zeros leave a zero register as it is; the initial register 0xFFFFFFFF is the
    # same as a zero one with the first four bytes inverted.
    padded = np.zeros(lanes * length, np.uint8)
    start = len(padded) - len(raw)
    padded[start:] = raw
    padded[start:start + 4] ^= 0xFF
    registers = np.zeros(lanes, np.uint32)
    for column in np.ascontiguousarray(padded.reshape(lanes, length).T):
      registers = _TABLE[(registers ^ column) & 0xFF] ^ (registers >> 8)
    past = _past_zeros(length)
    while len(registers) > 1:  # Pairs of neighbouring lanes joined, level by level.
      registers = _apply(registers[0::2], past) ^ registers[1::2]
      past = _apply(past, past)
    crc = int(registers[0])
  crc ^= 0xFFFFFFFF
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _unescape(text: str) -> str:
  """A string of TensorFlow's text format: C escapes, non-ASCII bytes in octal."""
  simple = {b'n': b'\n', b't': b'\t', b'r': b'\r'}
  raw = re.sub(rb'\\([0-7]{3}|.)',
               lambda m: bytes([int(m[1], 8) & 0xFF]) if len(m[1]) == 3
               else simple.get(m[1], m[1]), text.encode())
  return raw.decode(errors='replace')


def _recorded_prefix(state: str) -> str | None:
  """The `model_checkpoint_path` of TensorFlow's `checkpoint` file, or None."""
  if not os.path.isfile(state):
    return None
  try:
    with open(state, encoding='utf-8', errors='replace') as f:
      text = f.read()
  except OSError as error:
    raise CheckpointError(f'{state} cannot be read ({error.strerror}); expected TensorFlow\'s '
                          'text file naming the checkpoint (model_checkpoint_path: "MODEL")'
                          ) from None
  match = re.search(r'^\s*model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', text, re.MULTILINE)
  return _unescape(match[1]) if match and match[1] else None


def locate(path: str) -> Location:
  """The checkpoint prefix that `path` names: a checkpoint folder (the checkpoint its
  `checkpoint` file names, else its only `.index` file), a prefix, or a prefix's `.index`.

  A `checkpoint` file written on another machine records that machine's path; then the
  checkpoint of the same name in the folder (else its only one) is used, and `found` says so.
  """
  if os.path.isfile(path) and path.endswith('.index'):
    return Location(path[:-len('.index')], f'the index {path} was given')
  if not os.path.isdir(path):
    if os.path.isfile(f'{path}.index'):
      return Location(path, f'the prefix {path} was given')
    what = 'is a file, not a folder' if os.path.exists(path) else 'does not exist'
    raise CheckpointError(f'{path} {what}; expected the folder of a TensorFlow checkpoint '
                          f'({LAYOUT})')
  try:
    names = os.listdir(path)
  except OSError as error:
    raise CheckpointError(f'{path} cannot be read ({error.strerror}); expected the folder of a '
                          'TensorFlow checkpoint') from None
  models = sorted(name[:-len('.index')] for name in names if name.endswith('.index'))
  state = os.path.join(path, STATE_FILE)
  recorded = _recorded_prefix(state)
  if recorded is not None:
    named = recorded if os.path.isabs(recorded) else os.path.join(path, recorded)
    if os.path.exists(f'{named}.index'):
      return Location(named, f'{state} names it')
    # Its basename, whichever machine's separators the recorded path has.
    same_name = re.split(r'[\\/]', recorded)[-1]
    if same_name in models:
      return Location(os.path.join(path, same_name),
                      f'{state} names {recorded}, which is not there; used {same_name} in '
                      f'{path}')
    if len(models) == 1:
      return Location(os.path.join(path, models[0]),
                      f'{state} names {recorded}, which is not there; used the only checkpoint '
                      f'in {path}, {models[0]}')
    raise CheckpointError(f'{state} names {recorded}, which is not there, and {path} holds '
                          f'{_count(models)}; expected a checkpoint folder ({LAYOUT})')
  if len(models) == 1:
    return Location(os.path.join(path, models[0]), f'the only .index file in {path}')
  if not models:
    raise CheckpointError(f'{path} holds no .index file; expected the folder of a TensorFlow '
                          f'checkpoint ({LAYOUT})')
  raise CheckpointError(f'{path} holds {_count(models)} and no `checkpoint` file naming one; '
                        f'give the one to import as {os.path.join(path, models[0])} (its prefix)')


def _count(models: list[str]) -> str:
  if not models:
    return 'no .index file'
  return f'{len(models)} checkpoints ({", ".join(models)})'


def prefix_in(directory: str) -> str:
  """The checkpoint prefix of a directory (see `locate`)."""
  return locate(directory).prefix


def read(prefix: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
  """The tensors `names` (default: all) of the checkpoint `prefix`, checked against their
  CRC32C; CheckpointError naming the file if one is missing, damaged or truncated."""
  bundle = _read_bundle(prefix)
  index = bundle.entries
  missing = sorted(set(names or ()) - set(index))
  if missing:
    raise CheckpointError(f'{prefix} has no tensor {", ".join(missing)}; it holds: '
                          f'{", ".join(sorted(index))}')
  arrays = {}
  for name in names or sorted(index):
    entry = index[name]
    path = f'{prefix}.data-{entry.shard:05d}-of-{bundle.num_shards:05d}'
    try:
      with open(path, 'rb') as f:
        length = os.fstat(f.fileno()).st_size
        if entry.offset + entry.size > length:
          raise CheckpointError(f'{path} ends (at {length} bytes) before the bytes of {name} '
                                f'({entry.offset} to {entry.offset + entry.size}): truncated')
        f.seek(entry.offset)
        raw = f.read(entry.size)
    except FileNotFoundError:
      raise CheckpointError(f'{path} does not exist; the index {prefix}.index keeps its '
                            'tensors there') from None
    except OSError as error:
      raise CheckpointError(f'{path} cannot be read ({error.strerror}); the index '
                            f'{prefix}.index keeps its tensors there') from None
    if entry.crc32c is None:
      raise CheckpointError(f'{prefix}.index records no checksum of {name}; TensorFlow '
                            'always writes one: the file is damaged')
    if masked_crc32c(raw) != entry.crc32c:
      raise CheckpointError(f'{name} in {path} does not match its checksum: damaged file')
    arrays[name] = np.frombuffer(raw, dtype=entry.dtype.newbyteorder(
        bundle.byte_order)).reshape(entry.shape).astype(entry.dtype)
  return arrays
