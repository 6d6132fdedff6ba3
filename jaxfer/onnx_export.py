"""A student as an ONNX model, through jax2onnx (the `onnx` extra: pip install -e ".[onnx]").

The exported graph takes what `jaxfer predict` feeds the student after preprocessing: grey
face crops of the student's input size as float32 pixels 0-255, [batch, size, size, 1], with a
dynamic batch; it returns the logits [batch, classes]. It is traced with the student's 'xla'
convolutions and pooling (`nn.Conv`, `nn.max_pool`: the same parameters and results as the
CPU-tuned 'matmul' ones, whose custom gradients ONNX has no use for), in inference mode.
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from typing import Iterator

import jax
import jax.numpy as jnp

from jaxfer import model_files
from jaxfer import models

BATCH = 'B'  # The dynamic batch dimension's name in the graph.


def require() -> None:
  """ValueError saying how to install the converter when it is missing."""
  if importlib.util.find_spec('jax2onnx') is None:
    raise ValueError('export to ONNX needs jax2onnx: pip install -e ".[onnx]"')


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


def export(student: model_files.Student, path: str) -> str:
  """Writes `student` as ONNX to `path`; returns the path."""
  require()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  size = student.image_size
  with _quiet_converter():
    from jax2onnx import to_onnx  # pylint: disable=g-import-not-at-top
    to_onnx(logits_fn(student), [(BATCH, size, size, 1)], return_mode='file', output_path=path)
  _reinfer_shapes(path)
  return path


def _reinfer_shapes(path: str) -> None:
  """Replaces the intermediate shapes recorded in the model at `path` by ONNX's own inference.

  jax2onnx keeps BatchNorm and ReLU in NCHW but records their outputs' shapes as NHWC (the
  separable family's); ONNX Runtime then warns about every such tensor when it loads the model.
  The recorded shapes are hints only: inferring them again changes no computation.
  """
  import onnx  # pylint: disable=g-import-not-at-top
  model = onnx.load(path)
  del model.graph.value_info[:]
  onnx.save(onnx.shape_inference.infer_shapes(model), path)
