r"""Accuracy of the authors' imported MicroExpNet checkpoints on all of CK+48: a check of the import.

    PYTHONPATH=. python benchmarks/imported_accuracy.py

Imports `../shared/data/microexpnet-tf/Models/{CK,OuluCASIA}` (jaxfer.tf_import) into a
temporary directory and classifies the 981 CK+48 faces with each, under each test-time view of
`jaxfer.data.preprocess.eval_view`: 'paper' (the original exampleUsage.py: the face resized to
256x256, the window [32:256, 32:256], resized to 84x84; CK+48 images are already face crops:
the original's Haar cascade, detectMultiScale(gray, 1.3, 5), finds a face in 3 of the 981 and
the original then takes the whole image, as here), 'full' (the image resized to 84x84) and 'center' (the middle 224/256 window). CK+ subjects
were in the authors' training data, so this checks the import; it is no held-out accuracy.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import cv2
import flax.serialization
import numpy as np

from configs import default
from jaxfer import models
from jaxfer import tf_import
from jaxfer.data import preprocess

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                      'shared', 'data')


def _faces(root: str) -> tuple[list[np.ndarray], np.ndarray]:
  images, labels = [], []
  for name in sorted(os.listdir(root)):
    for file in sorted(os.listdir(os.path.join(root, name))):
      image = cv2.imread(os.path.join(root, name, file), cv2.IMREAD_UNCHANGED)
      images.append(preprocess.to_grayscale(image))
      labels.append(tf_import.CLASS_NAMES.index(name))
  return images, np.array(labels)


def main():
  argparse.ArgumentParser(description=__doc__.split('\n', 1)[0]).parse_args()  # --help only.
  root = os.path.join(SHARED, 'CK+48')
  checkpoints = os.path.join(SHARED, 'microexpnet-tf', 'Models')
  if not (os.path.isdir(root) and os.path.isdir(checkpoints)):
    sys.exit(f'needs {root} and {checkpoints}')
  images, labels = _faces(root)
  base = default.get_config()
  student = models.make_student(tf_import.student_config(base).student,
                                len(tf_import.CLASS_NAMES))
  present = [k for k in range(len(tf_import.CLASS_NAMES)) if (labels == k).any()]
  print(f'{len(images)} CK+48 faces; per-class accuracy (recall) in %\n')
  print('| model | view | accuracy % | ' +
        ' | '.join(tf_import.CLASS_NAMES[k] for k in present) + ' |')
  print('| --- | --- | ---: |' + ' ---: |' * len(present))
  for model in ('CK', 'OuluCASIA'):
    with tempfile.TemporaryDirectory() as out:
      paths = tf_import.import_checkpoint(os.path.join(checkpoints, model), out, base)
      with open(paths['params.msgpack'], 'rb') as f:
        params = flax.serialization.msgpack_restore(f.read())
    for view in preprocess.EVAL_CROPS[::-1]:  # paper, center, full
      x = np.stack([preprocess.eval_view(image, 84, view) for image in images])
      logits = np.asarray(student.apply({'params': params},
                                        x[..., None].astype(np.float32) / 255.0))
      predicted = logits.argmax(1)
      recall = [100 * (predicted[labels == k] == k).mean() for k in present]
      print(f'| {model} | {view} | {100 * (predicted == labels).mean():.1f} | ' +
            ' | '.join(f'{r:.1f}' for r in recall) + ' |')


if __name__ == '__main__':
  main()
