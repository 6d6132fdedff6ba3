r"""A study on CK+48 whose trials are measured on 3 folds with 2 seeds each: 6 students a trial.

    PYTHONPATH=. python benchmarks/search_vs_grid.py --config configs/search_ckplus48_folds3.py \
        --workdir runs/hv_ckplus48 --samplers size-aware,tpe,gp --study_seeds 0,1,2 \
        --n_trials 9 --workers 2

The recipe of configs/search_ckplus48.py made cheaper, so that the paper's grid (28 trials, 168
student trainings) and nine sampler studies fit in about an hour and a half on a 2-core CPU:
no fixed crops (each training image once per epoch instead of the paper's 8 crops of it, with
the random shifts and flips kept) and 16 student epochs, about 7 seconds of training for a
student of MicroExpNet's size (79% on fold 0 without distillation, against 85% in 23 seconds
for the 8 crops and 8 epochs), and teachers of 24 epochs (fold 0: 87.5% in 77 seconds, against
93.8% in about 3 minutes for the 8 crops and 8 epochs). Accuracy is the mean over folds 0, 1 and 2 (36 test subjects)
and 2 student seeds; the teachers of those folds are trained once, by the first trial.
"""
from configs import search_ckplus48


def get_config():
  config = search_ckplus48.get_config()
  config.data.crops = 'none'
  config.teacher.num_epochs = 24
  config.student.num_epochs = 16
  config.search.update(study_name='ckplus48_folds3', n_trials=9, folds_per_trial=3)
  return config
