"""The verdicts on the paper's claims (search/claims.py) from hand-built measurements, and
benchmarks/reproduction.py writing them from studies in a real storage."""
import math
import subprocess
import sys

import numpy as np
import optuna

from conftest import REPO
from search import ablation
from search import claims
from search import intervals
from search import pareto
from search import storage


def _cell(number, size_bytes, runs, **params):
  return ablation.Cell(number, params, float(size_bytes), runs)


def test_under_one_megabyte_reads_a_megabyte_as_a_million_bytes():
  assert claims.under_one_megabyte(260_000).verdict == claims.SUPPORTED
  assert claims.under_one_megabyte(1_000_000).verdict == claims.NOT_SUPPORTED
  assert '65,000 parameters' in claims.under_one_megabyte(260_000).measured


def test_a_slower_cpu_cannot_refute_the_speed_claim():
  assert claims.frames_per_second(None, 'x').verdict == claims.NOT_TESTABLE
  assert claims.frames_per_second(2000.0, 'x').verdict == claims.SUPPORTED
  assert claims.frames_per_second(1000.0, 'x').verdict == claims.NOT_TESTABLE


def _kd_cells(gains_small, gains_large):
  """Cells at two sizes, undistilled runs at 0.5, distilled runs 0.5 + gain, one seed."""
  cells = []
  for size, size_bytes, gains in (('XXS', 100, gains_small), ('M', 900, gains_large)):
    cells.append(_cell(len(cells), size_bytes, [[0.5] for _ in gains], size=size, loss='none'))
    cells.append(_cell(len(cells), size_bytes, [[0.5 + g] for g in gains], size=size,
                       loss='microexpnet'))
  return cells


def test_distillation_gain_growing_as_models_shrink_is_a_paired_difference_of_gains():
  # Per fold, gain at XXS minus gain at M: 0.06, 0.04, 0.08 (3 folds, 2 degrees of freedom).
  found = claims.distillation_gain_grows_as_models_shrink(
      _kd_cells([0.07, 0.05, 0.09], [0.01, 0.01, 0.01]))
  d = [0.06, 0.04, 0.08]
  sd = math.sqrt(sum((x - 0.06)**2 for x in d) / 2)
  t = 0.06 / (sd / math.sqrt(3))
  p = 1 - t / math.sqrt(2 + t * t)  # Two-sided, Student's t with 2 degrees of freedom.
  assert found.verdict == claims.SUPPORTED  # p = 0.0377.
  assert f'p {p:.3g}' in found.measured and '+6.0 points' in found.measured
  assert 'XXS +7.0, M +1.0' in found.measured
  # The same gains at both sizes: nothing grows.
  same = claims.distillation_gain_grows_as_models_shrink(
      _kd_cells([0.05, 0.03, 0.04], [0.05, 0.03, 0.04]))
  assert same.verdict == claims.NOT_SUPPORTED
  one_size = claims.distillation_gain_grows_as_models_shrink(_kd_cells([0.1], [0.1])[:2])
  assert one_size.verdict == claims.NOT_TESTABLE


def _comparison(group, first, second, mean, p_holm):
  difference = intervals.PairedDifference(mean, mean - 0.01, mean + 0.01, 3.0, p_holm, 1.0, 10,
                                          'fold')
  return ablation.Comparison(group, first, second, difference, p_holm)


def test_pooling_is_supported_when_p12_beats_v_in_most_comparisons_and_loses_in_none():
  rows = [_comparison('S', 'p12', 'v', 0.03, 0.01), _comparison('XXS', 'p12', 'v', 0.02, 0.04),
          _comparison('XS', 'p12', 'v', 0.01, 0.30), _comparison('S', 'p1', 'v', -0.05, 0.001)]
  found = claims.pooling_helps(rows)
  assert found.verdict == claims.SUPPORTED  # 2 of 3 p12 rows better, none worse (p1 ignored).
  assert 'better in 2, worse in 0 of 3 at 5%' in found.measured
  rows.append(_comparison('M', 'p12', 'v', -0.04, 0.02))
  assert claims.pooling_helps(rows).verdict == claims.NOT_SUPPORTED  # Now worse at M.
  assert claims.pooling_helps(rows[3:4]).verdict == claims.NOT_TESTABLE


def test_temperature_matters_when_some_temperature_is_significantly_below_the_best():
  flat = [_comparison('XXS', 'T=4', 'T=1', 0.01, 0.6), _comparison('XXS', 'T=4', 'T=64', 0.02,
                                                                  0.2)]
  assert claims.temperature_matters(flat).verdict == claims.NOT_SUPPORTED
  steep = flat + [_comparison('S', 'T=8', 'T=1', 0.09, 0.001)]
  found = claims.temperature_matters(steep)
  assert found.verdict == claims.SUPPORTED
  assert 'S T=1 9.0 points below T=8' in found.measured


def test_search_beats_the_grid_only_when_every_study_seed_of_a_sampler_reached_it_in_a_third():
  summary = {'grid': {'trainings': 168},
             'samplers': {'tpe': {'reached_at': [30, 54, None], 'reached_within_third': 2},
                          'gp': {'reached_at': [12, 18, 48], 'reached_within_third': 3}}}
  found = claims.search_beats_the_grid(summary)
  assert found.verdict == claims.SUPPORTED and 'a third: 56' in found.measured
  summary['samplers'].pop('gp')
  assert claims.search_beats_the_grid(summary).verdict == claims.NOT_SUPPORTED


def test_reproduction_script_writes_each_claim_from_the_studies_of_a_run_directory(tmp_path):
  run = tmp_path / 'ckplus48'
  run.mkdir()
  study = optuna.create_study(study_name='ablation_pooling',
                              storage=storage.storage_url('', str(run)),
                              directions=list(pareto.ACCURACY_SIZE))
  study.set_user_attr('command', 'jaxfer-search ablate pooling --config C --run_dir R')
  for pooling, loss, runs in (('v', 'none', [[0.5], [0.6], [0.55]]),
                              ('p12', 'none', [[0.6], [0.7], [0.66]]),
                              ('v', 'microexpnet', [[0.5], [0.6], [0.57]]),
                              ('p12', 'microexpnet', [[0.62], [0.71], [0.66]])):
    study.add_trial(optuna.trial.create_trial(
        values=[float(np.mean(runs)), 260_000.0],
        params={'pooling': pooling, 'loss': loss, 'size': 'XXS'},
        distributions={'pooling': optuna.distributions.CategoricalDistribution(['v', 'p12']),
                       'loss': optuna.distributions.CategoricalDistribution(
                           ['microexpnet', 'none']),
                       'size': optuna.distributions.CategoricalDistribution(['XXS'])},
        user_attrs={'run_accuracies': runs}))
  (run / 'ablation_pooling.png').write_bytes(b'\x89PNG figure')
  out = tmp_path / 'docs' / 'reproduction.md'
  done = subprocess.run([sys.executable, 'benchmarks/reproduction.py', '--ckplus48', str(run),
                         '--out', str(out)], cwd=REPO, capture_output=True, text=True,
                        timeout=300, env={'PYTHONPATH': REPO, 'PATH': '/usr/bin:/bin'})
  assert done.returncode == 0, done.stderr[-3000:]
  text = out.read_text()
  assert '260,000 bytes of float32 parameters (65,000 parameters). **supported**' in text
  # p12 - v: +0.1, +0.1, +0.11 without distillation; +0.12, +0.11, +0.09 with it.
  assert ('- CK+48 (all 10 subject-independent folds): p12 - v in points: XXS, without '
          'distillation: +10.3') in text
  assert 'From `jaxfer-search ablate pooling --config C --run_dir R`' in text
  assert '- synthetic faces: not measured. **not testable here**' in text
  assert text.count('**') % 2 == 0
  # The run directory's figure is copied beside the report and shown under its claim.
  assert (tmp_path / 'docs' / 'figures' / 'ckplus48_ablation_pooling.png').read_bytes() == (
      b'\x89PNG figure')
  pooling = text[text.index('## Max-pooling'):text.index('## The temperature')]
  assert ('![CK+48 (all 10 subject-independent folds): pooling]'
          '(figures/ckplus48_ablation_pooling.png)') in pooling
  assert ('- CK+48 (all 10 subject-independent folds): not measured in this run directory (no '
          'search_vs_grid.json') in text
