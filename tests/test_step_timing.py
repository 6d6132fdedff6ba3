"""The clocks of jaxfer/step_timing.py count every call and wait for the result; the step's
set-up refuses a feed or a model it does not know (the set-up itself runs in
tests/test_benchmarks.py)."""
import time

import pytest

from jaxfer import step_timing


def _sleeper(calls, seconds=0.01):
  def call():
    calls.append(1)
    time.sleep(seconds)
    return len(calls)
  return call


def test_seconds_and_ms_per_call_time_every_repeat():
  calls = []
  assert step_timing.seconds(_sleeper(calls), repeats=3) >= 0.03 and len(calls) == 3
  assert 10 <= step_timing.ms_per_call(_sleeper(calls), 2) < 1000 and len(calls) == 5


def test_latencies_time_each_call_on_its_own():
  calls = []
  latencies = step_timing.latencies_ms(_sleeper(calls, 0.005), 4)
  assert len(latencies) == 4 and len(calls) == 4 and all(5 <= ms < 1000 for ms in latencies)


def test_cores_busy_is_cpu_time_over_wall_time():
  wall, busy = step_timing.cores_busy(lambda: time.sleep(0.05))
  assert wall >= 0.05 and 0 <= busy < 0.5  # Sleeping keeps no core busy.


def test_a_feed_other_than_device_or_numpy_is_refused_before_anything_is_built():
  with pytest.raises(ValueError, match="feed 'disk': expected one of device, numpy"):
    step_timing.StepSetup(feed='disk')


def test_a_model_that_is_neither_a_family_nor_a_teacher_is_refused_naming_the_choices():
  with pytest.raises(ValueError, match="model 'vgg': expected one of microexpnet, separable, "
                     'inception_v3, resnet_small'):
    step_timing.StepSetup(model='vgg')
