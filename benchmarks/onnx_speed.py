r"""Inference speed of MicroExpNet: ONNX Runtime against jaxfer, beside the paper's 1851 FPS.

    PYTHONPATH=. python benchmarks/onnx_speed.py --rounds 5

Exports MicroExpNet (the authors' CK checkpoint imported when ../shared is present, else
freshly initialised: the arithmetic is the same) with `jaxfer.onnx_export`, then times, in
alternating rounds, batch-1 latency (each call timed on its own: median and 99th percentile,
milliseconds) and batch-256 throughput (images per second) of ONNX Runtime (CPU provider, its
default threads) and of jaxfer (the jitted forward pass `jaxfer predict` uses, results
waited for). Prints one Markdown table of medians over rounds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort

from configs import default
from jaxfer import model_files
from jaxfer import onnx_export
from jaxfer import tf_import

CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
                          'shared', 'data', 'microexpnet-tf', 'Models', 'CK')


def _student(directory: str) -> model_files.Student:
  if os.path.isdir(CHECKPOINT):
    tf_import.import_checkpoint(CHECKPOINT, directory, default.get_config())
    return model_files.load(directory)
  import flax.serialization  # pylint: disable=g-import-not-at-top
  config = tf_import.student_config(default.get_config())
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  model = models.make_student(config.student, 8)
  params = model.init(jax.random.key(0), jnp.zeros((1, 84, 84, 1)))['params']
  with open(os.path.join(directory, 'params.msgpack'), 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(params))
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    f.write(config.to_json())
  return model_files.load(directory)


def _latencies(call, images, repeats: int) -> list[float]:
  out = []
  for _ in range(repeats):
    start = time.perf_counter()
    call(images)
    out.append(1000 * (time.perf_counter() - start))
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--rounds', type=int, default=5)
  ap.add_argument('--bs1_repeats', type=int, default=2000)
  ap.add_argument('--bs256_repeats', type=int, default=20)
  a = ap.parse_args()
  with tempfile.TemporaryDirectory() as directory:
    student = _student(directory)
    path = onnx_export.export(student, os.path.join(directory, 'model.onnx'))
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    forward = jax.jit(lambda params, x: student.model.apply({'params': params}, x / 255.0))
    calls = {
        'ONNX Runtime': lambda x: session.run(None, {name: x})[0],
        'jaxfer (XLA)': lambda x: jax.block_until_ready(forward(student.params, x)),
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
        latencies = _latencies(call, images[1], a.bs1_repeats)
        results[impl, 'median'].append(statistics.median(latencies))
        results[impl, 'p99'].append(float(np.percentile(latencies, 99)))
        start = time.perf_counter()
        for _ in range(a.bs256_repeats):
          call(images[256])
        results[impl, 'ips'].append(256 * a.bs256_repeats / (time.perf_counter() - start))
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
