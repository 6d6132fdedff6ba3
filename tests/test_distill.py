"""Distillation, classification and regression losses against hand computations."""
import math

import numpy as np
import pytest

from jaxfer import distill

STUDENT = np.array([[2.0, 0.0, -1.0]], np.float32)
TEACHER = np.array([[4.0, 1.0, 0.0]], np.float32)
LABEL = np.array([1])


def _softmax(x):
  e = [math.exp(v) for v in x]
  return [v / sum(e) for v in e]


def _hand(temperature, lam, t_squared):
  """The losses written out term by term for the single example above."""
  s, t = STUDENT[0].tolist(), TEACHER[0].tolist()
  hard = -math.log(_softmax(s)[1])
  p_teacher = _softmax([v / temperature for v in t])
  p_student = _softmax([v / temperature for v in s])
  soft = -sum(pt * math.log(ps) for pt, ps in zip(p_teacher, p_student))
  return (1 - lam) * hard + lam * (temperature**2 if t_squared else 1.0) * soft


@pytest.mark.parametrize('temperature,lam', [(8.0, 0.5), (1.0, 0.3), (4.0, 1.0), (2.0, 0.0)])
def test_microexpnet_loss_has_no_t_squared(temperature, lam):
  value = distill.microexpnet_loss(STUDENT, TEACHER, LABEL, temperature, lam)
  assert float(value) == pytest.approx(_hand(temperature, lam, t_squared=False), rel=1e-5)


@pytest.mark.parametrize('temperature,lam', [(8.0, 0.5), (1.0, 0.3), (4.0, 1.0)])
def test_hinton_loss_scales_soft_term_by_t_squared(temperature, lam):
  value = distill.hinton_loss(STUDENT, TEACHER, LABEL, temperature, lam)
  assert float(value) == pytest.approx(_hand(temperature, lam, t_squared=True), rel=1e-5)


def test_default_loss_value_by_hand():
  # T=8, lam=0.5: hard = -log softmax([2,0,-1])_1 = 2.1698; soft term 1.0767 from the teacher.
  value = distill.microexpnet_loss(STUDENT, TEACHER, LABEL, 8.0, 0.5)
  assert float(value) == pytest.approx(0.5 * 2.16985 + 0.5 * 1.07670, abs=1e-4)


def test_losses_average_over_the_batch():
  students = np.concatenate([STUDENT, STUDENT[:, ::-1]])
  teachers = np.concatenate([TEACHER, TEACHER])
  labels = np.array([1, 0])
  both = distill.microexpnet_loss(students, teachers, labels, 8.0, 0.5)
  each = [distill.microexpnet_loss(students[i:i + 1], teachers[i:i + 1], labels[i:i + 1], 8.0, 0.5)
          for i in range(2)]
  assert float(both) == pytest.approx(np.mean(each), rel=1e-6)


def test_supervised_loss_is_the_cross_entropy_of_the_labels():
  value = distill.supervised_loss(STUDENT, LABEL)
  assert float(value) == pytest.approx(_hand(1.0, 0.0, False), rel=1e-5)


@pytest.mark.parametrize('eps', [0.1, 0.3])
def test_label_smoothing_by_hand(eps):
  # Smoothed labels over K=3 classes: (1-eps) on the label plus eps/3 on every class.
  s = STUDENT[0].tolist()
  log_p = [math.log(p) for p in _softmax(s)]
  targets = [eps / 3 + (1 - eps) * (k == 1) for k in range(3)]
  hard = -sum(q * lp for q, lp in zip(targets, log_p))
  value = distill.microexpnet_loss(STUDENT, TEACHER, LABEL, 8.0, 0.5, eps)
  soft = _hand(8.0, 1.0, False)
  assert float(value) == pytest.approx(0.5 * hard + 0.5 * soft, rel=1e-5)
  assert float(distill.supervised_loss(STUDENT, LABEL, eps)) == pytest.approx(hard, rel=1e-5)


def test_no_label_smoothing_is_the_integer_label_cross_entropy():
  assert float(distill.hard_cross_entropy(STUDENT, LABEL, 0.0)[0]) == float(
      distill.optax.softmax_cross_entropy_with_integer_labels(STUDENT, LABEL)[0])


def test_feature_regression_losses_are_the_mean_per_dimension_distances_by_hand():
  predicted = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], np.float32)
  targets = np.array([[0.0, -1.0, 0.5], [2.0, 1.0, 1.0]], np.float32)
  # Squared distances 1 + 1 + 0 = 2 and 4 + 4 + 4 = 12 over 3 dimensions, then the batch mean.
  assert float(distill.feature_regression_l2(predicted, targets)) == pytest.approx(14 / 6)
  # Absolute distances 1 + 1 + 0 = 2 and 2 + 2 + 2 = 6.
  assert float(distill.feature_regression_l1(predicted, targets)) == pytest.approx(8 / 6)
