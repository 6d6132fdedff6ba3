r"""Writes docs/reproduction.md: each claim of the paper beside this project's measurements.

    PYTHONPATH=. python benchmarks/reproduction.py --ckplus48 runs/ablate_ckplus48 \
        --pooling ckplus48=runs/ablate_ckplus48_seeds \
        --synthetic runs/ablate_synthetic --speed runs/speed.json \
        --facenet2expnet runs/facenet2expnet.json --out docs/reproduction.md

Reads, without changing them, the ablation studies `ablation_pooling` and
`ablation_temperature` in each run directory (`jaxfer-search ablate ...`; the distillation
gain is read from the pooling study's cells; `--pooling DATASET=DIR` reads both from another
run directory's pooling study, such as configs/ablation_ckplus48_seeds.py's), its
`search_vs_grid.json`
(`benchmarks/search_vs_grid.py`) when there is one, and the JSON line of
`benchmarks/speed.py`, and the CK+48 rows of FaceNet2ExpNet against plain training that
`benchmarks/cv_compare.py --json` wrote, the FER2013 rows of
`benchmarks/seed_runs.py --json` (`--fer2013`), and the CK+48 rows of the student families
(`--families`, `benchmarks/cv_compare.py --json` again). The figures of the run directories
(ablation_*.png, search_vs_grid.png) are copied to figures/ beside the report and shown under
their claims. Each measurement is given with the command recorded in its study and the wall
time of its trials; one that is missing is said to be, unless `--update` keeps its section
from the report already at --out. Verdicts: `search/claims.py`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform

from search import ablation
from search import claims
from search import fold_comparison
from search import seed_runs
from search import storage as storage_lib

DATASETS = {'ckplus48': 'CK+48 (all 10 subject-independent folds)', 'synthetic': 'synthetic faces'}


def _study(run_dir: str | None, name: str):
  """The study `name` of `run_dir`, or None when there is none (nothing is created)."""
  if not run_dir:
    return None
  try:
    return storage_lib.load_study(name, run_dir, '')
  except ValueError:
    return None


def _provenance(study) -> str:
  """'`command`, H h M min': the study's recorded command and the wall time of its trials."""
  trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete]
  if not trials:
    return 'no finished trial'
  seconds = (max(t.datetime_complete for t in trials)
             - min(t.datetime_start for t in trials)).total_seconds()
  command = study.user_attrs.get('command', 'command not recorded')
  return f'`{command}`, {seconds / 60:.0f} min of trials'


def _cpu() -> str:
  model = ''
  try:
    with open('/proc/cpuinfo') as f:
      model = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')),
                   '')
  except OSError:
    pass
  return f'{model or platform.processor() or "this CPU"} ({os.cpu_count()} cores)'


# The figure of each claim's ablation, written by `jaxfer-search ablate` in the run directory.
FIGURES = {'pooling': 'ablation_pooling.png', 'kd': 'ablation_kd.png',
           'temperature': 'ablation_temperature.png', 'search': 'search_vs_grid.png'}
# Other names a figure may have: `report --ablation kd --study ablation_pooling` names its
# files after the pooling study it reads (ablation.output_name).
OTHER_NAMES = {'kd': ('ablation_kd_ablation_pooling.png',)}


def copy_figures(run_dirs: dict[str, str | None], out_dir: str,
                 pooling_dirs: dict[str, str] | None = None) -> dict[tuple[str, str], str]:
  """Copies each run directory's claim figures into `out_dir`/figures as DATASET_FILE (the
  pooling and distillation figures from the dataset's `pooling_dirs` entry when it has one);
  returns {(dataset, claim key): path relative to `out_dir`}."""
  import shutil  # pylint: disable=g-import-not-at-top
  copied = {}
  for dataset, run_dir in run_dirs.items():
    for key, name in FIGURES.items():
      folder = ((pooling_dirs or {}).get(dataset) if key in ('pooling', 'kd') else None
                ) or run_dir
      source = next((os.path.join(folder, candidate) for candidate in
                     (name, *OTHER_NAMES.get(key, ()))
                     if folder and os.path.isfile(os.path.join(folder, candidate))), '')
      if source:
        os.makedirs(os.path.join(out_dir, 'figures'), exist_ok=True)
        relative = os.path.join('figures', f'{dataset}_{name}')
        shutil.copyfile(source, os.path.join(out_dir, relative))
        copied[(dataset, key)] = relative
  return copied


def measurements(run_dir: str | None, pooling_dir: str | None = None
                 ) -> dict[str, tuple[claims.Verdict, str]]:
  """{claim key: (verdict, provenance)} of one dataset's run directory; the pooling and
  distillation claims from `pooling_dir`'s pooling study instead when given (a campaign of
  its own, e.g. more seeds per fold). Each ablation is judged against the equivalence margin
  its study recorded (`ablation.recorded_margin`)."""
  out = {}
  pooling = _study(pooling_dir or run_dir, 'ablation_pooling')
  if pooling is not None:
    cells = ablation.cells_of(pooling.get_trials(deepcopy=False))
    where, margin = _provenance(pooling), ablation.recorded_margin(pooling)
    out['pooling'] = (claims.pooling_helps(ablation.comparisons('pooling', cells, margin)),
                      where)
    out['kd'] = (claims.distillation_gain_grows_as_models_shrink(cells, margin=margin), where)
  temperature = _study(run_dir, 'ablation_temperature')
  if temperature is not None:
    cells = ablation.cells_of(temperature.get_trials(deepcopy=False))
    out['temperature'] = (claims.temperature_matters(ablation.comparisons(
        'temperature', cells, ablation.recorded_margin(temperature))), _provenance(temperature))
  summary = os.path.join(run_dir or '', 'search_vs_grid.json')
  if run_dir and os.path.exists(summary):
    with open(summary) as f:
      out['search'] = (claims.search_beats_the_grid(json.load(f)),
                       f'`benchmarks/search_vs_grid.py` in {run_dir}')
  return out


CLAIMS = (
    ('size', 'MicroExpNet is under 1 MB.', 'under 1 MB'),
    ('speed', 'MicroExpNet runs at 1851 frames per second on an Intel i7 CPU.',
     '1851 frames per second (Intel i7; the original repository\'s README: 1408)'),
    ('kd', 'Distillation helps more as the student shrinks.', 'not known here'),
    ('pooling', 'Max-pooling improves generalisation, though expressions live in small '
     'pixel-level changes.', 'not known here'),
    ('temperature', 'The temperature must be searched finely.', 'not known here'),
    ('search', 'Temperature and size had to be found by grid search; jaxfer\'s claim is that a '
     'joint search finds the grid\'s front with a third of its trainings or less.',
     'the paper\'s grid: 7 temperatures x 4 sizes'),
)


# FaceNet2ExpNet's CK+ result, which the paper sets MicroExpNet beside, and how the measurement
# here differs from it.
FACENET2EXPNET_PAPER = ('96.8% on CK+ (8 classes with neutral, 10 folds; Ding, Zhou, Chellappa, '
                        'FG 2017), the expression net pre-trained on VGG-Face\'s pool5')
FACENET2EXPNET_DIFFERENCES = (
    'face net: dlib\'s 128-d face descriptor (`dlib_resnet`) or a ResNet trained here to tell the '
    'training subjects apart (`identity`), not VGG-Face; both give a vector, so a linear '
    'projection head (stage 1 only) maps the expression net\'s convolutions to it',
    'expression net: `resnet_small` (308,328 parameters) at 84x84, not the paper\'s VGG-style '
    'convolutions on full-resolution faces',
    'data: CK+48 (981 faces of 48x48, the last 3 frames of each sequence, 7 expressions, no '
    'neutral), not CK+ with a neutral class',
    'training: 8 stage-1 and 8 stage-2 epochs on the paper\'s 8 crops, a squared-distance loss on '
    'standardised targets (the paper derives its loss from a distribution of pool5 responses), '
    'one seed per fold for the teachers (three for some MicroExpNet rows)',
)


def render_facenet2expnet(summary: dict | None, source: str) -> list[str]:
  """The FaceNet2ExpNet section: the teacher and MicroExpNet tables of
  `benchmarks/cv_compare.py`, the verdict on pre-training, and what differs."""
  lines = ['## FaceNet2ExpNet, which the paper compares MicroExpNet with: an expression net '
           'pre-trained on a face net beats one trained from scratch.', '',
           f'Paper: {FACENET2EXPNET_PAPER}.', '']
  if not summary or 'teacher' not in summary:
    return lines + [f'- CK+48: not measured (no --facenet2expnet file). **{claims.NOT_TESTABLE}**',
                    '']
  verdict = claims.pretraining_helps(summary['teacher'])
  lines += [f'- CK+48, all 10 subject-independent folds, the teacher: {verdict.measured}. '
            f'From {source}. **{verdict.verdict}**', '',
            fold_comparison.render('teacher', summary['teacher']), '']
  if 'student' in summary:
    lines += ['MicroExpNet, trained plainly, distilled from those teachers, and pre-trained '
              'itself:', '', fold_comparison.render('MicroExpNet', summary['student']), '']
  return lines + ['What differs from the paper\'s 96.8%:', '',
                  *[f'- {difference}' for difference in FACENET2EXPNET_DIFFERENCES], '']


FER2013_HEADING = ('## Beyond the paper: faces in the wild (FER2013), how small an expression '
                   'model can be for its accuracy.')
FER2013_PROTOCOL = (
    'FER2013 from its image folders (configs/fer2013_folders.py): every choice made on a '
    'validation set of 10% of train/, each final model evaluated once on the 3,589 faces of '
    'test/. Published small models: mini-Xception (Arriaga et al. 2017, about 60,000 parameters) '
    '66%; the best single networks about 73% (Khaireddin and Chen 2021, tens of millions of '
    'parameters).')


def render_fer2013(summary: dict | None, source: str) -> list[str]:
  """The FER2013 section: teachers and students over seeds (`benchmarks/seed_runs.py`) and the
  size targets they are held to."""
  lines = [FER2013_HEADING, '', FER2013_PROTOCOL, '']
  if not summary:
    return lines + [f'- FER2013: not measured (no --fer2013 file). **{claims.NOT_TESTABLE}**',
                    '']
  lines += ['Reproduce (each `jaxfer distill` once per `--config.seed=K`, K = 0, 1, 2, in its own '
            'work directory; FER2013\'s folders in `DIR`):', '', '```bash',
            'jaxfer distill --config configs/fer2013_folders.py --workdir runs/fer_sK '
            '--config.seed=K --config.data.manual_dir=DIR',
            'jaxfer distill --config configs/fer2013_folders.py --workdir runs/fer_mx_sK '
            '--config.seed=K --config.data.manual_dir=DIR --config.student.family=separable '
            '--config.distill.loss=none --config.student.num_epochs=10',
            'PYTHONPATH=. python benchmarks/seed_runs.py --teacher resnet_small=runs/fer_sK ... '
            '--student "MicroExpNet, distilled=runs/fer_sK" ... --json runs/fer2013_seeds.json',
            '```', '', f'From {source}:', '',
            seed_runs.render(summary.get('teachers', []) + summary['students']), '']
  for target, verdict, measured in seed_runs.target_verdicts(summary['students'],
                                                             summary.get('teachers', [])):
    lines.append(f'- {target}: {measured}. **{verdict}**')
  return lines + ['']


FAMILIES_HEADING = ('## Beyond the paper: on posed faces (CK+48), the separable family against '
                    'MicroExpNet at equal size.')
FAMILIES_COMMANDS = (
    'jaxfer distill --cv --config configs/ckplus48_families.py --workdir runs/families_microexpnet',
    'jaxfer distill --cv --config configs/ckplus48_families.py --workdir runs/families_separable '
    '--config.student.family=separable '
    "--config.teacher.artifact='runs/families_microexpnet/fold_{fold}/teacher'",
    "PYTHONPATH=. python benchmarks/cv_compare.py --student 'MicroExpNet, width 1="
    "runs/families_microexpnet' --student 'separable, width 1, depth 4=runs/families_separable' "
    '--json runs/families_ckplus48.json')


def render_families(summary: dict | None, source: str) -> list[str]:
  """The CK+48 comparison of the student families (`benchmarks/cv_compare.py` student rows,
  MicroExpNet first): does the family that wins in the wild also win on posed faces?"""
  lines = [FAMILIES_HEADING, '']
  if not summary:
    return lines + [f'- CK+48: not measured (no --families file). **{claims.NOT_TESTABLE}**', '']
  lines += ['MicroExpNet (width 1) holds 260 KB of float32 parameters at 84x84, the separable '
            'family at width 1, depth 4 (MiniXception) 232 KB. Both train with the recipe of the '
            'CK+48 ablations, which was tuned for MicroExpNet, and both students of a fold distill '
            'from the same teacher, so the comparison is paired over the 10 folds '
            '(configs/ckplus48_families.py). Reproduce:', '', '```bash',
            *FAMILIES_COMMANDS, '```', '', f'From {source}:', '',
            fold_comparison.render('student', summary['student']), '']
  reference = summary['student'][0]['label']
  for row in summary['student'][1:]:
    d, judgement = row['difference'], row.get('judgement')
    verdict = 'no verdict saved'
    if judgement:
      margin = f'{100 * judgement["margin"]:g} points'
      verdict = (judgement['verdict'].replace('margin', margin) + ' (the folds detect '
                 f'{100 * judgement["mde80"]:.1f} points with 80% power)')
    lines.append(f'- {row["label"]} - {reference}: {100 * d["mean"]:+.1f} points (95% interval '
                 f'{100 * d["low"]:+.1f} to {100 * d["high"]:+.1f}, {d["n"]} folds). '
                 f'**{verdict}**')
  return lines + ['']


def render_sections(found: dict[str, dict[str, tuple[claims.Verdict, str]]],
                    size: claims.Verdict, speed: claims.Verdict, speed_source: str,
                    figures: dict[tuple[str, str], str] | None = None,
                    facenet2expnet: dict | None = None,
                    facenet2expnet_source: str = '', fer2013: dict | None = None,
                    fer2013_source: str = '', families: dict | None = None,
                    families_source: str = '') -> list[tuple[list[str], bool]]:
  """Each claim's section (its lines, from its '## ' heading) and whether this call measured
  anything for it."""
  out = []
  for key, claim, paper in CLAIMS:
    lines = [f'## {claim}', '', f'Paper: {paper}.', '']
    if key == 'size':
      out.append((lines + [f'- Measured (any dataset): {size.measured}. **{size.verdict}**', ''],
                  True))
      continue
    if key == 'speed':
      out.append((lines + [f'- Measured: {speed.measured} ({speed_source}). '
                           f'**{speed.verdict}**', ''], speed.verdict != claims.NOT_TESTABLE))
      continue
    for dataset, label in DATASETS.items():
      if key in found.get(dataset, {}):
        verdict, where = found[dataset][key]
        lines.append(f'- {label}: {verdict.measured}. From {where}. **{verdict.verdict}**')
      elif key == 'search':
        lines.append(f'- {label}: not measured in this run directory (no search_vs_grid.json; '
                     'the last run of `benchmarks/search_vs_grid.py`, with its command and time, '
                     'is in benchmarks/RESULTS.md). **' + claims.NOT_TESTABLE + '**')
      else:
        lines.append(f'- {label}: not measured. **{claims.NOT_TESTABLE}**')
    lines.append('')
    for dataset, label in DATASETS.items():
      if (dataset, key) in (figures or {}):
        lines += [f'![{label}: {key}]({figures[(dataset, key)]})', '']
    out.append((lines, any(key in found.get(dataset, {}) for dataset in DATASETS)))
  out.append((render_facenet2expnet(facenet2expnet, facenet2expnet_source),
              bool(facenet2expnet)))
  out.append((render_fer2013(fer2013, fer2013_source), bool(fer2013)))
  out.append((render_families(families, families_source), bool(families)))
  return out


HEADER = ['# The paper\'s claims, measured', '',
          'Generated by `PYTHONPATH=. python benchmarks/reproduction.py` from the studies and '
          'benchmark outputs named below; edit that script, not this file. Verdicts follow '
          'the rules in `search/claims.py` (tests at 5%, Holm-corrected within an ablation; '
          '"contradicted" where the 95% intervals rule out the claimed effect at the size of the '
          'ablation\'s equivalence margin). '
          '"Not known here" marks a number of the paper this project does not have.', '']


def _merge(section: list[str], earlier: list[str]) -> list[str]:
  """`section` with each dataset it did not measure taken from `earlier` (the same claim's
  section of an earlier report): that dataset's line and its figure."""
  def line_of(lines, label):
    return next((k for k, line in enumerate(lines) if line.startswith(f'- {label}:')), None)
  merged = list(section)
  for dataset, label in DATASETS.items():
    new, old = line_of(merged, label), line_of(earlier, label)
    if new is None or old is None or ': not measured' not in merged[new]:
      continue
    merged[new] = earlier[old]
    figure = next((line for line in earlier if line.startswith(f'![{label}:')), None)
    if figure and not any(line.startswith(f'![{label}:') for line in merged):
      merged += [figure, '']
  return merged


def render(*args, previous: str | None = None, **kwargs) -> str:
  """The report. With `previous` (an earlier report's text), a claim this call measured
  nothing for keeps its section from there, and a claim it measured for some datasets keeps
  the others' lines and figures: measurements made at different times, one regenerated without
  rerunning the others."""
  kept = {}
  for section in (previous or '').split('\n## ')[1:]:
    kept['## ' + section.split('\n', 1)[0]] = ('## ' + section).rstrip('\n').split('\n') + ['']
  lines = list(HEADER)
  for section, measured in render_sections(*args, **kwargs):
    if section[0] not in kept:
      lines += section
    else:
      lines += _merge(section, kept[section[0]]) if measured else kept[section[0]]
  return '\n'.join(lines)


def _fold_summary(ap: argparse.ArgumentParser, flag: str, path: str | None,
                  needs: str) -> dict | None:
  """The `benchmarks/cv_compare.py --json` summary at `path` with rows of the role `needs`,
  None without a path, or `ap.error` naming --`flag` and the file."""
  if not path:
    return None
  with open(path) as f:
    try:
      summary = json.load(f)
    except json.JSONDecodeError as error:
      ap.error(f'--{flag} {path}: not JSON ({error}); expected the --json file of '
               'benchmarks/cv_compare.py')
  try:
    fold_comparison.check_summary(summary, needs)
  except ValueError as error:
    ap.error(f'--{flag} {path}: {error}')
  return summary


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--ckplus48', help='run directory of the CK+48 ablations')
  ap.add_argument('--synthetic', help='run directory of the synthetic-face ablations')
  ap.add_argument('--speed', help='file holding the JSON line of benchmarks/speed.py')
  ap.add_argument('--facenet2expnet',
                  help='the --json file of benchmarks/cv_compare.py (CK+48 rows)')
  ap.add_argument('--fer2013', help='the --json file of benchmarks/seed_runs.py (FER2013 rows)')
  ap.add_argument('--families', help='the --json file of benchmarks/cv_compare.py with student '
                  'rows, MicroExpNet first (CK+48, configs/ckplus48_families.py)')
  ap.add_argument('--out', default='docs/reproduction.md')
  ap.add_argument('--update', action='store_true',
                  help='keep the sections of the existing --out report that this call has no '
                  'measurement for (e.g. add --facenet2expnet without the ablation studies)')
  ap.add_argument('--pooling', action='append', default=[], metavar='DATASET=DIR',
                  help='read the pooling and distillation claims of DATASET (ckplus48 or '
                  'synthetic) from the pooling study of DIR instead, e.g. '
                  'ckplus48=runs/ablate_ckplus48_seeds (configs/ablation_ckplus48_seeds.py)')
  a = ap.parse_args(argv)
  for name in ('ckplus48', 'synthetic'):
    if getattr(a, name) and not os.path.isdir(getattr(a, name)):
      ap.error(f'--{name} {getattr(a, name)}: no such run directory')
  pooling_dirs = {}
  for entry in a.pooling:
    dataset, _, run_dir = entry.partition('=')
    if dataset not in DATASETS or not run_dir:
      ap.error(f'--pooling {entry}: expected DATASET=DIR with DATASET one of '
               f'{", ".join(DATASETS)}')
    if not os.path.isdir(run_dir):
      ap.error(f'--pooling {entry}: {run_dir} is no such run directory')
    pooling_dirs[dataset] = run_dir
  for name in ('speed', 'facenet2expnet', 'fer2013', 'families'):
    if getattr(a, name) and not os.path.isfile(getattr(a, name)):
      ap.error(f'--{name} {getattr(a, name)}: no such file')
    # The report replaces --out: never with one of its own inputs.
    if getattr(a, name) and os.path.exists(a.out) and os.path.samefile(getattr(a, name), a.out):
      ap.error(f'--out {a.out} is the --{name} file; choose another report path (nothing is '
               'replaced)')
  if os.path.isdir(a.out):
    ap.error(f'--out {a.out}: a folder; expected the report\'s file, e.g. docs/reproduction.md')
  from jaxfer import models  # pylint: disable=g-import-not-at-top
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  size = claims.under_one_megabyte(models.student_size_bytes(config.student,
                                                             config.data.image_size))
  fps, speed_source = None, 'no --speed file'
  if a.speed:
    with open(a.speed) as f:
      fps = json.loads(f.read().strip().splitlines()[-1]).get('infer_bs1_ips')
    speed_source = f'`benchmarks/speed.py`, {a.speed}'
  facenet2expnet = _fold_summary(ap, 'facenet2expnet', a.facenet2expnet, 'teacher')
  families = _fold_summary(ap, 'families', a.families, 'student')
  fer2013 = None
  if a.fer2013:
    with open(a.fer2013) as f:
      try:
        fer2013 = json.load(f)
        seed_runs.check_summary(fer2013)
      except json.JSONDecodeError as error:
        ap.error(f'--fer2013 {a.fer2013}: not JSON ({error}); expected the --json file of '
                 'benchmarks/seed_runs.py')
      except ValueError as error:
        ap.error(f'--fer2013 {a.fer2013}: {error}')
  out_dir = os.path.dirname(os.path.abspath(a.out))
  os.makedirs(out_dir, exist_ok=True)
  figures = copy_figures({name: getattr(a, name) for name in DATASETS}, out_dir, pooling_dirs)
  previous = None
  if a.update and os.path.isfile(a.out):
    with open(a.out) as f:
      previous = f.read()
  text = render({name: measurements(getattr(a, name), pooling_dirs.get(name))
                 for name in DATASETS}, size,
                claims.frames_per_second(fps, _cpu()), speed_source, figures, facenet2expnet,
                f'`benchmarks/cv_compare.py`, {a.facenet2expnet}', fer2013,
                f'`benchmarks/seed_runs.py`, {a.fer2013}', families,
                f'`benchmarks/cv_compare.py`, {a.families}', previous=previous)
  with open(a.out, 'w') as f:
    f.write(text + '\n')
  print(text)


if __name__ == '__main__':
  main()
