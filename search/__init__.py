"""The search engine of jaxfer: Optuna studies over distillation temperature and student size.

Builds on `jaxfer` (which never imports it). Modules, each named for what it holds:
`pareto` (front, hypervolume, knee: pure maths), `space` (what a trial sets), `samplers`,
`storage` (where studies live, passwords masked), `configuration` (checks a search config),
`objective` (one trial: students per fold, size pruning), `workers` (running a study),
`report` and `export` (what a study leaves behind), and `cli` (the `jaxfer-search` command).
The public names below are imported on first use (PEP 562, as Optuna's own lazy imports do), so
that `jaxfer-search --help` waits neither for JAX nor for SciPy; import `search.workers` to run a
study.
"""
import importlib

_EXPORTS = {
    'front_info': 'pareto', 'hypervolume_2d': 'pareto', 'knee_index': 'pareto',
    'pareto_mask': 'pareto', 'SAMPLERS': 'samplers', 'SizeAwareSampler': 'samplers',
    'TrialSeededSampler': 'samplers', 'make_sampler': 'samplers', 'size_adjusted': 'samplers',
    'spread': 'samplers', 'PAPER_SIZES': 'space', 'PAPER_TEMPERATURES': 'space',
    'load_study': 'storage', 'redact': 'storage',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name in _EXPORTS:
    return getattr(importlib.import_module(f'search.{_EXPORTS[name]}'), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted([*globals(), *_EXPORTS])
