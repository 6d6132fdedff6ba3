r"""The official CK+ release, 10-fold subject-independent cross-validation, as in the paper.

    jaxfer distill --cv --config configs/ckplus.py --workdir runs/ckplus \
        --config.data.manual_dir=/path/to/CK+

The manual directory holds cohn-kanade-images/ and Emotion/ as unzipped from the CK+ release.
The last 3 frames of each labelled sequence take its emotion, the first frame of every sequence
is neutral (8 classes); faces are found with OpenCV's Haar cascade and stored at 256x256.
"""
from configs import ckplus48


def get_config():
  config = ckplus48.get_config()
  config.data.name = 'ckplus'
  config.data.manual_dir = ''
  config.data.builder_kwargs.update(dict(image_size=256, face_crop=True, peak_frames=3,
                                         neutral_frames=1))
  config.data.eval_crop = 'paper'  # The original exampleUsage.py: the 224 window at (32, 32).
  return config
