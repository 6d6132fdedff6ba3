"""The search engine of jaxfer: Optuna studies over distillation temperature and student size.

Builds on `jaxfer` (which never imports it). So far: the Pareto maths of a size-accuracy study,
the search space and the samplers.
"""
from search._pareto import hypervolume_2d
from search._pareto import knee_index
from search._pareto import pareto_mask
from search._samplers import SAMPLERS
from search._samplers import TrialSeededSampler
from search._samplers import make_sampler
from search._space import PAPER_SIZES
from search._space import PAPER_TEMPERATURES

__all__ = ['PAPER_SIZES', 'PAPER_TEMPERATURES', 'SAMPLERS', 'TrialSeededSampler',
           'hypervolume_2d', 'knee_index', 'make_sampler', 'pareto_mask']
