"""Distillation from a dataset's own label distribution (FER+ votes) instead of a teacher."""
import os

import jax
import numpy as np
import pytest

from configs import fer2013 as fer2013_config
from jaxfer import data as data_lib
from jaxfer import train

from test_builders_fer_folder import _write_fer

# emotion, Usage, FER+ votes (neutral, happiness, surprise, sadness, anger, disgust, fear,
# contempt, unknown, NF): 9 training rows with mixed votes (the mock breaks row 7), 2 public-test
# rows.
ROWS = tuple((k % 7, 'Training', (*np.roll([6, 4, 0, 0, 0, 0, 0, 0], k), 0, 0))
             for k in range(9)) + tuple((3, 'PublicTest', (0, 10, 0, 0, 0, 0, 0, 0, 0, 0))
                                        for _ in range(2))


@pytest.fixture
def config(tmp_path):
  config = fer2013_config.get_config()
  config.data.manual_dir = str(_write_fer(tmp_path / 'fer', ROWS))
  config.data.data_dir = str(tmp_path / 'tfds')
  config.data.image_size = 48
  config.student.update(num_epochs=1, batch_size=4)
  config.eval_batch_size = 8
  return config


def test_soft_labels_become_the_soft_targets_and_no_teacher_is_trained(config, tmp_path):
  dataset = data_lib.load(config.data)
  soft = dataset.train['soft_label']
  assert soft.shape == (8, 8)
  recovered = jax.nn.softmax(train._soft_label_logits(dataset), axis=-1)
  np.testing.assert_allclose(recovered, soft, atol=1e-5)
  result = train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert result.teacher_accuracy is None
  assert not os.path.exists(tmp_path / 'run' / 'teacher')
  assert result.data['test_split'] == 'public_test'
  assert sum(map(sum, result.confusion_matrix)) == 2


def test_soft_labels_on_a_dataset_without_them_is_a_clear_error(test_config, tmp_path):
  test_config.distill.source = 'soft_labels'
  with pytest.raises(ValueError, match="config.distill.source = 'soft_labels' needs a dataset"):
    train.train_and_evaluate(test_config, str(tmp_path))
