r"""Speed of `jaxfer predict` once its model is loaded: images per second, by engine and threads.

    PYTHONPATH=. python benchmarks/predict_speed.py --rounds 3
    PYTHONPATH=. python benchmarks/predict_speed.py --rounds 1 --limit 20 --frames 4  # seconds

Times `jaxfer.predict.predict_images` (what the command runs) on the 981 CK+48 crops with
detection off (each file one face crop), and with detection on in `--frames` grey 640x490
frames, CK+'s frame size, each holding one CK+48 face enlarged to 300x300 (CK+'s own frames are
not in ../shared; the Haar cascade's cost grows with the frame, not with what it shows). Each
configuration (engine jax or onnxruntime; files read by one thread or one per core) runs in
turn within each round; figures are medians over rounds of images per second after the engine
was ready, and of the seconds it took to get ready (onnxruntime: reading the graph cached in
$JAXFER_CACHE_DIR/onnx, converted in the first round when new). The model is `--model` (any
student `jaxfer predict` takes), or else the authors' CK checkpoint imported to a temporary
folder. The frames are written to a temporary folder, removed afterwards. Prints Markdown.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import cv2
import numpy as np

from configs import default
from jaxfer import model_files
from jaxfer import predict
from jaxfer import tf_import

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                      'shared', 'data')
CKPLUS48 = os.path.join(SHARED, 'CK+48')
CHECKPOINT = os.path.join(SHARED, 'microexpnet-tf', 'Models', 'CK')
FRAME_HEIGHT, FRAME_WIDTH, FACE_SIDE = 490, 640, 300


def write_frames(crops: list[str], folder: str) -> list[str]:
  """One grey 640x490 PNG frame per crop, the crop enlarged to 300x300 at (170, 95)."""
  paths = []
  for k, crop in enumerate(crops):
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH), 128, np.uint8)
    top, left = (FRAME_HEIGHT - FACE_SIDE) // 2, (FRAME_WIDTH - FACE_SIDE) // 2
    frame[top:top + FACE_SIDE, left:left + FACE_SIDE] = cv2.resize(
        cv2.imread(crop, cv2.IMREAD_GRAYSCALE), (FACE_SIDE, FACE_SIDE))
    paths.append(os.path.join(folder, f'frame_{k:04d}.png'))
    cv2.imwrite(paths[-1], frame)
  return paths


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--model', default=None, help="a student folder (default: the authors' CK "
                  'checkpoint, imported)')
  ap.add_argument('--images', default=CKPLUS48, help='face crops (default: ../shared CK+48)')
  ap.add_argument('--limit', type=int, default=0, help='only the first N crops (0: all)')
  ap.add_argument('--frames', type=int, default=200, help='640x490 frames, with detection')
  ap.add_argument('--rounds', type=int, default=3)
  ap.add_argument('--engines', nargs='+', choices=('jax', 'onnxruntime'),
                  default=['jax', 'onnxruntime'])
  a = ap.parse_args(argv)
  if not os.path.isdir(a.images):
    ap.error(f'--images {a.images} does not exist; expected a folder of face crops')
  if a.model is None and not os.path.isdir(CHECKPOINT):
    ap.error(f'no --model, and the authors\' checkpoint is not at {CHECKPOINT}')
  if a.model is not None:
    try:
      student = model_files.load(a.model)
    except (FileNotFoundError, ValueError) as error:
      ap.error(f'--model {a.model}: {error}')
  crops = predict.image_paths([a.images])[:a.limit or None]
  cores = os.cpu_count() or 1
  with tempfile.TemporaryDirectory() as scratch:
    if a.model is None:
      a.model = os.path.join(scratch, 'student')
      tf_import.import_checkpoint(CHECKPOINT, a.model, default.get_config())
      student = model_files.load(a.model)
    frames = write_frames(crops[:a.frames], scratch) if a.frames else []
    workloads = [('CK+48 crops, no detection', crops, False)]
    if frames:
      workloads.append((f'{FRAME_WIDTH}x{FRAME_HEIGHT} frames, detection', frames, True))
    configs = [(work, engine, threads) for work in workloads for engine in a.engines
               for threads in sorted({1, cores})]
    rates = {(work[0], engine, threads): [] for work, engine, threads in configs}
    ready = {key: [] for key in rates}
    for _ in range(a.rounds):
      for (name, paths, detect), engine, threads in configs:
        outcome = predict.predict_images(student, paths, detect=detect, engine=engine,
                                         threads=threads)
        rates[name, engine, threads].append(len(paths) / outcome.seconds)
        ready[name, engine, threads].append(outcome.ready_seconds)
  print(f'{len(crops)} crops, {len(frames)} frames, {a.rounds} round(s), {cores} cores; model '
        f'{student.model.__class__.__name__} at {student.image_size}x{student.image_size}\n')
  print('| images | engine | threads | images/s (median) | engine ready, s (median) |')
  print('| --- | --- | ---: | ---: | ---: |')
  for (name, engine, threads), values in rates.items():
    print(f'| {name} | {engine} | {threads} | {statistics.median(values):,.0f} | '
          f'{statistics.median(ready[name, engine, threads]):.2f} |')


if __name__ == '__main__':
  main()
