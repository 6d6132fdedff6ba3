"""The command-line arguments of the scripts that tabulate work directories as labelled rows
(benchmarks/cv_compare.py, benchmarks/seed_runs.py): repeated `--teacher` and `--student`
LABEL=WORKDIR, where the same LABEL again adds another seed's work directory, and `--json`."""
from __future__ import annotations

import argparse
import os
from typing import Sequence

SEEDS = '; the same LABEL again adds another seed\'s WORKDIR to the row'


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None, teacher_help: str,
          student_help: str) -> argparse.Namespace:
  """`parser` given --teacher, --student and --json, and `argv` parsed by it; at least one row
  and a new --json file in a folder that exists, or `parser.error` (one line, exit 2)."""
  parser.add_argument('--teacher', action='append', default=[], metavar='LABEL=WORKDIR',
                      help=teacher_help + SEEDS)
  parser.add_argument('--student', action='append', default=[], metavar='LABEL=WORKDIR',
                      help=student_help + SEEDS)
  parser.add_argument('--json', help='also write the rows here, for benchmarks/reproduction.py')
  args = parser.parse_args(argv)
  if not args.teacher and not args.student:
    parser.error('give at least one --teacher or --student LABEL=WORKDIR')
  if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
    parser.error(f'--json {args.json}: no such directory {os.path.dirname(args.json)}')
  if args.json and os.path.lexists(args.json):  # A file of the user's, or a folder: kept.
    parser.error(f'--json {args.json}: already exists; choose a new file (nothing is replaced)')
  return args


def labelled(values: Sequence[str], flag: str,
             parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
  """(label, work directory) of each LABEL=WORKDIR in `values`; `parser.error` for one that is
  malformed, names no directory, or repeats a label's directory."""
  pairs, seen = [], set()
  for value in values:
    label, sep, workdir = value.rpartition('=')
    if not sep or not label:
      parser.error(f'{flag} {value!r}: expected LABEL=WORKDIR')
    if not os.path.isdir(workdir):
      parser.error(f'{flag} {value!r}: no such work directory {workdir}')
    if (label, os.path.realpath(workdir)) in seen:
      parser.error(f'{flag} {label}={workdir}: given twice (another seed needs its own work '
                   'directory)')
    seen.add((label, os.path.realpath(workdir)))
    pairs.append((label, workdir))
  return pairs
