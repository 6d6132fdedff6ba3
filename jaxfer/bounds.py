"""The one check of a numeric setting: its type and its bounds, with a message naming it.

Plain Python, so that every layer (the data layer included, which imports no JAX) checks its own
settings with the same rule and the same words.
"""
from __future__ import annotations

from typing import Any


def check_number(name: str, value: Any, *, low: float, high: float = float('inf'),
                 low_inclusive: bool = False, integer: bool = False,
                 high_inclusive: bool = True) -> None:
  """Raises ValueError unless `value` is a number (an integer if `integer`) in the range."""
  ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
  in_range = (ok_type and (value >= low if low_inclusive else value > low)
              and (value <= high if high_inclusive else value < high))
  if isinstance(value, bool) or not in_range:
    kind = 'an integer' if integer else 'a number'
    bound = '>=' if low_inclusive else '>'
    upper = (f' and {"<=" if high_inclusive else "<"} {high}' if high != float('inf') else '')
    raise ValueError(f'{name} = {value!r} is not allowed; expected {kind} {bound} {low}{upper}')
