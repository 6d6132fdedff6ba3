"""Subject-independent, class-stratified k-fold splits and validation sets, and the hash that
identifies them.

A subject's images always fall in one fold, so no person is on both sides of a split; within
that constraint scikit-learn's `StratifiedGroupKFold` balances the classes across folds. The
assignment depends only on (example ids, labels, subjects, number of folds, seed); a validation
set (`carve_validation`, which also draws a search's training subset) only on (labels, subjects,
fraction, seed).
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np

# The largest seed of the data (and, for one rule everywhere, of every seed of a config):
# StratifiedGroupKFold's random_state is a numpy RandomState seed, 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


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


def carve_validation(labels: np.ndarray, subject_ids: np.ndarray, fraction: float,
                     seed: int) -> np.ndarray:
  """Whether each example is in the validation set: whole subjects, about `fraction` of every
  class.

  The rule: each class c aims at fraction * n_c validation images. Subjects are visited in a
  random order (`seed`, over the sorted subject ids, so stored order never matters) and a subject
  joins when that brings the per-class counts closer to their aims (summed absolute distance).
  With one image per subject (FER2013) every class ends within half an image of its aim;
  `StratifiedGroupKFold` would give 1/k for a whole k only.
  """
  subjects, subject_of = np.unique(subject_ids, return_inverse=True)
  counts = np.zeros((len(subjects), int(labels.max()) + 1), np.int64)
  np.add.at(counts, (subject_of, labels), 1)
  aim = fraction * counts.sum(0)
  taken = np.zeros(counts.shape[1], np.int64)
  distance = np.abs(aim - taken).sum()
  chosen = np.zeros(len(subjects), bool)
  for subject in np.random.default_rng(seed).permutation(len(subjects)):
    after = np.abs(aim - taken - counts[subject]).sum()
    if after < distance:
      chosen[subject], distance = True, after
      taken += counts[subject]
  return chosen[subject_of]


def sorted_order(example_ids: np.ndarray) -> np.ndarray:
  """The permutation that sorts examples by id, so stored order never matters."""
  return np.argsort(example_ids, kind='stable')


def fold_hash(example_ids: np.ndarray, folds: np.ndarray) -> str:
  """16 hex digits identifying which example sits in which fold."""
  digest = hashlib.sha256()
  for index in sorted_order(example_ids):
    digest.update(f'{example_ids[index]}\t{folds[index]}\n'.encode())
  return digest.hexdigest()[:16]
