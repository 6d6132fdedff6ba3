"""The search engine of jaxfer: Optuna studies over distillation temperature and student size.

Builds on `jaxfer` (which never imports it): the Pareto maths of a size-accuracy study, the
search space, the samplers, the study runner and its reports (`search.cli` is the command).
"""
from search._pareto import hypervolume_2d
from search._pareto import knee_index
from search._pareto import pareto_mask
from search._samplers import SAMPLERS
from search._samplers import SizeAwareSampler
from search._samplers import TrialSeededSampler
from search._samplers import make_sampler
from search._samplers import size_adjusted
from search._samplers import spread
from search._space import PAPER_SIZES
from search._space import PAPER_TEMPERATURES

__all__ = ['PAPER_SIZES', 'PAPER_TEMPERATURES', 'SAMPLERS', 'SizeAwareSampler',
           'TrialSeededSampler', 'hypervolume_2d', 'knee_index', 'make_sampler', 'pareto_mask',
           'size_adjusted', 'spread']
