"""Subject-independent, class-stratified k-fold splits, and the hash that identifies them.

A subject's images always fall in one fold, so no person is on both sides of a split; within
that constraint scikit-learn's `StratifiedGroupKFold` balances the classes across folds. The
assignment depends only on (example ids, labels, subjects, number of folds, seed).
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np


def assign_folds(example_ids: np.ndarray, labels: np.ndarray, subject_ids: np.ndarray,
                 num_folds: int, seed: int) -> np.ndarray:
  """The fold (0..num_folds-1) of every example; all examples of a subject share a fold."""
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top  (slow import)
  subjects = np.unique(subject_ids)
  if num_folds < 2:
    raise ValueError(f'config.data.num_folds = {num_folds} is not allowed; expected at least 2')
  if len(subjects) < num_folds:
    raise ValueError(f'config.data.num_folds = {num_folds} is more than the {len(subjects)} '
                     'subjects of the dataset; every fold needs a subject of its own')
  # Sorted by id first, so the assignment does not depend on the order examples were stored in.
  order = sorted_order(example_ids)
  splitter = model_selection.StratifiedGroupKFold(num_folds, shuffle=True, random_state=seed)
  folds = np.empty(len(labels), np.int64)
  with warnings.catch_warnings():
    # "The least populated class has only n members": stratified as far as subjects allow.
    warnings.simplefilter('ignore', UserWarning)
    splits = splitter.split(np.zeros(len(order)), labels[order], subject_ids[order])
    for fold, (_, test) in enumerate(splits):
      folds[order[test]] = fold
  return folds


def sorted_order(example_ids: np.ndarray) -> np.ndarray:
  """The permutation that sorts examples by id, so stored order never matters."""
  return np.argsort(example_ids, kind='stable')


def fold_hash(example_ids: np.ndarray, folds: np.ndarray) -> str:
  """16 hex digits identifying which example sits in which fold."""
  digest = hashlib.sha256()
  for index in sorted_order(example_ids):
    digest.update(f'{example_ids[index]}\t{folds[index]}\n'.encode())
  return digest.hexdigest()[:16]
