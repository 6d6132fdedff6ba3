r"""Accuracy of the authors' imported MicroExpNet checkpoints on all of CK+48: a check of the import.

    PYTHONPATH=. python benchmarks/imported_accuracy.py
    PYTHONPATH=. python benchmarks/imported_accuracy.py --models CK --faces 3   # seconds

Imports `../shared/data/microexpnet-tf/Models/{CK,OuluCASIA}` (jaxfer.tf_import) into a
temporary directory and classifies the 981 CK+48 faces with each, under each test-time view of
`jaxfer.data.preprocess.eval_view`: 'paper' (the original exampleUsage.py: the face resized to
256x256, the window [32:256, 32:256], resized to 84x84; CK+48 images are already face crops:
the original's Haar cascade, detectMultiScale(gray, 1.3, 5), finds a face in 3 of the 981 and
the original then takes the whole image, as here), 'full' (the image resized to 84x84) and
'center' (the middle 224/256 window). Each imported student classifies as `jaxfer evaluate
--model` does (`jaxfer.model_files`). CK+ subjects were in the authors' training data, so this
checks the import; it is no held-out accuracy. Prints a Markdown table; `--faces N` reads only
the first N faces of each expression.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import cv2
import numpy as np

from configs import default
from jaxfer import model_files
from jaxfer import tf_import
from jaxfer.data import preprocess

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                      'shared', 'data')


MODELS = ('CK', 'OuluCASIA')


def _faces(root: str, limit: int | None = None) -> tuple[list[np.ndarray], list[str]]:
  """The grey faces in each expression folder of `root` (the first `limit` of each), and the
  folder (expression) of each."""
  images, names = [], []
  for name in sorted(os.listdir(root)):
    for file in sorted(os.listdir(os.path.join(root, name)))[:limit]:
      image = cv2.imread(os.path.join(root, name, file), cv2.IMREAD_UNCHANGED)
      images.append(preprocess.to_grayscale(image))
      names.append(name)
  return images, names


def _imported(checkpoint: str) -> model_files.Student:
  """The authors' checkpoint imported (into a temporary folder) and loaded as `jaxfer evaluate
  --model` loads a student."""
  with tempfile.TemporaryDirectory() as out:
    tf_import.import_checkpoint(checkpoint, out, default.get_config())
    return model_files.load(out)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--models', default=','.join(MODELS),
                      help=f'the imported checkpoints to classify with, of {", ".join(MODELS)}')
  parser.add_argument('--faces', type=int, default=None,
                      help='read only the first N faces of each expression (default: all)')
  args = parser.parse_args(argv)
  chosen = args.models.split(',')
  if any(model not in MODELS for model in chosen):
    parser.error(f'--models {args.models}: expected names of {", ".join(MODELS)} separated by '
                 'commas')
  root = os.path.join(SHARED, 'CK+48')
  checkpoints = os.path.join(SHARED, 'microexpnet-tf', 'Models')
  if not (os.path.isdir(root) and os.path.isdir(checkpoints)):
    sys.exit(f'needs {root} and {checkpoints}')
  images, names = _faces(root, args.faces)
  students = {model: _imported(os.path.join(checkpoints, model)) for model in chosen}
  class_names = next(iter(students.values())).class_names
  labels = np.array([class_names.index(name) for name in names])
  present = [k for k in range(len(class_names)) if (labels == k).any()]
  print(f'{len(images)} CK+48 faces; per-class accuracy (recall) in %\n')
  print('| model | view | accuracy % | ' + ' | '.join(class_names[k] for k in present) + ' |')
  print('| --- | --- | ---: |' + ' ---: |' * len(present))
  for model, student in students.items():
    for view in preprocess.EVAL_CROPS[::-1]:  # paper, center, full
      x = np.stack([preprocess.eval_view(image, student.image_size, view) for image in images])
      predicted = model_files.logits(student, x[..., None]).argmax(1)
      recall = [100 * (predicted[labels == k] == k).mean() for k in present]
      print(f'| {model} | {view} | {100 * (predicted == labels).mean():.1f} | ' +
            ' | '.join(f'{r:.1f}' for r in recall) + ' |')


if __name__ == '__main__':
  main()
