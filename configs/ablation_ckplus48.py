r"""The paper's ablations on CK+48, every cell on all 10 subject-independent folds.

    jaxfer-search ablate pooling --config configs/ablation_ckplus48.py --workdir runs/ablate_ckplus48
    jaxfer-search ablate temperature --config configs/ablation_ckplus48.py \
        --workdir runs/ablate_ckplus48
    jaxfer-search report --ablation kd --study ablation_pooling \
        --config configs/ablation_ckplus48.py --workdir runs/ablate_ckplus48

The cheaper CK+48 recipe of configs/search_ckplus48_folds3.py (no fixed crops, 16 student
epochs, teachers of 24 epochs), one seed per fold: the fold is the unit of the paired tests, so
10 folds give them 9 degrees of freedom. The pooling ablation has 4 variants x 4 sizes x (with,
without distillation) = 32 cells, the temperature ablation 4 sizes x 7 temperatures (1 to 64)
= 28: 600 students and 10 teachers, 42 + 23 minutes with two workers on a 2-core CPU when the
teachers took 17 minutes of it, one at a time; the two workers now train them side by side in
about 7 minutes, and a study on the same data finds them in the teacher store and trains none:
the pooling ablation with its teachers in the store took 20 min 30 s (benchmarks/RESULTS.md).
The distillation ablation is read from the pooling cells. Results: benchmarks/RESULTS.md and
docs/reproduction.md.
"""
from configs import search_ckplus48_folds3


def get_config():
  config = search_ckplus48_folds3.get_config()
  config.search.update(study_name='ablation', folds_per_trial=10, replicates=1)
  return config
