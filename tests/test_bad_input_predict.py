"""`jaxfer predict`, `export` and `evaluate --model` given bad input: one line on stderr naming
what is wrong, exit status 2, no traceback, and nothing created or changed. Hostile files among
the images (a FIFO, a dangling link, an image of 400 million pixels) are named and skipped; an
output that cannot be written (a full disk) is one line too.

The students are the tiny ones of configs/test.py: one trained once for the module (a
checkpoint), its exported form (params.msgpack), and the session's teacher artifact.
"""
import csv
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib

import cv2
import flax.serialization
import jax
import numpy as np
import pytest

from conftest import REPO, jaxfer_command
from jaxfer import cli
from jaxfer import model_files
from jaxfer import train


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_dir):
  """A trained student's WORKDIR (distill.loss='none': no teacher needed)."""
  from configs import test  # pylint: disable=g-import-not-at-top
  config = test.get_config()
  config.data.data_dir = data_dir
  config.distill.loss = 'none'
  workdir = str(tmp_path_factory.mktemp('trained') / 'run')
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def exported(trained, tmp_path_factory):
  """The trained student as `export-best` writes it: params.msgpack, config.json, result.json."""
  out = tmp_path_factory.mktemp('exported')
  student = model_files.load(trained)
  (out / 'params.msgpack').write_bytes(flax.serialization.msgpack_serialize(
      jax.tree.map(np.asarray, student.params)))
  for name in ('config.json', 'result.json'):
    shutil.copy(os.path.join(trained, 'student', name), out / name)
  return str(out)


def _face_png(path):
  cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8))


def _photos(tmp, stores):
  """tmp/photos with one readable face image."""
  (tmp / 'photos').mkdir()
  _face_png(tmp / 'photos' / 'face.png')


def _copy_model(tmp, stores, source='exported'):
  shutil.copytree(stores[source], tmp / 'model')


def _edit_config(tmp, stores, edit, source='exported'):
  _copy_model(tmp, stores, source)
  path = tmp / 'model' / 'config.json'
  recorded = json.loads(path.read_text())
  edit(recorded)
  path.write_text(json.dumps(recorded))


def _wider(recorded):
  recorded['student']['width'] = 2.0


def _no_image_size(recorded):
  del recorded['data']['image_size']


def _truncated_params(tmp, stores):
  _copy_model(tmp, stores)
  packed = tmp / 'model' / 'params.msgpack'
  packed.write_bytes(packed.read_bytes()[:1000])


def _not_json(tmp, stores):
  _copy_model(tmp, stores)
  (tmp / 'model' / 'config.json').write_text('{"data": {"image_size": 48}, "student": ')


def _reversed_classes(tmp, stores):
  _copy_model(tmp, stores)
  path = tmp / 'model' / 'result.json'
  result = json.loads(path.read_text())
  result['class_names'] = result['class_names'][::-1]
  path.write_text(json.dumps(result))


def _workdir_with_only_a_teacher(tmp, stores):
  (tmp / 'run').mkdir()
  shutil.copytree(stores['teacher'], tmp / 'run' / 'teacher')


def _truncated_jpeg(tmp, stores):
  (tmp / 'photos').mkdir()
  encoded = cv2.imencode('.jpg', np.random.default_rng(0).integers(0, 256, (64, 64),
                                                                   dtype=np.uint8))[1].tobytes()
  (tmp / 'photos' / 'cut.jpg').write_bytes(encoded[:len(encoded) // 2])


def _only_broken_images(tmp, stores):
  (tmp / 'photos').mkdir()
  (tmp / 'photos' / 'broken.png').write_bytes(b'not an image')
  (tmp / 'photos' / 'notes.jpg').write_text('a text file with an image suffix')


def _only_text(tmp, stores):
  (tmp / 'photos').mkdir()
  (tmp / 'photos' / 'notes.txt').write_text('no image here')


def _existing(name, then=_photos):
  def setup(tmp, stores):
    then(tmp, stores)
    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp / name).write_text('the user\'s own file')
  return setup


def _folder(name, then=_photos):
  def setup(tmp, stores):
    then(tmp, stores)
    (tmp / name).mkdir(parents=True)
  return setup


def _special(name, make, then=_photos):
  """A setup: `then`, and `make(tmp / name)` (os.mkfifo, _socket, _link_to_null)."""
  def setup(tmp, stores):
    then(tmp, stores)
    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    make(tmp / name)
  return setup


def _socket(path):
  before = os.getcwd()
  os.chdir(path.parent)  # A socket's path is limited to about 100 characters.
  try:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path.name)
    listener.close()
  finally:
    os.chdir(before)


def _link_to_null(path):
  path.symlink_to(os.devnull)


def _dangling(path):
  path.symlink_to(path.parent / 'nowhere.png')


def _annotated_exists(tmp, stores):
  _photos(tmp, stores)
  (tmp / 'seen').mkdir()
  _face_png(tmp / 'seen' / 'face.png.png')


def _annotate_inside_inputs(tmp, stores):
  _photos(tmp, stores)
  (tmp / 'photos' / 'seen').mkdir()


PREDICT = ['predict', '--model', '{exported}', '{tmp}/photos', '--nodetect']
EVALUATE = ['evaluate', '--model', '{tmp}/model', '--config', 'configs/test.py',
            '--config.data.data_dir={tmp}/tfds']
EXPORT = ['export', '--model', '{tmp}/model', '--out', '{tmp}/model.onnx']

# id: (setup(tmp, stores) or None, arguments, words of the one stderr line). {tmp} is the test's
# folder, {exported}/{trained}/{teacher} the module's students; a setup's files are not counted
# as created.
BAD_INPUT = {
    # predict: where it writes.
    'predict annotate folder is the input folder': (
        _photos, [*PREDICT, '--annotate', '{tmp}/photos'],
        '--annotate {tmp}/photos is in the input folder {tmp}/photos'),
    'predict annotate folder inside the input folder': (
        _annotate_inside_inputs, [*PREDICT, '--annotate', '{tmp}/photos/seen'],
        '--annotate {tmp}/photos/seen is in the input folder {tmp}/photos'),
    'predict annotated copy exists': (
        _annotated_exists, [*PREDICT, '--annotate', '{tmp}/seen'],
        '--annotate {tmp}/seen/face.png.png exists; choose a new name, or add --overwrite'),
    'predict annotate folder is a file': (
        _existing('seen'), [*PREDICT, '--annotate', '{tmp}/seen'],
        '--annotate {tmp}/seen is a file; expected a folder'),
    'predict output exists': (
        _existing('faces.csv'), [*PREDICT, '--out', '{tmp}/faces.csv'],
        '--out {tmp}/faces.csv exists; choose a new name, or add --overwrite'),
    'predict output is an input file, even with overwrite': (
        lambda tmp, stores: (_photos(tmp, stores), (tmp / 'photos' / 'list.csv').write_text('x')),
        [*PREDICT[:3], '{tmp}/photos/face.png', '{tmp}/photos/list.csv', '--out',
         '{tmp}/photos/list.csv', '--overwrite'],
        '--out {tmp}/photos/list.csv would replace the input {tmp}/photos/list.csv'),
    'predict output is a folder named x.csv': (
        _folder('x.csv'), [*PREDICT, '--out', '{tmp}/x.csv'],
        '--out {tmp}/x.csv is a folder; expected a file name'),
    'predict output with a wrong suffix': (
        _photos, [*PREDICT, '--out', '{tmp}/faces.txt'],
        '--out {tmp}/faces.txt: expected a name ending in .csv or .jsonl'),
    'predict output is a FIFO, even with overwrite': (
        _special('faces.csv', os.mkfifo), [*PREDICT, '--out', '{tmp}/faces.csv', '--overwrite'],
        '--out {tmp}/faces.csv is a FIFO (named pipe); expected a regular file or a new name '
        '(--overwrite replaces only a regular file)'),
    'predict output is a socket, even with overwrite': (
        _special('faces.csv', _socket), [*PREDICT, '--out', '{tmp}/faces.csv', '--overwrite'],
        '--out {tmp}/faces.csv is a socket; expected a regular file or a new name'),
    'predict output is a link to a character device, even with overwrite': (
        _special('faces.csv', _link_to_null),
        [*PREDICT, '--out', '{tmp}/faces.csv', '--overwrite'],
        f'--out {{tmp}}/faces.csv is a symbolic link to a character device ({os.devnull}); '
        'expected a regular file or a new name'),
    'predict annotate folder is a FIFO': (
        _special('seen', os.mkfifo), [*PREDICT, '--annotate', '{tmp}/seen'],
        '--annotate {tmp}/seen is a FIFO (named pipe); expected a folder'),
    'predict annotated copy is a FIFO, even with overwrite': (
        _special('seen/face.png.png', os.mkfifo),
        [*PREDICT, '--annotate', '{tmp}/seen', '--overwrite'],
        '--annotate {tmp}/seen/face.png.png is a FIFO (named pipe); expected a regular file'),
    'predict output below a FIFO': (
        _special('pipe', os.mkfifo), [*PREDICT, '--out', '{tmp}/pipe/faces.csv'],
        '--out {tmp}/pipe/faces.csv cannot be written: {tmp}/pipe is a FIFO (named pipe), not a '
        'folder'),
    'predict output below a file': (
        _existing('taken'), [*PREDICT, '--out', '{tmp}/taken/faces.csv'],
        '--out {tmp}/taken/faces.csv cannot be written: {tmp}/taken is a file'),
    # predict: what it reads.
    'predict folder of broken images only': (
        _only_broken_images, PREDICT,
        'no readable image in {tmp}/photos (2 file(s) skipped: {tmp}/photos/broken.png: not an '
        'image OpenCV can read'),
    'predict folder of a truncated jpeg only': (
        _truncated_jpeg, PREDICT,
        'no readable image in {tmp}/photos (1 file(s) skipped: {tmp}/photos/cut.jpg: damaged '
        'JPEG file'),
    'predict folder without image files': (
        _only_text, PREDICT, 'no image (.bmp, .jpeg, .jpg'),
    'predict image that does not exist': (
        _photos, [*PREDICT[:3], '{tmp}/photos/missing.png'],
        '{tmp}/photos/missing.png does not exist; expected image files or folders'),
    'predict image that is a FIFO': (
        _special('photos/pipe.png', os.mkfifo), [*PREDICT[:3], '{tmp}/photos/pipe.png'],
        '{tmp}/photos/pipe.png is a FIFO (named pipe); expected image files or folders of them'),
    'predict image that is a dangling link': (
        _special('photos/gone.png', _dangling), [*PREDICT[:3], '{tmp}/photos/gone.png'],
        '{tmp}/photos/gone.png is a symbolic link to {tmp}/photos/nowhere.png, which does not '
        'exist; expected image files'),
    'predict batch size 0': (
        _photos, [*PREDICT, '--batch_size', '0'],
        '--batch_size 0: expected 1 to 4096 faces classified at once'),
    'predict batch size of a hundred million': (
        _photos, [*PREDICT, '--batch_size', '100000000'],
        '--batch_size 100000000: expected 1 to 4096 faces classified at once (each batch is '
        'padded to this size)'),
    'predict model folder that does not exist': (
        _photos, ['predict', '--model', '{tmp}/nowhere', '{tmp}/photos'],
        '{tmp}/nowhere holds no student: expected params.msgpack and config.json'),
    'predict model that is a teacher artifact': (
        _photos, ['predict', '--model', '{teacher}', '{tmp}/photos'],
        '{teacher} holds a teacher (its config.json records a teacher and no student); '
        'expected a student'),
    'predict model workdir with only a teacher': (
        lambda tmp, stores: (_photos(tmp, stores), _workdir_with_only_a_teacher(tmp, stores)),
        ['predict', '--model', '{tmp}/run', '{tmp}/photos'],
        '{tmp}/run/teacher is a teacher, train the student with `jaxfer distill`'),
    'predict model config of another width': (
        lambda tmp, stores: (_photos(tmp, stores), _edit_config(tmp, stores, _wider)),
        ['predict', '--model', '{tmp}/model', '{tmp}/photos'],
        '{tmp}/model/params.msgpack does not fit the network that {tmp}/model/config.json '
        'describes'),
    'predict trained model config of another width': (
        lambda tmp, stores: (_photos(tmp, stores),
                             _edit_config(tmp, stores, _wider, 'trained_student')),
        ['predict', '--model', '{tmp}/model', '{tmp}/photos'],
        'the checkpoint in {tmp}/model/checkpoints does not fit the network that '
        '{tmp}/model/config.json describes'),
    'predict model with truncated params': (
        lambda tmp, stores: (_photos(tmp, stores), _truncated_params(tmp, stores)),
        ['predict', '--model', '{tmp}/model', '{tmp}/photos'],
        '{tmp}/model/params.msgpack cannot be read'),
    'predict model config that is not json': (
        lambda tmp, stores: (_photos(tmp, stores), _not_json(tmp, stores)),
        ['predict', '--model', '{tmp}/model', '{tmp}/photos'],
        '{tmp}/model/config.json is not valid JSON'),
    'predict model config without image size': (
        lambda tmp, stores: (_photos(tmp, stores), _edit_config(tmp, stores, _no_image_size)),
        ['predict', '--model', '{tmp}/model', '{tmp}/photos'],
        '{tmp}/model/config.json has no data.image_size'),
    # export.
    'export out exists': (
        _existing('model.onnx', then=_copy_model), EXPORT,
        '--out {tmp}/model.onnx exists; choose a new name, or add --overwrite'),
    'export out is a file of the model itself, even with overwrite': (
        _copy_model, ['export', '--model', '{tmp}/model', '--out', '{tmp}/model/params.msgpack',
                      '--overwrite'],
        '--out {tmp}/model/params.msgpack would replace the input {tmp}/model; choose a name '
        'outside the inputs (--overwrite never replaces an input)'),
    'export out is a FIFO, even with overwrite': (
        _special('model.onnx', os.mkfifo, then=_copy_model), [*EXPORT, '--overwrite'],
        '--out {tmp}/model.onnx is a FIFO (named pipe); expected a regular file or a new name '
        '(--overwrite replaces only a regular file)'),
    'export out is a link to a character device, even with overwrite': (
        _special('model.onnx', _link_to_null, then=_copy_model), [*EXPORT, '--overwrite'],
        f'--out {{tmp}}/model.onnx is a symbolic link to a character device ({os.devnull}); '
        'expected a regular file'),
    'export out is a folder': (
        _folder('model.onnx', then=_copy_model), EXPORT,
        '--out {tmp}/model.onnx is a folder; expected a file name'),
    'export model that is a teacher artifact': (
        None, ['export', '--model', '{teacher}', '--out', '{tmp}/model.onnx'],
        '{teacher} holds a teacher'),
    'export model config of another width': (
        lambda tmp, stores: _edit_config(tmp, stores, _wider), EXPORT,
        '{tmp}/model/params.msgpack does not fit the network that {tmp}/model/config.json'),
    'export model with truncated params': (
        _truncated_params, EXPORT, '{tmp}/model/params.msgpack cannot be read'),
    'export model config that is not json': (
        _not_json, EXPORT, '{tmp}/model/config.json is not valid JSON'),
    # evaluate --model: refused before the dataset is prepared ({tmp}/tfds is never made).
    'evaluate model that is a teacher artifact': (
        None, ['evaluate', '--model', '{teacher}', '--config', 'configs/test.py',
               '--config.data.data_dir={tmp}/tfds'], '{teacher} holds a teacher'),
    'evaluate trained model config of another width': (
        lambda tmp, stores: _edit_config(tmp, stores, _wider, 'trained_student'), EVALUATE,
        'the checkpoint in {tmp}/model/checkpoints does not fit the network'),
    'evaluate model with truncated params': (
        _truncated_params, EVALUATE, '{tmp}/model/params.msgpack cannot be read'),
    'evaluate model config that is not json': (
        _not_json, EVALUATE, '{tmp}/model/config.json is not valid JSON'),
    'evaluate model with classes in another order': (
        _reversed_classes, EVALUATE,
        '{tmp}/model classifies surprise, sadness, happy, fear, disgust, contempt, anger, '
        'neutral, but synthetic_faces has the classes neutral, anger,'),
}


def _tree(directory):
  """Every file (with its modification time), folder and link, and what each is, under
  `directory`."""
  folders = {os.path.relpath(os.path.join(root, name), directory)
             for root, names, _ in os.walk(directory) for name in names}
  entries = {}  # Links not followed: a FIFO, a link to /dev/null, a dangling link among them.
  for root, names, files in os.walk(directory):
    for name in names + files:
      path = os.path.join(root, name)
      status = os.lstat(path)
      entries[os.path.relpath(path, directory)] = (
          status.st_mode & 0o170000, None if os.path.isdir(path) else status.st_mtime_ns,
          os.readlink(path) if os.path.islink(path) else None)
  return folders, entries


@pytest.mark.parametrize('case', list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, tmp_path, trained, exported,
                                                          teacher_dir, capsys):
  setup, arguments, expected = BAD_INPUT[case]
  if case.startswith('export'):
    pytest.importorskip('jax2onnx', reason='the onnx extra is not installed')
  stores = {'exported': exported, 'trained_student': os.path.join(trained, 'student'),
            'teacher': teacher_dir}
  if setup:
    setup(tmp_path, stores)
  names = {'tmp': str(tmp_path), 'exported': exported, 'teacher': teacher_dir}

  def fill(text):
    for name, value in names.items():
      text = text.replace('{' + name + '}', value)
    return text

  before = _tree(tmp_path), _tree(exported), _tree(teacher_dir)
  capsys.readouterr()
  status = cli.main([fill(a) for a in arguments])
  err = capsys.readouterr().err
  lines = [line for line in err.splitlines() if line.strip() and 'deprecated' not in line]
  assert status == 2, err
  assert 'Traceback' not in err
  assert len(lines) == 1, err
  assert fill(expected) in lines[0]
  assert (_tree(tmp_path), _tree(exported), _tree(teacher_dir)) == before


def _png_of_zeros(path, width, height):
  """A real greyscale PNG of `width` x `height` black pixels, written without holding them:
  400 million pixels compress to about 380 KB."""
  def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
  compressor, rows = zlib.compressobj(), bytes((width + 1) * 500)  # A filter byte per row.
  idat = b''.join(compressor.compress(rows) for _ in range(height // 500))
  idat += compressor.compress(bytes((width + 1) * (height % 500))) + compressor.flush()
  header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)  # 8-bit grey.
  path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', idat)
                   + chunk(b'IEND', b''))


def _run(*args, timeout=300, **options):
  return subprocess.run(jaxfer_command(*map(str, args)), cwd=REPO, text=True, timeout=timeout,
                        **{'capture_output': True, **options})


@pytest.mark.slow
def test_hostile_files_in_a_folder_are_named_and_skipped_and_the_rest_labelled(exported,
                                                                              tmp_path):
  photos = tmp_path / 'photos'
  photos.mkdir()
  _face_png(photos / 'face.png')
  os.mkfifo(photos / 'pipe.png')  # Opened for reading, it would wait for a writer forever.
  (photos / 'gone.png').symlink_to(tmp_path / 'deleted.png')  # Unreadable, even by root.
  _png_of_zeros(photos / 'huge.png', 20000, 20000)  # Over twice Pillow's limit.
  _png_of_zeros(photos / 'large.png', 10000, 10000)  # Between once and twice it.
  assert (photos / 'huge.png').stat().st_size < 500_000
  done = _run('predict', '--model', exported, photos, '--nodetect', '--out',
              tmp_path / 'faces.csv', timeout=120)
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'Traceback' not in done.stderr and 'DecompressionBomb' not in done.stderr
  skipped = sorted(line.split(' ', 1)[1] for line in done.stderr.splitlines()
                   if line.endswith('; skipped'))
  assert skipped == [
      f'{photos / "gone.png"}: cannot be read (No such file or directory); skipped',
      f'{photos / "huge.png"}: too many pixels (over 178,956,970; at most 89,478,485 are '
      'decoded); skipped',
      f'{photos / "large.png"}: too many pixels (10000x10000 = 100,000,000; at most 89,478,485 '
      'are decoded); skipped',
      f'{photos / "pipe.png"}: a FIFO (named pipe), not an image file; skipped']
  assert '1 face(s) in 1 image(s); 0 image(s) without a face, 4 unreadable' in done.stderr
  with open(tmp_path / 'faces.csv') as f:
    assert [row['image'] for row in csv.DictReader(f)] == [str(photos / 'face.png')]


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads a file without read permission; the '
                    'dangling link of the test above is unreadable to root too')
def test_a_file_without_read_permission_is_named_and_skipped(exported, tmp_path, capsys):
  photos = tmp_path / 'photos'
  photos.mkdir()
  _face_png(photos / 'face.png')
  _face_png(photos / 'secret.png')
  (photos / 'secret.png').chmod(0)
  try:
    status = cli.main(['predict', '--model', exported, str(photos), '--nodetect', '--out',
                       str(tmp_path / 'faces.csv')])
  finally:
    (photos / 'secret.png').chmod(0o644)
  err = capsys.readouterr().err
  assert status == 0, err
  assert f'{photos / "secret.png"}: cannot be read (Permission denied); skipped' in err
  with open(tmp_path / 'faces.csv') as f:
    assert [row['image'] for row in csv.DictReader(f)] == [str(photos / 'face.png')]


def _with_file_size_limit(limit, command):
  """`command` run with every file it writes stopped at `limit` bytes, as on a full disk: write()
  fails (EFBIG; SIGXFSZ, which would kill it, is ignored) as it does there with ENOSPC."""
  setup = ('import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); '
           'resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2); '
           'os.execv(sys.argv[2], sys.argv[2:])')
  return [sys.executable, '-c', setup, str(limit), *command]


def _faces(folder, count):
  folder.mkdir()
  for k in range(count):
    _face_png(folder / f'face_{k:02d}.png')


@pytest.mark.slow
def test_an_out_file_that_cannot_be_written_whole_is_one_line_and_the_old_file_stays(exported,
                                                                                      tmp_path):
  _faces(tmp_path / 'photos', 20)  # A CSV of about 3 KB.
  (tmp_path / 'faces.csv').write_text('the user\'s own file')
  done = subprocess.run(_with_file_size_limit(1000, jaxfer_command(
      'predict', '--model', exported, str(tmp_path / 'photos'), '--nodetect', '--out',
      str(tmp_path / 'faces.csv'), '--overwrite', '--annotate', str(tmp_path / 'seen'))),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  lines = done.stderr.strip().splitlines()
  assert done.returncode == 2 and 'Traceback' not in done.stderr, done.stderr[-3000:]
  assert lines[-1] == (f'jaxfer predict: error: {tmp_path / "faces.csv"} could not be written: '
                       'File too large; what was there before, if anything, is kept as it was')
  assert (tmp_path / 'faces.csv').read_text() == 'the user\'s own file'
  assert sorted(os.listdir(tmp_path)) == ['faces.csv', 'photos']  # No temporary, no copies.


@pytest.mark.slow
def test_an_annotated_copy_that_cannot_be_written_says_what_was_written(exported, tmp_path):
  _faces(tmp_path / 'photos', 1)  # A CSV of about 200 bytes; a copy of about 5 KB.
  done = subprocess.run(_with_file_size_limit(1000, jaxfer_command(
      'predict', '--model', exported, str(tmp_path / 'photos'), '--nodetect', '--out',
      str(tmp_path / 'faces.csv'), '--annotate', str(tmp_path / 'seen'))),
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2 and 'Traceback' not in done.stderr, done.stderr[-3000:]
  assert done.stderr.strip().splitlines()[-1] == (
      f'jaxfer predict: error: {tmp_path / "seen" / "face_00.png.png"} could not be written: '
      'File too large; what was there before, if anything, is kept as it was; wrote only '
      f'{tmp_path / "faces.csv"}')
  assert sorted(os.listdir(tmp_path)) == ['faces.csv', 'photos']  # No folder for no copy.


@pytest.mark.slow
def test_csv_on_a_full_standard_output_is_one_line_and_exit_2(exported, tmp_path):
  _faces(tmp_path / 'photos', 2)
  with open('/dev/full', 'w') as full:  # Every write fails with ENOSPC.
    done = _run('predict', '--model', exported, tmp_path / 'photos', '--nodetect', stdout=full,
                stderr=subprocess.PIPE, capture_output=False)
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == [
      'jaxfer predict: error: the CSV could not be written to standard output: No space left on '
      'device; write it with --out FILE.csv to a disk with free space']
  assert sorted(os.listdir(tmp_path)) == ['photos']


@pytest.mark.slow
def test_csv_on_standard_output_closed_by_its_reader_ends_quietly(exported, tmp_path):
  _faces(tmp_path / 'photos', 2)
  process = subprocess.Popen(jaxfer_command('predict', '--model', exported,
                                            str(tmp_path / 'photos'), '--nodetect', '-q'),
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  process.stdout.close()  # `| head -0`: gone before the CSV is written.
  stderr = process.communicate(timeout=300)[1]
  assert process.returncode == 0, stderr
  assert not [word for word in ('Traceback', 'Exception ignored', 'Broken pipe', 'error')
              if word in stderr], stderr


@pytest.mark.slow
def test_csv_on_standard_output_appended_to_a_file_keeps_what_the_file_held(exported, tmp_path):
  _faces(tmp_path / 'photos', 2)
  log = tmp_path / 'all.csv'
  log.write_text('earlier results\n')
  with open(log, 'a') as appended:  # `jaxfer predict ... >> all.csv`
    done = _run('predict', '--model', exported, tmp_path / 'photos', '--nodetect', '-q',
                stdout=appended, stderr=subprocess.PIPE, capture_output=False)
  assert done.returncode == 0, done.stderr
  lines = log.read_text().splitlines()
  assert lines[0] == 'earlier results' and lines[1].startswith('image,face,x,y')
  assert [line.split(',')[0] for line in lines[2:]] == [str(tmp_path / 'photos' / 'face_00.png'),
                                                       str(tmp_path / 'photos' / 'face_01.png')]
