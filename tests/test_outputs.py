"""The one rule for what commands write (jaxfer.outputs): nothing a user has is replaced unless
asked, a folder only when it holds what the command writes, and never half-written."""
import errno
import os
import pathlib
import re
import socket

import pytest

from jaxfer import outputs


def test_inside_is_true_for_the_folder_itself_and_below_it_only(tmp_path):
  (tmp_path / 'photos' / 'sub').mkdir(parents=True)
  (tmp_path / 'photos2').mkdir()
  (tmp_path / 'link').symlink_to(tmp_path / 'photos')
  assert outputs.inside(str(tmp_path / 'photos'), str(tmp_path / 'photos'))
  assert outputs.inside(str(tmp_path / 'photos' / 'sub' / 'x.png'), str(tmp_path / 'photos'))
  assert outputs.inside(str(tmp_path / 'link' / 'sub'), str(tmp_path / 'photos'))
  assert not outputs.inside(str(tmp_path / 'photos2'), str(tmp_path / 'photos'))
  assert not outputs.inside(str(tmp_path), str(tmp_path / 'photos'))


def test_check_new_file_refuses_an_existing_file_unless_overwrite(tmp_path):
  existing = tmp_path / 'faces.csv'
  existing.write_text('mine')
  with pytest.raises(ValueError, match=r'--out .*faces\.csv exists; .* --overwrite'):
    outputs.check_new_file(str(existing), '--out')
  outputs.check_new_file(str(existing), '--out', overwrite=True)
  outputs.check_new_file(str(tmp_path / 'new' / 'faces.csv'), '--out')  # Folder made later.
  assert existing.read_text() == 'mine' and not (tmp_path / 'new').exists()


def test_check_new_file_never_replaces_an_input_even_with_overwrite(tmp_path):
  (tmp_path / 'model').mkdir()
  (tmp_path / 'model' / 'params.msgpack').write_bytes(b'weights')
  (tmp_path / 'list.csv').write_text('rows')
  with pytest.raises(ValueError, match=r'params\.msgpack would replace the input .*model; '):
    outputs.check_new_file(str(tmp_path / 'model' / 'params.msgpack'), '--out', overwrite=True,
                           inputs=[str(tmp_path / 'model')])
  with pytest.raises(ValueError, match=r'list\.csv would replace the input .*list\.csv'):
    outputs.check_new_file(str(tmp_path / 'list.csv'), '--out', overwrite=True,
                           inputs=[str(tmp_path / 'list.csv')])
  # A new file in an input folder replaces nothing; an existing one outside the inputs may go.
  outputs.check_new_file(str(tmp_path / 'model' / 'model.onnx'), '--out',
                         inputs=[str(tmp_path / 'model')])
  outputs.check_new_file(str(tmp_path / 'list.csv'), '--out', overwrite=True,
                         inputs=[str(tmp_path / 'model')])


def test_check_new_file_refuses_a_folder_and_a_file_in_place_of_a_folder(tmp_path):
  (tmp_path / 'x.csv').mkdir()
  (tmp_path / 'plain').write_text('')
  with pytest.raises(ValueError, match=r'x\.csv is a folder; expected a file name'):
    outputs.check_new_file(str(tmp_path / 'x.csv'), '--out', overwrite=True)
  with pytest.raises(ValueError, match=r'plain is a file, not a folder'):
    outputs.check_new_file(str(tmp_path / 'plain' / 'faces.csv'), '--out')


def test_check_new_dir_allows_new_or_empty_and_overwrite_only_of_what_the_command_writes(
    tmp_path):
  outputs.check_new_dir(str(tmp_path / 'new'), '--out')
  (tmp_path / 'empty').mkdir()
  outputs.check_new_dir(str(tmp_path / 'empty'), '--out')
  model = tmp_path / 'model'
  model.mkdir()
  (model / 'params.msgpack').write_bytes(b'')
  with pytest.raises(ValueError, match=r'model is not empty; .* --overwrite'):
    outputs.check_new_dir(str(model), '--out', expected=['params.msgpack'])
  outputs.check_new_dir(str(model), '--out', overwrite=True, expected=['params.msgpack'])
  (model / 'holiday.jpg').write_bytes(b'')
  with pytest.raises(ValueError, match=r'holds files this command does not write \(holiday'):
    outputs.check_new_dir(str(model), '--out', overwrite=True, expected=['params.msgpack'])
  (tmp_path / 'file').write_text('')
  with pytest.raises(ValueError, match=r'file is a file; expected a new or empty folder'):
    outputs.check_new_dir(str(tmp_path / 'file'), '--out', overwrite=True)


def test_write_dir_replaces_the_folder_whole_and_keeps_it_when_writing_fails(tmp_path):
  target = tmp_path / 'best'
  target.mkdir()
  (target / 'params.msgpack').write_text('old')
  (target / 'model.onnx').write_text('old model')

  def fail(folder):
    with open(os.path.join(folder, 'params.msgpack'), 'w') as f:
      f.write('half')
    raise OSError('disk full')

  with pytest.raises(outputs.WriteError, match=r'best could not be written: disk full; what '
                     r'was there before, if anything, is kept'):
    outputs.write_dir(str(target), fail)
  assert sorted(p.name for p in target.iterdir()) == ['model.onnx', 'params.msgpack']
  assert (target / 'params.msgpack').read_text() == 'old'

  def write(folder):
    with open(os.path.join(folder, 'params.msgpack'), 'w') as f:
      f.write('new')
    return 'written'

  assert outputs.write_dir(str(target), write) == 'written'
  # Replaced whole: the old model's other file does not stay beside the new one.
  assert [p.name for p in target.iterdir()] == ['params.msgpack']
  assert (target / 'params.msgpack').read_text() == 'new'
  assert [p.name for p in tmp_path.iterdir()] == ['best']  # No staging folder left.
  umask = os.umask(0)
  os.umask(umask)
  assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # As a folder made by os.makedirs.


def test_write_file_leaves_the_old_file_when_writing_fails(tmp_path):
  target = tmp_path / 'faces.csv'
  target.write_text('old')

  def fail(path):
    with open(path, 'w') as f:
      f.write('half')
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    outputs.write_file(str(target), fail)
  assert target.read_text() == 'old' and [p.name for p in tmp_path.iterdir()] == ['faces.csv']
  outputs.write_file(str(target), lambda path: pathlib.Path(path).write_text('new'))
  assert target.read_text() == 'new' and [p.name for p in tmp_path.iterdir()] == ['faces.csv']


def _specials(tmp_path, monkeypatch):
  """{name: what describe() says} of a FIFO, a socket, and links to a character device and to
  the FIFO, made in `tmp_path`."""
  os.mkfifo(tmp_path / 'fifo')
  monkeypatch.chdir(tmp_path)  # A socket's path is limited to about 100 characters.
  listener = socket.socket(socket.AF_UNIX)
  listener.bind('socket')
  listener.close()
  (tmp_path / 'to_null').symlink_to(os.devnull)
  (tmp_path / 'to_fifo').symlink_to(tmp_path / 'fifo')
  return {'fifo': 'a FIFO (named pipe)', 'socket': 'a socket',
          'to_null': f'a symbolic link to a character device ({os.devnull})',
          'to_fifo': f'a symbolic link to a FIFO (named pipe) ({tmp_path / "fifo"})'}


def _kinds(tmp_path):
  """{name: (file type bits, link target)} of everything in `tmp_path`, links not followed."""
  return {p.name: (os.lstat(p).st_mode & 0o170000, os.readlink(p) if p.is_symlink() else None)
          for p in tmp_path.iterdir()}


def test_describe_names_what_a_path_is_and_where_a_link_leads(tmp_path):
  (tmp_path / 'file').write_text('')
  (tmp_path / 'dangling').symlink_to(tmp_path / 'nowhere')
  assert outputs.describe(os.devnull) == 'a character device'
  assert outputs.describe(str(tmp_path)) == 'a folder'
  assert outputs.describe(str(tmp_path / 'file')) == 'a file'
  assert outputs.describe(str(tmp_path / 'dangling')) == (
      f'a symbolic link to {tmp_path / "nowhere"}, which does not exist')
  assert outputs.describe(str(tmp_path / 'nowhere')) == ''


def test_check_new_file_refuses_a_device_fifo_socket_or_link_to_one_even_with_overwrite(
    tmp_path, monkeypatch):
  specials = _specials(tmp_path, monkeypatch)
  before = _kinds(tmp_path)
  for name, what in specials.items():
    with pytest.raises(ValueError, match=rf'^--out {tmp_path / name} is {re.escape(what)}; '
                       r'expected a regular file or a new name \(--overwrite replaces only a '
                       r'regular file\)$'):
      outputs.check_new_file(str(tmp_path / name), '--out', overwrite=True)
  with pytest.raises(ValueError, match=r'/dev/null is a character device; expected a regular'):
    outputs.check_new_file(os.devnull, '--out', overwrite=True)  # Only looked at.
  # A link to a regular file is replaced as a file, as asked; a dangling one names nothing.
  (tmp_path / 'real.csv').write_text('kept')
  (tmp_path / 'link.csv').symlink_to(tmp_path / 'real.csv')
  (tmp_path / 'dangling.csv').symlink_to(tmp_path / 'nowhere.csv')
  outputs.check_new_file(str(tmp_path / 'link.csv'), '--out', overwrite=True)
  outputs.check_new_file(str(tmp_path / 'dangling.csv'), '--out', overwrite=True)
  assert {name: kind for name, kind in _kinds(tmp_path).items() if name in before} == before


def test_check_new_dir_and_annotated_parents_name_a_fifo_where_a_folder_is_expected(
    tmp_path, monkeypatch):
  _specials(tmp_path, monkeypatch)
  with pytest.raises(ValueError, match=r'fifo is a FIFO \(named pipe\); expected a new or empty '
                     'folder'):
    outputs.check_new_dir(str(tmp_path / 'fifo'), '--out', overwrite=True)
  with pytest.raises(ValueError, match=r'cannot be written: .*fifo is a FIFO \(named pipe\), '
                     'not a folder'):
    outputs.check_new_file(str(tmp_path / 'fifo' / 'faces.csv'), '--out')


def test_write_file_and_write_dir_never_replace_a_device_fifo_or_socket(tmp_path, monkeypatch):
  specials = _specials(tmp_path, monkeypatch)
  before = _kinds(tmp_path)
  called = []
  for name, what in specials.items():
    with pytest.raises(outputs.WriteError, match=rf'{name} is {re.escape(what)}; expected a '
                       'file or a new name'):
      outputs.write_file(str(tmp_path / name), called.append)
    with pytest.raises(outputs.WriteError, match=rf'{name} is {re.escape(what)}; expected a '
                       'folder or a new name'):
      outputs.write_dir(str(tmp_path / name), called.append)
  assert not called and _kinds(tmp_path) == before  # Nothing written, no temporary beside.


def test_write_file_that_fails_names_the_path_and_reason_and_leaves_the_old_file(tmp_path):
  target = tmp_path / 'faces.csv'
  target.write_text('old')

  def disk_full(temporary):
    with open(temporary, 'w') as f:
      f.write('half')
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # As write() reports a full disk.

  with pytest.raises(outputs.WriteError, match=rf'^{target} could not be written: No space left '
                     'on device; what was there before, if anything, is kept as it was$'):
    outputs.write_file(str(target), disk_full)
  assert target.read_text() == 'old' and [p.name for p in tmp_path.iterdir()] == ['faces.csv']
  # The folders a failed write made are removed with it.
  with pytest.raises(outputs.WriteError):
    outputs.write_file(str(tmp_path / 'new' / 'sub' / 'faces.csv'), disk_full)
  with pytest.raises(outputs.WriteError):
    outputs.write_dir(str(tmp_path / 'new' / 'best'), lambda folder: disk_full(
        os.path.join(folder, 'params.msgpack')))
  assert [p.name for p in tmp_path.iterdir()] == ['faces.csv']


def test_write_file_passes_on_an_error_reading_another_file_as_it_is(tmp_path):
  def read_missing_input(temporary):
    with open(tmp_path / 'missing_input') as f:  # An input the writer reads, not the output.
      pathlib.Path(temporary).write_text(f.read())

  with pytest.raises(FileNotFoundError, match='missing_input'):
    outputs.write_file(str(tmp_path / 'faces.csv'), read_missing_input)
  assert not list(tmp_path.iterdir())
