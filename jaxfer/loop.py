"""The training loop shared by teacher and student: pure jit-compiled steps and `fit`.

What differs between the two is data, not branches: a `FitSpec` built once from the config names
the model, its settings, its seed and its loss, and `fit` trains whatever it describes, one
checkpoint per epoch, resuming from the newest intact checkpoint.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import Any, Callable, Mapping, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax.training import train_state

from jaxfer import checkpoints
from jaxfer import data as data_lib
from jaxfer import distill
from jaxfer import interrupts
from jaxfer import metric_logs
from jaxfer import models
from jaxfer import optimizers
from jaxfer.data import preprocess

logger = logging.getLogger('jaxfer')

# Losses whose model outputs features regressed onto targets (FaceNet2ExpNet's stage 1).
REGRESSION = frozenset(distill.REGRESSION_LOSSES.values())


class TrainState(train_state.TrainState):
  """Optax train state plus BatchNorm statistics (an empty dict for the student) and the
  exponential moving average of the parameters (an empty dict unless `ema_decay` > 0)."""
  batch_stats: Any = flax.struct.field(default_factory=dict)
  ema_params: Any = flax.struct.field(default_factory=dict)


def evaluated_params(state: Any) -> Any:
  """The parameters a model is evaluated, exported and served with: the moving average of the
  parameters when training kept one, the parameters otherwise. `state` is a TrainState or a
  restored checkpoint (a dict)."""
  get = state.get if isinstance(state, dict) else lambda name: getattr(state, name)
  return get('ema_params') or get('params')


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
  # The teacher artifact a student was distilled from, and the checksum of its logits.
  teacher_artifact: str | None = None
  teacher_logits_sha256: str | None = None
  # What `accuracy` was measured on: 'validation' (config.data.validation_fraction > 0) or
  # 'test'; results written before this field existed were all on the test side.
  evaluated_on: str = 'test'


@dataclasses.dataclass(frozen=True)
class FitSpec:
  """What `fit` trains and how, built once from the config (`fit_spec`).

  `name` is the config section the settings come from ('teacher' or 'student'); it appears in
  logs and messages only. `stream` keeps the random keys and data orders of models trained with
  the same seed apart (the teacher uses 0, the student 1, the identity face net 2, the
  FaceNet2ExpNet stage 1 of a network its stream + 10).
  """
  name: str
  model: nn.Module
  # num_epochs, batch_size, augment_shift, augment_flip, optimizer, ema_decay, label_smoothing.
  settings: Any
  seed: int
  stream: int
  loss: str = 'none'
  temperature: float = 1.0
  lam: float = 0.0
  checkpoint_every_epochs: int = 1
  eval_every_epochs: int = 5
  eval_batch_size: int = 256
  # Per-epoch metrics as TensorBoard event files in `model_dir`/tensorboard (config.log.tensorboard
  # sets it for the teacher and the student; see jaxfer.metric_logs).
  tensorboard: bool = False
  # {'params': ..., 'batch_stats': ...} of the network's convolutions trained beforehand
  # (FaceNet2ExpNet's stage 1): training starts from them instead of their random values.
  pretrained: Any = dataclasses.field(default=None, compare=False)


def _teacher_spec(config: ml_collections.ConfigDict, num_classes: int, **run) -> FitSpec:
  return FitSpec(name='teacher', model=models.make_teacher(config.teacher, num_classes),
                 settings=config.teacher, seed=config.seed, stream=0, **run)


def _student_spec(config: ml_collections.ConfigDict, num_classes: int, **run) -> FitSpec:
  seed = config.student.seed if config.student.seed >= 0 else config.seed
  return FitSpec(name='student', model=models.make_student(config.student, num_classes),
                 settings=config.student, seed=seed, stream=1, loss=config.distill.loss,
                 temperature=config.distill.temperature, lam=config.distill.lam, **run)


# The trained networks of a config by section (config.teacher, config.student).
FIT_SPECS = {'teacher': _teacher_spec, 'student': _student_spec}


def fit_spec(config: ml_collections.ConfigDict, section: str, num_classes: int) -> FitSpec:
  """How the network of `config.<section>` (a name in `FIT_SPECS`) is trained.

  The teacher: cross-entropy, seed `config.seed`, stream 0. The student: the loss, temperature
  and lam of `config.distill`, seed `config.student.seed` when it is >= 0 (else `config.seed`),
  stream 1.
  """
  return FIT_SPECS[section](config, num_classes,
                            checkpoint_every_epochs=config.checkpoint_every_epochs,
                            eval_every_epochs=config.eval_every_epochs,
                            eval_batch_size=config.eval_batch_size,
                            tensorboard=config.log.tensorboard)


@flax.struct.dataclass
class StepHparams:
  """What a train step reads besides the state, the batch and the key: the loss by name (static:
  each loss compiles its own step) and the settings, float32 scalars (traced: other values
  reuse the compiled step)."""
  loss: str = flax.struct.field(pytree_node=False)
  temperature: jax.Array
  lam: jax.Array
  ema_decay: jax.Array
  label_smoothing: jax.Array

  @classmethod
  def create(cls, loss: str, temperature: float = 1.0, lam: float = 0.0, ema_decay: float = 0.0,
             label_smoothing: float = 0.0) -> StepHparams:
    """The hyperparameters of `loss` with each setting as a float32 scalar."""
    return cls(loss=loss, temperature=jnp.float32(temperature), lam=jnp.float32(lam),
               ema_decay=jnp.float32(ema_decay), label_smoothing=jnp.float32(label_smoothing))


def step_hparams(spec: FitSpec) -> StepHparams:
  """The train step's hyperparameters of `spec`: its loss and distillation settings, and its
  settings' moving-average decay and label smoothing."""
  return StepHparams.create(spec.loss, spec.temperature, spec.lam, spec.settings.ema_decay,
                            spec.settings.label_smoothing)


# How the step feeds each loss (`FitSpec.loss`) from the model's outputs, the batch and the
# hyperparameters: distillation takes the teacher's logits from the batch, regression (the
# outputs are features) its `targets`.
LOSS_FNS: dict[str, Callable[[jax.Array, Mapping[str, jax.Array], StepHparams], jax.Array]] = {
    'microexpnet': lambda logits, batch, hparams: distill.microexpnet_loss(
        logits, batch['teacher_logits'], batch['label'], hparams.temperature, hparams.lam,
        hparams.label_smoothing),
    'hinton': lambda logits, batch, hparams: distill.hinton_loss(
        logits, batch['teacher_logits'], batch['label'], hparams.temperature, hparams.lam,
        hparams.label_smoothing),
    'none': lambda logits, batch, hparams: distill.supervised_loss(
        logits, batch['label'], hparams.label_smoothing),
    'regression_l2': lambda features, batch, hparams: distill.feature_regression_l2(
        features, batch['targets']),
    'regression_l1': lambda features, batch, hparams: distill.feature_regression_l1(
        features, batch['targets']),
}


@functools.lru_cache(maxsize=256)
def _shared(model: nn.Module) -> nn.Module:
  """The first of the equal modules seen by this process.

  A train state holds `model.apply` as a static field, and bound methods of two equal modules
  compare unequal; with one module per architecture, runs of one process that train the same
  architecture (the folds and seeds of a study) reuse the compiled steps.
  """
  return model


# Entries of the train step's cache (one or two per architecture and optimizer) a process keeps
# before `release_compiled_programs` drops every compiled program.
KEPT_PROGRAMS = 24


def release_compiled_programs() -> bool:
  """Drops JAX's caches once the train step's cache holds more than `KEPT_PROGRAMS` entries;
  returns whether it did.

  XLA keeps every compiled program mapped (about 270 memory maps a run): a search worker that
  trained about 250 students of different widths reached the kernel's limit of 65,530 maps and
  died. Dropping every cached program after each run kept the maps flat, but made replicates,
  folds and cells of one architecture trace and lower their steps again (seconds per run); a
  bound keeps both. (`_cache_size` counts a jitted function's cache entries.)
  """
  if train_step._cache_size() <= KEPT_PROGRAMS:  # pylint: disable=protected-access
    return False
  jax.clear_caches()
  return True


@functools.partial(jax.jit, static_argnums=(0, 2))
def _init_variables(model: nn.Module, rng: jax.Array, image_shape: tuple[int, ...]):
  return model.init(rng, jnp.zeros((1, *image_shape), jnp.float32), train=False)


def create_train_state(model: nn.Module, image_shape: tuple[int, ...],
                       optimizer: optax.GradientTransformation, rng: jax.Array) -> TrainState:
  """Initial parameters, BatchNorm statistics (if any) and optimizer state."""
  model = _shared(model)
  variables = _init_variables(model, rng, tuple(image_shape))
  return TrainState.create(apply_fn=model.apply, params=variables['params'], tx=optimizer,
                           batch_stats=variables.get('batch_stats', {}))


def ema_decay_at(decay: jax.Array, step: jax.Array) -> jax.Array:
  """The moving average's decay after `step` updates: min(decay, (1 + step) / (10 + step)).

  The ramp (TensorFlow's ExponentialMovingAverage with num_updates) keeps the average from
  remembering the random initialisation: early on it follows the parameters closely.
  """
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


@jax.jit
def train_step(state: TrainState, batch: Mapping[str, jax.Array], rng: jax.Array,
               hparams: StepHparams) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimizer step on the loss `hparams.loss` (read as `LOSS_FNS` says): teacher logits or
  regression targets come in `batch`, as data.

  The dropout key is `fold_in(rng, step)`, so the step is a pure function of its inputs. A state
  with `ema_params` also updates them: ema <- d * ema + (1 - d) * params, d = `ema_decay_at`.
  """
  dropout_rng = jax.random.fold_in(rng, state.step)
  has_batch_stats = bool(state.batch_stats)

  def loss_fn(params):
    variables = {'params': params}
    if has_batch_stats:
      variables['batch_stats'] = state.batch_stats
    logits, updates = state.apply_fn(variables, models.normalize_pixels(batch['image']),
                                     train=True, rngs={'dropout': dropout_rng},
                                     mutable=['batch_stats'] if has_batch_stats else [])
    value = LOSS_FNS[hparams.loss](logits, batch, hparams)
    return value, (logits, updates)

  (value, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads)
  if state.ema_params:
    decay = ema_decay_at(hparams.ema_decay, state.step - 1)  # Updates made before this one.
    state = state.replace(ema_params=jax.tree.map(
        lambda average, value: decay * average + (1.0 - decay) * value, state.ema_params,
        state.params))
  if has_batch_stats:
    state = state.replace(batch_stats=updates['batch_stats'])
  correct = jnp.sum(jnp.argmax(logits, -1) == batch['label'])
  return state, {'loss': value, 'correct': correct}


@jax.jit
def predict_step(state: TrainState, images: jax.Array) -> jax.Array:
  """Logits in inference mode (running BatchNorm statistics, no dropout, averaged parameters
  when training kept them)."""
  variables = {'params': evaluated_params(state)}
  if state.batch_stats:
    variables['batch_stats'] = state.batch_stats
  return state.apply_fn(variables, models.normalize_pixels(images), train=False)


def in_batches(apply: Callable[[np.ndarray], Any], images: np.ndarray,
               batch_size: int) -> np.ndarray:
  """`apply` on `images` `batch_size` at a time, outputs concatenated; the last batch is padded
  with zeros (and its padding dropped) so that only one shape is ever compiled."""
  outputs = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]),
                                             chunk.dtype)]) if len(chunk) < batch_size else chunk
    outputs.append(np.asarray(apply(padded))[:len(chunk)])
  return np.concatenate(outputs)


def predict(state: TrainState, images: np.ndarray, batch_size: int) -> np.ndarray:
  """Logits for all images, in batches of one compiled shape (`in_batches`)."""
  return in_batches(lambda batch: predict_step(state, batch), images,
                    min(batch_size, len(images)))


def evaluate_logits(logits: np.ndarray, labels: np.ndarray,
                    class_names: tuple[str, ...]) -> dict[str, Any]:
  """Accuracy, per-class accuracy (recall) and the confusion matrix (rows: true class)."""
  num_classes = len(class_names)
  predictions = logits.argmax(-1)
  confusion = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(confusion, (labels, predictions), 1)
  return {'accuracy': float(np.mean(predictions == labels)),
          'per_class_accuracy': per_class_accuracy(confusion, class_names),
          'confusion_matrix': confusion.tolist()}


def per_class_accuracy(confusion: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
  """Each class's recall, {name: correct / examples}, from a confusion matrix (rows: true
  class); a class without examples is left out."""
  confusion = np.asarray(confusion)
  support = confusion.sum(1)
  return {name: float(confusion[k, k] / support[k]) for k, name in enumerate(class_names)
          if support[k]}


def initial_state(spec: FitSpec, dataset: data_lib.Dataset) -> tuple[TrainState, jax.Array]:
  """The freshly initialised state of `spec` and its dropout key."""
  num_examples = len(dataset.train['label'])
  if spec.settings.batch_size > num_examples:
    raise ValueError(f'config.{spec.name}.batch_size = {spec.settings.batch_size} is larger than '
                     f'the {num_examples} training images; lower it')
  steps_per_epoch = num_examples // spec.settings.batch_size
  optimizer = optimizers.make_optimizer(spec.settings.optimizer, steps_per_epoch,
                                        spec.settings.num_epochs)
  rng = jax.random.fold_in(jax.random.key(spec.seed), spec.stream)
  init_rng, dropout_rng = jax.random.split(rng)
  state = create_train_state(spec.model, dataset.train['image'].shape[1:], optimizer, init_rng)
  if spec.pretrained is not None:
    state = state.replace(
        params=models.with_pretrained(state.params, spec.pretrained['params']),
        batch_stats=models.with_pretrained(state.batch_stats,
                                           spec.pretrained.get('batch_stats', {})))
  if spec.settings.ema_decay > 0:
    state = state.replace(ema_params=state.params)
  return state, dropout_rng


def data_seed(seed: int, stream: int) -> int:
  """The seed of a model's data order and augmentation: (seed, stream) hashed by numpy's
  SeedSequence, so that no two pairs share an order (seed * 2 + stream gave the teacher of
  seed 1, stream 0, the order of the face net of seed 0, stream 2)."""
  return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0])


def fit(spec: FitSpec, dataset: data_lib.Dataset, model_dir: str,
        per_example: Mapping[str, np.ndarray] | None = None) -> tuple[TrainState, float]:
  """Trains `spec` on `dataset.train`, resuming from `model_dir/checkpoints`.

  `per_example` holds arrays with a row per training example that the loss reads, served in
  each batch under their names: 'teacher_logits' to distil, 'targets' to regress on.

  With `spec.tensorboard`, each epoch's loss, training accuracy, learning rate and (when it is
  evaluated) evaluation accuracy go to `model_dir`/tensorboard, from what training computes
  anyway; the final epoch's evaluation is `summarize`'s.

  Returns the final state and the seconds spent training in this call.
  """
  settings = spec.settings
  train = dataset.train
  state, dropout_rng = initial_state(spec, dataset)
  state, start_epoch = checkpoints.restore_newest_intact(model_dir, state, spec.name)
  if start_epoch:
    logger.info('%s: resumed from the checkpoint of epoch %d in %s', spec.name, start_epoch,
                checkpoints.directory(model_dir))
  hparams = step_hparams(spec)
  per_example = per_example or {}
  data_order_seed = data_seed(spec.seed, spec.stream)
  seconds = 0.0
  epoch_log = metric_logs.EpochLog(model_dir, start_epoch + 1) if spec.tensorboard else None
  learning_rate = optimizers.learning_rate_schedule(  # The one `initial_state`'s optimizer has.
      settings.optimizer, len(train['label']) // settings.batch_size, settings.num_epochs)
  # Orbax works in threads that hang or fail if Ctrl-C stops it halfway: its calls run
  # uninterrupted, and the manager is closed however the loop ends (Ctrl-C, a non-finite
  # loss), so the save in flight completes and its threads end before the interpreter.
  with interrupts.deferred():
    manager = checkpoints.manager(model_dir)
  try:
    for epoch in range(start_epoch + 1, settings.num_epochs + 1):
      start = time.perf_counter()
      losses, correct = [], []
      augment_rng = np.random.default_rng([data_order_seed, epoch, 1])
      for indices in data_lib.epoch_batches(len(train['label']), settings.batch_size,
                                            data_order_seed, epoch):
        images = preprocess.random_shift(train['image'][indices], settings.augment_shift,
                                         augment_rng)
        if settings.augment_flip:
          images = preprocess.random_flip(images, augment_rng)
        batch = {'image': images, 'label': train['label'][indices],
                 **{name: values[indices] for name, values in per_example.items()}}
        state, metrics = train_step(state, batch, dropout_rng, hparams)
        interrupts.check()
        losses.append(metrics['loss'])
        correct.append(metrics['correct'])
      losses = np.asarray(jax.device_get(jnp.stack(losses)))
      if not np.all(np.isfinite(losses)):
        bad = int(np.argmin(np.isfinite(losses)))
        raise FloatingPointError(
            f'{spec.name}: the loss became {losses[bad]} at epoch {epoch}, step {bad + 1}; '
            f'training stopped (the last good checkpoint is kept). Lower config.{spec.name}.'
            f'optimizer.learning_rate or check config.distill.temperature.')
      seconds += time.perf_counter() - start
      if epoch % spec.checkpoint_every_epochs == 0 or epoch == settings.num_epochs:
        with interrupts.deferred():
          manager.save(epoch, args=ocp.args.StandardSave(state))
        interrupts.check()
      train_accuracy = np.sum(jax.device_get(correct)) / (len(losses) * settings.batch_size)
      line = f'{spec.name} epoch {epoch:3d}/{settings.num_epochs}  loss {losses.mean():.4f}'
      scalars = {metric_logs.TRAIN_LOSS: losses.mean()}
      regression = spec.loss in REGRESSION  # Outputs are features: there is no accuracy.
      if not regression:
        line += f'  train_acc {train_accuracy:.3f}'
        scalars[metric_logs.TRAIN_ACCURACY] = train_accuracy
      # The final epoch's accuracy is computed once, by the caller's summary. `dataset.test` is
      # the validation set when there is one: the test split is never looked at here.
      if (epoch % spec.eval_every_epochs == 0 and epoch != settings.num_epochs
          and not regression):
        test = evaluate_logits(predict(state, dataset.test['image'], spec.eval_batch_size),
                               dataset.test['label'], dataset.class_names)
        name = 'val_acc' if dataset.evaluated_on == 'validation' else 'test_acc'
        line += f'  {name} {test["accuracy"]:.3f}'
        scalars[metric_logs.accuracy_tag(dataset.evaluated_on)] = test['accuracy']
      logger.info('%s  (%.1fs)', line, time.perf_counter() - start)
      if epoch_log is not None:
        # The rate of the epoch's last update (optax counts the updates made before it).
        scalars[metric_logs.LEARNING_RATE] = learning_rate(int(state.step) - 1)
        with interrupts.deferred():
          epoch_log.write(epoch, scalars)
  finally:
    with interrupts.deferred():
      manager.close()
      if epoch_log is not None:
        epoch_log.close()
  interrupts.check()
  return state, seconds


def summarize(spec: FitSpec, state: TrainState, dataset: data_lib.Dataset, model_dir: str,
              seconds: float, **extra) -> Result:
  """The `Result` of `state` on `dataset.test` (the validation set when there is one).

  After a call of `fit` that trained (`seconds` > 0), with `spec.tensorboard`, its accuracy is
  also logged as the final epoch's evaluation accuracy; evaluating a model again logs nothing.
  """
  metrics = evaluate_logits(predict(state, dataset.test['image'], spec.eval_batch_size),
                            dataset.test['label'], dataset.class_names)
  if spec.tensorboard and seconds > 0 and spec.loss not in REGRESSION:
    with interrupts.deferred():
      metric_logs.append(model_dir, spec.settings.num_epochs,
                         {metric_logs.accuracy_tag(dataset.evaluated_on): metrics['accuracy']})
    interrupts.check()
  num_params = models.count_params(state.params)
  return Result(target=spec.name, params=num_params,
                size_bytes=int(sum(x.nbytes for x in jax.tree.leaves(state.params))),
                epochs=spec.settings.num_epochs, train_seconds=round(seconds, 2),
                workdir=os.path.abspath(model_dir),
                checkpoint_dir=checkpoints.directory(model_dir),
                class_names=list(dataset.class_names), fold_hash=dataset.fold_hash,
                data=dataset.identity, evaluated_on=dataset.evaluated_on, **metrics, **extra)
