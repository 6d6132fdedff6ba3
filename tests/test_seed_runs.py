"""Final models over seeds (search/seed_runs.py): their intervals, the size targets, the rows read
from `jaxfer distill` work directories by benchmarks/seed_runs.py, and the FER2013 section that
benchmarks/reproduction.py writes from them (the scripts run in this process)."""
import json
import math

import pytest
from scipy import stats

from conftest import REPO
from test_benchmarks import run_benchmark
from search import seed_runs


def _run_dir(root, validation, test, params=58_104, target='student', evaluated_on='validation'):
  """WORKDIR/TARGET/result.json and test_result.json as `jaxfer distill` writes them (the fields
  read here)."""
  model_dir = root / target
  model_dir.mkdir(parents=True)
  (model_dir / 'result.json').write_text(json.dumps({
      'target': target, 'accuracy': validation, 'params': params, 'size_bytes': 4 * params,
      'epochs': 10, 'evaluated_on': evaluated_on}))
  (model_dir / 'test_result.json').write_text(json.dumps({'accuracy': test,
                                                          'evaluated_on': 'test'}))
  return root


def test_a_row_gives_each_splits_mean_and_t_interval_over_seeds():
  runs = [{'validation': v, 'test': t, 'params': 10, 'size_bytes': 40, 'epochs': 1}
          for v, t in ((0.50, 0.52), (0.54, 0.55), (0.52, 0.58))]
  row = seed_runs.summarize('m', runs)
  assert row['seeds'] == 3 and row['size_bytes'] == 40
  assert row['test']['runs'] == [0.52, 0.55, 0.58]
  assert row['test']['mean'] == pytest.approx(0.55)
  half = stats.t.ppf(0.975, 2) * 0.03 / math.sqrt(3)  # sample SD 0.03 over 3 seeds
  assert (row['test']['low'], row['test']['high']) == pytest.approx((0.55 - half, 0.55 + half))
  assert row['validation']['mean'] == pytest.approx(0.52)
  table = seed_runs.render([row])
  assert (f'| m | 10 | 0 KB | **52.0** (47.0 to 57.0) | **55.0** ({100 * (0.55 - half):.1f} to '
          f'{100 * (0.55 + half):.1f}) | 52.0 55.0 58.0 | 3 |') in table
  one = seed_runs.summarize('one', runs[:1])
  assert '**52.0** (one seed)' in seed_runs.render([one])
  with pytest.raises(ValueError, match="'mixed': its runs have different sizes"):
    seed_runs.summarize('mixed', [runs[0], {**runs[1], 'params': 11}])


def test_targets_are_met_by_the_mean_over_seeds_of_a_row_within_the_size():
  def row(label, size_bytes, tests):
    return seed_runs.summarize(label, [{'validation': t, 'test': t, 'params': size_bytes // 4,
                                        'size_bytes': size_bytes, 'epochs': 1} for t in tests])
  students = [row('small', 94_112, [0.62, 0.64, 0.65]), row('large', 900_000, [0.66, 0.67, 0.68])]
  verdicts = {target: (verdict, measured) for target, verdict, measured in
              seed_runs.target_verdicts(students, [row('teacher', 1_233_312, [0.60, 0.62])])}
  one_mb, quarter_mb, teacher = (verdicts[t['label']] for t in seed_runs.TARGETS)
  assert one_mb[0] == seed_runs.MET and 'best: large' in one_mb[1]
  # 250 KB: only "small" fits; its mean 63.7% reaches 63%.
  assert quarter_mb[0] == seed_runs.MET and 'best: small (94 KB)' in quarter_mb[1]
  assert teacher[0] == seed_runs.NOT_MET and '4.0 points short' in teacher[1]
  none = seed_runs.target_verdicts([row('large', 900_000, [0.7])], [])
  assert [verdict for _, verdict, _ in none] == [seed_runs.MET, seed_runs.NOT_MEASURED,
                                                 seed_runs.NOT_MEASURED]


def test_read_run_names_the_file_that_is_missing_or_measured_on_the_wrong_split(tmp_path):
  run = seed_runs.read_run(str(_run_dir(tmp_path / 'ok', 0.5, 0.51)))
  assert run == {'validation': 0.5, 'test': 0.51, 'params': 58_104, 'size_bytes': 232_416,
                 'epochs': 10}
  with pytest.raises(ValueError, match=r'no_test/student/result\.json: evaluated on .test.'):
    seed_runs.read_run(str(_run_dir(tmp_path / 'no_test', 0.5, 0.5, evaluated_on='test')))
  (tmp_path / 'ok' / 'student' / 'test_result.json').unlink()
  with pytest.raises(ValueError, match=r'ok/student/test_result\.json: no such file'):
    seed_runs.read_run(str(tmp_path / 'ok'))


def test_seed_rows_reach_the_reproduction_report_with_their_targets(tmp_path):
  args = []
  for seed, (validation, test) in enumerate(((0.48, 0.485), (0.466, 0.468), (0.466, 0.463))):
    _run_dir(tmp_path / f'fer_s{seed}', validation, test, params=23_528)
    _run_dir(tmp_path / f'fer_s{seed}', 0.55, 0.55 + seed / 100, params=308_328,
             target='teacher')
    args += ['--student', f'MicroExpNet=fer_s{seed}', '--teacher', f'resnet_small=fer_s{seed}']
  status, out, err = run_benchmark('seed_runs.py', args + ['--json', 'rows.json'], tmp_path)
  assert status == 0, err[-3000:]
  assert '| MicroExpNet | 23,528 | 94 KB | **47.1** (' in out and '| 48.5 46.8 46.3 | 3 |' in out
  assert '| resnet_small | 308,328 | 1,233 KB |' in out
  assert '- the teacher at 65% or more: best: resnet_small' in out and '**not met**' in out
  saved = json.loads((tmp_path / 'rows.json').read_text())
  assert [row['label'] for row in saved['students']] == ['MicroExpNet']
  assert saved['teachers'][0]['test']['runs'] == pytest.approx([0.55, 0.56, 0.57])

  out_file = tmp_path / 'docs' / 'reproduction.md'
  status, _, err = run_benchmark('reproduction.py', ['--fer2013', tmp_path / 'rows.json',
                                                     '--out', out_file], REPO)
  assert status == 0, err[-3000:]
  section = out_file.read_text().split('## Beyond the paper: faces in the wild (FER2013)')[1]
  assert 'validation set of 10% of train/' in section
  assert '| MicroExpNet | 23,528 | 94 KB | **47.1** (' in section
  assert '- a student of at most 250 KB at 63% or more: best: MicroExpNet (94 KB)' in section

  # A run that is not of a validation protocol, a second seed given twice, a file not the
  # script's, --json onto a file or folder that exists: one line naming it, exit 2, nothing
  # written or replaced.
  _run_dir(tmp_path / 'plain', 0.5, 0.5, evaluated_on='test')
  saved_text = (tmp_path / 'rows.json').read_text()
  result_text = (tmp_path / 'fer_s0' / 'student' / 'result.json').read_text()
  for existing in ('rows.json', 'fer_s0', 'fer_s0/student/result.json'):
    status, _, err = run_benchmark('seed_runs.py', ['--student', 'x=fer_s0', '--json', existing],
                                   tmp_path)
    assert status == 2 and f'--json {existing}: already exists' in err, err[-2000:]
  assert (tmp_path / 'rows.json').read_text() == saved_text
  assert (tmp_path / 'fer_s0' / 'student' / 'result.json').read_text() == result_text
  for script, arguments, message in (
      ('seed_runs.py', ['--student', 'x=plain'], 'plain/student/result.json: evaluated on'),
      ('seed_runs.py', ['--student', 'x=fer_s0', '--student', 'x=fer_s0'], 'given twice'),
      ('reproduction.py', ['--fer2013', tmp_path / 'fer_s0' / 'student' / 'result.json', '--out',
                           tmp_path / 'new' / 'r.md'], 'expected {"students": [...]')):
    status, _, err = run_benchmark(script, arguments, tmp_path)
    assert status == 2 and message in err and 'Traceback' not in err, err[-2000:]
  assert not (tmp_path / 'new').exists()
