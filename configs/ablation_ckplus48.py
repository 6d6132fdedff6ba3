r"""The paper's ablations on CK+48, every cell on all 10 subject-independent folds.

    jaxfer-search ablate pooling --config configs/ablation_ckplus48.py --run_dir runs/ablate_ckplus48
    jaxfer-search ablate temperature --config configs/ablation_ckplus48.py \
        --run_dir runs/ablate_ckplus48
    jaxfer-search report --ablation kd --study ablation_pooling \
        --config configs/ablation_ckplus48.py --run_dir runs/ablate_ckplus48

The cheaper CK+48 recipe of configs/search_ckplus48_folds3.py (no fixed crops, 16 student
epochs, teachers of 24 epochs), one seed per fold: the fold is the unit of the paired tests, so
10 folds give them 9 degrees of freedom. The pooling ablation has 4 variants x 4 sizes x (with,
without distillation) = 32 cells, the temperature ablation 4 sizes x 5 temperatures (1, 4, 8,
16, 64: the default's 2 and 32 are left out to fit) = 20; with about 19 seconds per student for
each of two workers (measured in the CK+48 search comparison), the 520 students and 10 teachers
come to an estimated 1 h 30 min. The distillation ablation is read from the pooling cells.
"""
from configs import search_ckplus48_folds3


def get_config():
  config = search_ckplus48_folds3.get_config()
  config.search.update(study_name='ablation', folds_per_trial=10, replicates=1)
  config.search.ablation.temperatures = (1.0, 4.0, 8.0, 16.0, 64.0)
  return config
