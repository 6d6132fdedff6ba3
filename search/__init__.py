"""The search engine of jaxfer: Optuna studies over distillation temperature and student size.

Builds on `jaxfer` (which never imports it). Modules, each named for what it holds:
`pareto` (front, hypervolume, knee: pure maths), `space` (what a trial sets), `samplers`,
`storage` (where studies live, passwords masked), `configuration` (checks a search config),
`objective` (one trial: students per fold, size pruning), `workers` (running a study),
`report` and `export` (what a study leaves behind), and `cli` (the `jaxfer-search` command).
Only the light modules are re-exported here, so that `jaxfer-search --help` and its input errors
do not wait for orbax and the training code; import `search.workers` to run a study.
"""
from search.pareto import front_info, hypervolume_2d, knee_index, pareto_mask
from search.samplers import SAMPLERS, SizeAwareSampler, TrialSeededSampler, make_sampler
from search.samplers import size_adjusted, spread
from search.space import PAPER_SIZES, PAPER_TEMPERATURES
from search.storage import load_study, redact

__all__ = ['PAPER_SIZES', 'PAPER_TEMPERATURES', 'SAMPLERS', 'SizeAwareSampler',
           'TrialSeededSampler', 'front_info', 'hypervolume_2d', 'knee_index', 'load_study',
           'make_sampler', 'pareto_mask', 'redact', 'size_adjusted', 'spread']
