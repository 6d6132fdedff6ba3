r"""Inference speed of MicroExpNet: ONNX Runtime against jaxfer, beside the paper's 1851 FPS.

    PYTHONPATH=. python benchmarks/onnx_speed.py --rounds 5
    PYTHONPATH=. python benchmarks/onnx_speed.py --rounds 1 --bs1_repeats 3 --bs256_repeats 1 \
        --fresh      # the smallest run, seconds

Exports MicroExpNet (the authors' CK checkpoint imported when ../shared is present, else
with random parameters, or with --fresh: the arithmetic is the same) with `jaxfer.onnx_export`,
then times, in alternating rounds, batch-1 latency (each call timed on its own: median and 99th
percentile, milliseconds) and batch-256 throughput (images per second) of ONNX Runtime (CPU
provider, its default threads) and of jaxfer (`jaxfer.model_files.logits`, the forward pass
`jaxfer predict` uses, logits back in host memory as ONNX Runtime gives them). Both get the same
float32 pixels 0-255. Prints one Markdown table of medians over rounds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from configs import default
from jaxfer import model_files
from jaxfer import onnx_export
from jaxfer import step_timing
from jaxfer import tf_import
from jaxfer.data import classes

CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                          'shared', 'data', 'microexpnet-tf', 'Models', 'CK')


def _student(directory: str, fresh: bool) -> model_files.Student:
  """The authors' CK checkpoint imported into `directory`, or (`fresh`, or no checkpoint)
  MicroExpNet as it imports with random parameters (drawn on the host: `model.init` compiles a
  program of its own, seconds on a CPU, and the timings do not depend on values)."""
  if os.path.isdir(CHECKPOINT) and not fresh:
    tf_import.import_checkpoint(CHECKPOINT, directory, default.get_config())
    return model_files.load(directory)
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  config = tf_import.student_config(default.get_config())
  size = config.data.image_size
  model = models.make_student(config.student, len(classes.CLASS_NAMES))
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, size, size, 1)))['params']
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda leaf: 0.1 * rng.standard_normal(leaf.shape, np.float32), shapes)
  return model_files.Student(model, params, classes.CLASS_NAMES, size,
                             config.data.eval_crop, directory)


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--rounds', type=int, default=5)
  ap.add_argument('--bs1_repeats', type=int, default=2000)
  ap.add_argument('--bs256_repeats', type=int, default=20)
  ap.add_argument('--fresh', action='store_true',
                  help='time a freshly initialised MicroExpNet even where the checkpoint is')
  a = ap.parse_args(argv)
  ort = onnx_export.import_runtime()  # Telemetry off, as the commands have it.
  with tempfile.TemporaryDirectory() as directory:
    student = _student(directory, a.fresh)
    path = onnx_export.export(student, os.path.join(directory, 'model.onnx'))
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    calls = {
        'ONNX Runtime': lambda x: session.run(None, {name: x})[0],
        'jaxfer (XLA)': lambda x: model_files.logits(student, x, len(x)),
    }
    rng = np.random.default_rng(0)
    images = {bs: rng.integers(0, 256, (bs, 84, 84, 1)).astype(np.float32) for bs in (1, 256)}
    for call in calls.values():  # Compiles and warms up.
      for bs in (1, 256):
        for _ in range(5):
          call(images[bs])
    results = {(impl, k): [] for impl in calls for k in ('median', 'p99', 'ips')}
    for _ in range(a.rounds):
      for impl, call in calls.items():
        latencies = step_timing.latencies_ms(lambda call=call: call(images[1]), a.bs1_repeats)
        results[impl, 'median'].append(statistics.median(latencies))
        results[impl, 'p99'].append(float(np.percentile(latencies, 99)))
        results[impl, 'ips'].append(256 * a.bs256_repeats / step_timing.seconds(
            lambda call=call: call(images[256]), a.bs256_repeats))
  median = {key: statistics.median(values) for key, values in results.items()}
  print(f'MicroExpNet, 84x84, {os.cpu_count()} CPUs, onnxruntime {ort.__version__}, jax '
        f'{jax.__version__}, medians of {a.rounds} rounds\n')
  print('| | batch-1 median (ms) | batch-1 p99 (ms) | batch-1 frames/s (1 / median) | '
        'batch-256 images/s |')
  print('| --- | ---: | ---: | ---: | ---: |')
  for impl in calls:
    print(f'| {impl} | {median[impl, "median"]:.3f} | {median[impl, "p99"]:.3f} | '
          f'{1000 / median[impl, "median"]:,.0f} | {median[impl, "ips"]:,.0f} |')
  print('| paper (Intel i7, TensorFlow 1) | | | 1,851 | |')
  ratio = median['ONNX Runtime', 'median'] / median['jaxfer (XLA)', 'median']
  print(f'\nbatch-1 latency, ONNX Runtime / jaxfer: {ratio:.2f}; batch-256 throughput, '
        f'ONNX Runtime / jaxfer: '
        f'{median["ONNX Runtime", "ips"] / median["jaxfer (XLA)", "ips"]:.2f}')


if __name__ == '__main__':
  main()
