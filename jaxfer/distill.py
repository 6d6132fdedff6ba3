"""Training losses: pure functions of a model's outputs and what they are compared with.

Classification losses take logits, labels and, when distilling, a teacher's logits; FaceNet2ExpNet's
regression losses take predicted features and their targets. `microexpnet_loss` is the loss of the
original MicroExpNet code, where the soft term is *not* multiplied by T^2; `hinton_loss` is Hinton
et al.'s (2015), where it is, so the soft gradients keep their scale as T grows.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

# The names config.distill.loss takes ('none': the supervised loss, no teacher).
LOSSES = ('microexpnet', 'hinton', 'none')


def soft_cross_entropy(student_logits: jax.Array, teacher_logits: jax.Array,
                       temperature: float | jax.Array) -> jax.Array:
  """Per-example CE(softmax(t/T), softmax(s/T)) = -sum_k softmax(t/T)_k * log softmax(s/T)_k."""
  targets = jax.nn.softmax(teacher_logits / temperature, axis=-1)
  return optax.softmax_cross_entropy(student_logits / temperature, targets)


def hard_cross_entropy(student_logits: jax.Array, labels: jax.Array,
                       label_smoothing: float | jax.Array = 0.0) -> jax.Array:
  """Per-example CE(y_eps, s) for labels smoothed by eps over K classes:
  (1-eps) * -log softmax(s)_y + eps * mean_k(-log softmax(s)_k); eps = 0 is -log softmax(s)_y."""
  # Written as the two terms, not through optax.smooth_labels, so eps = 0 is exactly the
  # integer-label cross-entropy.
  log_probs = jax.nn.log_softmax(student_logits, axis=-1)
  hard = optax.softmax_cross_entropy_with_integer_labels(student_logits, labels)
  return (1.0 - label_smoothing) * hard - label_smoothing * jnp.mean(log_probs, axis=-1)


def microexpnet_loss(student_logits: jax.Array, teacher_logits: jax.Array, labels: jax.Array,
                     temperature: float | jax.Array, lam: float | jax.Array,
                     label_smoothing: float | jax.Array = 0.0) -> jax.Array:
  """Original MicroExpNet loss: mean of (1-lam)*CE(y, s) + lam*CE(softmax(t/T), softmax(s/T)).

  With `label_smoothing` eps > 0 the hard term's labels are smoothed (`hard_cross_entropy`).
  """
  hard = hard_cross_entropy(student_logits, labels, label_smoothing)
  soft = soft_cross_entropy(student_logits, teacher_logits, temperature)
  return jnp.mean((1.0 - lam) * hard + lam * soft)


def hinton_loss(student_logits: jax.Array, teacher_logits: jax.Array, labels: jax.Array,
                temperature: float | jax.Array, lam: float | jax.Array,
                label_smoothing: float | jax.Array = 0.0) -> jax.Array:
  """Hinton's loss: mean of (1-lam)*CE(y, s) + lam*T^2*CE(softmax(t/T), softmax(s/T))."""
  hard = hard_cross_entropy(student_logits, labels, label_smoothing)
  soft = soft_cross_entropy(student_logits, teacher_logits, temperature)
  return jnp.mean((1.0 - lam) * hard + lam * temperature**2 * soft)


def supervised_loss(student_logits: jax.Array, labels: jax.Array,
                    label_smoothing: float | jax.Array = 0.0) -> jax.Array:
  """No distillation: mean CE(y, s)."""
  return jnp.mean(hard_cross_entropy(student_logits, labels, label_smoothing))


def feature_regression_l2(predicted: jax.Array, targets: jax.Array) -> jax.Array:
  """FaceNet2ExpNet's stage-1 loss: mean over the batch of ||g(x) - G(x)||^2 / D, the squared
  distance between the expression net's projected features g(x) and the face net's G(x) of the
  same image, per dimension (no labels are used)."""
  return jnp.mean(jnp.square(predicted - targets))


def feature_regression_l1(predicted: jax.Array, targets: jax.Array) -> jax.Array:
  """As `feature_regression_l2` with the absolute distance: mean of ||g(x) - G(x)||_1 / D."""
  return jnp.mean(jnp.abs(predicted - targets))


# The stage-1 losses by the name config.facenet2expnet.loss takes.
REGRESSION_LOSSES = {'l2': 'regression_l2', 'l1': 'regression_l1'}
