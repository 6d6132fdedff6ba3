"""A student on disk, in any of the forms jaxfer writes, loaded for inference.

  * a trained student: a directory holding `checkpoints/` (orbax), `config.json` and
    `result.json`, i.e. WORKDIR/student of `jaxfer distill`, or a workdir holding `student/`;
  * an exported or imported one: `params.msgpack` with `config.json`, and `result.json`
    (`jaxfer-search export-best`) or `source.json` (`jaxfer import-tf`) naming the classes;
    a network with BatchNorm (the separable family) has its running statistics in
    `batch_stats.msgpack` beside them.

Either way the config gives the network (`student`) and its input (`data.image_size`,
`data.eval_crop`); averaged parameters are used where training kept them.
"""
from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple

import ml_collections
import numpy as np

from jaxfer import artifacts
from jaxfer import checkpoints
from jaxfer import models
from jaxfer.data import classes
from jaxfer.data import preprocess


# Where an exported student keeps BatchNorm's running statistics, beside params.msgpack.
BATCH_STATS_FILE = 'batch_stats.msgpack'


class Student(NamedTuple):
  """A loaded student: its network, parameters, class names, input settings and BatchNorm
  statistics (None for a network without BatchNorm)."""
  model: Any  # One of models.FAMILIES' networks.
  params: Any
  class_names: tuple[str, ...]
  image_size: int
  eval_crop: str
  directory: str
  batch_stats: Any = None

  @property
  def variables(self) -> dict[str, Any]:
    """What `model.apply` takes: the parameters, and the statistics where there are any."""
    if self.batch_stats:
      return {'params': self.params, 'batch_stats': self.batch_stats}
    return {'params': self.params}


def _class_names(directory: str, num_classes: int | None = None) -> tuple[str, ...]:
  for name in ('result.json', 'source.json'):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      names = artifacts.read_json(path).get('class_names')
      if names:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
          raise ValueError(f'{path}: class_names is {names!r}; expected a list of names')
        return tuple(names)
  # A student whose files do not name its classes has MicroExpNet's.
  if num_classes not in (None, len(classes.CLASS_NAMES)):
    raise ValueError(f'{directory} names no classes (no result.json or source.json with '
                     f'class_names) and has {num_classes} outputs')
  return classes.CLASS_NAMES


def _teacher_problem(directory: str, recorded: dict) -> str | None:
  """What to say when `directory` holds a teacher (its config.json records `teacher` settings and
  no student, see jaxfer.teacher), or None."""
  if 'student' in recorded or 'teacher' not in recorded:
    return None
  return (f'{directory} holds a teacher (its config.json records a teacher and no student); '
          'expected a student: a trained WORKDIR or WORKDIR/student of `jaxfer distill`, an '
          '`export-best` or an `import-tf` directory')


def _network(config_path: str, recorded: dict, num_classes: int):
  """(the network, its input size, its test-time view) that config.json describes; ValueError
  naming the file when a field is missing or unusable."""
  data, student = recorded.get('data'), recorded.get('student')
  if not isinstance(data, dict) or not isinstance(data.get('image_size'), int):
    raise ValueError(f'{config_path} has no data.image_size (an integer); expected the '
                     'config.json jaxfer writes beside a student')
  if not isinstance(student, dict):
    raise ValueError(f'{config_path} has no student section; expected the config.json jaxfer '
                     'writes beside a student')
  eval_crop = str(data.get('eval_crop', 'full'))
  if eval_crop not in preprocess.EVAL_CROPS:
    raise ValueError(f'{config_path}: data.eval_crop = {eval_crop!r}; expected one of '
                     f'{", ".join(preprocess.EVAL_CROPS)}')
  try:
    model = models.make_student(ml_collections.ConfigDict(student), num_classes)
  except (AttributeError, KeyError, TypeError, ValueError) as error:
    raise ValueError(f'{config_path}: the student section does not describe a network '
                     f'({type(error).__name__}: {error})') from None
  return model, data['image_size'], eval_crop


def _expected_variables(model, image_size: int, config_path: str) -> dict[str, Any]:
  """The variables' shapes `model.init` gives (computed abstractly, without running the
  network); ValueError naming `config_path` when the network cannot be built."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  image = jax.ShapeDtypeStruct((1, image_size, image_size, 1), jnp.float32)
  try:
    return dict(jax.eval_shape(lambda x: model.init(jax.random.key(0), x), image))
  except Exception as error:  # pylint: disable=broad-except
    # Flax reports a network it cannot build with many error types; all mean the same here.
    raise ValueError(f'{config_path}: the student section does not describe a network '
                     f'({type(error).__name__}: {" ".join(str(error).split())[:200]})') from None


def _check_shapes(params: Any, expected: Any, source: str, config_path: str) -> None:
  """ValueError naming `source` unless `params` have the structure and shapes of `expected`
  (one collection of `_expected_variables`)."""
  import jax  # pylint: disable=g-import-not-at-top
  want = {jax.tree_util.keystr(path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(expected)}
  try:
    have = {jax.tree_util.keystr(path): tuple(np.shape(leaf))
            for path, leaf in jax.tree_util.tree_leaves_with_path(params)}
  except TypeError:
    have = {}
  if have == want:
    return
  missing = sorted(set(want) - set(have))
  extra = sorted(set(have) - set(want))
  wrong = [key for key in sorted(set(want) & set(have)) if want[key] != have[key]]
  if wrong:
    detail = f'{wrong[0]} has the shape {have[wrong[0]]}, the network expects {want[wrong[0]]}'
  elif missing:
    detail = f'{missing[0]} is missing' + (f' and {extra[0]} is not the network\'s' if extra
                                            else '')
  else:
    detail = f'{extra[0]} is not a parameter of the network'
  raise ValueError(f'{source} does not fit the network that {config_path} describes ({detail}); '
                   'expected the parameters saved with that config.json')


def load(directory: str) -> Student:
  """The student in `directory`; FileNotFoundError saying which forms were looked for, ValueError
  naming the file that is not what jaxfer writes (a teacher, unreadable JSON or parameters,
  parameters of another network)."""
  import flax.serialization  # pylint: disable=g-import-not-at-top
  if os.path.isdir(os.path.join(directory, 'student', 'checkpoints')):
    directory = os.path.join(directory, 'student')
  config_path = os.path.join(directory, 'config.json')
  packed = os.path.join(directory, 'params.msgpack')
  trained = os.path.isdir(checkpoints.directory(directory))
  if os.path.isfile(config_path):
    recorded = artifacts.read_json(config_path)
    problem = _teacher_problem(directory, recorded)
    if problem:
      raise ValueError(problem)
  if not os.path.isfile(config_path) or not (os.path.isfile(packed) or trained):
    teacher = os.path.join(directory, 'teacher', 'config.json')
    hint = (f'; {os.path.dirname(teacher)} is a teacher, train the student with `jaxfer '
            'distill`' if os.path.isfile(teacher) else '')
    raise FileNotFoundError(
        f'{directory} holds no student: expected params.msgpack and config.json (from '
        '`jaxfer-search export-best` or `jaxfer import-tf`), or checkpoints/ and config.json '
        f'(a trained student, WORKDIR/student of `jaxfer distill`){hint}')
  class_names = _class_names(directory)
  model, image_size, eval_crop = _network(config_path, recorded, len(class_names))
  if os.path.isfile(packed):
    with open(packed, 'rb') as f:
      try:
        params = flax.serialization.msgpack_restore(f.read())
      except Exception as error:  # pylint: disable=broad-except
        # msgpack reports damage as ValueError, ExtraData, TypeError and more.
        raise ValueError(f'{packed} cannot be read ({type(error).__name__}: {error}); '
                         'expected the params.msgpack jaxfer writes') from None
    source = packed
  else:
    variables = restore_variables(directory)
    params = variables['params']
    source = f'the checkpoint in {checkpoints.directory(directory)}'
  expected = _expected_variables(model, image_size, config_path)
  _check_shapes(params, expected['params'], source, config_path)
  batch_stats = None
  if 'batch_stats' in expected:
    if os.path.isfile(packed):
      batch_stats, source = _read_batch_stats(directory), os.path.join(directory,
                                                                        BATCH_STATS_FILE)
    else:
      batch_stats = variables.get('batch_stats')
    _check_shapes(batch_stats, expected['batch_stats'], source, config_path)
  return Student(model, params, class_names, image_size, eval_crop, os.path.abspath(directory),
                 batch_stats)


def as_student(student: Student | str) -> Student:
  """`student` itself, or the student in the directory `student` names (`load`): for the
  Python entry points, which take either."""
  return load(student) if isinstance(student, str) else student


def _read_batch_stats(directory: str) -> Any:
  """The BatchNorm statistics an exported student keeps in `BATCH_STATS_FILE`; ValueError
  naming the file when it is missing or unreadable."""
  import flax.serialization  # pylint: disable=g-import-not-at-top
  path = os.path.join(directory, BATCH_STATS_FILE)
  if not os.path.isfile(path):
    raise ValueError(f'{directory} has params.msgpack but no {BATCH_STATS_FILE}, which its '
                     'network (with BatchNorm) needs; expected both, as export-best writes them')
  with open(path, 'rb') as f:
    try:
      return flax.serialization.msgpack_restore(f.read())
    except Exception as error:  # pylint: disable=broad-except
      raise ValueError(f'{path} cannot be read ({type(error).__name__}: {error}); expected the '
                       f'{BATCH_STATS_FILE} jaxfer writes') from None


def check_classes(student: Student, data_config: ml_collections.ConfigDict) -> None:
  """ValueError unless the student classifies the classes of `config.data`, in its order; read
  from the dataset's builder (its code), so nothing is prepared or read to refuse."""
  from jaxfer import data as data_lib  # pylint: disable=g-import-not-at-top
  data_config = ml_collections.ConfigDict(data_config.to_dict())
  data_config.update(image_size=student.image_size, eval_crop=student.eval_crop)
  class_names = tuple(data_lib.make_builder(data_config).info.features['label'].names)
  if tuple(student.class_names) != class_names:
    raise ValueError(f'{student.directory} classifies {", ".join(student.class_names)}, but '
                     f'{data_config.name} has the classes {", ".join(class_names)}; '
                     'evaluate it on a dataset with the same classes in the same order')


@functools.lru_cache(maxsize=8)
def _compiled_apply(model):
  """`model`'s forward pass on uint8 pixels, compiled once per network (modules hash by their
  settings)."""
  import jax  # pylint: disable=g-import-not-at-top
  # Pixels are normalised as in training; the imported model's first kernel was multiplied by
  # 255 to keep the original's arithmetic on raw pixels.
  return jax.jit(lambda variables, images: model.apply(variables,
                                                       models.normalize_pixels(images)))


def logits(student: Student, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """The student's logits for uint8 images [N, size, size, 1] already in its test-time view;
  the last batch is padded so that one shape is compiled."""
  from jaxfer import loop  # pylint: disable=g-import-not-at-top
  if not len(images):
    return np.zeros((0, len(student.class_names)), np.float32)
  apply = _compiled_apply(student.model)
  return loop.in_batches(lambda batch: apply(student.variables, batch), images, batch_size)


def restore_params(directory: str):
  """The evaluated parameters (the average where kept) of the newest checkpoint."""
  return restore_variables(directory)['params']


def restore_variables(directory: str) -> dict[str, Any]:
  """{'params': the evaluated parameters (the average where kept), and 'batch_stats' where the
  network has BatchNorm} of the newest checkpoint."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from jaxfer import loop  # pylint: disable=g-import-not-at-top
  epoch = checkpoints.latest_epoch(directory)
  if epoch is None:
    raise FileNotFoundError(f'{checkpoints.directory(directory)} holds no checkpoint yet')
  # Without restore args orbax finds the item "default" but no handler registered for it, and
  # warns twice that it "could not be restored" before falling back to the standard handler;
  # naming that handler (no template: arrays as saved) restores the same tree without warning.
  try:
    with ocp.CheckpointManager(checkpoints.directory(directory)) as reader:
      restored = reader.restore(epoch, args=ocp.args.StandardRestore())
  except Exception as error:  # pylint: disable=broad-except
    # A damaged step fails in tensorstore, in the metadata or in the tree; all mean the same.
    raise ValueError(f'the checkpoint of epoch {epoch} in {checkpoints.directory(directory)} '
                     f'cannot be restored ({" ".join(str(error).split())[:200]})') from None
  if not isinstance(restored, dict) or not isinstance(loop.evaluated_params(restored), dict):
    raise ValueError(f'the checkpoint of epoch {epoch} in {checkpoints.directory(directory)} '
                     'holds no parameters; expected a checkpoint of a jaxfer student')
  variables = {'params': loop.evaluated_params(restored)}
  if restored.get('batch_stats'):
    variables['batch_stats'] = restored['batch_stats']
  return variables
