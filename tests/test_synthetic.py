"""Tests for the procedural synthetic face dataset."""
import numpy as np
import pytest

from jaxfer.data import classes
from jaxfer.data import synthetic

NUM_CLASSES = len(classes.CLASS_NAMES)


def _centroid_accuracy(train, test):
  """Nearest-class-centroid accuracy on per-image standardized central pixels."""
  def features(images):
    x = images[..., 0].astype(np.float64) / 255.0
    size = x.shape[1]
    crop = int(round(size * 0.6))
    off = (size - crop) // 2
    x = x[:, off:off + crop, off:off + crop].reshape(len(x), -1)
    return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)

  xtr, xte = features(train['image']), features(test['image'])
  centroids = np.stack([xtr[train['label'] == k].mean(0) for k in range(NUM_CLASSES)])
  dist = ((xte[:, None, :] - centroids[None]) ** 2).sum(-1)
  return float(np.mean(dist.argmin(1) == test['label']))


def test_class_names_are_microexpnet_s_in_the_order_of_its_checkpoints():
  assert classes.CLASS_NAMES == ('neutral', 'anger', 'contempt', 'disgust', 'fear', 'happy',
                                 'sadness', 'surprise')


def test_same_seed_is_byte_identical():
  a = synthetic.generate(2, 2, image_size=48, seed=3)
  b = synthetic.generate(2, 2, image_size=48, seed=3)
  assert a.keys() == b.keys() == {'image', 'label', 'subject_id', 'intensity'}
  for key in a:
    assert a[key].tobytes() == b[key].tobytes(), key


def test_different_seed_changes_images():
  a = synthetic.generate(2, 2, image_size=48, seed=0)
  b = synthetic.generate(2, 2, image_size=48, seed=1)
  # Every single image should change, not just a few.
  diff = np.abs(a['image'].astype(int) - b['image'].astype(int)).mean(axis=(1, 2, 3))
  assert np.all(diff > 5.0)
  assert not np.array_equal(a['intensity'], b['intensity'])


def test_labels_and_subjects_ordering():
  num_subjects, per_class, first = 3, 2, 7
  d = synthetic.generate(num_subjects, per_class, image_size=32, first_subject=first)
  n = num_subjects * NUM_CLASSES * per_class
  expected_subjects = np.repeat(np.arange(first, first + num_subjects), NUM_CLASSES * per_class)
  expected_labels = np.tile(np.repeat(np.arange(NUM_CLASSES), per_class), num_subjects)
  assert d['subject_id'].shape == d['label'].shape == d['intensity'].shape == (n,)
  np.testing.assert_array_equal(d['subject_id'], expected_subjects)
  np.testing.assert_array_equal(d['label'], expected_labels)
  for s in range(first, first + num_subjects):
    counts = np.bincount(d['label'][d['subject_id'] == s], minlength=NUM_CLASSES)
    np.testing.assert_array_equal(counts, np.full(NUM_CLASSES, per_class))


def test_subject_range_reproduces_larger_call():
  full = synthetic.generate(10, 1, image_size=40, seed=5)
  part = synthetic.generate(5, 1, image_size=40, seed=5, first_subject=5)
  mask = full['subject_id'] >= 5
  for key in full:
    np.testing.assert_array_equal(part[key], full[key][mask], err_msg=key)


@pytest.mark.parametrize('size', [48, 57, 84])
def test_shapes_and_dtypes(size):
  d = synthetic.generate(2, 1, image_size=size)
  n = 2 * NUM_CLASSES
  assert d['image'].shape == (n, size, size, 1)
  assert d['image'].dtype == np.uint8
  assert d['label'].dtype == np.int64
  assert d['subject_id'].dtype == np.int64
  assert d['intensity'].dtype == np.float32
  # Images use a real dynamic range, not a constant or a clipped-out frame.
  assert d['image'].std() > 20.0


def test_geometry_is_resolution_independent():
  """The same face rendered at two sizes should match once brought to a common size."""
  small = synthetic.generate(1, 1, image_size=48, noise=0.0)['image'][..., 0].astype(float)
  big = synthetic.generate(1, 1, image_size=96, noise=0.0)['image'][..., 0].astype(float)
  pooled = big.reshape(len(big), 48, 2, 48, 2).mean(axis=(2, 4))
  other = np.roll(pooled, 1, axis=0)  # each image paired with a different face
  assert np.abs(pooled - small).mean() < 0.4 * np.abs(other - small).mean()


def test_intensity_ranges():
  d = synthetic.generate(4, 3, image_size=32, min_intensity=0.4)
  neutral = d['label'] == 0
  np.testing.assert_array_equal(d['intensity'][neutral], 0.0)
  expressive = d['intensity'][~neutral]
  assert np.all((expressive >= 0.4) & (expressive <= 1.0))
  assert expressive.std() > 0.05


def test_identity_varies_across_subjects():
  d = synthetic.generate(4, 1, image_size=48, noise=0.0)
  images = d['image'].astype(float).reshape(4, NUM_CLASSES, -1)
  for label in range(NUM_CLASSES):
    for i in range(4):
      for j in range(i + 1, 4):
        assert np.abs(images[i, label] - images[j, label]).mean() > 5.0


def test_noise_parameter_adds_noise():
  clean = synthetic.generate(1, 1, image_size=48, noise=0.0)['image'].astype(float)
  noisy = synthetic.generate(1, 1, image_size=48, noise=0.1)['image'].astype(float)
  resid = noisy - clean
  # Away from clipping the residual is the Gaussian noise at 0.1 * 255.
  assert 15.0 < resid.std() < 30.0


def test_held_out_subjects_carry_class_signal():
  train = synthetic.generate(40, 2, image_size=48)
  test = synthetic.generate(20, 2, image_size=48, first_subject=40)
  assert not set(train['subject_id']) & set(test['subject_id'])
  assert _centroid_accuracy(train, test) > 0.2


def test_no_framework_imports():
  import ast
  import inspect
  tree = ast.parse(inspect.getsource(synthetic))
  modules = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      modules.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      modules.update(f'{node.module}.{alias.name}' if node.module == 'jaxfer.data'
                     else node.module.split('.')[0] for alias in node.names)
  # The class names are the one part of jaxfer it reads (a tuple of strings).
  assert modules <= {'__future__', 'numpy', 'jaxfer.data.classes'}
