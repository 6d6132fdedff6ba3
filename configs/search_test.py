r"""A tiny study for tests: configs/test.py over 2 folds, 3 trials of seconds each."""
from configs import search_default
from configs import test


def get_config():
  config = test.get_config()
  config.data.num_folds = 2
  config.search = search_default.search_settings()
  # One seed per fold keeps the tests quick; tests of replicates set their own.
  config.search.update(study_name='test', n_trials=3, folds_per_trial=2, latency_repeats=5,
                       replicates=1)
  return config
