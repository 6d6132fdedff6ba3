r"""The main job's study on twice the synthetic faces: less seed noise, twice the compute.

    jaxfer-search run --config configs/search_low_noise.py --workdir runs/search_low_noise

Four rendered images per subject and class instead of two (5,120 training and 1,280 test
images). MicroExpNet at T=8 over 10 student seeds: 78.0 +- 1.2% here against 65.4 +- 1.9% with
configs/search_default.py (benchmarks/RESULTS.md), with a teacher of 85.5% instead of 68%. Every
student and the teacher take twice as long, so the study takes about twice the main job's time
(estimated from the runs' times; not measured end to end).
"""
from configs import search_default


def get_config():
  config = search_default.get_config()
  config.data.synthetic.images_per_class = 4
  config.search.study_name = 'low_noise'
  return config
