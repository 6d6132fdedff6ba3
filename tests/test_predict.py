"""`jaxfer predict`: students loaded from every form jaxfer writes, faces found as the paper
did, labels and probabilities in CSV or JSON lines, annotated copies, and bad input refused."""
import csv
import fcntl
import json
import logging
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import cv2
import numpy as np
import pytest

from conftest import (CKPLUS48, REPO, jaxfer_command, run_in_process, separable_student,
                      write_untrained_student)
from configs import default
from jaxfer import cli
from jaxfer import model_files
from jaxfer import predict
from jaxfer import tf_import
from jaxfer import train
from jaxfer.data import classes
from jaxfer.data import preprocess

MODELS = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'microexpnet-tf', 'Models')
needs_shared = pytest.mark.skipif(
    not (os.path.isdir(MODELS) and os.path.isdir(CKPLUS48)),
    reason=f'the authors\' checkpoints ({MODELS}) or CK+48 ({CKPLUS48}) are absent')


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
  if not os.path.isdir(MODELS):
    pytest.skip(f'the authors\' checkpoints are not at {MODELS}')
  out = str(tmp_path_factory.mktemp('imported'))
  tf_import.import_checkpoint(os.path.join(MODELS, 'CK'), out, default.get_config())
  return out


def _ck_face(name):
  folder = os.path.join(CKPLUS48, name)
  return os.path.join(folder, sorted(os.listdir(folder))[0])


def _photo(tmp_path):
  """A grey 400x800 photo with a happy CK+48 face enlarged to 300x300 at (450, 50)."""
  face = cv2.imread(os.path.join(CKPLUS48, 'happy', 'S010_006_00000015.png'), 0)
  canvas = np.full((400, 800), 128, np.uint8)
  canvas[50:350, 450:750] = cv2.resize(face, (300, 300))
  path = str(tmp_path / 'photo.jpg')
  cv2.imwrite(path, canvas)
  return path


@pytest.mark.slow
def test_a_trained_student_predicts_what_its_checkpoint_computes(test_config, tmp_path, caplog):
  test_config.distill.loss = 'none'
  result = train.train_and_evaluate(test_config, str(tmp_path))
  caplog.set_level(logging.WARNING, logger='absl')  # Where orbax warns.
  student = model_files.load(str(tmp_path))  # WORKDIR: its student/ is found.
  # Orbax used to warn twice that the checkpoint "could not be restored" although it was.
  assert not [r for r in caplog.records if 'could not be restored' in r.getMessage()]
  assert student.class_names == tuple(result.class_names)
  rng = np.random.default_rng(0)
  paths = []
  for k in range(3):
    paths.append(str(tmp_path / f'face_{k}.png'))
    cv2.imwrite(paths[-1], rng.integers(0, 256, (60, 50), dtype=np.uint8))
  outcome = predict.predict_images(student, paths, detect=False, batch_size=2)
  assert [f.path for f in outcome.faces] == paths and outcome.images == 3
  # By hand: the whole image is the face, given the student's test-time view.
  crops = np.stack([preprocess.eval_view(cv2.imread(p, 0), student.image_size,
                                         student.eval_crop) for p in paths])
  logits = student.model.apply({'params': student.params},
                               crops[..., None].astype(np.float32) / 255.0)
  probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  np.testing.assert_allclose([f.probabilities for f in outcome.faces], probabilities,
                             atol=1e-5)
  assert [f.label for f in outcome.faces] == [student.class_names[k]
                                              for k in probabilities.argmax(1)]
  assert all(f.box == (0, 0, 50, 60) for f in outcome.faces)


@needs_shared
def test_faces_are_found_in_a_photo_and_a_faceless_image_is_reported(imported, tmp_path):
  photo = _photo(tmp_path)
  blank = str(tmp_path / 'blank.png')
  cv2.imwrite(blank, np.full((200, 200), 90, np.uint8))
  student = model_files.load(imported)
  outcome = predict.predict_images(student, [photo, blank])
  (face,) = outcome.faces
  x, y, w, h = face.box
  assert 430 <= x and x + w <= 770 and 30 <= y and y + h <= 370  # On the pasted face.
  assert face.label == 'happy' and max(face.probabilities) == face.probabilities[5]
  assert outcome.without_face == [blank]
  fallback = predict.predict_images(student, [blank], whole_image_fallback=True)
  assert [f.box for f in fallback.faces] == [(0, 0, 200, 200)]


@needs_shared
@pytest.mark.slow
def test_predict_from_the_command_line_writes_csv_jsonl_and_annotated_copies(imported, tmp_path,
                                                                            capfd):
  photos = tmp_path / 'photos'
  (photos / 'sub').mkdir(parents=True)
  photo = _photo(photos)
  surprise = str(photos / 'sub' / 'surprise.png')
  cv2.imwrite(surprise, cv2.imread(_ck_face('surprise'), 0))
  (photos / 'broken.png').write_bytes(b'not an image')
  out = tmp_path / 'out'
  done = subprocess.run(jaxfer_command('predict', '--model', imported, str(photos), '--out',
                                       str(out / 'faces.csv'), '--annotate', str(out / 'seen'),
                                       '--whole_image_fallback'), cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert ('2 face(s) in 2 image(s); 0 image(s) without a face, 1 unreadable'
          in done.stderr)
  with open(out / 'faces.csv') as f:
    rows = list(csv.DictReader(f))
  assert [r['image'] for r in rows] == [photo, surprise]
  assert list(rows[0])[:7] == ['image', 'face', 'x', 'y', 'width', 'height', 'label']
  assert rows[0]['label'] == 'happy'
  assert (rows[1]['x'], rows[1]['width']) == ('0', '48')  # No face found: the whole image.
  for row in rows:
    assert sum(float(row[f'p_{n}']) for n in classes.CLASS_NAMES) == pytest.approx(1, abs=1e-4)
  seen = cv2.imread(str(out / 'seen' / 'photo.jpg.png'))
  assert seen is not None and (out / 'seen' / 'sub' / 'surprise.png.png').exists()
  x, y = int(rows[0]['x']), int(rows[0]['y'])
  assert tuple(seen[y + 5, x]) == (0, 200, 0)  # The box is drawn in green on the face's edge.
  jsonl = run_in_process(cli.main, capfd, 'predict', '--model', imported, photo, '--out',
                         out / 'faces.jsonl')
  assert jsonl.returncode == 0, jsonl.stderr[-3000:]
  (record,) = [json.loads(line) for line in (out / 'faces.jsonl').read_text().splitlines()]
  assert record['label'] == 'happy' and record['face'] == 0


@pytest.mark.parametrize('args, message', [
    (['--model', '{tmp}', '{tmp}'], 'holds no student: expected params.msgpack and config.json'),
    (['--model', '{tmp}', '{tmp}/missing.png'], 'missing.png does not exist'),
    (['--model', '{tmp}', '{tmp}', '--out', '{tmp}/out/faces.txt'],
     'expected a name ending in .csv or .jsonl'),
])
def test_predict_with_bad_input_is_one_line_and_writes_nothing(tmp_path, capfd, args, message):
  (tmp_path / 'face.png').write_bytes(cv2.imencode('.png', np.zeros((8, 8), np.uint8))[1])
  done = run_in_process(cli.main, capfd, 'predict', *[a.format(tmp=tmp_path) for a in args])
  assert done.returncode == 2
  assert message in done.stderr and 'Traceback' not in done.stderr
  assert sorted(os.listdir(tmp_path)) == ['face.png']


def _scored(capfd, model, tmp_path, *overrides):
  return run_in_process(cli.main, capfd, 'evaluate', '--model', model, '--config',
                        'configs/ckplus48.py', f'--config.data.data_dir={tmp_path / "tfds"}',
                        f'--config.data.manual_dir={CKPLUS48}', *overrides)


@needs_shared
def test_evaluate_scores_the_imported_model_on_ckplus48_as_its_files_read_by_hand(imported,
                                                                                   tmp_path,
                                                                                   capfd):
  scored = _scored(capfd, imported, tmp_path, '--config.data.num_folds=0',
                   '--config.data.test_split=train')
  assert scored.returncode == 0, scored.stderr
  printed = json.loads(scored.stdout[scored.stdout.index('{\n'):])
  # By hand: every CK+48 file, the original's 224/256 window at 84x84, the model's argmax.
  student = model_files.load(imported)
  names = sorted(os.listdir(CKPLUS48))
  files = [(os.path.join(CKPLUS48, name, f), student.class_names.index(name))
           for name in names for f in sorted(os.listdir(os.path.join(CKPLUS48, name)))]
  crops = np.stack([preprocess.eval_view(cv2.imread(path, 0), 84, 'paper') for path, _ in files])
  logits = student.model.apply({'params': student.params},
                               crops[..., None].astype(np.float32) / 255.0)
  labels = np.array([label for _, label in files])
  assert printed['test_images'] == len(files) == 981
  assert printed['eval_crop'] == 'paper' and printed['image_size'] == 84
  assert printed['accuracy'] == pytest.approx(np.mean(np.argmax(logits, 1) == labels))
  assert printed['accuracy'] > 0.8  # The authors trained on CK+: far from chance (1/7).


@needs_shared
def test_evaluate_refuses_a_model_whose_classes_are_in_another_order(imported, tmp_path, capfd):
  reordered = tmp_path / 'reordered'
  shutil.copytree(imported, reordered)
  with open(reordered / 'source.json') as f:
    source = json.load(f)
  source['class_names'] = source['class_names'][::-1]
  (reordered / 'source.json').write_text(json.dumps(source))
  scored = _scored(capfd, str(reordered), tmp_path)
  assert scored.returncode == 2 and 'Traceback' not in scored.stderr
  assert (f'{reordered} classifies surprise, sadness, happy, fear, disgust, contempt, anger, '
          'neutral, but ckplus48 has the classes neutral, anger,') in scored.stderr


@pytest.fixture(scope='module')
def untrained(tmp_path_factory):
  """configs/test.py's student at its initial parameters, as `export-best` writes one: enough
  for what does not depend on the labels."""
  return write_untrained_student(tmp_path_factory.mktemp('untrained'))


def _face(size=96):
  """A real CK+48 face where ../shared is, else a synthetic one, uint8."""
  if os.path.isdir(CKPLUS48):
    return cv2.imread(os.path.join(CKPLUS48, 'happy', 'S010_006_00000015.png'), 0)
  from jaxfer.data import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.generate(1, 1, image_size=size)['image'][5, ..., 0]  # Happy.


def test_annotated_copies_keep_the_extension_replace_no_image_and_overwrite_only_if_asked(
    untrained, tmp_path, capsys):
  photos = tmp_path / 'photos'
  photos.mkdir()
  face = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
  cv2.imwrite(str(photos / 'photo.jpg'), face)
  with_alpha = np.dstack([np.dstack([face] * 3), np.full_like(face, 77)])
  cv2.imwrite(str(photos / 'photo.png'), with_alpha)
  originals = {name: (photos / name).read_bytes() for name in os.listdir(photos)}
  seen = tmp_path / 'seen'
  arguments = ['predict', '--model', untrained, str(photos), '--nodetect', '--annotate',
               str(seen), '--out', str(tmp_path / 'faces.csv')]
  assert cli.main(arguments) == 0, capsys.readouterr().err
  # jpg and png of one stem: two copies, neither replacing its source.
  assert sorted(os.listdir(seen)) == ['photo.jpg.png', 'photo.png.png']
  assert {name: (photos / name).read_bytes() for name in os.listdir(photos)} == originals
  assert cv2.imread(str(photos / 'photo.png'), cv2.IMREAD_UNCHANGED)[0, 0, 3] == 77
  assert cv2.imread(str(seen / 'photo.png.png')).shape == (64, 64, 3)
  for target in (seen / 'photo.jpg.png', tmp_path / 'faces.csv'):
    target.write_text('to be replaced')
  assert cli.main(arguments) == 2  # Both exist: refused.
  assert (tmp_path / 'faces.csv').read_text() == 'to be replaced'
  assert cli.main([*arguments, '--overwrite']) == 0, capsys.readouterr().err
  assert cv2.imread(str(seen / 'photo.jpg.png')).shape == (64, 64, 3)
  with open(tmp_path / 'faces.csv') as f:
    assert [row['image'] for row in csv.DictReader(f)] == [str(photos / 'photo.jpg'),
                                                           str(photos / 'photo.png')]


def test_a_truncated_jpeg_is_named_and_skipped_and_the_rest_labelled(untrained, tmp_path, capfd):
  photos = tmp_path / 'photos'
  photos.mkdir()
  cv2.imwrite(str(photos / 'good.png'), _face())
  encoded = cv2.imencode('.jpg', _face())[1].tobytes()
  (photos / 'cut.jpg').write_bytes(encoded[:len(encoded) // 2])
  done = run_in_process(cli.main, capfd, 'predict', '--model', untrained, photos, '--nodetect',
                        '--out', tmp_path / 'faces.csv')
  assert done.returncode == 0, done.stderr[-3000:]
  assert f'{photos / "cut.jpg"}: damaged JPEG file' in done.stderr
  assert 'Premature end of JPEG file' not in done.stderr  # libjpeg's warning naming no file.
  assert '1 face(s) in 1 image(s); 0 image(s) without a face, 1 unreadable' in done.stderr
  with open(tmp_path / 'faces.csv') as f:
    assert [row['image'] for row in csv.DictReader(f)] == [str(photos / 'good.png')]


def test_float_and_16_bit_images_give_the_8_bit_pixels_of_the_same_face(tmp_path):
  face = _face()
  stored = {'face.png': face, 'face_0_1.tif': face.astype(np.float32) / 255,
            'face_0_255.tif': face.astype(np.float32), 'face_16.png': face.astype(np.uint16) * 257}
  for name, image in stored.items():
    assert cv2.imwrite(str(tmp_path / name), image)
  for name in stored:
    image = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)  # As predict reads it.
    assert image.dtype == stored[name].dtype
    np.testing.assert_array_equal(preprocess.to_grayscale(image), face, err_msg=name)


@needs_shared
def test_a_float_tiff_face_gets_the_label_and_probabilities_of_its_png(imported, tmp_path):
  # The imported model's label for this face with --nodetect: happy, 0.75.
  face = cv2.imread(os.path.join(CKPLUS48, 'happy', 'S010_006_00000013.png'), 0)
  cv2.imwrite(str(tmp_path / 'face.png'), face)
  cv2.imwrite(str(tmp_path / 'face.tif'), face.astype(np.float32) / 255)
  student = model_files.load(imported)
  png, tiff = predict.predict_images(student, [str(tmp_path / 'face.png'),
                                               str(tmp_path / 'face.tif')], detect=False).faces
  assert png.label == tiff.label == 'happy'
  np.testing.assert_allclose(tiff.probabilities, png.probabilities, atol=1e-3)


def test_a_separable_student_predicts_from_the_command_line_with_its_batch_statistics(
    tmp_path, capfd):
  import flax.serialization  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from configs import test  # pylint: disable=g-import-not-at-top
  config = test.get_config()
  config.student.update(family='separable', width=0.5, depth=3)
  # Statistics other than the initial ones, as `export-best` writes a trained student's.
  model, variables, batch_stats = separable_student(config, seed=0)
  rng = np.random.default_rng(0)
  folder = tmp_path / 'separable'
  folder.mkdir()
  for name, tree in (('params.msgpack', variables['params']), ('batch_stats.msgpack',
                                                              batch_stats)):
    (folder / name).write_bytes(flax.serialization.msgpack_serialize(
        jax.tree.map(np.asarray, tree)))
  (folder / 'config.json').write_text(json.dumps(config.to_dict()))
  paths = []
  for k in range(2):
    paths.append(str(tmp_path / f'face_{k}.png'))
    cv2.imwrite(paths[-1], rng.integers(0, 256, (60, 50), dtype=np.uint8))
  done = run_in_process(cli.main, capfd, 'predict', '--model', folder, *paths, '--nodetect',
                        '--out', tmp_path / 'faces.jsonl')
  assert done.returncode == 0, done.stderr[-3000:]
  rows = [json.loads(line) for line in (tmp_path / 'faces.jsonl').read_text().splitlines()]
  # By hand: the whole image is the face, given the student's test-time view.
  crops = np.stack([preprocess.eval_view(cv2.imread(p, 0), 48, 'full') for p in paths])
  apply = jax.jit(model.apply)
  logits = apply({'params': variables['params'], 'batch_stats': batch_stats},
                 crops[..., None].astype(np.float32) / 255.0)
  probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  np.testing.assert_allclose([[row[f'p_{name}'] for name in classes.CLASS_NAMES] for row in rows],
                             probabilities, atol=1e-5)
  initial = apply(variables, crops[..., None].astype(np.float32) / 255.0)
  assert not np.allclose(initial, logits, atol=1e-3)  # The file's statistics made the difference.


def _files(folder):
  """{path below folder: (size, modification time)} of every file in it."""
  return {os.path.relpath(os.path.join(root, name), folder):
          (os.path.getsize(os.path.join(root, name)),
           os.path.getmtime(os.path.join(root, name)))
          for root, _, names in os.walk(folder) for name in names}


@needs_shared
def test_onnx_runtime_labels_ckplus48_as_jax_does_from_a_graph_cached_outside_the_model(
    imported, tmp_path, monkeypatch):
  from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
  if not onnx_export.runtime_available():
    pytest.skip('onnxruntime and jax2onnx are in the onnx and dev extras')
  monkeypatch.setenv('JAXFER_CACHE_DIR', str(tmp_path / 'cache'))
  before = _files(imported)
  student = model_files.load(imported)
  paths = predict.image_paths([CKPLUS48])[::4]  # 246 faces: one full batch and a partial one.
  by_jax = predict.predict_images(student, paths, detect=False, engine='jax')
  by_runtime = predict.predict_images(student, paths, detect=False, engine='onnxruntime')
  assert (by_jax.engine, by_runtime.engine) == ('jax', 'onnxruntime')
  assert [f.path for f in by_runtime.faces] == [f.path for f in by_jax.faces] == paths
  assert [f.label for f in by_runtime.faces] == [f.label for f in by_jax.faces]
  np.testing.assert_allclose([f.probabilities for f in by_runtime.faces],
                             [f.probabilities for f in by_jax.faces], atol=1e-4)
  assert os.listdir(tmp_path / 'cache' / 'onnx') == [onnx_export.digest(student) + '.onnx']

  def converted_again(_):
    raise AssertionError('the cached graph was converted again')

  monkeypatch.setattr(onnx_export, 'graph', converted_again)
  again = predict.predict_images(student, paths, detect=False, engine='onnxruntime')
  assert [f.label for f in again.faces] == [f.label for f in by_runtime.faces]
  assert _files(imported) == before  # Nothing written, replaced or touched beside the model.


def test_predict_with_the_onnxruntime_engine_but_without_the_extra_names_the_extra(
    tmp_path, capfd, monkeypatch):
  import importlib.util  # pylint: disable=g-import-not-at-top
  found = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *args: None if name == 'onnxruntime' else found(name, *args))
  (tmp_path / 'face.png').write_bytes(cv2.imencode('.png', np.zeros((8, 8), np.uint8))[1])
  done = run_in_process(cli.main, capfd, 'predict', '--model', tmp_path, tmp_path, '--engine',
                        'onnxruntime')
  assert done.returncode == 2 and 'Traceback' not in done.stderr
  assert done.stderr.strip().splitlines()[-1].endswith(
      '--engine onnxruntime needs jax2onnx and onnxruntime: pip install -e ".[onnx]"')
  assert sorted(os.listdir(tmp_path)) == ['face.png']


FORMULAS = ['=HYPERLINK("http://x","y").png', '+1.png', '-1.png', '@SUM(A1).png', '\tx.png',
            '\rx.png']


def test_csv_cells_that_could_start_a_formula_get_a_quote_and_jsonl_keeps_them(tmp_path):
  names = ('=cmd', 'happy')  # A model's class names are text from a file too.
  faces = [predict.Face(path, 0, (0, 0, 8, 8), '=cmd', (0.75, 0.25))
           for path in [*FORMULAS, 'photos/=x.png', 'photo.png']]
  predict.write(str(tmp_path / 'faces.csv'), faces, names)
  predict.write(str(tmp_path / 'faces.jsonl'), faces, names)
  with open(tmp_path / 'faces.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  assert [row['image'] for row in rows] == (["'" + path for path in FORMULAS]
                                            + ['photos/=x.png', 'photo.png'])
  assert {row['label'] for row in rows} == {"'=cmd"}
  assert [(row['p_=cmd'], row['p_happy']) for row in rows] == [('0.75', '0.25')] * len(faces)
  records = [json.loads(line) for line in (tmp_path / 'faces.jsonl').read_text().splitlines()]
  assert [r['image'] for r in records] == [f.path for f in faces]  # Exact, as given.
  assert {r['label'] for r in records} == {'=cmd'}


@pytest.mark.slow
def test_an_image_named_like_a_formula_is_quoted_in_the_csv_on_stdout(untrained, tmp_path):
  name = FORMULAS[0].replace('http://', '')  # No slash in a file name.
  cv2.imwrite(str(tmp_path / 'face.png'), np.zeros((8, 8), np.uint8))
  os.rename(tmp_path / 'face.png', tmp_path / name)
  done = subprocess.run(jaxfer_command('predict', '--model', untrained, name, '--nodetect', '-q'),
                        cwd=tmp_path, capture_output=True, text=True, timeout=300,
                        env={**os.environ, 'PYTHONPATH': REPO})
  assert done.returncode == 0, done.stderr[-3000:]
  (row,) = csv.DictReader(done.stdout.splitlines())
  assert row['image'] == "'" + name


def _interrupted(arguments, when, timeout=120):
  """(exit status, what it printed on stderr, line by line) of `jaxfer` run with stderr on a
  terminal (where the progress bar shows), sent SIGINT as soon as `when(stderr so far)`."""
  terminal, stderr = pty.openpty()
  # 100 columns: on a terminal of no size tqdm draws nothing.
  fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
  process = subprocess.Popen(jaxfer_command(*map(str, arguments)), cwd=REPO,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
  os.close(stderr)
  printed, sent, deadline = b'', False, time.monotonic() + timeout
  try:
    while time.monotonic() < deadline:
      if select.select([terminal], [], [], 0.005)[0]:
        try:
          chunk = os.read(terminal, 65536)
        except OSError:  # The command ended: its terminal is closed.
          break
        if not chunk:
          break
        printed += chunk
      if not sent and when(printed.decode(errors='replace')):
        process.send_signal(signal.SIGINT)
        sent = True
    status = process.wait(timeout=60)
  finally:
    os.close(terminal)
    if process.poll() is None:
      process.kill()
  assert sent, printed.decode(errors='replace')[-3000:]
  lines = [line.strip() for line in re.split(r'[\r\n]+', printed.decode(errors='replace'))]
  return status, [line for line in lines if line]


def _copies(folder):
  """The complete files in `folder` (not the temporaries, named .NAME.*), none if it is not
  there."""
  try:
    return sorted(name for name in os.listdir(folder) if not name.startswith('.'))
  except FileNotFoundError:
    return []


def _progress(percent):
  """Whether the progress bar shows at least `percent` per cent."""
  def reached(printed):
    shown = [int(p) for p in re.findall(r'predict:\s+(\d+)%', printed)]
    return bool(shown) and max(shown) >= percent
  return reached


@pytest.mark.slow
@pytest.mark.parametrize('moment', ['reading starts', 'reading half done', 'annotating'])
def test_ctrl_c_stops_predict_with_one_line_and_nothing_half_written(untrained, tmp_path, moment):
  photos = tmp_path / 'photos'
  photos.mkdir()
  rng = np.random.default_rng(0)
  count = 150
  for k in range(count):  # Noise: the cascade searches it all, and PNG does not compress it.
    cv2.imwrite(str(photos / f'{k:03d}.png'), rng.integers(0, 256, (320, 320), dtype=np.uint8))
  out, seen = tmp_path / 'faces.csv', tmp_path / 'seen'
  arguments = ['predict', '--model', untrained, photos, '--out', out, '--annotate', seen]
  if moment == 'annotating':  # Every image one face, read quickly: most of the time is copies.
    status, lines = _interrupted([*arguments, '--nodetect'], lambda _: len(_copies(seen)) >= 3)
  else:
    status, lines = _interrupted([*arguments, '--whole_image_fallback'],
                                 _progress(0 if moment == 'reading starts' else 50))
  assert status == 130, lines
  assert not [line for line in lines if 'Traceback' in line or 'Exception ignored' in line]
  names = sorted(os.listdir(tmp_path))
  assert not [name for name in names if name.startswith('.')]  # No temporary left.
  if moment != 'annotating':
    assert lines[-1] == 'jaxfer predict: interrupted; nothing was written'
    assert names == ['photos']
    return
  copies = sorted(os.listdir(seen))
  assert lines[-1] == (f'jaxfer predict: interrupted; wrote only {out}, {len(copies)} of {count} '
                       f'annotated copies in {seen}; --overwrite writes them all again')
  assert 0 < len(copies) < count
  with open(out) as f:
    assert len(list(csv.DictReader(f))) == count  # Written whole before the copies.
  for name in copies:  # Each copy whole.
    assert cv2.imread(str(seen / name)).shape == (320, 320, 3), name


@pytest.mark.slow
def test_predict_with_onnxruntime_leaves_no_telemetry_in_the_home_folder(untrained, tmp_path):
  from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
  if not onnx_export.runtime_available():
    pytest.skip('onnxruntime and jax2onnx are in the onnx and dev extras')
  cv2.imwrite(str(tmp_path / 'face.png'), np.zeros((8, 8), np.uint8))
  home = tmp_path / 'home'
  home.mkdir()
  # Where ONNX Runtime would write its device id and database: ~/.cache/Microsoft/DeveloperTools.
  environment = {name: value for name, value in os.environ.items()
                 if name not in ('ORT_DISABLE_TELEMETRY', 'XDG_CACHE_HOME')}
  environment.update(HOME=str(home), JAXFER_CACHE_DIR=str(tmp_path / 'cache'))
  done = subprocess.run(jaxfer_command('predict', '--model', untrained, tmp_path / 'face.png',
                                       '--nodetect', '--engine', 'onnxruntime'),
                        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert 'with onnxruntime' in done.stderr
  assert list(home.iterdir()) == []
