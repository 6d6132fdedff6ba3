"""The one rule for what commands write (jaxfer.outputs): nothing a user has is replaced unless
asked, a folder only when it holds what the command writes, and never half-written."""
import os
import pathlib

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

  with pytest.raises(OSError):
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
