"""Image preprocessing of MicroExpNet in numpy and OpenCV: face crop, grayscale, resize, crops.

The paper's pipeline (the original `exampleUsage.py`): detect the face with OpenCV's Haar
cascade, crop it, resize to 256x256, and either take the 224x224 window at (32, 32) or, for
training, the 8 fixed 224x224 windows of `PAPER_OFFSETS`; every window is resized to the model's
input (84x84). No flips in the paper; random crops and flips are optional extras.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

# The 8 fixed training windows of the paper: (row, column) of a 224x224 crop of the 256x256 face.
PAPER_BASE = 256
PAPER_WINDOW = 224
PAPER_OFFSETS = ((0, 0), (0, 5), (0, 32), (5, 0), (32, 0), (5, 5), (32, 32), (5, 32))
CROPS = ('none', 'paper8')
EVAL_CROPS = ('full', 'center', 'paper')


def to_grayscale(image: np.ndarray) -> np.ndarray:
  """A uint8 HxW image from gray, gray+alpha, RGB(A) input of any depth (as decoded by OpenCV).

  16-bit pixels are divided by 257 (65535 -> 255, the inverse of 8-bit x 257); a float image
  whose maximum is at most 1 is taken as 0..1 and multiplied by 255, any other float image is
  clipped to 0..255; other integer types are clipped to 0..255.
  """
  if image.dtype != np.uint8:
    pixels = image.astype(np.float64)
    if image.dtype == np.uint16:
      pixels = pixels / 257
    elif image.dtype.kind == 'f':
      pixels = np.nan_to_num(pixels)
      if pixels.size and pixels.max() <= 1:
        pixels = pixels * 255
    # Rounded, not truncated: a face stored as 8-bit/255 in float comes back exactly.
    image = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
  if image.ndim == 3 and image.shape[2] == 1:
    image = image[:, :, 0]
  elif image.ndim == 3 and image.shape[2] == 2:
    image = image[:, :, 0]
  elif image.ndim == 3:
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    image = cv2.cvtColor(image, code)
  return np.ascontiguousarray(image)


def center_square(image: np.ndarray) -> np.ndarray:
  """The largest centred square of an HxW image."""
  h, w = image.shape[:2]
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  return image[top:top + side, left:left + side]


def resize(image: np.ndarray, size: int) -> np.ndarray:
  """HxW -> size x size; area averaging when shrinking, bilinear when enlarging."""
  if image.shape[:2] == (size, size):
    return image
  shrink = size < min(image.shape[:2])
  return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else
                    cv2.INTER_LINEAR)


_CASCADES = threading.local()


def face_cascade() -> cv2.CascadeClassifier:
  """OpenCV's frontal-face Haar cascade, loaded once per thread: one classifier searched by two
  threads at once fails (`jaxfer.predict` searches files in a pool of threads)."""
  cascade = getattr(_CASCADES, 'cascade', None)
  if cascade is None:
    path = cv2.data.haarcascades + 'haarcascade_frontalface_default.xml'
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
      raise FileNotFoundError(f'OpenCV could not load its Haar cascade {path}; reinstall '
                              'opencv-python-headless')
    _CASCADES.cascade = cascade
  return cascade


def detect_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
  """(x, y, w, h) of the largest face the Haar cascade finds, or None."""
  faces = face_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                           minSize=(max(24, min(gray.shape) // 8),) * 2)
  if len(faces) == 0:
    return None
  x, y, w, h = max(faces, key=lambda face: face[2] * face[3])
  return int(x), int(y), int(w), int(h)


def crop_face(gray: np.ndarray, size: int = PAPER_BASE) -> np.ndarray | None:
  """The largest detected face, resized to `size` x `size`; None if no face is found."""
  face = detect_face(gray)
  if face is None:
    return None
  x, y, w, h = face
  return resize(gray[y:y + h, x:x + w], size)


def window(image: np.ndarray, offset: tuple[int, int], size: int) -> np.ndarray:
  """The paper's 224/256 window at `offset` (in 256-pixel units), resized to `size`."""
  base = resize(image, PAPER_BASE)
  row, col = offset
  return resize(base[row:row + PAPER_WINDOW, col:col + PAPER_WINDOW], size)


def paper_crops(image: np.ndarray, size: int) -> np.ndarray:
  """The 8 fixed training crops of one HxW image, [8, size, size]."""
  return np.stack([window(image, offset, size) for offset in PAPER_OFFSETS])


def eval_view(image: np.ndarray, size: int, eval_crop: str) -> np.ndarray:
  """The test-time image: 'full' (whole image), 'center' (224/256 window in the middle) or
  'paper' (the window at (32, 32), as the original `exampleUsage.py`)."""
  if eval_crop == 'full':
    return resize(image, size)
  margin = (PAPER_BASE - PAPER_WINDOW) // 2 if eval_crop == 'center' else 32
  return window(image, (margin, margin), size)


def prepare(images: np.ndarray, size: int, crops: str, eval_crop: str,
            train: bool) -> tuple[np.ndarray, np.ndarray]:
  """Model inputs [M, size, size, 1] from stored images [N, H, W(, 1)], and each one's source.

  Training images become 8 crops each with crops='paper8' (M = 8N, crops of one image adjacent),
  else one resized image; test images are `eval_view`s.
  """
  images = images[..., 0] if images.ndim == 4 else images
  if train and crops == 'paper8':
    out = np.concatenate([paper_crops(image, size) for image in images])
    source = np.repeat(np.arange(len(images)), len(PAPER_OFFSETS))
  elif train:
    out = np.stack([resize(image, size) for image in images])
    source = np.arange(len(images))
  else:
    out = np.stack([eval_view(image, size, eval_crop) for image in images])
    source = np.arange(len(images))
  return out[..., None], source


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
  """Random crops: each image translated by up to `max_shift` pixels each way, edges repeated."""
  if max_shift == 0:
    return images
  n, h, w, _ = images.shape
  pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0))
  padded = np.pad(images, pad, mode='edge')
  rows = rng.integers(0, 2 * max_shift + 1, n)[:, None] + np.arange(h)
  cols = rng.integers(0, 2 * max_shift + 1, n)[:, None] + np.arange(w)
  return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Each image mirrored left-right with probability 1/2."""
  flip = rng.random(len(images)) < 0.5
  return np.where(flip[:, None, None, None], images[:, :, ::-1], images)
