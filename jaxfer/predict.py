"""Labelling the faces in photos with a student: detection as in the paper, batched inference.

Every face OpenCV's frontal Haar cascade finds (`detectMultiScale(gray, 1.3, 5)`, the
original's parameters; the original kept only the first) is cropped and given the student's
test-time view (`config.data.eval_crop`: the imported MicroExpNet takes the original's 224/256
window), then classified in batches of one compiled shape. `detect=False` treats each image as
one face crop; `whole_image_fallback` labels the whole image when no face is found, as the
original did, instead of reporting the image as faceless.
"""
from __future__ import annotations

import csv
import json
import logging
import os
from typing import Iterable, NamedTuple, Sequence

import cv2
import numpy as np
import scipy.special

from jaxfer import model_files
from jaxfer.data import preprocess

logger = logging.getLogger('jaxfer')

IMAGE_SUFFIXES = ('.bmp', '.jpeg', '.jpg', '.pgm', '.png', '.ppm', '.tif', '.tiff', '.webp')
# The original exampleUsage.py's detector settings.
SCALE_FACTOR, MIN_NEIGHBORS = 1.3, 5


class Face(NamedTuple):
  """One labelled face: its image, its number in that image, its box (x, y, w, h; the whole
  image when not detected), the most probable label and every class's probability."""
  path: str
  index: int
  box: tuple[int, int, int, int]
  label: str
  probabilities: tuple[float, ...]


class Outcome(NamedTuple):
  faces: list[Face]
  images: int  # Images read.
  without_face: list[str]
  unreadable: list[str]


def image_paths(inputs: Sequence[str]) -> list[str]:
  """The image files named or found (recursively, sorted) in `inputs`; FileNotFoundError for an
  input that does not exist, ValueError when there is no image at all."""
  paths = []
  for item in inputs:
    if os.path.isdir(item):
      for root, _, files in sorted(os.walk(item)):
        paths += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(IMAGE_SUFFIXES)]
    elif os.path.isfile(item):
      paths.append(item)
    else:
      raise FileNotFoundError(f'{item} does not exist; expected image files or folders of them')
  if not paths:
    raise ValueError(f'no image ({", ".join(IMAGE_SUFFIXES)}) in {", ".join(inputs)}')
  return paths


def detect_faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
  """Every face the cascade finds, as (x, y, w, h), left to right then top to bottom."""
  found = preprocess.face_cascade().detectMultiScale(gray, SCALE_FACTOR, MIN_NEIGHBORS)
  return sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in found)


class _Batcher:
  """Collects face crops and classifies them `batch_size` at a time (the last batch padded, so
  one shape is compiled)."""

  def __init__(self, student: model_files.Student, batch_size: int):
    self.student, self.batch_size = student, batch_size
    self.pending: list[tuple[str, int, tuple[int, int, int, int], np.ndarray]] = []
    self.faces: list[Face] = []

  def add(self, path: str, index: int, box: tuple[int, int, int, int], crop: np.ndarray):
    self.pending.append((path, index, box, crop))
    if len(self.pending) >= self.batch_size:
      self.flush()

  def flush(self):
    if not self.pending:
      return
    images = np.stack([crop for *_, crop in self.pending])[..., None]
    # Padded to the full batch inside, so every flush runs the one compiled shape.
    probabilities = scipy.special.softmax(
        model_files.logits(self.student, images, self.batch_size).astype(np.float64), axis=1)
    for (path, index, box, _), p in zip(self.pending, probabilities):
      self.faces.append(Face(path, index, box, self.student.class_names[int(p.argmax())],
                             tuple(float(v) for v in p)))
    self.pending = []


def predict_images(student: model_files.Student, paths: Iterable[str], *, detect: bool = True,
                   whole_image_fallback: bool = False, batch_size: int = 256,
                   progress: bool = False) -> Outcome:
  """Labels every face of every image; unreadable images are skipped with a warning."""
  batcher = _Batcher(student, batch_size)
  without_face, unreadable, read = [], [], 0
  paths = list(paths)
  if progress:
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    paths = tqdm(paths, unit='image', desc='predict')
  for path in paths:
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
      logger.warning('%s: not an image OpenCV can read; skipped', path)
      unreadable.append(path)
      continue
    read += 1
    gray = preprocess.to_grayscale(image)
    whole = (0, 0, gray.shape[1], gray.shape[0])
    boxes = detect_faces(gray) if detect else [whole]
    if not boxes:
      if not whole_image_fallback:
        without_face.append(path)
        continue
      boxes = [whole]
    for index, (x, y, w, h) in enumerate(boxes):
      crop = preprocess.eval_view(gray[y:y + h, x:x + w], student.image_size, student.eval_crop)
      batcher.add(path, index, (x, y, w, h), crop)
  batcher.flush()
  return Outcome(batcher.faces, read, without_face, unreadable)


def rows(faces: Sequence[Face], class_names: Sequence[str]) -> list[dict]:
  """One row per face: image, face number, box, label, then p_<class> for every class."""
  return [{'image': face.path, 'face': face.index, 'x': face.box[0], 'y': face.box[1],
           'width': face.box[2], 'height': face.box[3], 'label': face.label,
           **{f'p_{name}': round(p, 6) for name, p in zip(class_names, face.probabilities)}}
          for face in faces]


def write(path: str, faces: Sequence[Face], class_names: Sequence[str]) -> None:
  """`path` as CSV (.csv) or JSON lines (.jsonl)."""
  table = rows(faces, class_names)
  with open(path, 'w', newline='') as f:
    if path.endswith('.jsonl'):
      f.writelines(json.dumps(row) + '\n' for row in table)
      return
    writer = csv.DictWriter(f, fieldnames=['image', 'face', 'x', 'y', 'width', 'height', 'label',
                                           *(f'p_{name}' for name in class_names)])
    writer.writeheader()
    writer.writerows(table)


def annotate(out_dir: str, faces: Sequence[Face], inputs_root: str = '') -> list[str]:
  """Copies of the images with each face's box and label drawn, in `out_dir` (the path below
  `inputs_root`, else the file name); returns the written paths."""
  by_image: dict[str, list[Face]] = {}
  for face in faces:
    by_image.setdefault(face.path, []).append(face)
  written = []
  for path, found in by_image.items():
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    thickness = max(1, min(image.shape[:2]) // 200)
    for face in found:
      x, y, w, h = face.box
      cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), (0, 200, 0), thickness)
      text = f'{face.label} {max(face.probabilities):.2f}'
      scale = max(0.4, min(image.shape[:2]) / 600)
      cv2.putText(image, text, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                  (0, 200, 0), thickness, cv2.LINE_AA)
    relative = (os.path.relpath(path, inputs_root) if inputs_root
                and not os.path.relpath(path, inputs_root).startswith('..')
                else os.path.basename(path))
    target = os.path.join(out_dir, os.path.splitext(relative)[0] + '.png')
    os.makedirs(os.path.dirname(target), exist_ok=True)
    cv2.imwrite(target, image)
    written.append(target)
  return written
