r"""The paper's ablations on synthetic faces, small enough to run beside the CK+48 campaign.

    jaxfer-search ablate pooling --config configs/ablation_synthetic.py \
        --workdir runs/ablate_synthetic
    jaxfer-search ablate temperature --config configs/ablation_synthetic.py \
        --workdir runs/ablate_synthetic

The main job's recipe (configs/search_default.py: 15 student epochs, the 16-epoch teacher) with
3 paired student seeds per cell: the synthetic faces have one train/test split, so the seed is
the unit of the paired tests (2 degrees of freedom). Two sizes, M and XXS, the ends of the
paper's range: the pooling ablation has 4 variants x 2 sizes x (with, without distillation) =
16 cells, the temperature ablation 2 sizes x 3 temperatures (1, 8, 64) = 6; 66 students and one
teacher: 33 + 15 minutes with two workers on a 2-core CPU, at lower priority beside the CK+48
campaign.
"""
from configs import search_default


def get_config():
  config = search_default.get_config()
  config.search.update(study_name='ablation', replicates=3)
  config.search.ablation.update(sizes=('M', 'XXS'), temperatures=(1.0, 8.0, 64.0))
  return config
