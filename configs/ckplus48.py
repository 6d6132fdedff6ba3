r"""CK+48, subject-independent 10-fold cross-validation: a teacher per fold, MicroExpNet distilled.

    jaxfer distill --cv --config configs/ckplus48.py --workdir runs/ckplus48
    jaxfer distill --cv --config configs/ckplus48.py --workdir runs/ckplus48_nokd \
        --config.distill.loss=none

Reads ../shared/data/CK+48 (change with --config.data.manual_dir=PATH). Training images get the
paper's 8 fixed crops; test images are the centre 224/256 window. Labels use MicroExpNet's
8-class order; CK+48 has no neutral images, so that class stays empty. About 40 minutes for the
distilled run on a 2-core CPU (teachers about 3 minutes per fold), 7 without distillation.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.data.name = 'ckplus48'
  config.data.manual_dir = '../shared/data/CK+48'
  config.data.builder_kwargs.update(dict(image_size=48, face_crop=False, strict=False))
  config.data.num_folds = 10
  config.data.crops = 'paper8'
  config.data.eval_crop = 'center'

  config.teacher.num_epochs = 8
  config.teacher.augment_flip = True

  # Per-image standardisation and random shifts and flips: with 118 subjects the student
  # overfits without them. The flips and shifts come after the teacher's logits were computed on
  # the unflipped crop; an expression survives both, so those soft targets still hold.
  config.student.standardize = True
  config.student.dropout = 0.3
  config.student.num_epochs = 16
  config.student.augment_shift = 4
  config.student.augment_flip = True
  config.student.optimizer.update(learning_rate=3e-3, schedule='cosine')
  return config
