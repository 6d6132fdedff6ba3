r"""A tiny end-to-end run for tests: small images, few subjects, two epochs each; seconds on a CPU.

    jaxfer distill --config configs/test.py --workdir /tmp/jaxfer-test
"""
from configs import default


def get_config():
  config = default.get_config()
  config.data.image_size = 48
  config.data.synthetic.update(train_subjects=8, test_subjects=4, images_per_class=2)
  config.teacher.resnet_small.stage_features = (8, 16)
  config.teacher.num_epochs = 2
  config.teacher.batch_size = 32
  config.student.num_epochs = 3
  config.student.batch_size = 32
  config.eval_every_epochs = 1
  return config
