r"""The CK+48 pooling ablation with 5 paired student seeds on each of the 10 folds, sizes M and XXS.

    jaxfer-search ablate pooling --config configs/ablation_ckplus48_seeds.py \
        --workdir runs/ablate_ckplus48_seeds --workers 2
    jaxfer-search report --ablation kd --study ablation_pooling \
        --config configs/ablation_ckplus48_seeds.py --workdir runs/ablate_ckplus48_seeds

configs/ablation_ckplus48.py (one seed per fold) left every pooling comparison inconclusive:
with one seed the seed noise inside each fold (about 2.5 points for one student) is most of
the spread of the per-fold differences. The power calculation of `ablate` asks for about 8 or
more seeds per fold to detect 2 points at the Holm level of 24 comparisons; 32 cells x 10 folds
x 8 seeds would take over 3 hours here, so this campaign keeps the two ends of the size range
(M and XXS: 4 poolings x 2 losses x 2 sizes = 16 cells) and 5 seeds: 800 students and the 10
fold teachers, about 90 minutes with two workers on a 2-core CPU. Results:
benchmarks/RESULTS.md and docs/reproduction.md.
"""
from configs import ablation_ckplus48


def get_config():
  config = ablation_ckplus48.get_config()
  config.search.replicates = 5
  config.search.ablation.sizes = ('M', 'XXS')
  return config
