"""Labelling the faces in photos with a student: detection as in the paper, batched inference.

Every face OpenCV's frontal Haar cascade finds (`detectMultiScale(gray, 1.3, 5)`, the
original's parameters; the original kept only the first) is cropped and given the student's
test-time view (`config.data.eval_crop`: the imported MicroExpNet takes the original's 224/256
window), then classified in batches. Files are decoded and searched for faces by a pool of
threads (OpenCV and Pillow release the interpreter while they work), in order. The batches go
to the student's compiled JAX function, padded to one compiled shape, or with `engine`
'onnxruntime' to ONNX Runtime (the `onnx` extra; the graph converted once and cached outside the
student's folder, `jaxfer.onnx_export.runtime_logits`). Reading the files, not the network, is
most of the time: both engines label about 3,500 CK+48 crops a second on two cores
(benchmarks/RESULTS.md), and the conversion costs seconds the first time, so JAX is the
default. `detect=False` treats each image as one face crop; `whole_image_fallback` labels the
whole image when no face is found, as the original did, instead of reporting the image as
faceless.

Images of any depth are brought to 8 bits first (`preprocess.to_grayscale`): a float image whose
maximum is at most 1 is taken as 0..1 and multiplied by 255, any other float image is clipped to
0..255, and a 16-bit one is divided by 257. A file that cannot be used is skipped and named with
the reason (`why_skipped`): damaged (a truncated JPEG or PNG), not an image, unreadable (no
permission, a dangling link), not a regular file (a FIFO would block the reading forever), or with
more pixels than Pillow's `Image.MAX_IMAGE_PIXELS` (89,478,485 by default; never decoded). An
annotated copy keeps its source's whole name, extension included, and adds `.png` (`photo.jpg` ->
`photo.jpg.png`), so no two sources share a copy and no copy has the name of its source. In CSV a
cell that a spreadsheet would run as a formula (one starting with =, +, -, @, a tab or a carriage
return: a file named `=HYPERLINK(...).png`) gets a leading single quote; JSON lines keep the exact
text.
"""
from __future__ import annotations

import concurrent.futures
import csv
import json
import logging
import os
import stat
import sys
import time
import warnings
from typing import Callable, Iterable, NamedTuple, Sequence, TextIO

import cv2
import numpy as np
import scipy.special

from jaxfer import interrupts
from jaxfer import model_files
from jaxfer import outputs
from jaxfer.data import preprocess

logger = logging.getLogger('jaxfer')

IMAGE_SUFFIXES = ('.bmp', '.jpeg', '.jpg', '.pgm', '.png', '.ppm', '.tif', '.tiff', '.webp')
# The original exampleUsage.py's detector settings.
SCALE_FACTOR, MIN_NEIGHBORS = 1.3, 5
ENGINES = ('jax', 'onnxruntime')
# Every batch is padded to `batch_size` faces (one compiled shape): 4096 84x84 faces take about
# 1 GB in the imported MicroExpNet, 16384 about 3.5 GB, and far larger sizes fail to allocate.
MAX_BATCH_SIZE = 4096
# What starts a formula in a spreadsheet (OWASP's CSV injection advice).
FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')


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
  unreadable: list[tuple[str, str]]  # (path, why it was skipped)
  engine: str = 'jax'  # What classified the faces.
  ready_seconds: float = 0.0  # Preparing the engine (converting or reading the ONNX graph).
  seconds: float = 0.0  # Reading, detecting and classifying, once the engine was ready.


def image_paths(inputs: Sequence[str]) -> list[str]:
  """The image files named or found (recursively, sorted) in `inputs`, each once;
  FileNotFoundError for an input that does not exist, ValueError when there is no image at all."""
  paths = []
  for item in inputs:
    if os.path.isdir(item):
      for root, _, files in sorted(os.walk(item)):
        paths += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(IMAGE_SUFFIXES)]
    elif os.path.isfile(item):
      paths.append(item)
    elif os.path.lexists(item):  # A device, a FIFO, a socket or a dangling link: named.
      raise ValueError(f'{item} is {outputs.describe(item)}; expected image files or folders '
                       'of them')
    else:
      raise FileNotFoundError(f'{item} does not exist; expected image files or folders of them')
  if not paths:
    raise ValueError(f'no image ({", ".join(IMAGE_SUFFIXES)}) in {", ".join(inputs)}')
  return list(dict.fromkeys(paths))


def annotated_path(path: str, out_dir: str, inputs_root: str = '') -> str:
  """Where `annotate` writes the copy of `path`: its path below `inputs_root` (else its file
  name) in `out_dir`, with `.png` added to the whole name (`photo.jpg` -> `photo.jpg.png`)."""
  relative = os.path.relpath(path, inputs_root) if inputs_root else ''
  if not relative or relative.startswith('..'):
    relative = os.path.basename(path)
  return os.path.join(out_dir, relative + '.png')


def inputs_root(inputs: Sequence[str]) -> str:
  """The folder the annotated copies mirror: the inputs' common folder, or '' (file names)."""
  root = os.path.commonpath([os.path.abspath(item) for item in inputs])
  return root if os.path.isdir(root) else ''


def check_annotate(out_dir: str, inputs: Sequence[str], paths: Sequence[str],
                   overwrite: bool = False) -> dict[str, str]:
  """{image: its annotated copy}, checked before any work; ValueError when `out_dir` is or lies
  in an input folder (a second run would label the copies), when a copy would replace a file
  (unless `overwrite`) or an input (always)."""
  for item in inputs:
    if os.path.isdir(item) and outputs.inside(out_dir, item):
      raise ValueError(f'--annotate {out_dir} is in the input folder {item}; choose a folder '
                       'outside the inputs, so that no image is replaced or labelled twice')
  if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
    raise ValueError(f'--annotate {out_dir} is {outputs.describe(out_dir)}; expected a folder')
  root = inputs_root(inputs)
  targets = {path: annotated_path(path, out_dir, root) for path in paths}
  for target in targets.values():
    outputs.check_new_file(target, '--annotate', overwrite, inputs=paths)
  return targets


def detect_faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
  """Every face the cascade finds, as (x, y, w, h), left to right then top to bottom."""
  found = preprocess.face_cascade().detectMultiScale(gray, SCALE_FACTOR, MIN_NEIGHBORS)
  return sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in found)


def check_batch_size(batch_size: int, name: str = 'batch_size') -> None:
  """ValueError naming `name` unless 1 <= `batch_size` <= MAX_BATCH_SIZE."""
  if not 1 <= batch_size <= MAX_BATCH_SIZE:
    raise ValueError(f'{name} {batch_size}: expected 1 to {MAX_BATCH_SIZE} faces classified at '
                     'once (each batch is padded to this size)')


def check_engine(engine: str) -> None:
  """ValueError for an unknown engine, or for onnxruntime without the onnx extra."""
  if engine not in ENGINES:
    raise ValueError(f'--engine {engine}: expected one of {", ".join(ENGINES)}')
  from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
  if engine == 'onnxruntime' and not onnx_export.runtime_available():
    raise ValueError(onnx_export.RUNTIME_MISSING)


def logits_function(student: model_files.Student, engine: str,
                    batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
  """uint8 face crops [N, size, size, 1] -> the student's logits, by `engine` ('jax' or
  'onnxruntime')."""
  if engine == 'onnxruntime':
    from jaxfer import onnx_export  # pylint: disable=g-import-not-at-top
    return onnx_export.runtime_logits(student)
  return lambda images: model_files.logits(student, images, batch_size)


class _Batcher:
  """Collects face crops and classifies them `batch_size` at a time."""

  def __init__(self, student: model_files.Student, logits: Callable[[np.ndarray], np.ndarray],
               batch_size: int):
    self.student, self.logits, self.batch_size = student, logits, batch_size
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
    probabilities = scipy.special.softmax(self.logits(images).astype(np.float64), axis=1)
    for (path, index, box, _), p in zip(self.pending, probabilities):
      self.faces.append(Face(path, index, box, self.student.class_names[int(p.argmax())],
                             tuple(float(v) for v in p)))
    self.pending = []


def max_pixels() -> int:
  """The most pixels an image may have to be decoded: Pillow's `Image.MAX_IMAGE_PIXELS` (89.5
  million by default; a library user may change it there)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  return Image.MAX_IMAGE_PIXELS or sys.maxsize


def _too_many_pixels(pixels: str) -> str:
  """Why an image of `pixels` is skipped."""
  return f'too many pixels ({pixels}; at most {max_pixels():,} are decoded)'


def why_skipped(path: str) -> str | None:
  """Why the file `path` must not be decoded (unreadable, not a regular file, too many pixels, a
  damaged JPEG or PNG), or None.

  Pillow reads every format's header without decoding the pixels, so an image too large to
  decode safely (a PNG of 20000x20000 zeros is 400 KB) is refused before OpenCV would allocate
  it; a file Pillow does not know goes to OpenCV, which has its own limit (2^30 pixels). OpenCV
  decodes a truncated JPEG without failing (libjpeg fills in grey and prints a warning that
  names no file) and a truncated PNG fails with an anonymous libpng message; Pillow reports both
  as errors, so it checks these two formats in full before OpenCV decodes them.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):  # Opening a FIFO would wait for a writer forever.
      return f'{outputs.describe(path)}, not an image file'
    with open(path, 'rb') as f:
      magic = f.read(8)
  except OSError as error:  # No permission, a dangling link, a file gone since it was listed.
    return f'cannot be read ({error.strerror or error})'
  checked = magic.startswith((b'\xff\xd8', b'\x89PNG'))
  try:
    with Image.open(path) as image:
      if image.width * image.height > max_pixels():
        pixels = f'{image.width}x{image.height} = {image.width * image.height:,}'
        return _too_many_pixels(pixels)
      if image.format == 'JPEG':
        # Decoding at 1/8 scale still reads every entropy-coded byte, at a fraction of the cost.
        image.draft('L', (1, 1))
        image.load()
      elif image.format == 'PNG':
        image.verify()  # Every chunk and its checksum, without decoding the pixels.
  except Image.DecompressionBombError:  # Over twice the limit: Pillow refuses to open it.
    return _too_many_pixels(f'over {2 * max_pixels():,}')
  except (OSError, SyntaxError, ValueError) as error:  # Pillow's kinds of damaged file.
    if not checked:
      return None  # A format Pillow does not read, or reads worse than OpenCV: OpenCV decides.
    kind = 'JPEG' if magic.startswith(b'\xff\xd8') else 'PNG'
    return f'damaged {kind} file ({error})'
  return None


def read_image(path: str) -> tuple[np.ndarray | None, str]:
  """(the decoded image, '') or (None, why it cannot be used)."""
  problem = why_skipped(path)
  if problem:
    return None, problem
  image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
  if image is None:
    return None, 'not an image OpenCV can read'
  return image, ''


class _Read(NamedTuple):
  """What one file gave: why it was skipped, or its faces' boxes and test-time crops (none
  when no face was found)."""
  path: str
  problem: str
  boxes: list[tuple[int, int, int, int]]
  crops: list[np.ndarray]


def _read_faces(path: str, student: model_files.Student, detect: bool,
                whole_image_fallback: bool) -> _Read:
  image, problem = read_image(path)
  if image is None:
    return _Read(path, problem, [], [])
  gray = preprocess.to_grayscale(image)
  whole = (0, 0, gray.shape[1], gray.shape[0])
  boxes = detect_faces(gray) if detect else [whole]
  if not boxes and whole_image_fallback:
    boxes = [whole]
  crops = [preprocess.eval_view(gray[y:y + h, x:x + w], student.image_size, student.eval_crop)
           for x, y, w, h in boxes]
  return _Read(path, '', boxes, crops)


def predict_images(student: model_files.Student, paths: Iterable[str], *, detect: bool = True,
                   whole_image_fallback: bool = False, batch_size: int = 256,
                   progress: bool = False, engine: str = 'jax',
                   threads: int | None = None) -> Outcome:
  """Labels every face of every image with `engine` ('jax' or 'onnxruntime'), files read by
  `threads` threads (default: one per core); damaged and unreadable files are skipped and
  returned with the reason (the caller reports them)."""
  check_engine(engine)
  check_batch_size(batch_size)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  batcher = _Batcher(student, logits_function(student, engine, batch_size), batch_size)
  ready = time.perf_counter()
  without_face, unreadable, read = [], [], 0
  paths = list(paths)
  pool = concurrent.futures.ThreadPoolExecutor(threads or os.cpu_count())
  bar = None
  try:
    # An image over the pixel limit is named and skipped by `why_skipped`: Pillow's warning about
    # it would be a second, anonymous line. Set here, in the main thread, for the readers.
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', Image.DecompressionBombWarning)
      found = pool.map(lambda path: _read_faces(path, student, detect, whole_image_fallback),
                       paths)
      if progress:
        from tqdm import tqdm  # pylint: disable=g-import-not-at-top
        # disable=None: a bar only on a terminal, not in a log or a captured stream. A Ctrl-C
        # while it is first drawn waits for `bar` to be set (for the loop's check), so that the
        # bar is always closed, its line ended, before the command says it was interrupted.
        with interrupts.deferred():
          found = bar = tqdm(found, total=len(paths), unit='image', desc='predict',
                             disable=None)
      for faces in found:
        interrupts.check()  # A Ctrl-C that JAX's garbage collection callback swallowed.
        if faces.problem:
          unreadable.append((faces.path, faces.problem))
          continue
        read += 1
        if not faces.boxes:
          without_face.append(faces.path)
        for index, (box, crop) in enumerate(zip(faces.boxes, faces.crops)):
          batcher.add(faces.path, index, box, crop)
  finally:
    if bar is not None:  # On Ctrl-C too: the next line on the terminal starts on its own.
      bar.close()
    # On Ctrl-C the files not yet read are dropped, not read to the end first.
    pool.shutdown(wait=True, cancel_futures=True)
  batcher.flush()
  interrupts.check()
  return Outcome(batcher.faces, read, without_face, unreadable, engine, ready - start,
                 time.perf_counter() - ready)


class Predictions(NamedTuple):
  """The most probable label of each face and every class's probability [faces, classes]."""
  labels: list[str]
  probabilities: np.ndarray
  class_names: tuple[str, ...]


def predict_arrays(student: model_files.Student | str, faces: Iterable[np.ndarray], *,
                   batch_size: int = 256, engine: str = 'jax') -> Predictions:
  """Labels face images held in memory, each already a face (no detection): an array
  [N, H, W] or [N, H, W, channels], or a list of arrays of any sizes. Pixels of any depth as
  `preprocess.to_grayscale` reads them; three or four channels are RGB(A), as Pillow and
  matplotlib give them. Each face gets the student's test-time view, as in `predict_images`.

  Args:
    student: a loaded student (`model_files.load`) or its directory.
    faces: the face images.
    batch_size: faces classified at once.
    engine: 'jax' or 'onnxruntime' (the onnx extra).

  Returns:
    Predictions, in the order of `faces`.
  """
  check_engine(engine)
  check_batch_size(batch_size)
  student = model_files.as_student(student)
  views = []
  for face in faces:
    face = np.asarray(face)
    if face.ndim == 3 and face.shape[2] in (3, 4):  # RGB(A) -> the BGR(A) OpenCV reads.
      face = face[..., [2, 1, 0, 3][:face.shape[2]]]
    if face.ndim not in (2, 3) or min(face.shape[:2]) < 1:
      raise ValueError(f'faces: expected images of shape [H, W] or [H, W, channels], got one of '
                       f'shape {face.shape}')
    views.append(preprocess.eval_view(preprocess.to_grayscale(face), student.image_size,
                                      student.eval_crop))
  if not views:
    return Predictions([], np.zeros((0, len(student.class_names))), student.class_names)
  logits = logits_function(student, engine, batch_size)(np.stack(views)[..., None])
  probabilities = scipy.special.softmax(np.asarray(logits, np.float64), axis=1)
  return Predictions([student.class_names[int(i)] for i in probabilities.argmax(axis=1)],
                     probabilities, student.class_names)


def predict_files(student: model_files.Student | str, inputs: Sequence[str],
                  **options) -> Outcome:
  """`predict_images` on the images of `inputs` (files, and folders searched for images, as the
  command does); `student` loaded or its directory; `options` those of `predict_images`."""
  student = model_files.as_student(student)
  if isinstance(inputs, str):  # One file or folder.
    inputs = [inputs]
  return predict_images(student, image_paths(inputs), **options)


def rows(faces: Sequence[Face], class_names: Sequence[str]) -> list[dict]:
  """One row per face: image, face number, box, label, then p_<class> for every class."""
  return [{'image': face.path, 'face': face.index, 'x': face.box[0], 'y': face.box[1],
           'width': face.box[2], 'height': face.box[3], 'label': face.label,
           **{f'p_{name}': round(p, 6) for name, p in zip(class_names, face.probabilities)}}
          for face in faces]


def spreadsheet_safe(value):
  """`value` with a leading single quote when it is text a spreadsheet would run as a formula
  (it starts with one of FORMULA_STARTS); anything else as it is."""
  if isinstance(value, str) and value.startswith(FORMULA_STARTS):
    return "'" + value
  return value


def write(path: str | TextIO, faces: Sequence[Face], class_names: Sequence[str],
          jsonl: bool | None = None) -> None:
  """`path` (or an open text stream, such as sys.stdout) as CSV or JSON lines (`jsonl`; by
  default when `path` ends in .jsonl). CSV cells that could start a formula are quoted for
  spreadsheets (`spreadsheet_safe`); JSON lines keep every value exact."""
  if not isinstance(path, str):
    _write_table(path, rows(faces, class_names), class_names, bool(jsonl))
    return
  with open(path, 'w', newline='') as f:
    _write_table(f, rows(faces, class_names), class_names,
                 path.endswith('.jsonl') if jsonl is None else jsonl)


def _write_table(f: TextIO, table: list[dict], class_names: Sequence[str], jsonl: bool) -> None:
  """`table` (see `rows`) on the open stream `f`, as JSON lines or as CSV."""
  if jsonl:
    f.writelines(json.dumps(row) + '\n' for row in table)
    return
  writer = csv.DictWriter(f, fieldnames=['image', 'face', 'x', 'y', 'width', 'height', 'label',
                                         *(f'p_{name}' for name in class_names)])
  writer.writeheader()
  writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in table)


def _as_bgr(image: np.ndarray) -> np.ndarray:
  """An 8-bit BGR copy of a decoded image of any depth, to draw on in colour."""
  if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4):
    return np.ascontiguousarray(image[:, :, :3])
  return cv2.cvtColor(preprocess.to_grayscale(image), cv2.COLOR_GRAY2BGR)


def annotate(targets: dict[str, str], faces: Sequence[Face],
             written: list[str] | None = None) -> list[str]:
  """Copies of the images with each face's box and label drawn, at `targets[image]` (see
  `check_annotate`); each is written whole or not at all. Returns the written paths, also
  appended to `written` one by one (what was done when Ctrl-C stops it)."""
  by_image: dict[str, list[Face]] = {}
  for face in faces:
    by_image.setdefault(face.path, []).append(face)
  written = [] if written is None else written
  for path, found in by_image.items():
    interrupts.check()  # Between copies, each whole: the copies written are all counted.
    image = _as_bgr(cv2.imread(path, cv2.IMREAD_UNCHANGED))
    thickness = max(1, min(image.shape[:2]) // 200)
    for face in found:
      x, y, w, h = face.box
      cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), (0, 200, 0), thickness)
      text = f'{face.label} {max(face.probabilities):.2f}'
      scale = max(0.4, min(image.shape[:2]) / 600)
      cv2.putText(image, text, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                  (0, 200, 0), thickness, cv2.LINE_AA)
    encoded = cv2.imencode('.png', image)[1].tobytes()

    def write_copy(temporary: str, encoded: bytes = encoded) -> None:
      with open(temporary, 'wb') as f:  # Not ndarray.tofile: its errors give no OS reason.
        f.write(encoded)

    with interrupts.deferred():  # Once in place, a copy is counted.
      outputs.write_file(targets[path], write_copy)
      written.append(targets[path])
  return written
