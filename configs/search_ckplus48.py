r"""A study on CK+48: temperature, width and lambda against the paper's grid, one fold per trial.

    jaxfer-search run --config configs/search_ckplus48.py --workdir runs/search_ckplus48
    jaxfer-search run --config configs/search_ckplus48.py --workdir runs/search_ckplus48 \
        --config.search.sampler=grid-paper --config.search.study_name=grid

The training recipe is configs/ckplus48.py with 8 student epochs instead of 16 (and a warm-up),
so one student of MicroExpNet's size takes about a minute on a 2-core CPU, and a trial trains
it with 2 seeds (config.search.replicates; the fold's teacher, trained once by the first trial,
about 3 minutes). Accuracy is that of fold 0's 12 test subjects. The CK+48 recipe keeps its
dropout of 0.3: the search configs' no-dropout finding was measured on synthetic faces only.
"""
from configs import ckplus48
from configs import search_default


def get_config():
  config = ckplus48.get_config()
  config.student.num_epochs = 8
  # One epoch of warm-up, as in configs/search_default.py: wide students trained at 3e-3 from
  # the first step may never leave chance accuracy.
  config.student.optimizer.update(schedule='warmup_cosine', warmup_epochs=1)
  config.search = search_default.search_settings()
  config.search.update(study_name='ckplus48', n_trials=28, folds_per_trial=1)
  return config
