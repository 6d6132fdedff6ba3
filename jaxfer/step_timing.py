"""A student's training step set up to be timed, and the clocks that time it.

`StepSetup` builds the network, its train state and random batches once, so that what the
benchmarks time afterwards is the step alone. The clocks wait for the results (JAX dispatches
asynchronously), so they stop when the work is done, not when it was queued.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np

from jaxfer import loop
from jaxfer import models
from jaxfer import optimizers

FEEDS = ('device', 'numpy')


def model_names() -> list[str]:
  """What `StepSetup(model=...)` accepts: the student families and the teachers."""
  return [*models.REFERENCE_STUDENTS, *models.TEACHERS]


class StepSetup:
  """A network's training step and its inputs: `model` names a student family (its reference
  member, `models.REFERENCE_STUDENTS`: MicroExpNet, p12 pooling and squeeze 16, by default) or a
  teacher (`models.TEACHERS`, with its defaults).

  The train state has Adam at a constant learning rate of 1e-4; the data are `steps` batches of
  `batch` random uint8 images, labels and teacher logits held in memory (`batches`, as one
  device array each with `feed` 'device', or host numpy slices as `jaxfer.loop.fit` passes
  them with 'numpy'); the step's other inputs are `dropout_rng` and `hparams`: a student's
  'microexpnet' loss at temperature 8 and lam 0.5, a teacher's cross-entropy ('none'). `infer`
  holds the first images at each batch size of `inference_sizes`, on the device. Training
  replaces `state`.
  """

  def __init__(self, batch: int = 64, steps: int = 100, size: int = 84, classes: int = 8,
               conv_impl: str | None = None, feed: str = 'device',
               inference_sizes: Sequence[int] = (), model: str = 'microexpnet'):
    if feed not in FEEDS:
      raise ValueError(f'feed {feed!r}: expected one of {", ".join(FEEDS)}')
    if model not in model_names():
      raise ValueError(f'model {model!r}: expected one of {", ".join(model_names())}')
    self.is_teacher = model in models.TEACHERS
    kwargs = {} if conv_impl is None else {'conv_impl': conv_impl}
    networks = models.TEACHERS if self.is_teacher else models.REFERENCE_STUDENTS
    self.model = networks[model](num_classes=classes, **kwargs)
    optimizer_config = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, schedule='constant', weight_decay=0.0, warmup_epochs=0))
    tx = optimizers.make_optimizer(optimizer_config, steps, 1)
    self.state = loop.create_train_state(self.model, (size, size, 1), tx, jax.random.key(0))
    self.params = models.count_params(self.state.params)
    rng = np.random.default_rng(0)
    n = steps * batch
    self.images = rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8)
    labels = rng.integers(0, classes, (n,), dtype=np.int32)
    teacher = rng.normal(size=(n, classes)).astype(np.float32)
    self.batches = []
    for i in range(steps):
      s = slice(i * batch, (i + 1) * batch)
      batch_arrays = {'image': self.images[s], 'label': labels[s], 'teacher_logits': teacher[s]}
      if feed == 'device':
        batch_arrays = jax.device_put(batch_arrays)
      self.batches.append(batch_arrays)
    self.batch_size = batch
    self.dropout_rng = jax.random.key(1)
    self.hparams = (loop.StepHparams.create('none') if self.is_teacher else
                    loop.StepHparams.create('microexpnet', temperature=8.0, lam=0.5))
    self.infer = {bs: jax.device_put(self.images[:bs]) for bs in inference_sizes}


def seconds(call: Callable[[], Any], repeats: int = 1) -> float:
  """Wall seconds of `repeats` calls of `call()` in a row, the last result waited for."""
  start = time.perf_counter()
  out = None
  for _ in range(repeats):
    out = call()
  jax.block_until_ready(out)
  return time.perf_counter() - start


def ms_per_call(call: Callable[[], Any], repeats: int) -> float:
  """Milliseconds per call over `repeats` calls (dispatch included, waited for at the end)."""
  return seconds(call, repeats) / repeats * 1e3


def latencies_ms(call: Callable[[], Any], repeats: int) -> list[float]:
  """Milliseconds of each of `repeats` calls, each timed on its own, its result waited for."""
  return [seconds(call) * 1e3 for _ in range(repeats)]


def cores_busy(call: Callable[[], Any]) -> tuple[float, float]:
  """(wall seconds of `call()`, waited for; the cores the process kept busy meanwhile: its CPU
  seconds over the wall seconds)."""
  before = _cpu_seconds()
  wall = seconds(call)
  return wall, (_cpu_seconds() - before) / wall


def _cpu_seconds() -> float:
  times = os.times()
  return times.user + times.system
