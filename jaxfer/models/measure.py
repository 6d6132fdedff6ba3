"""What a student costs: its size in bytes (known before it trains) and its batch-1 latency."""
from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfer.models import families


def student_size_bytes(student_config: Any, image_size: int, num_classes: int = 8) -> int:
  """Bytes of the float32 parameters of `config.student` at `image_size`, from shapes alone.

  Parameters are what training learns (the `params` collection): BatchNorm's scale and offset
  count, its running statistics (`batch_stats`, derived from the data) do not.
  """
  model = families.make_student(student_config, num_classes)
  image = jnp.zeros((1, image_size, image_size, 1))
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), image))
  return int(4 * sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(shapes['params'])))


def latency_ms(student_config: Any, image_size: int, num_classes: int = 8,
               repeats: int = 50) -> float:
  """Median milliseconds of one batch-1 inference of the student, compile time excluded.

  Latency depends on the architecture only, so freshly initialised parameters are timed.
  """
  model = families.make_student(student_config, num_classes)
  image = jnp.zeros((1, image_size, image_size, 1), jnp.float32)
  variables = model.init(jax.random.key(0), image)
  apply = jax.jit(model.apply)
  apply(variables, image).block_until_ready()  # Compile outside the timing.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    apply(variables, image).block_until_ready()
    times.append(time.perf_counter() - start)
  return float(np.median(times) * 1000)
