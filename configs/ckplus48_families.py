r"""CK+48, all 10 subject-independent folds: the separable family against MicroExpNet at equal size.

    jaxfer distill --cv --config configs/ckplus48_families.py --workdir runs/families_microexpnet
    jaxfer distill --cv --config configs/ckplus48_families.py --workdir runs/families_separable \
        --config.student.family=separable \
        --config.teacher.artifact='runs/families_microexpnet/fold_{fold}/teacher'
    PYTHONPATH=. python benchmarks/cv_compare.py \
        --student 'MicroExpNet, width 1=runs/families_microexpnet' \
        --student 'separable, width 1, depth 4=runs/families_separable' \
        --json runs/families_ckplus48.json

The recipe of the CK+48 ablations (configs/ablation_ckplus48.py: no fixed crops, teachers of
24 epochs, 16 student epochs), so MicroExpNet's row is the one those ablations measured. At
84x84, MicroExpNet (width 1, pooling after both convolutions) holds 260 KB of float32
parameters and the separable family at width 1, depth 4 (MiniXception) 232 KB: the nearest
separable member. The second run distills from the first run's teachers, so both students of a fold
learn from the same teacher and the comparison is paired over the folds; the separable family
has no dropout, pooling or squeeze of its own and ignores those settings. About 16 minutes for
the first run (the ten teachers) and 18 for the second on a 2-core CPU (both measured beside
other work). Results: benchmarks/RESULTS.md and docs/reproduction.md.
"""
from configs import search_ckplus48_folds3


def get_config():
  config = search_ckplus48_folds3.get_config()
  # The search settings come with the recipe; `jaxfer distill` does not read them.
  return config
