"""The authors' pre-trained MicroExpNet (TensorFlow 1 checkpoints) as a jaxfer student.

The original network (MicroExpNet.py, v1.7) is jaxfer's `ExpNet` with pooling 'p12', squeeze 16
and width 1: 8x8 stride-2 SAME convolution, ReLU, 2x2 SAME max-pool, 4x4 stride-2 convolution,
ReLU, max-pool, flatten (NHWC order, as tf.reshape), FC 48 with ReLU, FC 8. It sees raw 0-255
grey pixels, where jaxfer's students see pixels / 255; the convolution is linear in its input,
so the imported conv1 kernel is the original times 255 and the logits are the original's.
"""
from __future__ import annotations

import os

import ml_collections
import numpy as np

from jaxfer import artifacts
from jaxfer import outputs
from jaxfer import tf_checkpoint
from jaxfer.data.classes import CLASS_NAMES  # The original's labels, in its order.

# The checkpoint's variable of each jaxfer parameter.
VARIABLES = {('conv1', 'kernel'): 'wc1', ('conv1', 'bias'): 'bc1',
             ('conv2', 'kernel'): 'wc2', ('conv2', 'bias'): 'bc2',
             ('fc', 'kernel'): 'wfc', ('fc', 'bias'): 'bfc',
             ('out', 'kernel'): 'wo', ('out', 'bias'): 'bo'}
PIXEL_SCALE = 255.0  # The original's input range over jaxfer's.
FILES = ('params.msgpack', 'config.json', 'source.json')  # What an import writes.


def student_config(base: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`base` (configs/default.py) with the original MicroExpNet as its student."""
  config = ml_collections.ConfigDict(base.to_dict())
  config.data.image_size = 84
  config.data.eval_crop = 'paper'  # exampleUsage.py: the window [32:256, 32:256] of the face.
  config.student.update(family='microexpnet', pooling='p12', squeeze=16.0, width=1.0,
                        dropout=0.0, standardize=False)
  return config


def params_from_checkpoint(arrays: dict[str, np.ndarray], config: ml_collections.ConfigDict,
                           source: str = 'the checkpoint'):
  """jaxfer parameters from the checkpoint's arrays; ValueError naming `source` and a variable
  whose shape is not MicroExpNet's."""
  # Here, not at the top: a refused import answers without the seconds JAX takes to load.
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  model = models.make_student(config.student, len(CLASS_NAMES))
  image = jnp.zeros((1, config.data.image_size, config.data.image_size, 1))
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), image))['params']
  params = {}
  for (layer, name), variable in VARIABLES.items():
    expected = tuple(shapes[layer][name].shape)
    value = np.asarray(arrays[variable], np.float32)
    if value.shape != expected:
      raise ValueError(f'{source}: its {variable} has the shape {value.shape}; MicroExpNet\'s '
                       f'{layer} {name} is {expected}: not a MicroExpNet checkpoint')
    if (layer, name) == ('conv1', 'kernel'):
      value = value * np.float32(PIXEL_SCALE)
    params.setdefault(layer, {})[name] = value
  return params


def import_checkpoint(checkpoint: str, out_dir: str, base: ml_collections.ConfigDict,
                      overwrite: bool = False) -> dict[str, str]:
  """Writes the authors' checkpoint as a jaxfer student folder.

  Args:
    checkpoint: the checkpoint's folder (or its prefix; see `tf_checkpoint.locate`).
    out_dir: a new or empty folder; with `overwrite`, also a folder holding only `FILES`.
    base: the config the student's config.json is derived from (configs/default.py).
    overwrite: replace `out_dir` if it holds an earlier import.

  Returns:
    The paths of `FILES` by name, 'checkpoint' (the prefix read) and 'checkpoint_found' (how
    it was found).

  Raises:
    ValueError: one line naming the file or folder at fault, before anything is written. The
      old `out_dir` is replaced only once the new one is complete.
  """
  outputs.check_new_dir(out_dir, 'the output folder', overwrite, expected=FILES)
  location = tf_checkpoint.locate(checkpoint)
  arrays = tf_checkpoint.read(location.prefix, sorted(VARIABLES.values()))
  config = student_config(base)
  params = params_from_checkpoint(arrays, config, source=location.prefix)
  prefix = os.path.abspath(location.prefix)

  def write(folder: str) -> None:
    import flax.serialization  # pylint: disable=g-import-not-at-top
    with open(os.path.join(folder, 'params.msgpack'), 'wb') as f:
      f.write(flax.serialization.msgpack_serialize(params))
    with open(os.path.join(folder, 'config.json'), 'w') as f:
      f.write(config.to_json(indent=2))
    artifacts.write_json(os.path.join(folder, 'source.json'), {
        'checkpoint': prefix, 'checkpoint_found': location.found, 'class_names': CLASS_NAMES,
        'input': 'grey 84x84 face crops; pixels 0-255 as uint8 (jaxfer divides by 255 and the '
                 'conv1 kernel is scaled by 255 to match the original)'})

  outputs.write_dir(out_dir, write)
  return {**{name: os.path.join(out_dir, name) for name in FILES},
          'checkpoint': prefix, 'checkpoint_found': location.found}
