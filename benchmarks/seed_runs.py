r"""Final models trained with several seeds (FER2013): validation and test accuracy with intervals.

    PYTHONPATH=. python benchmarks/seed_runs.py \
        --student 'MicroExpNet, distilled=runs/fer_s0' \
        --student 'MicroExpNet, distilled=runs/fer_s1' \
        --student 'MicroExpNet, distilled=runs/fer_s2' \
        --teacher 'resnet_small=runs/fer_s0' --teacher 'resnet_small=runs/fer_s1' ... \
        --json runs/fer2013_seeds.json

Each `--student` or `--teacher` is LABEL=WORKDIR, a `jaxfer distill` work directory of a config
with a validation set (configs/fer2013_folders.py; one `--config.seed=K` per directory), whose
student (or teacher) has result.json (validation accuracy) and test_result.json (its one look at
the test split). The same LABEL given again adds that directory as another seed of the row.
Prints a markdown table with 95% t intervals over the seeds and the targets
(`search/seed_runs.py`); `--json` keeps the rows for `benchmarks/reproduction.py --fer2013`.
Reads only; writes nothing but the `--json` file.
"""
from __future__ import annotations

import argparse
import json
from typing import Sequence

from search import labelled_runs
from search import seed_runs


def _rows(values: Sequence[str], flag: str, target: str, parser) -> list[dict]:
  """`summarize`d rows of the LABEL=WORKDIR `values`, one per label, in the order first given."""
  runs = {}
  for label, workdir in labelled_runs.labelled(values, flag, parser):
    try:
      runs.setdefault(label, []).append(seed_runs.read_run(workdir, target))
    except ValueError as error:
      parser.error(f'{flag} {label}={workdir}: {error}')
  try:
    return [seed_runs.summarize(label, label_runs) for label, label_runs in runs.items()]
  except ValueError as error:
    parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  args = labelled_runs.parse(parser, argv, 'a row of teachers, WORKDIR/teacher',
                             'a row of students, WORKDIR/student')
  summary = {'students': _rows(args.student, '--student', 'student', parser),
             'teachers': _rows(args.teacher, '--teacher', 'teacher', parser)}
  print(seed_runs.render(summary['teachers'] + summary['students']) + '\n')
  for target, verdict, measured in seed_runs.target_verdicts(summary['students'],
                                                             summary['teachers']):
    print(f'- {target}: {measured}. **{verdict}**')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(summary, f, indent=2)


if __name__ == '__main__':
  main()
