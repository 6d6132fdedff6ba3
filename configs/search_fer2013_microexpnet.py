r"""The baseline of configs/search_fer2013.py: the same study with MicroExpNet students only.

    jaxfer-search run --config configs/search_fer2013_microexpnet.py \
        --workdir runs/search_fer2013 --config.data.manual_dir=/path/to/fer2013_folders

In the family study's run directory it reuses that study's teacher; `jaxfer-search compare`
then draws both fronts on one figure (configs/search_fer2013.py). MicroExpNet trials take well
under a minute each on a 2-core CPU.
"""
from configs import search_fer2013


def get_config():
  config = search_fer2013.get_config()
  config.search.study_name = 'microexpnet'
  space = config.search.space.to_dict()
  space['family'] = 'microexpnet'  # Fixed: no family parameter, MicroExpNet's width range.
  config.search.space = space
  return config
