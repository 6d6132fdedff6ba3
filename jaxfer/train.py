"""Training and evaluation: `train_and_evaluate(config, workdir)` is the one entry point.

It trains (or resumes) the teacher, computes the teacher's logits on the training set once, and
distills the student from them with jit-compiled pure steps; every epoch is checkpointed with
orbax, so a killed run restarts where it stopped and ends with the same numbers.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time
from typing import Any, Mapping

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax.training import train_state

from jaxfer import configuration
from jaxfer import data as data_lib
from jaxfer import distill
from jaxfer import models
from jaxfer import teacher_cache
from jaxfer.data import preprocess

logger = logging.getLogger('jaxfer')


class TrainState(train_state.TrainState):
  """Optax train state plus BatchNorm statistics (an empty dict for the student)."""
  batch_stats: Any = flax.struct.field(default_factory=dict)


@dataclasses.dataclass
class Result:
  """What a run reports; `result.json` holds the same fields."""
  target: str
  accuracy: float
  per_class_accuracy: dict[str, float]
  confusion_matrix: list[list[int]]
  params: int
  size_bytes: int
  epochs: int
  train_seconds: float
  workdir: str
  checkpoint_dir: str
  teacher_accuracy: float | None = None
  teacher_params: int | None = None
  class_names: list[str] = dataclasses.field(default_factory=list)
  fold_hash: str | None = None
  data: dict[str, Any] = dataclasses.field(default_factory=dict)


def make_optimizer(optimizer_config: Any, steps_per_epoch: int,
                   num_epochs: int) -> optax.GradientTransformation:
  """Adam with decoupled weight decay and the configured learning-rate schedule."""
  lr = optimizer_config.learning_rate
  total = steps_per_epoch * num_epochs
  if optimizer_config.schedule == 'constant':
    schedule = optax.constant_schedule(lr)
  elif optimizer_config.schedule == 'cosine':
    schedule = optax.cosine_decay_schedule(lr, total)
  else:
    warmup = min(steps_per_epoch * optimizer_config.warmup_epochs, total - 1)
    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, warmup, total)
  return optax.adamw(schedule, weight_decay=optimizer_config.weight_decay)


def create_train_state(model: nn.Module, image_shape: tuple[int, ...],
                       optimizer: optax.GradientTransformation, rng: jax.Array) -> TrainState:
  """Initial parameters, BatchNorm statistics (if any) and optimizer state."""
  variables = jax.jit(functools.partial(model.init, train=False))(
      rng, jnp.zeros((1, *image_shape), jnp.float32))
  return TrainState.create(apply_fn=model.apply, params=variables['params'], tx=optimizer,
                           batch_stats=variables.get('batch_stats', {}))


def _normalize(images: jax.Array) -> jax.Array:
  return images.astype(jnp.float32) / 255.0


@functools.partial(jax.jit, static_argnames=('loss',))
def train_step(state: TrainState, batch: Mapping[str, jax.Array], rng: jax.Array,
               temperature: jax.Array, lam: jax.Array, *,
               loss: str) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimizer step on `loss` (a name in `distill.LOSS_FNS`); teacher logits come in `batch`.

  The dropout key is `fold_in(rng, step)`, so the step is a pure function of its inputs.
  """
  dropout_rng = jax.random.fold_in(rng, state.step)
  has_batch_stats = bool(state.batch_stats)

  def loss_fn(params):
    variables = {'params': params}
    if has_batch_stats:
      variables['batch_stats'] = state.batch_stats
    logits, updates = state.apply_fn(variables, _normalize(batch['image']), train=True,
                                     rngs={'dropout': dropout_rng},
                                     mutable=['batch_stats'] if has_batch_stats else [])
    value = distill.LOSS_FNS[loss](logits, batch.get('teacher_logits'), batch['label'],
                                   temperature, lam)
    return value, (logits, updates)

  (value, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads)
  if has_batch_stats:
    state = state.replace(batch_stats=updates['batch_stats'])
  correct = jnp.sum(jnp.argmax(logits, -1) == batch['label'])
  return state, {'loss': value, 'correct': correct}


@jax.jit
def predict_step(state: TrainState, images: jax.Array) -> jax.Array:
  """Logits in inference mode (running BatchNorm statistics, no dropout)."""
  variables = {'params': state.params}
  if state.batch_stats:
    variables['batch_stats'] = state.batch_stats
  return state.apply_fn(variables, _normalize(images), train=False)


def predict(state: TrainState, images: np.ndarray, batch_size: int) -> np.ndarray:
  """Logits for all images; the last batch is padded so only one shape is ever compiled."""
  batch_size = min(batch_size, len(images))
  outputs = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]),
                                             chunk.dtype)]) if len(chunk) < batch_size else chunk
    outputs.append(np.asarray(predict_step(state, padded))[:len(chunk)])
  return np.concatenate(outputs)


def evaluate_logits(logits: np.ndarray, labels: np.ndarray,
                    class_names: tuple[str, ...]) -> dict[str, Any]:
  """Accuracy, per-class accuracy (recall) and the confusion matrix (rows: true class)."""
  num_classes = len(class_names)
  predictions = logits.argmax(-1)
  confusion = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(confusion, (labels, predictions), 1)
  support = confusion.sum(1)
  per_class = {name: float(confusion[k, k] / support[k]) for k, name in enumerate(class_names)
               if support[k]}
  return {'accuracy': float(np.mean(predictions == labels)), 'per_class_accuracy': per_class,
          'confusion_matrix': confusion.tolist()}


def _model_dir(config: ml_collections.ConfigDict, role: str, workdir: str) -> str:
  """Where `role` is trained; `config.teacher.workdir` may hold '{fold}' (the fold number)."""
  if role == 'teacher':
    if config.teacher.workdir:
      return config.teacher.workdir.format(fold=config.data.fold)
    return os.path.join(workdir, 'teacher')
  return os.path.join(workdir, 'student')


def _make_model(config: ml_collections.ConfigDict, role: str, num_classes: int) -> nn.Module:
  if role == 'teacher':
    return models.make_teacher(config.teacher, num_classes)
  return models.make_student(config.student, num_classes)


def _checkpoint_manager(model_dir: str) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(os.path.abspath(os.path.join(model_dir, 'checkpoints')),
                               options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))


def _seed(config: ml_collections.ConfigDict, role: str) -> int:
  """The seed of `role`: `config.seed`, or for the student `config.student.seed` if set (>= 0)."""
  if role == 'student' and config.student.seed >= 0:
    return config.student.seed
  return config.seed


def _initial_state(config: ml_collections.ConfigDict, role: str,
                   dataset: data_lib.Dataset) -> tuple[TrainState, jax.Array, int]:
  """The freshly initialised state of `role`, its dropout key and the steps per epoch."""
  settings = config[role]
  num_examples = len(dataset.train['label'])
  if settings.batch_size > num_examples:
    raise ValueError(f'config.{role}.batch_size = {settings.batch_size} is larger than the '
                     f'{num_examples} training images; lower it')
  steps_per_epoch = num_examples // settings.batch_size
  optimizer = make_optimizer(settings.optimizer, steps_per_epoch, settings.num_epochs)
  rng = jax.random.fold_in(jax.random.key(_seed(config, role)), 0 if role == 'teacher' else 1)
  init_rng, dropout_rng = jax.random.split(rng)
  model = _make_model(config, role, dataset.num_classes)
  state = create_train_state(model, dataset.train['image'].shape[1:], optimizer, init_rng)
  return state, dropout_rng, steps_per_epoch


def _fit(config: ml_collections.ConfigDict, role: str, dataset: data_lib.Dataset,
         model_dir: str, teacher_logits: np.ndarray | None = None) -> tuple[TrainState, float]:
  """Trains `role` with the settings of `config[role]`, resuming from `model_dir/checkpoints`.

  Returns the final state and the seconds spent training in this call.
  """
  settings = config[role]
  train = dataset.train
  state, dropout_rng, _ = _initial_state(config, role, dataset)
  manager = _checkpoint_manager(model_dir)
  start_epoch = manager.latest_step() or 0
  if start_epoch:
    state = manager.restore(start_epoch, args=ocp.args.StandardRestore(state))
    logger.info('%s: resumed from the checkpoint of epoch %d in %s', role, start_epoch,
                manager.directory)

  loss = config.distill.loss if role == 'student' else 'none'
  temperature = jnp.float32(config.distill.temperature)
  lam = jnp.float32(config.distill.lam)
  data_seed = _seed(config, role) * 2 + (role == 'student')
  seconds = 0.0
  for epoch in range(start_epoch + 1, settings.num_epochs + 1):
    start = time.perf_counter()
    losses, correct = [], []
    augment_rng = np.random.default_rng([data_seed, epoch, 1])
    for indices in data_lib.epoch_batches(len(train['label']), settings.batch_size, data_seed,
                                          epoch):
      images = preprocess.random_shift(train['image'][indices], settings.augment_shift,
                                       augment_rng)
      if settings.augment_flip:
        images = preprocess.random_flip(images, augment_rng)
      batch = {'image': images, 'label': train['label'][indices]}
      if teacher_logits is not None:
        batch['teacher_logits'] = teacher_logits[indices]
      state, metrics = train_step(state, batch, dropout_rng, temperature, lam, loss=loss)
      losses.append(metrics['loss'])
      correct.append(metrics['correct'])
    losses = np.asarray(jax.device_get(jnp.stack(losses)))
    if not np.all(np.isfinite(losses)):
      bad = int(np.argmin(np.isfinite(losses)))
      raise FloatingPointError(
          f'{role}: the loss became {losses[bad]} at epoch {epoch}, step {bad + 1}; training '
          f'stopped (the last good checkpoint is kept). Lower config.{role}.optimizer.'
          f'learning_rate or check config.distill.temperature.')
    seconds += time.perf_counter() - start
    if epoch % config.checkpoint_every_epochs == 0 or epoch == settings.num_epochs:
      manager.save(epoch, args=ocp.args.StandardSave(state))
    train_accuracy = np.sum(jax.device_get(correct)) / (len(losses) * settings.batch_size)
    line = (f'{role} epoch {epoch:3d}/{settings.num_epochs}  loss {losses.mean():.4f}  '
            f'train_acc {train_accuracy:.3f}')
    # The final epoch's test accuracy is computed once, by the caller's summary.
    if epoch % config.eval_every_epochs == 0 and epoch != settings.num_epochs:
      test = evaluate_logits(predict(state, dataset.test['image'], config.eval_batch_size),
                             dataset.test['label'], dataset.class_names)
      line += f'  test_acc {test["accuracy"]:.3f}'
    logger.info('%s  (%.1fs)', line, time.perf_counter() - start)
  manager.wait_until_finished()
  manager.close()
  return state, seconds


def _check_workdir_config(config: ml_collections.ConfigDict, workdir: str, role: str) -> None:
  """Refuses to resume a run in `workdir` that was started with different settings."""
  path = os.path.join(workdir, 'config.json')
  current = {'seed': config.seed, 'data': config.data.to_dict(), role: config[role].to_dict()}
  if role == 'student':
    current['distill'] = config.distill.to_dict()
  current = json.loads(json.dumps(current))
  current.get('teacher', {}).pop('workdir', None)  # Where the teacher lives is not a setting.
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    previous.get('teacher', {}).pop('workdir', None)
    changed = configuration.changed_fields(previous, current)
    if changed:
      raise ValueError(f'{workdir} holds a {role} run with other settings (config.'
                       f'{", config.".join(changed)} differ); use a new --workdir or delete it')
  else:
    os.makedirs(workdir, exist_ok=True)
    with open(path, 'w') as f:
      json.dump(current, f, indent=2)


def _train_role(config: ml_collections.ConfigDict, role: str, dataset: data_lib.Dataset,
                model_dir: str, teacher_logits: np.ndarray | None = None):
  """Trains or resumes `role` in `model_dir`; returns (state, seconds trained in this call)."""
  _check_workdir_config(config, model_dir, role)
  return _fit(config, role, dataset, model_dir, teacher_logits)


def _summarize(config, role: str, state: TrainState, dataset: data_lib.Dataset, workdir: str,
               seconds: float, **extra) -> Result:
  metrics = evaluate_logits(predict(state, dataset.test['image'], config.eval_batch_size),
                            dataset.test['label'], dataset.class_names)
  num_params = models.count_params(state.params)
  return Result(target=role, params=num_params,
                size_bytes=int(sum(x.nbytes for x in jax.tree.leaves(state.params))),
                epochs=config[role].num_epochs, train_seconds=round(seconds, 2),
                workdir=os.path.abspath(workdir),
                checkpoint_dir=os.path.abspath(os.path.join(workdir, 'checkpoints')),
                class_names=list(dataset.class_names), fold_hash=dataset.fold_hash,
                data=dataset.identity, **metrics, **extra)


def _write_result(result: Result, *paths: str) -> None:
  for path in paths:
    with open(path, 'w') as f:
      json.dump(dataclasses.asdict(result), f, indent=2)


def _teacher_logits(config: ml_collections.ConfigDict, state: TrainState,
                    dataset: data_lib.Dataset) -> np.ndarray:
  """The teacher's logits on the training images, from the on-disk cache when possible."""
  leaves = [np.asarray(x) for x in jax.tree.leaves((state.params, state.batch_stats))]
  teacher_settings = {'seed': config.seed, **config.teacher.to_dict()}
  teacher_settings.pop('workdir')  # Where the teacher lives does not change its logits.
  key = teacher_cache.cache_key(dataset.identity, teacher_settings, teacher_cache.digest(leaves))
  return teacher_cache.load_or_compute(
      teacher_cache.cache_dir(config.cache_dir), key, len(dataset.train['label']),
      lambda: predict(state, dataset.train['image'], config.eval_batch_size),
      description={'data': dataset.identity, 'teacher': teacher_settings})


def _soft_label_logits(dataset: data_lib.Dataset) -> np.ndarray:
  """Log-probabilities of the dataset's soft labels (FER+ votes), used as teacher logits."""
  if 'soft_label' not in dataset.train:
    raise ValueError(f'config.distill.source = \'soft_labels\' needs a dataset with soft labels; '
                     f'{dataset.identity.get("dataset")} has none (fer2013 with '
                     'builder_kwargs.ferplus=\'soft\' has)')
  return np.log(np.maximum(dataset.train['soft_label'].astype(np.float32), 1e-6))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> Result:
  """Trains `config.target` and evaluates it on the test split (or test fold).

  For the student with a distillation loss, the teacher is first trained (or resumed, or reused
  from `config.teacher.workdir`) in `workdir/teacher`, and its logits on the training images are
  computed once (cached on disk, see `teacher_cache`) and fed to every student step; with
  `config.distill.source='soft_labels'` the dataset's soft labels take their place. Writes
  `result.json` in `workdir` and in the model's own sub-directory.

  Args:
    config: a config as returned by `configs/default.py:get_config()`.
    workdir: directory for checkpoints and results; reusing it resumes the run.

  Returns:
    The `Result` of the trained model.
  """
  configuration.validate(config)
  os.makedirs(workdir, exist_ok=True)
  dataset = data_lib.load(config.data)
  needs_teacher = config.target == 'teacher' or (config.distill.loss != 'none' and
                                                 config.distill.source == 'teacher')
  teacher_result = None
  teacher_logits = None
  if needs_teacher:
    teacher_dir = _model_dir(config, 'teacher', workdir)
    state, seconds = _train_role(config, 'teacher', dataset, teacher_dir)
    teacher_result = _summarize(config, 'teacher', state, dataset, teacher_dir, seconds)
    _write_result(teacher_result, os.path.join(teacher_dir, 'result.json'))
    logger.info('teacher: test accuracy %.4f, %d parameters', teacher_result.accuracy,
                teacher_result.params)
    if config.target == 'teacher':
      _write_result(teacher_result, os.path.join(workdir, 'result.json'))
      return teacher_result
    teacher_logits = _teacher_logits(config, state, dataset)
  elif config.distill.loss != 'none':
    teacher_logits = _soft_label_logits(dataset)

  student_dir = _model_dir(config, 'student', workdir)
  state, seconds = _train_role(config, 'student', dataset, student_dir, teacher_logits)
  extra = {}
  if teacher_result is not None:
    extra = dict(teacher_accuracy=teacher_result.accuracy, teacher_params=teacher_result.params)
  result = _summarize(config, 'student', state, dataset, student_dir, seconds, **extra)
  _write_result(result, os.path.join(student_dir, 'result.json'),
                os.path.join(workdir, 'result.json'))
  logger.info('student: test accuracy %.4f, %d parameters (%d bytes)', result.accuracy,
              result.params, result.size_bytes)
  return result


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> Result:
  """Evaluates the latest checkpoint of `config.target` in `workdir` on the test split.

  Writes `evaluation.json` in `workdir`; raises FileNotFoundError if nothing was trained there.
  """
  configuration.validate(config)
  role = config.target
  model_dir = _model_dir(config, role, workdir)
  dataset = data_lib.load(config.data)
  state, _, _ = _initial_state(config, role, dataset)
  manager = _checkpoint_manager(model_dir)
  try:
    epoch = manager.latest_step()
    if epoch is None:
      command = 'train-teacher' if role == 'teacher' else 'distill'
      raise FileNotFoundError(f'no {role} checkpoint in {manager.directory}; train one first with '
                              f'`jaxfer {command} --config ... --workdir {workdir}`')
    state = manager.restore(epoch, args=ocp.args.StandardRestore(state))
  finally:
    manager.close()
  result = _summarize(config, role, state, dataset, model_dir, 0.0)
  result.epochs = int(epoch)
  _write_result(result, os.path.join(workdir, 'evaluation.json'))
  return result
