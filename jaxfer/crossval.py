"""Cross-validation: `train_and_evaluate` on every fold, then mean, spread and a pooled confusion.

Fold k runs in WORKDIR/fold_k (teacher on that fold's training subjects only, then the student);
an interrupted run resumes fold by fold. The summary goes to WORKDIR/result.json, the pooled
confusion matrix to confusion.csv and confusion.png.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
from typing import Any, Sequence

import ml_collections
import numpy as np

from jaxfer import artifacts
from jaxfer import loop
from jaxfer import train

logger = logging.getLogger('jaxfer')


@dataclasses.dataclass
class CVResult:
  """A cross-validated result; `result.json` holds the same fields."""
  target: str
  num_folds: int
  fold_hash: str | None
  accuracy_mean: float
  accuracy_std: float
  fold_accuracies: list[float]
  per_class_accuracy: dict[str, float]
  confusion_matrix: list[list[int]]
  class_names: list[str]
  params: int
  size_bytes: int
  train_seconds: float
  workdir: str
  teacher_accuracy_mean: float | None = None
  teacher_accuracy_std: float | None = None
  teacher_fold_accuracies: list[float] | None = None
  evaluated_on: str = 'test'  # As `loop.Result.evaluated_on`: the folds' validation sets or tests.
  # With a validation set in each fold: each fold's model scored once on its held-out test fold.
  test_accuracy_mean: float | None = None
  test_accuracy_std: float | None = None
  test_fold_accuracies: list[float] | None = None


def summarize(results: Sequence[loop.Result], class_names: Sequence[str]) -> dict[str, Any]:
  """Mean and standard deviation (over folds) of accuracy, pooled per-class accuracy and the
  summed confusion matrix (rows: true class)."""
  accuracies = np.array([r.accuracy for r in results])
  confusion = np.sum([np.array(r.confusion_matrix) for r in results], axis=0)
  summary = {'accuracy_mean': float(accuracies.mean()), 'accuracy_std': float(accuracies.std()),
             'fold_accuracies': accuracies.tolist(),
             'per_class_accuracy': loop.per_class_accuracy(confusion, class_names),
             'confusion_matrix': confusion.tolist()}
  teacher = [r.teacher_accuracy for r in results if r.teacher_accuracy is not None]
  if len(teacher) == len(results):
    summary.update(teacher_accuracy_mean=float(np.mean(teacher)),
                   teacher_accuracy_std=float(np.std(teacher)), teacher_fold_accuracies=teacher)
  return summary


def write_confusion_csv(path: str, confusion: Sequence[Sequence[int]],
                        class_names: Sequence[str]) -> None:
  """Rows are true classes, columns predicted classes."""
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['true \\ predicted', *class_names])
    for name, row in zip(class_names, confusion):
      writer.writerow([name, *row])


def plot_confusion(path: str, confusion: Sequence[Sequence[int]], class_names: Sequence[str],
                   title: str) -> None:
  """The confusion matrix as a heat map, each row normalised, counts printed in the cells."""
  import matplotlib  # pylint: disable=g-import-not-at-top  (plotting is optional at import)
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  counts = np.asarray(confusion)
  rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
  fig, ax = plt.subplots(figsize=(1 + 0.8 * len(class_names), 0.8 * len(class_names) + 0.8))
  ax.imshow(rows, cmap='Blues', vmin=0, vmax=1)
  for i in range(len(class_names)):
    for j in range(len(class_names)):
      if counts[i, j]:
        ax.text(j, i, str(counts[i, j]), ha='center', va='center', fontsize=8,
                color='white' if rows[i, j] > 0.5 else 'black')
  ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha='right')
  ax.set_yticks(range(len(class_names)), class_names)
  ax.set_xlabel('predicted')
  ax.set_ylabel('true')
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def cross_validate(config: ml_collections.ConfigDict, workdir: str) -> CVResult:
  """Trains and evaluates `config.target` on each of the `config.data.num_folds` folds (with
  `config.data.validation_fraction` > 0, on each fold's validation set, then once on its test
  fold).

  Args:
    config: a config with `data.num_folds` >= 2 (e.g. configs/ckplus48.py).
    workdir: fold k runs in `workdir/fold_k`; reusing it resumes.

  Returns:
    The `CVResult`, also written to `workdir/result.json`.
  """
  train.preflight(config, workdir, cv=True)
  num_folds = config.data.num_folds
  results = []
  for fold in range(num_folds):
    logger.info('=== fold %d/%d ===', fold + 1, num_folds)
    results.append(train.train_and_evaluate(train.fold_config(config, fold),
                                            os.path.join(workdir, f'fold_{fold}')))
  hashes = {r.fold_hash for r in results}
  if len(hashes) != 1:  # Cannot happen unless the data changed between folds of one run.
    raise RuntimeError(f'the folds of {workdir} were made from different data: {hashes}')
  class_names = results[0].class_names
  summary = summarize(results, class_names)
  if results[0].evaluated_on == 'validation':
    # The folds' choices were made on validation sets carved from their training sides; each
    # fold's final model now looks once at its test fold, so every image is tested once.
    tested = [train.evaluate_held_out_test(train.fold_config(config, fold),
                                           os.path.join(workdir, f'fold_{fold}'), config.target)
              for fold in range(num_folds)]
    test = np.array([t['accuracy'] for t in tested])
    summary.update(test_accuracy_mean=float(test.mean()), test_accuracy_std=float(test.std()),
                   test_fold_accuracies=test.tolist())
  cv = CVResult(target=config.target, num_folds=num_folds, fold_hash=hashes.pop(),
                class_names=class_names, params=results[0].params,
                size_bytes=results[0].size_bytes,
                train_seconds=round(sum(r.train_seconds for r in results), 2),
                workdir=os.path.abspath(workdir), evaluated_on=results[0].evaluated_on,
                **summary)
  # Atomically, as a single run's result.json: a reader never sees half of it.
  artifacts.write_json(os.path.join(workdir, 'result.json'), dataclasses.asdict(cv))
  write_confusion_csv(os.path.join(workdir, 'confusion.csv'), cv.confusion_matrix, class_names)
  plot_confusion(os.path.join(workdir, 'confusion.png'), cv.confusion_matrix, class_names,
                 f'{config.data.name}, {num_folds}-fold CV, {config.target}: '
                 f'{100 * cv.accuracy_mean:.1f} ± {100 * cv.accuracy_std:.1f}%')
  return cv
