"""The authors' MicroExpNet imported: its logits against the original arithmetic, computed
independently in numpy from the checkpoint's raw arrays, on real CK+48 faces."""
import json
import os
import shutil
import subprocess

import flax.serialization
import numpy as np
import pytest
from PIL import Image

from conftest import CKPLUS48, REPO, jaxfer_command
from configs import default
from jaxfer import models
from jaxfer import tf_checkpoint
from jaxfer import tf_import

MODELS = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'microexpnet-tf', 'Models')
needs_shared = pytest.mark.skipif(
    not (os.path.isdir(MODELS) and os.path.isdir(CKPLUS48)),
    reason=f'the authors\' checkpoints ({MODELS}) or CK+48 ({CKPLUS48}) are absent')


def _same_pads(size, kernel, stride):
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _conv_same(x, w, b, stride):
  """tf.nn.conv2d(padding='SAME') + bias: x [n, h, w, c], w [kh, kw, c, f], by summing the
  kernel's taps (no library convolution)."""
  n, h, wd, _ = x.shape
  kh, kw, _, f = w.shape
  (top, bottom), (left, right) = _same_pads(h, kh, stride), _same_pads(wd, kw, stride)
  padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  oh, ow = -(-h // stride), -(-wd // stride)
  out = np.zeros((n, oh, ow, f), np.float64)
  for i in range(kh):
    for j in range(kw):
      window = padded[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
      out += window @ w[i, j]
  return out + b


def _max_pool_same(x):
  """tf.nn.max_pool 2x2 stride 2 'SAME': odd sizes padded on the high side with -inf."""
  n, h, w, c = x.shape
  x = np.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), constant_values=-np.inf)
  return x.reshape(n, (h + 1) // 2, 2, (w + 1) // 2, 2, c).max(axis=(2, 4))


def original_logits(arrays, pixels):
  """MicroExpNet.py v1.7's run() on raw 0-255 pixels [n, 84, 84, 1], in float64."""
  a = {k: v.astype(np.float64) for k, v in arrays.items()}
  x = _max_pool_same(np.maximum(_conv_same(pixels, a['wc1'], a['bc1'], 2), 0))
  x = _max_pool_same(np.maximum(_conv_same(x, a['wc2'], a['bc2'], 2), 0))
  x = np.maximum(x.reshape(len(x), -1) @ a['wfc'] + a['bfc'], 0)
  return x @ a['wo'] + a['bo']


def _faces(count):
  """`count` CK+48 faces, a few of every class, resized to 84x84, as uint8 [n, 84, 84, 1]."""
  paths = []
  for name in sorted(os.listdir(CKPLUS48)):
    paths += sorted(os.path.join(CKPLUS48, name, f)
                    for f in os.listdir(os.path.join(CKPLUS48, name)))[:count // 7 + 1]
  images = [np.asarray(Image.open(p).convert('L').resize((84, 84), Image.BILINEAR))
            for p in paths[:count]]
  return np.stack(images)[..., None]


@needs_shared
@pytest.mark.parametrize('model', ['CK', 'OuluCASIA'])
def test_imported_logits_equal_the_original_arithmetic_on_real_faces(model, tmp_path):
  paths = tf_import.import_checkpoint(os.path.join(MODELS, model), str(tmp_path),
                                      default.get_config())
  with open(paths['config.json']) as f:
    recorded = json.load(f)['student']
  assert (recorded['pooling'], recorded['squeeze'], recorded['width']) == ('p12', 16.0, 1.0)
  with open(paths['params.msgpack'], 'rb') as f:
    params = flax.serialization.msgpack_restore(f.read())
  student = models.make_student(tf_import.student_config(default.get_config()).student, 8)
  faces = _faces(28)
  # jaxfer's students see pixels / 255 (jaxfer.loop); the original saw 0-255.
  ours = np.asarray(student.apply({'params': params}, faces.astype(np.float32) / 255.0))
  arrays = tf_checkpoint.read(tf_checkpoint.prefix_in(os.path.join(MODELS, model)),
                              list(tf_import.VARIABLES.values()))
  theirs = original_logits(arrays, faces.astype(np.float64))
  assert np.abs(theirs).max() > 1.0  # Real logits (up to 13 for CK, 59 for Oulu-CASIA).
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
  np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))


def test_a_checkpoint_of_another_network_is_refused_naming_the_variable():
  arrays = {name: np.zeros(shape, np.float32) for name, shape in (
      ('wc1', (8, 8, 1, 16)), ('bc1', (16,)), ('wc2', (4, 4, 16, 32)), ('bc2', (32,)),
      ('wfc', (3872, 16)), ('bfc', (16,)), ('wo', (16, 8)), ('bo', (8,)))}  # v1.4: no pooling.
  config = tf_import.student_config(default.get_config())
  with pytest.raises(ValueError, match=r"wfc has the shape \(3872, 16\); MicroExpNet's fc "
                     r'kernel is \(1152, 48\)'):
    tf_import.params_from_checkpoint(arrays, config)


@needs_shared
def test_import_tf_writes_the_student_refuses_an_existing_out_and_overwrite_replaces_it(
    tmp_path):
  out = tmp_path / 'ck'
  done = subprocess.run(jaxfer_command('import-tf', os.path.join(MODELS, 'CK'), '--out',
                                       str(out)), cwd=REPO, capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert sorted(os.listdir(out)) == sorted(tf_import.FILES)
  with open(out / 'source.json') as f:
    assert json.load(f)['class_names'][7] == 'surprise'
  before = {name: (out / name).read_bytes() for name in os.listdir(out)}
  again = subprocess.run(jaxfer_command('import-tf', os.path.join(MODELS, 'CK'), '--out',
                                        str(out)), cwd=REPO, capture_output=True, text=True,
                         timeout=300)
  assert again.returncode == 2 and f'--out {out} is not empty' in again.stderr
  assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
  # Imported again with --overwrite, from a copy whose `checkpoint` file was written on
  # another machine: the folder's checkpoint is used, and the printed JSON says so.
  copy = tmp_path / 'copied'
  shutil.copytree(os.path.join(MODELS, 'CK'), copy)
  os.chmod(copy, 0o755)
  os.chmod(copy / 'checkpoint', 0o644)
  (copy / 'checkpoint').write_text('model_checkpoint_path: "/home/someone/runs/MicroExpNet_CK"'
                                   '\n')
  replaced = subprocess.run(jaxfer_command('import-tf', str(copy), '--out', str(out),
                                           '--overwrite'), cwd=REPO, capture_output=True,
                            text=True, timeout=300)
  assert replaced.returncode == 0, replaced.stderr[-3000:]
  printed = json.loads(replaced.stdout)
  assert printed['checkpoint'] == str(copy / 'MicroExpNet_CK')
  assert printed['checkpoint_found'] == (f'{copy}/checkpoint names /home/someone/runs/'
                                         f'MicroExpNet_CK, which is not there; used '
                                         f'MicroExpNet_CK in {copy}')
  assert sorted(os.listdir(out)) == sorted(tf_import.FILES)
  # The same weights (from the same bytes); source.json now names the copy.
  assert (out / 'params.msgpack').read_bytes() == before['params.msgpack']
  with open(out / 'source.json') as f:
    assert json.load(f)['checkpoint'] == str(copy / 'MicroExpNet_CK')
  assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]  # No staging left.


def test_import_checkpoint_refuses_a_folder_holding_other_files_before_reading(tmp_path):
  (tmp_path / 'notes.txt').write_text('mine\n')
  with pytest.raises(ValueError, match=f'the output folder {tmp_path} is not empty'):
    tf_import.import_checkpoint(str(tmp_path / 'no checkpoint here'), str(tmp_path),
                                default.get_config())
  assert os.listdir(tmp_path) == ['notes.txt']
