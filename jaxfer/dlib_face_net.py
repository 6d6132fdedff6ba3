"""dlib's face recognition ResNet as a face net (`config.facenet2expnet.face_net='dlib_resnet'`):
a 128-d descriptor of each face, from the facenet extra (`pip install -e ".[facenet]"`: dlib-bin
and face-recognition-models, whose weights ship inside the package), imported only when used.
"""
from __future__ import annotations

import os

import numpy as np

from jaxfer import xla_cache

DLIB_SIDE = 150  # The size of the aligned face chips dlib's descriptor network takes.


def model_path() -> str | None:
  """The weights of dlib's face recognition ResNet, or None without the facenet extra."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  # Found without importing the package: its __init__ needs pkg_resources (setuptools).
  spec = importlib.util.find_spec('face_recognition_models')
  if importlib.util.find_spec('dlib') is None or spec is None:
    return None
  path = os.path.join(spec.submodule_search_locations[0], 'models',
                      'dlib_face_recognition_resnet_model_v1.dat')
  return path if os.path.isfile(path) else None


def descriptor_cache_dir() -> str:
  """$JAXFER_CACHE_DIR/dlib_resnet (default ~/.cache/jaxfer/dlib_resnet): one descriptor per
  image, named by the image's sha1, so every fold and run computes each face once."""
  return os.path.join(xla_cache.cache_root(), 'dlib_resnet')


def features(images: np.ndarray) -> np.ndarray:
  """dlib's 128-d descriptor of every grayscale face crop [N, H, W, 1], with a progress bar
  (about 0.1 to 0.2 s an image on a CPU core), read from `descriptor_cache_dir()` when known."""
  import hashlib  # pylint: disable=g-import-not-at-top
  import cv2  # pylint: disable=g-import-not-at-top
  import dlib  # pylint: disable=g-import-not-at-top
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  cache = descriptor_cache_dir()
  os.makedirs(cache, exist_ok=True)
  network = None
  features = []
  for image in tqdm(images, desc='face net (dlib)', unit='image', mininterval=5):
    key = hashlib.sha1(str(image.shape).encode() + np.ascontiguousarray(image).tobytes())
    path = os.path.join(cache, key.hexdigest() + '.npy')
    try:
      features.append(np.load(path))
      continue
    except (OSError, ValueError):
      pass
    if network is None:
      network = dlib.face_recognition_model_v1(model_path())
    chip = cv2.cvtColor(cv2.resize(image[..., 0], (DLIB_SIDE, DLIB_SIDE),
                                   interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
    features.append(np.asarray(network.compute_face_descriptor(chip), np.float32))
    temporary = f'{path}.{os.getpid()}.tmp.npy'
    np.save(temporary, features[-1])
    os.replace(temporary, path)
  return np.stack(features)
