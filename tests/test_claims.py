"""The verdicts on the paper's claims (search/claims.py) from hand-built measurements, and
benchmarks/reproduction.py writing them from studies in a real storage (the scripts run in this
process, as tests/test_benchmarks.py runs them)."""
import json
import math
from typing import NamedTuple

import numpy as np
import optuna
from scipy import stats

from conftest import REPO
from test_benchmarks import run_benchmark
from search import ablation
from search import claims
from search import equivalence
from search import fold_comparison
from search import intervals
from search import pareto
from search import storage


class _Done(NamedTuple):
  returncode: int
  stdout: str
  stderr: str


def _run(script, *args):
  """benchmarks/`script` run with `args` in this process, as its own process would end."""
  return _Done(*run_benchmark(script, args, REPO))


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
  sd_by_hand = sd
  assert f'MDE {100 * equivalence.mde80(sd_by_hand, 3, 0.05):.1f} points' in found.measured
  # The same gains at both sizes: nothing grows, and no growth at all is a 95% interval of one
  # point, below the 2-point margin: a growth of the margin's size is ruled out.
  same = claims.distillation_gain_grows_as_models_shrink(
      _kd_cells([0.05, 0.03, 0.04], [0.05, 0.03, 0.04]))
  assert same.verdict == claims.CONTRADICTED
  assert 'differs' not in same.measured
  # Growth of 0, 0.06 and -0.02 per fold: the interval reaches above +2 points, so the data
  # cannot tell.
  unclear = claims.distillation_gain_grows_as_models_shrink(
      _kd_cells([0.05, 0.09, 0.02], [0.05, 0.03, 0.04]))
  assert unclear.verdict == claims.NOT_SUPPORTED and 'inconclusive' in unclear.measured
  one_size = claims.distillation_gain_grows_as_models_shrink(_kd_cells([0.1], [0.1])[:2])
  assert one_size.verdict == claims.NOT_TESTABLE


def _comparison(group, first, second, mean, p_holm, half=0.01, p_equivalence_holm=1.0,
                margin=0.02):
  """A comparison over 10 folds: `mean` with a 95% interval of +-`half`, its Holm p-values."""
  difference = intervals.PairedDifference(mean, mean - half, mean + half, 3.0, p_holm, 1.0, 10,
                                          'fold')
  low90, high90 = mean - 0.8 * half, mean + 0.8 * half
  return ablation.Comparison(
      group, first, second, difference, p_holm, 0.03, p_equivalence_holm, p_equivalence_holm,
      low90, high90, equivalence.equivalence_bound(low90, high90), margin,
      equivalence.verdict(p_holm < 0.05, p_equivalence_holm < 0.05))


def test_pooling_is_supported_when_p12_beats_v_in_most_comparisons_and_loses_in_none():
  rows = [_comparison('S', 'p12', 'v', 0.03, 0.01), _comparison('XXS', 'p12', 'v', 0.02, 0.04),
          _comparison('XS', 'p12', 'v', 0.01, 0.30), _comparison('S', 'p1', 'v', -0.05, 0.001)]
  found = claims.pooling_helps(rows)
  assert found.verdict == claims.SUPPORTED  # 2 of 3 p12 rows better, none worse (p1 ignored).
  assert 'better in 2, worse in 0 of 3 at 5%' in found.measured
  assert '2 differ, 1 inconclusive (MDE 3.0 points)' in found.measured
  rows.append(_comparison('M', 'p12', 'v', -0.04, 0.02))
  # Now worse at M; the other rows' intervals reach above +2 points, so not contradicted.
  assert claims.pooling_helps(rows).verdict == claims.NOT_SUPPORTED
  assert claims.pooling_helps(rows[3:4]).verdict == claims.NOT_TESTABLE


def test_pooling_is_contradicted_when_every_p12_interval_stays_below_the_margin():
  # Upper ends +1.5, +1.9 and -0.5 points: a gain of 2 points is ruled out in every row.
  rows = [_comparison('S', 'p12', 'v', 0.005, 0.8, half=0.01),
          _comparison('XXS', 'p12', 'v', -0.001, 0.9, half=0.02),
          _comparison('M', 'p12', 'v', -0.02, 0.04, half=0.015)]
  assert claims.pooling_helps(rows).verdict == claims.CONTRADICTED
  # One row whose interval reaches +2.1 points leaves a gain of the margin's size possible.
  rows.append(_comparison('XS', 'p12', 'v', 0.006, 0.7, half=0.015))
  assert claims.pooling_helps(rows).verdict == claims.NOT_SUPPORTED


def test_temperature_matters_when_some_temperature_is_significantly_below_the_best():
  flat = [_comparison('XXS', 'T=4', 'T=1', 0.01, 0.6), _comparison('XXS', 'T=4', 'T=64', 0.02,
                                                                  0.2)]
  assert claims.temperature_matters(flat).verdict == claims.NOT_SUPPORTED
  steep = flat + [_comparison('S', 'T=8', 'T=1', 0.09, 0.001)]
  found = claims.temperature_matters(steep)
  assert found.verdict == claims.SUPPORTED
  assert 'S T=1 9.0 points below T=8' in found.measured
  assert '1 differ, 2 inconclusive' in found.measured


def test_temperature_is_contradicted_when_every_temperature_is_equivalent_to_its_sizes_best():
  flat = [_comparison('XXS', 'T=4', 'T=1', 0.003, 0.6, p_equivalence_holm=0.01),
          _comparison('XXS', 'T=4', 'T=64', 0.002, 0.7, p_equivalence_holm=0.03)]
  found = claims.temperature_matters(flat)
  assert found.verdict == claims.CONTRADICTED
  assert '2 equivalent within ±2 points' in found.measured
  # One temperature that TOST cannot place inside the margin: not contradicted.
  flat.append(_comparison('S', 'T=8', 'T=1', 0.01, 0.5, p_equivalence_holm=0.2))
  assert claims.temperature_matters(flat).verdict == claims.NOT_SUPPORTED


def test_search_beats_the_grid_only_when_every_study_seed_of_a_sampler_reached_it_in_a_third():
  summary = {'grid': {'trainings': 168},
             'samplers': {'tpe': {'reached_at': [30, 54, None], 'reached_within_third': 2},
                          'gp': {'reached_at': [12, 18, 48], 'reached_within_third': 3}}}
  found = claims.search_beats_the_grid(summary)
  assert found.verdict == claims.SUPPORTED and 'a third: 56' in found.measured
  summary['samplers'].pop('gp')
  assert claims.search_beats_the_grid(summary).verdict == claims.NOT_SUPPORTED


def _pooling_study(run):
  """A pooling ablation's study in `run` (made there) with four XXS cells of 3 folds."""
  run.mkdir()
  study = optuna.create_study(study_name='ablation_pooling',
                              storage=storage.storage_url('', str(run)),
                              directions=list(pareto.ACCURACY_SIZE))
  study.set_user_attr('command', 'jaxfer-search ablate pooling --config C --workdir R')
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


def test_reproduction_script_writes_each_claim_from_the_studies_of_a_run_directory(tmp_path):
  run = tmp_path / 'ckplus48'
  _pooling_study(run)
  out = tmp_path / 'docs' / 'reproduction.md'
  done = _run('reproduction.py', '--ckplus48', str(run), '--out', str(out))
  assert done.returncode == 0, done.stderr[-3000:]
  text = out.read_text()
  assert '260,000 bytes of float32 parameters (65,000 parameters). **supported**' in text
  # p12 - v: +0.1, +0.1, +0.11 without distillation; +0.12, +0.11, +0.09 with it.
  assert ('- CK+48 (all 10 subject-independent folds): p12 - v in points: XXS, without '
          'distillation: +10.3') in text
  assert 'From `jaxfer-search ablate pooling --config C --workdir R`' in text
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


def test_reproduction_reads_the_pooling_claims_from_the_run_directory_given_by_pooling(tmp_path):
  (tmp_path / 'ckplus48').mkdir()  # The temperature ablation's run directory: empty here.
  _pooling_study(tmp_path / 'seeds')
  out = tmp_path / 'docs' / 'reproduction.md'
  done = _run('reproduction.py', '--ckplus48', str(tmp_path / 'ckplus48'), '--pooling',
              f'ckplus48={tmp_path}/seeds', '--out', str(out))
  assert done.returncode == 0, done.stderr[-3000:]
  text = out.read_text()
  pooling = text[text.index('## Max-pooling'):text.index('## The temperature')]
  # 3 folds: p12 - v +10.3 and +10.0 points; each comparison also carries its MDE and verdict.
  assert 'XXS, without distillation: +10.3' in pooling and '(MDE ' in pooling
  assert '(figures/ckplus48_ablation_pooling.png)' in pooling
  assert (tmp_path / 'docs' / 'figures' / 'ckplus48_ablation_pooling.png').exists()
  temperature = text[text.index('## The temperature'):text.index('## Temperature and size')]
  assert '- CK+48 (all 10 subject-independent folds): not measured.' in temperature
  refused = _run('reproduction.py', '--pooling', f'mnist={tmp_path}/seeds', '--out', str(out))
  assert refused.returncode == 2 and '--pooling mnist=' in refused.stderr
  assert 'expected DATASET=DIR with DATASET one of ckplus48, synthetic' in refused.stderr


def _fold_results(workdir, accuracies, teacher_accuracies=None):
  """WORKDIR/fold_k/result.json as `jaxfer distill` writes them (the fields read here)."""
  for fold, accuracy in enumerate(accuracies):
    (workdir / f'fold_{fold}').mkdir(parents=True)
    result = {'target': 'student', 'accuracy': accuracy,
              'teacher_accuracy': None if teacher_accuracies is None else teacher_accuracies[fold]}
    (workdir / f'fold_{fold}' / 'result.json').write_text(json.dumps(result))


def test_facenet2expnet_rows_of_several_seeds_pair_fold_means_and_report_the_seed_spread(
    tmp_path):
  plain = [[0.90, 0.86], [0.80, 0.84], [0.95, 0.93], [0.85, 0.81]]  # [fold][seed]
  pretrained = [[0.93, 0.95], [0.84, 0.88], [0.96, 0.96], [0.90, 0.86]]
  for name, runs in (('plain', plain), ('pretrained', pretrained)):
    for seed in range(2):
      _fold_results(tmp_path / f'{name}_seed{seed}', [fold[seed] for fold in runs])
  _fold_results(tmp_path / 'one_seed', [0.9, 0.9, 0.9])  # Folds 0-2 only.
  summary = tmp_path / 'f2e.json'
  done = _run('cv_compare.py', '--student', f'plain={tmp_path}/plain_seed0',
              '--student', f'pre={tmp_path}/pretrained_seed0',
              '--student', f'plain={tmp_path}/plain_seed1',
              '--student', f'pre={tmp_path}/pretrained_seed1',
              '--student', f'one={tmp_path}/one_seed', '--json', str(summary))
  assert done.returncode == 0, done.stderr[-3000:]
  rows = json.loads(summary.read_text())['student']
  assert [row['label'] for row in rows] == ['plain', 'pre', 'one']
  plain_means, pre_means = np.mean(plain, axis=1), np.mean(pretrained, axis=1)
  assert np.allclose(rows[0]['folds'], plain_means) and rows[1]['seeds'] == [2, 2, 2, 2]
  by_hand = stats.ttest_rel(pre_means, plain_means)  # Over the 4 fold means, not 8 runs.
  d = rows[1]['difference']
  assert d['n'] == 4 and math.isclose(d['p_value'], by_hand.pvalue)
  assert math.isclose(d['mean'], np.mean(pre_means - plain_means))
  # Pooled seed spread: squares about each fold's mean over 4 degrees of freedom.
  squares = sum(np.sum((np.array(f) - np.mean(f))**2) for f in pretrained)
  assert math.isclose(rows[1]['seed_std'], math.sqrt(squares / 4))
  assert rows[2]['seeds'] == [1, 1, 1] and rows[2]['seed_std'] is None
  assert rows[2]['difference']['n'] == 3
  assert f'| pre (2 seeds a fold, seed std {100 * rows[1]["seed_std"]:.1f}) | **91.0** (' in (
      done.stdout)
  assert '| one (3 of 4 folds) | **90.0** (' in done.stdout
  # One work directory twice under a label would count a run as two seeds: refused.
  refused = _run('cv_compare.py', '--student', f'a={tmp_path}/one_seed',
                 '--student', f'a={tmp_path}/one_seed/')
  assert refused.returncode == 2 and 'given twice' in refused.stderr
  assert 'Traceback' not in refused.stderr and not refused.stdout


def test_pretraining_is_supported_only_when_a_pretrained_row_is_better_and_none_worse():
  plain = [0.90, 0.80, 0.95, 0.85, 0.88]
  better = [0.94, 0.85, 0.98, 0.90, 0.91]  # +3 to +5 points on every fold: p < 0.001.
  level = [0.91, 0.79, 0.95, 0.86, 0.87]
  worse = [0.86, 0.76, 0.90, 0.80, 0.84]
  plain, better, level, worse = (dict(enumerate(x)) for x in (plain, better, level, worse))
  verdict = claims.pretraining_helps(fold_comparison.compare(
      [('plain', plain), ('dlib', better), ('identity', level)]))
  assert verdict.verdict == claims.SUPPORTED
  assert verdict.measured.startswith('dlib: +4.0 points') and 'against "plain"' in verdict.measured
  assert claims.pretraining_helps(fold_comparison.compare(
      [('plain', plain), ('identity', level)])).verdict == claims.NOT_SUPPORTED
  assert claims.pretraining_helps(fold_comparison.compare(
      [('plain', plain), ('dlib', better), ('identity', worse)])).verdict == claims.NOT_SUPPORTED
  assert claims.pretraining_helps(fold_comparison.compare(
      [('plain', plain)])).verdict == claims.NOT_TESTABLE


def test_facenet2expnet_rows_reach_the_reproduction_report_from_fold_results(tmp_path):
  plain, dlib = [0.90, 0.80, 0.95], [0.94, 0.85, 0.97]
  _fold_results(tmp_path / 'plain', [0.8, 0.7, 0.9], plain)
  _fold_results(tmp_path / 'dlib', [0.85, 0.75, 0.9], dlib)
  _fold_results(tmp_path / 'nokd', [0.7, 0.7, 0.8])
  summary = tmp_path / 'f2e.json'
  done = _run('cv_compare.py', '--teacher', f'plain={tmp_path}/plain',
              '--teacher', f'FaceNet2ExpNet, dlib={tmp_path}/dlib',
              '--student', f'alone={tmp_path}/nokd',
              '--student', f'distilled={tmp_path}/plain', '--json', str(summary))
  assert done.returncode == 0, done.stderr[-3000:]
  assert '| FaceNet2ExpNet, dlib | **92.0** (' in done.stdout
  # distilled - alone: +10, 0, +10 points; t = 2.0 on 2 degrees of freedom.
  assert '| distilled | **80.0** (55.2 to 104.8) | 8.2 | 80.0 70.0 90.0 | +6.7 (-7.7 to +21.0, p 0.18) |' in (
      done.stdout)
  saved = json.loads(summary.read_text())
  assert saved['teacher'][1]['folds'] == dlib and saved['student'][1]['folds'] == [0.8, 0.7, 0.9]
  assert saved['teacher'][1]['fold_numbers'] == [0, 1, 2]
  # A run without a teacher cannot be a teacher row: one line naming the file, exit 2.
  refused = _run('cv_compare.py', '--teacher', f'x={tmp_path}/nokd')
  assert refused.returncode == 2 and 'fold_0/result.json: no teacher accuracy' in refused.stderr
  assert 'Traceback' not in refused.stderr
  # --update keeps the sections of an earlier report that this call measures nothing for.
  out = tmp_path / 'docs' / 'reproduction.md'
  out.parent.mkdir()
  pooling = ('## Max-pooling improves generalisation, though expressions live in small '
             'pixel-level changes.\n\n- CK+48: measured earlier. **supported**\n')
  out.write_text('# old title\n\n## MicroExpNet is under 1 MB.\n\nold size\n\n' + pooling)
  done = _run('reproduction.py', '--facenet2expnet', str(summary), '--out', str(out), '--update')
  assert done.returncode == 0, done.stderr[-3000:]
  text = out.read_text()
  assert pooling in text and 'old size' not in text and 'old title' not in text
  assert '- synthetic faces: not measured' in text  # The temperature claim: nothing kept.
  section = text.split('## FaceNet2ExpNet')[1]
  assert 'Paper: 96.8% on CK+' in section
  # +4, +5, +2 points: mean +3.7, p 0.05 with 3 folds, so not significant at 5%.
  assert '- CK+48, all 10 subject-independent folds, the teacher: FaceNet2ExpNet, dlib: +3.7' in (
      section)
  assert '**not supported**' in section and '| distilled | **80.0**' in section
  assert 'What differs from the paper' in section
  # A file that is not the script's JSON: one line naming it, and no report directory made.
  (tmp_path / 'broken.json').write_text('{"teacher": [')
  refused = _run('reproduction.py', '--facenet2expnet', str(tmp_path / 'broken.json'),
                 '--out', str(tmp_path / 'new' / 'r.md'))
  assert refused.returncode == 2 and f'--facenet2expnet {tmp_path}/broken.json: not JSON' in (
      refused.stderr)
  assert not (tmp_path / 'new').exists() and 'Traceback' not in refused.stderr
  # JSON of another shape (no teacher rows) is refused the same way.
  (tmp_path / 'list.json').write_text('[]')
  refused = _run('reproduction.py', '--facenet2expnet', str(tmp_path / 'list.json'),
                 '--out', str(tmp_path / 'new' / 'r.md'))
  assert refused.returncode == 2 and 'list.json: expected {"teacher"' in refused.stderr
  assert not (tmp_path / 'new').exists() and 'Traceback' not in refused.stderr
  # A damaged fold result is named, and --json into a missing folder is refused before reading.
  (tmp_path / 'nokd' / 'fold_1' / 'result.json').write_text('{')
  for args, message in ((['--student', f'x={tmp_path}/nokd'], 'fold_1/result.json: not JSON'),
                        (['--student', f'x={tmp_path}/plain', '--json', f'{tmp_path}/no/x.json'],
                         f'--json {tmp_path}/no/x.json: no such directory')):
    refused = _run('cv_compare.py', *args)
    assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert 'Traceback' not in refused.stderr and not refused.stdout
  assert not (tmp_path / 'no').exists()


def test_the_family_rows_reach_the_reproduction_report_with_their_verdict(tmp_path):
  microexpnet = [0.80, 0.70, 0.90, 0.85, 0.75]
  separable = [a + d for a, d in zip(microexpnet, [0.10, 0.11, 0.09, 0.10, 0.10])]
  _fold_results(tmp_path / 'microexpnet', microexpnet, [0.9] * 5)
  _fold_results(tmp_path / 'separable', separable, [0.9] * 5)
  summary = tmp_path / 'families.json'
  done = _run('cv_compare.py', '--student', f'MicroExpNet={tmp_path}/microexpnet',
              '--student', f'separable={tmp_path}/separable', '--json', str(summary))
  assert done.returncode == 0, done.stderr[-3000:]
  out = tmp_path / 'docs' / 'reproduction.md'
  done = _run('reproduction.py', '--families', str(summary), '--out', str(out))
  assert done.returncode == 0, done.stderr[-3000:]
  section = out.read_text().split('## Beyond the paper: on posed faces (CK+48)')[1]
  assert 'configs/ckplus48_families.py' in section and '| separable | **90.0** (' in section
  # +10, +11, +9, +10, +10 points: a difference, far outside the 2-point margin.
  assert '- separable - MicroExpNet: +10.0 points (95% interval +9.1 to +10.9, 5 folds). ' \
         '**differs (the folds detect ' in section
  # A summary of teacher rows only has no student rows to compare: refused, nothing written.
  teachers = tmp_path / 'teachers.json'
  done = _run('cv_compare.py', '--teacher', f'a={tmp_path}/microexpnet', '--json', str(teachers))
  refused = _run('reproduction.py', '--families', str(teachers), '--out',
                 str(tmp_path / 'new' / 'r.md'))
  assert refused.returncode == 2 and 'teachers.json: expected {"teacher"' in refused.stderr
  assert 'with student rows' in refused.stderr and not (tmp_path / 'new').exists()


def test_the_report_never_replaces_one_of_its_inputs_or_a_folder(tmp_path):
  _fold_results(tmp_path / 'a', [0.8, 0.7], [0.9, 0.9])
  summary = tmp_path / 'families.json'
  assert _run('cv_compare.py', '--student', f'a={tmp_path}/a', '--json',
              str(summary)).returncode == 0
  kept = summary.read_text()
  refused = _run('reproduction.py', '--families', str(summary), '--out', str(summary))
  assert refused.returncode == 2 and f'--out {summary} is the --families file' in refused.stderr
  assert summary.read_text() == kept and 'Traceback' not in refused.stderr
  refused = _run('reproduction.py', '--families', str(summary), '--out', str(tmp_path))
  assert refused.returncode == 2 and f'--out {tmp_path}: a folder' in refused.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ['a', 'families.json']
