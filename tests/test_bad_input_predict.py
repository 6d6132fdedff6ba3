"""`jaxfer predict`, `export` and `evaluate --model` given bad input: one line on stderr naming
what is wrong, exit status 2, no traceback, and nothing created or changed.

The students are the tiny ones of configs/test.py: one trained once for the module (a
checkpoint), its exported form (params.msgpack), and the session's teacher artifact.
"""
import json
import os
import shutil

import cv2
import flax.serialization
import jax
import numpy as np
import pytest

from conftest import file_times
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
    'predict batch size 0': (
        _photos, [*PREDICT, '--batch_size', '0'], 'flag --batch_size=0: 0 is not a positive'),
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
  """Every file (with its modification time) and folder under `directory`."""
  folders = {os.path.relpath(os.path.join(root, name), directory)
             for root, names, _ in os.walk(directory) for name in names}
  return file_times(directory), folders


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
