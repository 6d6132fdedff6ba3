r"""FER2013 with FER+ labels: train on Training, test on PublicTest; FER+ votes as soft targets.

    jaxfer distill --config configs/fer2013.py --workdir runs/fer2013 \
        --config.data.manual_dir=/path/to/fer2013

The manual directory holds fer2013.csv (Kaggle) and fer2013new.csv (FER+). With
`distill.source='soft_labels'` the student is distilled from the human vote distribution
instead of a teacher network; set it to 'teacher' to train a teacher as usual.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'fer2013'
  config.data.builder_kwargs.update(dict(image_size=48, ferplus='soft'))
  config.data.test_split = 'public_test'
  config.distill.source = 'soft_labels'
  config.distill.temperature = 1.0
  config.student.num_epochs = 30
  return config
