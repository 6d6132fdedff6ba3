r"""Oulu-CASIA NIR&VIS (visible light, strong illumination), 10-fold subject-independent CV.

    jaxfer distill --cv --config configs/oulu_casia.py --workdir runs/oulu \
        --config.data.manual_dir=/path/to/OuluCasia

The manual directory holds VL/Strong/P001/Anger/000.jpeg ...; the last 3 frames of every
sequence take its expression and the first frame is neutral (6 expressions + neutral).
"""
from configs import ckplus


def get_config():
  config = ckplus.get_config()
  config.data.name = 'oulu_casia'
  config.data.builder_kwargs.update(dict(modality='VL', illumination='Strong'))
  return config
