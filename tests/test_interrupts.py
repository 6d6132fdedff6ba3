"""A Ctrl-C that Python drops (raised inside a garbage-collection callback) is not lost."""
import gc
import signal

import pytest

from jaxfer import interrupts


@pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')
def test_a_ctrl_c_dropped_inside_a_gc_callback_is_raised_at_the_next_check():
  previous = signal.getsignal(signal.SIGINT)
  interrupts.install()

  def press_ctrl_c(phase, info):  # pylint: disable=unused-argument
    if phase == 'start':
      interrupts._handler(signal.SIGINT, None)  # pylint: disable=protected-access

  gc.callbacks.append(press_ctrl_c)
  try:
    gc.collect()  # The KeyboardInterrupt raised in the callback is printed and dropped here.
  finally:
    gc.callbacks.remove(press_ctrl_c)
    signal.signal(signal.SIGINT, previous)
  with pytest.raises(KeyboardInterrupt):
    interrupts.check()
  interrupts.check()  # One press, one interrupt.


def test_check_is_silent_when_nothing_was_pressed():
  previous = signal.getsignal(signal.SIGINT)
  interrupts.install()
  signal.signal(signal.SIGINT, previous)
  interrupts.check()
