"""The paper's claims and the verdict this project's measurements give on each, as pure functions.

Each function takes measurements (ablation cells, a comparison summary, a speed figure) and
returns a `Verdict`: what was measured, in words, and 'supported', 'contradicted' (the 95%
interval rules out the effect the paper claims), 'not supported' (neither: the data cannot
tell) or 'not testable here'. `benchmarks/reproduction.py` gathers the measurements and writes
docs/reproduction.md from these.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from search import ablation
from search import equivalence
from search import intervals

SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = 'supported', 'not supported', 'not testable here'
CONTRADICTED = 'contradicted'
ALPHA = 1 - intervals.CONFIDENCE
# The paper's speed claim (IPTA 2019); the original repository's README gives 1408 instead.
PAPER_FPS = 1851


class Verdict(NamedTuple):
  measured: str
  verdict: str


def under_one_megabyte(size_bytes: int) -> Verdict:
  """MicroExpNet's float32 parameters under 1 MB (10^6 bytes, the stricter reading)."""
  return Verdict(f'{size_bytes:,} bytes of float32 parameters ({size_bytes / 4:,.0f} '
                 'parameters)', SUPPORTED if size_bytes < 1_000_000 else NOT_SUPPORTED)


def frames_per_second(batch1_fps: float | None, cpu: str) -> Verdict:
  """The paper's 1851 frames per second were measured on an Intel i7; another CPU can only
  support the claim by being at least as fast, never refute it."""
  if batch1_fps is None:
    return Verdict('not measured', NOT_TESTABLE)
  measured = f'{batch1_fps:,.0f} frames per second at batch 1 on {cpu}'
  return Verdict(measured, SUPPORTED if batch1_fps >= PAPER_FPS else NOT_TESTABLE)


def _by_size(cells: Sequence[ablation.Cell], **fixed: Any) -> dict[str, dict[str, Any]]:
  """{size label: {loss: cell}} of the cells whose parameters match `fixed` where they vary."""
  table: dict[str, dict[str, Any]] = {}
  for cell in cells:
    if all(cell.params.get(name, value) == value for name, value in fixed.items()):
      table.setdefault(cell.size_label, {})[cell.params['loss']] = cell
  return table


def distillation_gain_grows_as_models_shrink(cells: Sequence[ablation.Cell],
                                             pooling: str = 'p12',
                                             margin: float = ablation.DEFAULT_MARGIN_POINTS / 100
                                             ) -> Verdict:
  """The gain of distillation at the smallest size minus its gain at the largest, paired by
  fold and seed (a difference of differences). Supported when it is positive at 5%;
  contradicted when, not supported, its 95% interval lies below +`margin` (a fraction): a
  growth as large as the margin is ruled out, though a smaller one may remain. The margin, not
  0, because a growth smaller than the margin is one this project deems too small to matter,
  and it is the bound the equivalence tests use. The measured text adds the MDE with 80% power
  at 5% (one test) and the interaction's verdict against +-margin."""
  table = {size: losses for size, losses in _by_size(cells, pooling=pooling).items()
           if ablation.WITHOUT_KD in losses and len(losses) == 2}
  if len(table) < 2:
    return Verdict('needs distilled and undistilled cells at two sizes or more', NOT_TESTABLE)
  by_bytes = sorted(table.items(), key=lambda item: next(iter(item[1].values())).size_bytes)
  (small, small_cells), (large, large_cells) = by_bytes[0], by_bytes[-1]

  def gain(losses):
    distilled = next(c for loss, c in losses.items() if loss != ablation.WITHOUT_KD)
    return np.asarray(distilled.runs) - np.asarray(losses[ablation.WITHOUT_KD].runs)

  gains = {size: intervals.paired_difference(gain(losses), np.zeros_like(gain(losses)))
           for size, losses in by_bytes}
  interaction = intervals.paired_difference(gain(small_cells), gain(large_cells))
  units = intervals.unit_differences(gain(small_cells), gain(large_cells))[0]
  sd = float(units.std(ddof=1)) if len(units) >= 2 else float('nan')
  test = equivalence.tost(interaction.mean, sd, interaction.n, margin)
  state = equivalence.verdict(interaction.p_value < ALPHA, test.p_value < ALPHA)
  listed = ', '.join(f'{size} {100 * d.mean:+.1f}' for size, d in gains.items())
  measured = (f'gain in points by size, smallest first: {listed}; smallest ({small}) minus '
              f'largest ({large}): {100 * interaction.mean:+.1f} points (95% interval '
              f'{100 * interaction.low:+.1f} to {100 * interaction.high:+.1f}, paired t over '
              f'{interaction.n} {interaction.unit}s, p {interaction.p_value:.3g}; MDE '
              f'{100 * equivalence.mde80(sd, interaction.n, ALPHA):.1f} points; {state}'
              f'{f" ({100 * margin:g} points)" if "margin" in state else ""})')
  if interaction.mean > 0 and interaction.p_value < ALPHA:
    return Verdict(measured, SUPPORTED)
  return Verdict(measured, CONTRADICTED if interaction.high < margin else NOT_SUPPORTED)


def pooling_helps(found: Sequence[ablation.Comparison], variant: str = 'p12') -> Verdict:
  """MicroExpNet's pooling (p12) against none (v) at each size, with and without distillation:
  supported when p12 is better at 5% (Holm) in most of them and worse in none. Contradicted
  when, not supported, every p12 - v comparison's 95% interval has its upper end below
  +margin: a gain as large as the margin is ruled out everywhere. Every row must rule it out,
  so no multiplicity correction is needed (an intersection-union test: each row at 2.5% one
  sided, the conclusion at no more). The measured text adds the verdict counts and MDEs."""
  rows = [c for c in found if c.first == variant and c.second == ablation.NO_POOLING]
  if not rows:
    return Verdict(f'needs {variant} and {ablation.NO_POOLING} cells', NOT_TESTABLE)
  better = [c for c in rows if c.difference.mean > 0 and c.p_holm < ALPHA]
  worse = [c for c in rows if c.difference.mean < 0 and c.p_holm < ALPHA]
  listed = '; '.join(f'{c.group}: {100 * c.difference.mean:+.1f} (Holm p {c.p_holm:.2g})'
                     for c in rows)
  measured = (f'{variant} - {ablation.NO_POOLING} in points: {listed}; better in {len(better)}, '
              f'worse in {len(worse)} of {len(rows)} at 5%; {ablation.verdict_counts(rows)}')
  if len(better) > len(rows) / 2 and not worse:
    return Verdict(measured, SUPPORTED)
  ruled_out = all(c.difference.high < c.margin for c in rows)
  return Verdict(measured, CONTRADICTED if ruled_out else NOT_SUPPORTED)


def temperature_matters(found: Sequence[ablation.Comparison]) -> Verdict:
  """Supported when, at some size, a temperature is worse than that size's best at 5% (Holm):
  then the temperature has to be chosen, as the paper's grid search did. Contradicted when,
  not supported, every temperature is equivalent within +-margin of its size's best (TOST,
  Holm-corrected): any temperature of the grid would do. The measured text adds the verdict
  counts and MDEs."""
  if not found:
    return Verdict('needs two temperatures or more at one size', NOT_TESTABLE)
  worse = [c for c in found if c.difference.mean > 0 and c.p_holm < ALPHA]
  sizes = sorted({c.group for c in found})
  measured = (f'{len(worse)} of {len(found)} temperatures worse than their size\'s best at 5% '
              f'(Holm), over {len(sizes)} size(s)' + (': ' + '; '.join(
                  f'{c.group} {c.second} {100 * c.difference.mean:.1f} points below {c.first}'
                  for c in worse) if worse else '') + f'; {ablation.verdict_counts(found)}')
  if worse:
    return Verdict(measured, SUPPORTED)
  flat = all(c.p_equivalence_holm < ALPHA for c in found)
  return Verdict(measured, CONTRADICTED if flat else NOT_SUPPORTED)


def search_beats_the_grid(summary: dict[str, Any]) -> Verdict:
  """From `benchmarks/search_vs_grid.py`'s summary: supported when a sampler reached the grid's
  final hypervolume within a third of the grid's student trainings with every study seed."""
  grid = summary['grid']
  third = grid['trainings'] / 3
  parts, winners = [], []
  for sampler, entry in summary['samplers'].items():
    seeds = len(entry['reached_at'])
    parts.append(f'{sampler} {entry["reached_at"]} (within a third: '
                 f'{entry["reached_within_third"]} of {seeds} seeds)')
    if entry['reached_within_third'] == seeds:
      winners.append(sampler)
  measured = (f'trainings to reach the grid\'s final hypervolume, whose grid took '
              f'{grid["trainings"]} (a third: {third:.0f}): ' + '; '.join(parts))
  return Verdict(measured, SUPPORTED if winners else NOT_SUPPORTED)


def pretraining_helps(rows: Sequence[dict[str, Any]]) -> Verdict:
  """FaceNet2ExpNet's claim that an expression net pre-trained on a face net beats one trained
  from scratch: `rows` as `search.fold_comparison.compare` gives them, the first trained
  plainly; supported when some pre-trained row is better at 5% (paired over folds) and none is
  worse."""
  if len(rows) < 2:
    return Verdict('needs a plain row and a pre-trained one', NOT_TESTABLE)
  differences = [(row['label'], intervals.PairedDifference(**row['difference']))
                 for row in rows[1:]]
  better = [d for _, d in differences if d.mean > 0 and d.p_value < ALPHA]
  worse = [d for _, d in differences if d.mean < 0 and d.p_value < ALPHA]
  measured = '; '.join(
      f'{label}: {100 * d.mean:+.1f} points (95% interval {100 * d.low:+.1f} to '
      f'{100 * d.high:+.1f}, paired t over {d.n} {d.unit}s, p {d.p_value:.2g})'
      for label, d in differences) + f' against "{rows[0]["label"]}"'
  return Verdict(measured, SUPPORTED if better and not worse else NOT_SUPPORTED)
