"""What every figure of a study or ablation shares: colour-blind-safe colours, a caption line,
saving beside a PNG its vector copies, and the check that no label is drawn over another.

The colours are Okabe and Ito's (2008), told apart by the common colour-vision deficiencies.
`overlapping_labels` reads the drawn texts' bounding boxes from matplotlib's renderer, so the
tests check the figure as it is rendered, not as it was meant.
"""
from __future__ import annotations

import itertools
import os
from typing import Sequence

# Okabe-Ito: black, orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple.
COLOURS = ('#000000', '#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00',
           '#CC79A7')
FRONT, BAND, OTHER, HIGHLIGHT, BASELINE = '#0072B2', '#56B4E9', '#999999', '#D55E00', '#E69F00'
# Series colours in order, the yellow last (faint on white).
SERIES = ('#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442')


def pyplot():
  """matplotlib.pyplot on the Agg backend, imported only when a figure is drawn."""
  import matplotlib  # pylint: disable=g-import-not-at-top  (plotting only when asked)
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def caption(fig, text: str) -> None:
  """A caption line under the axes (what the bars and bands are), wrapped to the figure."""
  fig.text(0.01, 0.01, text, fontsize=7, ha='left', va='bottom', wrap=True, color='#333333')


def save(fig, path: str, vector: bool = False) -> list[str]:
  """Saves `fig` to `path` (PNG) and, with `vector`, a .pdf and .svg beside it; closes it and
  returns the paths written."""
  paths = [path]
  fig.savefig(path, dpi=150)
  if vector:
    stem = os.path.splitext(path)[0]
    for suffix in ('.pdf', '.svg'):
      fig.savefig(stem + suffix)
      paths.append(stem + suffix)
  pyplot().close(fig)
  return paths


def label_boxes(fig) -> list[tuple[str, object]]:
  """(text, bounding box in display pixels) of every visible, non-empty text drawn in `fig`:
  annotations, tick labels, axis labels, titles, legend entries, captions."""
  from matplotlib import text as text_lib  # pylint: disable=g-import-not-at-top
  renderer = fig.canvas.get_renderer()
  fig.draw(renderer)
  # Tick labels of ticks outside the axis' view stay visible but are not drawn.
  undrawn = set()
  for ax in fig.axes:
    for axis in (ax.xaxis, ax.yaxis):
      low, high = sorted(axis.get_view_interval())
      for tick in (*axis.get_major_ticks(), *axis.get_minor_ticks()):
        if not low <= tick.get_loc() <= high:
          undrawn.update((id(tick.label1), id(tick.label2)))
  boxes = []
  # Text only: a legend's TextArea wraps a Text, which would count its entry twice.
  for artist in fig.findobj(text_lib.Text):
    if (not artist.get_visible() or not str(artist.get_text()).strip()
        or id(artist) in undrawn):
      continue
    boxes.append((artist.get_text(), artist.get_window_extent(renderer)))
  return boxes


def overlapping_labels(fig, pad: float = 0.0) -> list[tuple[str, str]]:
  """Pairs of texts of `fig` whose drawn boxes overlap (each grown by `pad` pixels)."""
  boxes = label_boxes(fig)
  found = []
  for (first, a), (second, b) in itertools.combinations(boxes, 2):
    if (a.x0 - pad < b.x1 + pad and b.x0 - pad < a.x1 + pad and a.y0 - pad < b.y1 + pad
        and b.y0 - pad < a.y1 + pad):
      found.append((first, second))
  return found


def percent_limits(low: Sequence[float], high: Sequence[float], margin: float = 2.0
                   ) -> tuple[float, float]:
  """y limits in percent that hold the data (`low` to `high`, in percent) with `margin` points
  to spare, never beyond 0..100."""
  values = [v for v in (*low, *high) if v == v]
  if not values:
    return 0.0, 100.0
  return max(0.0, min(values) - margin), min(100.0, max(values) + margin)


def plain_log_ticks(ax, values: Sequence[float]) -> None:
  """Ticks of a log x axis at 1, 1.5, 2, 3, 5 and 7 times powers of ten within `values`, written as
  plain numbers ('200', not '2 x 10^2'), without minor labels."""
  import matplotlib.ticker as ticker  # pylint: disable=g-import-not-at-top
  import math  # pylint: disable=g-import-not-at-top
  low, high = min(values), max(values)
  powers = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
  ticks = [m * 10**e for e in powers for m in (1, 1.5, 2, 3, 5, 7)
           if low / 1.5 <= m * 10**e <= high * 1.5]
  ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
  ax.xaxis.set_major_formatter(
      ticker.FuncFormatter(lambda v, _: f'{v:,.0f}' if v >= 1 else f'{v:g}'))
  ax.xaxis.set_minor_formatter(ticker.NullFormatter())
