"""Parameter counts pinned to the original MicroExpNet family; implementations agree."""
import functools
import importlib
import os

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO
from jaxfer import models
from jaxfer.models import pooling
from jaxfer.models import separable as separable_lib
from jaxfer.models import student as student_lib

# (pooling, size name) -> parameters at 84x84x1 with 8 classes, from the original code's candidates.
PINNED = {
    ('v', 'M'): 1_002_808, ('v', 'S'): 257_656, ('v', 'XS'): 133_464, ('v', 'XXS'): 71_368,
    ('p1', 'M'): 1_002_808, ('p1', 'S'): 257_656, ('p1', 'XS'): 133_464, ('p1', 'XXS'): 71_368,
    ('p2', 'M'): 900_920, ('p2', 'S'): 232_184, ('p2', 'XS'): 120_728, ('p2', 'XXS'): 65_000,
    ('p12', 'M'): 900_920, ('p12', 'S'): 232_184, ('p12', 'XS'): 120_728, ('p12', 'XXS'): 65_000,
}


def _num_params(module, shape=(1, 84, 84, 1)):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(shape)))
  return models.count_params(variables['params'])


def test_microexpnet_has_65000_parameters():
  assert _num_params(models.MicroExpNet()) == 65_000


@pytest.mark.parametrize('pooling,size', sorted(PINNED))
def test_original_family_parameter_counts(pooling, size):
  model = models.ExpNet(pooling=pooling, squeeze=models.SIZES[size])
  assert _num_params(model) == PINNED[pooling, size]


def test_width_scales_between_original_sizes():
  counts = [_num_params(models.ExpNet(width=w)) for w in (0.5, 1.0, 2.0, 4.0)]
  assert counts == sorted(counts) and len(set(counts)) == 4
  assert counts[1] == 65_000


def test_inception_v3_matches_keras_trainable_parameters():
  # Keras InceptionV3(include_top=True, weights=None) has 23,817,352 trainable parameters.
  teacher = models.InceptionV3(num_classes=1000)
  assert _num_params(teacher, (1, 299, 299, 3)) == 23_817_352


@pytest.mark.parametrize('pooling', models.POOLINGS)
@pytest.mark.parametrize('size', [48, 84, 85])
def test_matmul_convolution_equals_xla_convolution(pooling, size):
  images = jax.random.uniform(jax.random.key(1), (2, size, size, 1))
  xla = models.ExpNet(pooling=pooling, conv_impl='xla')
  matmul = models.ExpNet(pooling=pooling, conv_impl='matmul')
  variables = xla.init(jax.random.key(0), images)
  np.testing.assert_allclose(matmul.apply(variables, images), xla.apply(variables, images),
                             atol=1e-5, rtol=1e-5)


def test_teacher_batch_norm_statistics_update_in_training_only():
  teacher = models.ResNetSmall(stage_features=(8, 16))
  images = jax.random.uniform(jax.random.key(1), (4, 48, 48, 1))
  variables = jax.jit(teacher.init)(jax.random.key(0), images)
  _, updates = jax.jit(functools.partial(teacher.apply, train=True, mutable=['batch_stats']))(
      variables, images)
  before = jax.tree.leaves(variables['batch_stats'])
  after = jax.tree.leaves(updates['batch_stats'])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  # Inference uses the running statistics: the output does not depend on the rest of the batch.
  infer = jax.jit(teacher.apply)
  alone = infer(variables, images[:1])
  together = infer(variables, images)[:1]
  np.testing.assert_allclose(alone, together, atol=1e-5)


def test_unknown_teacher_names_the_choices():
  import ml_collections
  with pytest.raises(ValueError, match='inception_v3, resnet_small'):
    models.make_teacher(ml_collections.ConfigDict({'model': 'vgg'}), 8)


@pytest.mark.parametrize('shape', [(2, 6, 8, 3), (2, 5, 7, 4), (1, 1, 3, 2)])
def test_window_max_pool_equals_flax_max_pool_in_value_and_gradient_with_ties(shape):
  # Few distinct values, so most windows hold tied maxima: the gradient must go to the first
  # maximum in row-major order, as nn.max_pool's select-and-scatter sends it.
  x = jax.random.randint(jax.random.key(0), shape, 0, 3).astype(jnp.float32)
  reference = lambda x: flax.linen.max_pool(x, (2, 2), strides=(2, 2), padding='SAME')
  value, vjp = jax.vjp(pooling.max_pool_2x2, x)
  expected_value, expected_vjp = jax.vjp(reference, x)
  assert value.shape == expected_value.shape == (shape[0], -(-shape[1] // 2), -(-shape[2] // 2),
                                                 shape[3])
  np.testing.assert_array_equal(value, expected_value)
  g = jax.random.normal(jax.random.key(1), value.shape)
  grad, = jax.jit(vjp)(g)
  np.testing.assert_array_equal(grad, expected_vjp(g)[0])
  assert np.sum(grad != 0) == np.sum(g != 0)  # One input per window receives its cotangent.


# Windows that overlap (the teacher's 3x3/2), that tile, that overlap at stride 1, and an
# asymmetric one; sizes even and odd, and smaller than the window.
@pytest.mark.parametrize('window,strides', [((3, 3), (2, 2)), ((2, 2), (2, 2)), ((3, 3), (1, 1)),
                                            ((3, 2), (2, 3))])
@pytest.mark.parametrize('shape', [(2, 10, 10, 3), (2, 7, 9, 2), (1, 1, 2, 2)])
def test_max_pool_equals_flax_max_pool_in_value_and_gradient_with_ties(shape, window, strides):
  # Values 0..2: most windows hold tied maxima, and with overlapping windows one input can be the
  # first maximum of several windows and must receive the sum of their cotangents.
  x = jax.random.randint(jax.random.key(0), shape, 0, 3).astype(jnp.float32)
  reference = lambda x: flax.linen.max_pool(x, window, strides=strides, padding='SAME')
  value, vjp = jax.vjp(lambda x: pooling.max_pool(x, window, strides), x)
  expected_value, expected_vjp = jax.vjp(reference, x)
  np.testing.assert_array_equal(value, expected_value)
  g = jax.random.normal(jax.random.key(1), value.shape)
  grad, = jax.jit(vjp)(g)
  expected, = expected_vjp(g)
  np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)
  assert np.sum(grad != 0) == np.sum(expected != 0) > 0


def test_teacher_with_the_fast_max_pool_equals_flax_max_pool_in_logits_and_gradients():
  xla = models.ResNetSmall(stage_features=(8, 16), conv_impl='xla')
  fast = models.ResNetSmall(stage_features=(8, 16), conv_impl='matmul')
  images = jax.random.uniform(jax.random.key(1), (3, 48, 48, 1))
  variables = xla.init(jax.random.key(0), images)  # One set of parameters fits both.

  def loss(params, model):
    logits, _ = model.apply({**variables, 'params': params}, images, train=True,
                            mutable=['batch_stats'])
    return jnp.sum(logits * jnp.arange(logits.shape[-1]))

  for model in (xla, fast):
    assert jax.tree.structure(model.init(jax.random.key(0), images)) == jax.tree.structure(
        variables)
  step = jax.jit(jax.value_and_grad(loss), static_argnums=1)  # Both compiled alike.
  value, grads = step(variables['params'], fast)
  expected_value, expected_grads = step(variables['params'], xla)
  np.testing.assert_allclose(value, expected_value, rtol=1e-6)
  for got, expected in zip(jax.tree.leaves(grads), jax.tree.leaves(expected_grads)):
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


# Width 1 computes conv2's kernel gradient from saved patches (256 patch rows), width 0.5 from
# the strided convolution (128 rows); conv1 always takes the space-to-depth path.
@pytest.mark.parametrize('width', [0.5, 1.0])
@pytest.mark.parametrize('pooling', models.POOLINGS)
def test_fast_convolution_gradients_equal_xla_gradients(pooling, width):
  images = jax.random.uniform(jax.random.key(1), (3, 84, 84, 1))
  xla = models.ExpNet(pooling=pooling, conv_impl='xla', dropout=0.0, width=width)
  fast = models.ExpNet(pooling=pooling, conv_impl='matmul', dropout=0.0, width=width)
  conv2_input = (3, 21, 21, round(16 * width))  # conv1 and pool1 always leave 21x21
  conv2_kernel = (4, 4, round(16 * width), round(32 * width))
  assert student_lib.MatmulConv._use_patches(conv2_input, conv2_kernel, (2, 2)) == (width == 1.0)
  variables = xla.init(jax.random.key(0), images)

  def grads(model):
    loss = lambda params, x: jnp.sum(jnp.sin(model.apply({'params': params}, x)))
    # Compiled as training compiles them (and once, instead of op by op).
    return jax.jit(jax.grad(loss, argnums=(0, 1)))(variables['params'], images)

  (params_xla, images_xla), (params_fast, images_fast) = grads(xla), grads(fast)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4),
               params_fast, params_xla)
  np.testing.assert_allclose(images_fast, images_xla, atol=1e-6, rtol=1e-4)


SHIPPED_CONFIGS = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, 'configs'))
                         if name.endswith('.py') and name != '__init__.py')


@functools.lru_cache(maxsize=None)
def _logits_shape(model, size):
  """The logits' shape of `model` on 2 images of `size` pixels, from shapes alone; configs that
  build an equal model at the same size share one trace."""
  return jax.eval_shape(lambda: model.apply(
      model.init(jax.random.key(0), jnp.zeros((1, size, size, 1))),
      jnp.zeros((2, size, size, 1)))).shape


@pytest.mark.parametrize('config_name', SHIPPED_CONFIGS)
@pytest.mark.parametrize('teacher', sorted(models.TEACHERS))
def test_every_teacher_is_selectable_from_every_shipped_config(config_name, teacher):
  config = importlib.import_module(f'configs.{config_name}').get_config()
  config.teacher.model = teacher
  config.data.manual_dir = ''  # Not the dataset's folder: this checks the teacher settings only.
  models.check_teacher_settings(config.teacher)
  model = models.make_teacher(config.teacher, 8)
  assert _logits_shape(model, config.data.image_size) == (2, 8)


def test_unknown_teacher_settings_name_the_setting_and_what_is_accepted():
  import ml_collections
  config = ml_collections.ConfigDict({'model': 'resnet_small',
                                      'resnet_small': {'stage_features': (8,), 'depth': 3}})
  with pytest.raises(ValueError, match=r'config.teacher.resnet_small has the unknown setting\(s\) '
                     'depth; resnet_small accepts: stage_features'):
    models.check_teacher_settings(config)


def test_the_convolution_follows_the_backend(monkeypatch):
  images = jax.random.uniform(jax.random.key(1), (2, 84, 84, 1))
  variables = models.MicroExpNet().init(jax.random.key(0), images)
  on_cpu = models.MicroExpNet().apply(variables, images)
  assert jax.default_backend() != 'cpu' or models.resolve_conv_impl('auto') == 'matmul'
  monkeypatch.setattr(student_lib.jax, 'default_backend', lambda: 'gpu')
  assert models.resolve_conv_impl('auto') == 'xla'
  assert models.resolve_conv_impl('matmul') == 'matmul'  # An explicit choice stays.
  # Same parameters either way, and the same logits within float tolerance.
  np.testing.assert_allclose(models.MicroExpNet().apply(variables, images), on_cpu, atol=1e-5)


# Parameters of the separable family at 48x48x1 (BatchNorm's scale and offset included, its
# running statistics not). Keras' mini_XCEPTION with 7 classes reports 56,951 trainable and
# 58,423 total parameters: its extra 1,472 are the running means and variances.
SEPARABLE_PINNED = {
    ('mini_xception', 7): 56_951, ('mini_xception', 8): 58_104,
    ('width 0.5, depth 3', 8): 6_288,
}


@pytest.mark.parametrize('name,classes', sorted(SEPARABLE_PINNED))
def test_separable_family_parameter_counts(name, classes):
  model = (models.MiniXception(num_classes=classes) if name == 'mini_xception'
           else models.SeparableNet(width=0.5, depth=3, num_classes=classes))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 48, 48, 1))))
  assert models.count_params(variables['params']) == SEPARABLE_PINNED[name, classes]
  if name == 'mini_xception' and classes == 7:
    assert models.count_params(variables['batch_stats']) == 58_423 - 56_951


def test_separable_size_counts_parameters_not_running_statistics():
  import ml_collections
  from configs import default
  config = default.get_config().student
  config.update(family='separable', width=1.0, depth=4)
  assert models.student_size_bytes(config, 48, 7) == 4 * 56_951
  # No dense layer: the size does not depend on the input size.
  assert models.student_size_bytes(config, 84, 7) == 4 * 56_951
  config.family = 'microexpnet'
  assert models.student_size_bytes(config, 84) == 4 * 65_000
  # A config.json recorded before families existed builds MicroExpNet.
  old = ml_collections.ConfigDict({k: v for k, v in config.to_dict().items()
                                   if k not in ('family', 'depth')})
  assert isinstance(models.make_student(old, 8), models.ExpNet)


def test_separable_modules_halve_the_resolution_and_width_scales_the_filters():
  model = models.SeparableNet(width=1.5, depth=2, num_classes=5)
  images = jnp.zeros((2, 48, 48, 1))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), images))
  params = variables['params']
  assert params['stem0']['kernel'].shape == (3, 3, 1, 12)  # round(8 * 1.5)
  assert params['module0_sep0']['depthwise']['kernel'].shape == (3, 3, 1, 12)  # Per channel.
  assert params['module1_shortcut']['kernel'].shape == (1, 1, 24, 48)  # round(32 * 1.5)
  assert params['head']['kernel'].shape == (3, 3, 48, 5)
  assert 'bias' not in params['stem0'] and 'bias' in params['head']
  features = jax.eval_shape(lambda v: model.apply(v, images, features=True), variables)
  assert features.shape == (2, 48)
  assert jax.eval_shape(lambda v: model.apply(v, images), variables).shape == (2, 5)


@pytest.mark.parametrize('shape', [(2, 7, 5, 3), (1, 1, 1, 2)])
def test_depthwise_convolution_equals_the_grouped_convolution_in_value_and_gradient(shape):
  x = jax.random.normal(jax.random.key(0), shape)
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 1, shape[-1]))
  grouped = lambda x, kernel: jax.lax.conv_general_dilated(
      x, kernel, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      feature_group_count=shape[-1])
  value, vjp = jax.vjp(separable_lib.depthwise_conv, x, kernel)
  expected_value, expected_vjp = jax.vjp(grouped, x, kernel)
  np.testing.assert_allclose(value, expected_value, atol=1e-5)
  g = jax.random.normal(jax.random.key(2), value.shape)
  for got, expected in zip(jax.jit(vjp)(g), expected_vjp(g)):
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_separable_implementations_agree_and_statistics_update_in_training_only():
  images = jax.random.uniform(jax.random.key(1), (4, 47, 47, 1))  # Odd: SAME padding.
  xla = models.SeparableNet(width=0.5, depth=2, conv_impl='xla')
  fast = models.SeparableNet(width=0.5, depth=2, conv_impl='matmul')
  variables = jax.jit(xla.init)(jax.random.key(0), images)
  # The same parameters, initialised alike, and the same logits and gradients.
  jax.tree.map(np.testing.assert_array_equal, jax.jit(fast.init)(jax.random.key(0), images),
               variables)
  np.testing.assert_allclose(jax.jit(fast.apply)(variables, images),
                             jax.jit(xla.apply)(variables, images), atol=1e-5, rtol=1e-5)

  def grads(model):
    loss = lambda params: jnp.sum(jnp.sin(model.apply(
        {'params': params, 'batch_stats': variables['batch_stats']}, images, train=True,
        mutable=['batch_stats'])[0]))
    return jax.jit(jax.grad(loss))(variables['params'])

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4),
               grads(fast), grads(xla))
  _, updates = jax.jit(functools.partial(fast.apply, train=True, mutable=['batch_stats']))(
      variables, images)
  before, after = jax.tree.leaves(variables['batch_stats']), jax.tree.leaves(updates['batch_stats'])
  assert all(not np.allclose(a, b) for a, b in zip(before, after))
  # Inference uses the running statistics: an image's logits do not depend on its batch.
  apply = jax.jit(fast.apply)
  np.testing.assert_allclose(apply(variables, images[:1]), apply(variables, images)[:1], atol=1e-5)


def test_unknown_family_names_the_field_and_the_families():
  from configs import default
  config = default.get_config().student
  config.family = 'resnet'
  with pytest.raises(ValueError, match=r"^config.student.family = 'resnet' is not allowed; "
                     'choose one of: microexpnet, separable$'):
    models.make_student(config, 8)
