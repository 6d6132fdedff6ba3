"""jaxfer: MicroExpNet in JAX/Flax, trained by knowledge distillation from a larger teacher.

The Python entry points, each the function the commands call (docs/python_api.md):

    import jaxfer
    config = jaxfer.get_config('configs/test.py', ['--config.distill.temperature=4'])
    result = jaxfer.train_and_evaluate(config, 'runs/test')      # as `jaxfer distill`
    student = jaxfer.load_model('runs/test')                     # trained, exported, imported
    labels = jaxfer.predict_arrays(student, faces).labels         # face arrays in memory
    outcome = jaxfer.predict_files(student, ['photos/'])          # as `jaxfer predict`
    front = jaxfer.pareto_front(jaxfer.open_study('runs/search')) # a study's front

Each is imported on first use, so `import jaxfer` loads neither JAX nor Optuna. This package
module is the facade above both `jaxfer.*` and `search.*`: nothing in either imports it.
"""
from jaxfer import version as _version

__version__ = _version.VERSION

__all__ = ['get_config', 'train_and_evaluate', 'cross_validate', 'evaluate_model', 'load_model',
           'predict_arrays', 'predict_files', 'open_study', 'pareto_front']


def get_config(path: str, overrides=()):
  """The config file `path` (its `get_config()`) with `--config.FIELD=VALUE` `overrides`, read
  and checked as the commands read it; `jaxfer.config_file.ConfigError` (a ValueError) names
  the file or field of a mistake."""
  from jaxfer import config_file  # pylint: disable=g-import-not-at-top
  return config_file.read(path, list(overrides))


def train_and_evaluate(config, workdir: str):
  """Trains `config.target` (the teacher first when a student needs one) in `workdir` and
  evaluates it, as `jaxfer distill`; resumes a run stopped there. Returns its result (accuracy,
  size, paths), also written to WORKDIR/result.json."""
  from jaxfer import train  # pylint: disable=g-import-not-at-top
  return train.train_and_evaluate(config, workdir)


def cross_validate(config, workdir: str):
  """`train_and_evaluate` on every fold of `config.data.num_folds`, as `jaxfer distill --cv`;
  returns the folds' accuracies with their mean and standard deviation."""
  from jaxfer import crossval  # pylint: disable=g-import-not-at-top
  return crossval.cross_validate(config, workdir)


def evaluate_model(student, config):
  """Scores a student (loaded, or its directory) on the test split of `config.data`, as
  `jaxfer evaluate --model`; writes nothing."""
  from jaxfer import model_files  # pylint: disable=g-import-not-at-top
  from jaxfer import train  # pylint: disable=g-import-not-at-top
  return train.evaluate_model(model_files.as_student(student), config)


def load_model(directory: str):
  """The student in `directory`: a trained WORKDIR (or WORKDIR/student), an export-best or an
  import-tf folder. Its `model`, `params`, `class_names` and `image_size` are fields."""
  from jaxfer import model_files  # pylint: disable=g-import-not-at-top
  return model_files.load(directory)


def predict_arrays(student, faces, **options):
  """Labels face images in memory ([N, H, W(, channels)] or a list of arrays; RGB when in
  colour); returns `labels`, `probabilities` [N, classes] and `class_names`. `options`:
  batch_size, engine ('jax' or 'onnxruntime')."""
  from jaxfer import predict  # pylint: disable=g-import-not-at-top
  return predict.predict_arrays(student, faces, **options)


def predict_files(student, inputs, **options):
  """Detects and labels every face in image files and folders, as `jaxfer predict`; returns the
  faces (path, box, label, probabilities) and the files without a face or unreadable.
  `options`: detect, whole_image_fallback, batch_size, engine, threads."""
  from jaxfer import predict  # pylint: disable=g-import-not-at-top
  return predict.predict_files(student, inputs, **options)


def open_study(run_dir: str, study_name: str | None = None, storage: str = ''):
  """The Optuna study of a `jaxfer-search` run directory (RUN_DIR/study.db, or `storage`),
  opened read-only; without `study_name`, the one study there."""
  from search import storage as storage_lib  # pylint: disable=g-import-not-at-top
  return storage_lib.open_run_study(run_dir, study_name, storage)


def pareto_front(study):
  """The completed trials of `study` on its size-accuracy front, smallest first: number,
  accuracy, size_bytes, params and the 95% interval of the accuracy (NaN when unknown)."""
  from search import pareto  # pylint: disable=g-import-not-at-top
  return pareto.front_points(study.get_trials(deepcopy=False))
