"""A student as an ONNX model, through jax2onnx (the `onnx` extra: pip install -e ".[onnx]").

The exported graph takes what `jaxfer predict` feeds the student after preprocessing: grey
face crops of the student's input size as float32 pixels 0-255, [batch, size, size, 1], with a
dynamic batch; it returns the logits [batch, classes]. It is traced with the student's 'xla'
convolutions and pooling (`nn.Conv`, `nn.max_pool`: the same parameters and results as the
CPU-tuned 'matmul' ones, whose custom gradients ONNX has no use for), in inference mode.

`runtime_logits` runs that graph in ONNX Runtime for `jaxfer predict`; the graph is converted
once per student and kept in `cache_dir()`, never in the student's folder. ONNX Runtime is
imported with its telemetry off (`import_runtime`): it would otherwise write a device id and a
database under ~/.cache/Microsoft/DeveloperTools on import.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from jaxfer import model_files
from jaxfer import models
from jaxfer import xla_cache

BATCH = 'B'  # The dynamic batch dimension's name in the graph.


def require() -> None:
  """ValueError saying how to install the converter when it is missing."""
  if importlib.util.find_spec('jax2onnx') is None:
    raise ValueError('export to ONNX needs jax2onnx: pip install -e ".[onnx]"')


RUNTIME_MISSING = ('--engine onnxruntime needs jax2onnx and onnxruntime: '
                   'pip install -e ".[onnx]"')


def runtime_available() -> bool:
  """Whether the converter and ONNX Runtime (the `onnx` extra) are installed."""
  return all(importlib.util.find_spec(name) for name in ('jax2onnx', 'onnxruntime'))


def import_runtime():
  """The onnxruntime module, imported with its telemetry off unless the environment already says
  otherwise (ORT_DISABLE_TELEMETRY, read once, on import: disable_telemetry_events() comes too
  late to stop the files written then)."""
  os.environ.setdefault('ORT_DISABLE_TELEMETRY', '1')
  import onnxruntime  # pylint: disable=g-import-not-at-top
  return onnxruntime


def cache_dir() -> str:
  """$JAXFER_CACHE_DIR/onnx (default ~/.cache/jaxfer/onnx): converted students, by digest."""
  return os.path.join(xla_cache.cache_root(), 'onnx')


def digest(student: model_files.Student) -> str:
  """What the converted graph depends on: the network's settings, its input size, every
  parameter and statistic, and the converter's version."""
  from flax import serialization  # pylint: disable=g-import-not-at-top
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  key = hashlib.sha256(repr((student.model.clone(conv_impl='xla'), student.image_size,
                             metadata.version('jax2onnx'))).encode())
  key.update(serialization.to_bytes(student.variables))
  return key.hexdigest()


def runtime_logits(student: model_files.Student) -> Callable[[np.ndarray], np.ndarray]:
  """A function from uint8 face crops [N, size, size, 1] to the student's logits, computed by
  ONNX Runtime; the graph comes from `cache_dir()`, converted and stored there first when new
  (or only in memory when that folder cannot be written)."""
  if not runtime_available():
    raise ValueError(RUNTIME_MISSING)
  onnxruntime = import_runtime()
  path = os.path.join(cache_dir(), digest(student) + '.onnx')
  if os.path.isfile(path):
    source = path
  else:
    source = graph(student).SerializeToString()
    temporary = f'{path}.{os.getpid()}.tmp'
    try:
      os.makedirs(cache_dir(), exist_ok=True)
      with open(temporary, 'wb') as f:
        f.write(source)
      os.replace(temporary, path)  # Whole or not at all, for processes converting at once.
    except OSError as error:
      logging.getLogger('jaxfer').warning('ONNX graph not cached: %s cannot be written (%s)',
                                          cache_dir(), error.strerror or error)
    finally:
      if os.path.exists(temporary):  # A full disk or Ctrl-C: no partial graph left behind.
        os.remove(temporary)
  options = onnxruntime.SessionOptions()
  options.log_severity_level = 3  # Errors only: its warnings name no file the user has.
  session = onnxruntime.InferenceSession(source, options, providers=['CPUExecutionProvider'])
  name = session.get_inputs()[0].name
  return lambda images: session.run(None, {name: np.asarray(images, np.float32)})[0]




def logits_fn(student: model_files.Student):
  """The function exported: pixels 0-255 [B, size, size, 1] -> logits, with 'xla' layers."""
  model = student.model.clone(conv_impl='xla')
  # BatchNorm (the separable family) runs on its running statistics, as `train=False` says.
  variables = jax.tree.map(jnp.asarray, student.variables)
  return lambda images: model.apply(variables, models.normalize_pixels(images), train=False)


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
  """The root logger at WARNING and onnx_ir's at ERROR inside, both as they were after."""
  # jax2onnx logs its parameters and optional plugins at INFO on the root logger, and onnx_ir
  # warns about every shape constant it leaves untyped (the model is unaffected): neither is
  # for the user, whose INFO log (and stdout) they would fill.
  quieter = {logging.getLogger(): logging.WARNING, logging.getLogger('onnx_ir'): logging.ERROR}
  levels = {logger: logger.level for logger in quieter}
  try:
    for logger, level in quieter.items():
      logger.setLevel(level)
    yield
  finally:
    for logger, level in levels.items():
      logger.setLevel(level)


def graph(student: model_files.Student):
  """`student` as an ONNX ModelProto (the graph `export` writes)."""
  require()
  import onnx  # pylint: disable=g-import-not-at-top
  size = student.image_size
  with _quiet_converter():
    from jax2onnx import to_onnx  # pylint: disable=g-import-not-at-top
    model = to_onnx(logits_fn(student), [(BATCH, size, size, 1)], return_mode='proto')
  # jax2onnx keeps BatchNorm and ReLU in NCHW but records their outputs' shapes as NHWC (the
  # separable family's); ONNX Runtime then warns about every such tensor when it loads the
  # model. The recorded shapes are hints only: inferring them again changes no computation.
  del model.graph.value_info[:]
  return onnx.shape_inference.infer_shapes(model)


def export(student: model_files.Student, path: str) -> str:
  """Writes `student` as ONNX to `path`; returns the path."""
  model = graph(student)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(model.SerializeToString())
  return path
