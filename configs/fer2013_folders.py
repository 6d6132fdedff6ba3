r"""FER2013 from its image folders, model choices on a validation set, the test split once.

    jaxfer distill --config configs/fer2013_folders.py --workdir runs/fer2013 \
        --config.data.manual_dir=/path/to/fer2013_folders

The folders are train/ and test/ of the public GitHub repository RecepTahirGunlu/Duygu-Tanima,
each with the class folders angry, disgust, fear, happy, neutral, sad, surprise of 48x48 JPEGs
(28,709 and 3,589 FER2013 images; the augmented copies `*.jpgN.jpg` in disgust/ are dropped).
FER2013's own 7 labels, in MicroExpNet's 8-class order (contempt stays empty).

Protocol: 10% of train/ (stratified by class, one subject per image) is a validation set; every
evaluation during training, and a search's objective, reads it, never test/. `jaxfer distill`
then evaluates the final student once on test/ (WORKDIR/student/test_result.json) and prints
both accuracies. On a 2-core CPU: preparing the dataset 15 s (once), a teacher epoch 26 s, a
student epoch 3.5 s: 6 to 11 minutes in all (10.5 measured with other work on the cores), for
a teacher at 55% and a student at 48% validation, 49% test accuracy (benchmarks/RESULTS.md).
"""
from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'fer2013'
  config.data.image_size = 48
  config.data.builder_kwargs.update(dict(image_size=48, ferplus=''))
  config.data.train_split = 'train'
  config.data.test_split = 'test'
  config.data.validation_fraction = 0.1

  config.teacher.num_epochs = 10
  config.teacher.batch_size = 128
  config.teacher.augment_flip = True

  # As configs/ckplus48.py: standardised input, random shifts and flips, a cosine schedule.
  config.student.standardize = True
  config.student.dropout = 0.3
  config.student.num_epochs = 20
  config.student.batch_size = 128
  config.student.augment_shift = 4
  config.student.augment_flip = True
  config.student.optimizer.update(learning_rate=3e-3, schedule='cosine')
  return config
