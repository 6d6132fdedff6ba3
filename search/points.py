"""Accuracy fractions written as percentage points, one way for every table and message.

A difference, interval end or spread of 0.0123 is written 1.2 (`unsigned`), +1.2 (`signed`)
or, in a CSV, the number 1.23 (`csv_cell`); an undefined one (NaN) as 'n/a', or an empty cell.
"""
from __future__ import annotations

import math


def unsigned(value: float) -> str:
  """'12.3' for 0.123; 'n/a' for NaN."""
  return 'n/a' if math.isnan(value) else f'{100 * value:.1f}'


def signed(value: float) -> str:
  """'+1.2' or '-1.2' for +-0.012: a difference; 'n/a' for NaN."""
  return 'n/a' if math.isnan(value) else f'{100 * value:+.1f}'


def csv_cell(value: float) -> float | str:
  """The value in points, unrounded, for a CSV; '' for NaN."""
  return '' if math.isnan(value) else 100 * value
