"""`jaxfer export --format onnx`: ONNX Runtime's logits equal jaxfer's, on real faces."""
import logging
import os
import subprocess

import cv2
import jax
import numpy as np
import pytest

from conftest import CKPLUS48, REPO, jaxfer_command, run_in_process, separable_student
from configs import default
from jaxfer import cli
from jaxfer import model_files
from jaxfer import models
from jaxfer import onnx_export
from jaxfer import tf_import
from jaxfer import train
from jaxfer.data import classes
from jaxfer.data import preprocess

if not onnx_export.runtime_available():
  pytest.skip('the onnx extra is not installed: pip install -e ".[onnx]"', allow_module_level=True)
ort = onnx_export.import_runtime()  # Its telemetry off, as `jaxfer predict` imports it.
MODELS = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'microexpnet-tf', 'Models')


def _onnx_logits(path, images):
  session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
  return session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]


def _jaxfer_logits(student, images):
  """What `jaxfer predict` computes (the student's own convolutions), before the softmax."""
  return np.asarray(jax.jit(student.model.apply)(student.variables,
                                                 images.astype(np.float32) / 255.0))


def test_export_leaves_the_levels_of_the_loggers_as_they_were(tmp_path):
  config = default.get_config()
  size = config.data.image_size
  model = models.make_student(config.student, len(classes.CLASS_NAMES))
  params = model.init(jax.random.key(0), np.zeros((1, size, size, 1), np.float32))['params']
  student = model_files.Student(model, params, classes.CLASS_NAMES, size, 'full', str(tmp_path))
  loggers = [logging.getLogger(), logging.getLogger('onnx_ir')]
  before = [logger.level for logger in loggers]
  loggers[1].setLevel(logging.INFO)  # A level of the user's own, to be kept.
  try:
    path = onnx_export.export(student, str(tmp_path / 'student.onnx'))
    assert [logger.level for logger in loggers] == [before[0], logging.INFO]
  finally:
    loggers[1].setLevel(before[1])
  images = np.random.default_rng(0).integers(0, 256, (2, size, size, 1))
  np.testing.assert_allclose(_onnx_logits(path, images), _jaxfer_logits(student, images),
                             rtol=0, atol=1e-4)


def test_onnx_runtime_gives_a_separable_student_s_logits_with_its_batch_norm_statistics(
    tmp_path, capfd):
  config = default.get_config()
  config.student.update(family='separable', width=0.5, depth=3)
  # Statistics far from the initial ones, so that exporting BatchNorm in training mode or
  # without them would change the logits.
  model, variables, batch_stats = separable_student(config, seed=1)
  rng = np.random.default_rng(1)
  student = model_files.Student(model, variables['params'], classes.CLASS_NAMES, 48, 'full',
                                str(tmp_path), batch_stats)
  path = onnx_export.export(student, str(tmp_path / 'separable.onnx'))
  images = rng.integers(0, 256, (3, 48, 48, 1))
  expected = _jaxfer_logits(student, images)
  np.testing.assert_allclose(_onnx_logits(path, images), expected, rtol=0, atol=1e-4)
  np.testing.assert_allclose(_onnx_logits(path, images[:1]), expected[:1], rtol=0, atol=1e-4)
  initial = student._replace(batch_stats=variables['batch_stats'])
  assert not np.allclose(_jaxfer_logits(initial, images), expected, atol=1e-3)
  # The shapes the model records agree with its tensors: ONNX Runtime loads it without warning.
  assert 'MergeShapeInfo' not in capfd.readouterr().err


@pytest.mark.skipif(not (os.path.isdir(MODELS) and os.path.isdir(CKPLUS48)),
                    reason=f'the authors\' checkpoints ({MODELS}) or CK+48 are absent')
@pytest.mark.slow
def test_onnx_runtime_gives_the_imported_models_logits_on_real_faces(tmp_path):
  tf_import.import_checkpoint(os.path.join(MODELS, 'CK'), str(tmp_path / 'ck'),
                              default.get_config())
  student = model_files.load(str(tmp_path / 'ck'))
  path = onnx_export.export(student, str(tmp_path / 'ck.onnx'))
  faces = []
  for name in sorted(os.listdir(CKPLUS48)):
    folder = os.path.join(CKPLUS48, name)
    for file in sorted(os.listdir(folder))[:3]:
      gray = cv2.imread(os.path.join(folder, file), cv2.IMREAD_GRAYSCALE)
      faces.append(preprocess.eval_view(gray, student.image_size, student.eval_crop))
  images = np.stack(faces)[..., None]  # 21 faces, as predict feeds the student.
  expected = _jaxfer_logits(student, images)
  np.testing.assert_allclose(_onnx_logits(path, images), expected, rtol=0, atol=1e-4)
  np.testing.assert_allclose(_onnx_logits(path, images[:1]), expected[:1], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_a_trained_student_exports_from_the_command_line_and_never_overwrites(test_config,
                                                                             tmp_path, capfd):
  test_config.distill.loss = 'none'
  train.train_and_evaluate(test_config, str(tmp_path / 'run'))
  out = tmp_path / 'student.onnx'
  done = subprocess.run(jaxfer_command('export', '--model', str(tmp_path / 'run'), '--format',
                                       'onnx', '--out', str(out)), cwd=REPO,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  student = model_files.load(str(tmp_path / 'run'))
  images = np.random.default_rng(0).integers(0, 256, (5, student.image_size,
                                                      student.image_size, 1))
  np.testing.assert_allclose(_onnx_logits(str(out), images), _jaxfer_logits(student, images),
                             rtol=0, atol=1e-4)
  before = out.read_bytes()
  again = run_in_process(cli.main, capfd, 'export', '--model', tmp_path / 'run', '--out', out)
  assert again.returncode == 2 and 'exists; choose a new name, or add --overwrite' in again.stderr
  assert out.read_bytes() == before
  out.write_bytes(b'stale')
  replaced = run_in_process(cli.main, capfd, 'export', '--model', tmp_path / 'run', '--out',
                            out, '--overwrite')
  assert replaced.returncode == 0, replaced.stderr[-3000:]
  np.testing.assert_allclose(_onnx_logits(str(out), images), _jaxfer_logits(student, images),
                             rtol=0, atol=1e-4)
  assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]  # No leftovers.
  missing = run_in_process(cli.main, capfd, 'export', '--model', tmp_path / 'none', '--out',
                           tmp_path / 'x.onnx')
  assert missing.returncode == 2 and 'holds no student' in missing.stderr
  assert not (tmp_path / 'x.onnx').exists()
