"""Resuming past damaged checkpoints: the newest intact one is used, the damaged one set aside."""
import logging
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxfer import checkpoints
from jaxfer import train


def _params(model_dir, step):
  with ocp.CheckpointManager(checkpoints.directory(model_dir)) as manager:
    return manager.restore(step, args=ocp.args.StandardRestore())['params']


def _damage(step_dir, how):
  files = [os.path.join(root, name) for root, _, names in os.walk(step_dir) for name in names]
  if how == 'truncated data file':
    largest = max(files, key=os.path.getsize)
    with open(largest, 'r+b') as f:
      f.truncate(os.path.getsize(largest) // 2)
  else:  # An empty step folder, as a killed copy or a careless cleanup leaves it.
    shutil.rmtree(step_dir)
    os.mkdir(step_dir)


@pytest.mark.parametrize('how', ['truncated data file', 'empty step folder'])
def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(test_config, tmp_path,
                                                                         caplog, how):
  test_config.distill.loss = 'none'  # The student alone: no teacher needed.
  reference = train.train_and_evaluate(test_config, str(tmp_path / 'reference'))
  workdir = str(tmp_path / 'damaged')
  train.train_and_evaluate(test_config, workdir)
  student = os.path.join(workdir, 'student')
  last = test_config.student.num_epochs
  _damage(os.path.join(checkpoints.directory(student), str(last)), how)

  with caplog.at_level(logging.INFO, logger='jaxfer'):
    resumed = train.train_and_evaluate(test_config, workdir)
  assert f'the checkpoint of epoch {last} cannot be restored' in caplog.text
  assert f'resumed from the checkpoint of epoch {last - 1}' in caplog.text
  # The last epoch was trained again from the intact one, to the same numbers.
  assert resumed.accuracy == reference.accuracy
  jax.tree.map(np.testing.assert_array_equal, _params(reference.workdir, last),
               _params(student, last))
  aside = os.listdir(os.path.join(student, checkpoints.DAMAGED))
  assert len(aside) == 1 and aside[0].startswith(f'{last}-')  # Kept, not deleted.


def test_with_every_checkpoint_damaged_training_starts_again(test_config, tmp_path, caplog):
  test_config.distill.loss = 'none'
  workdir = str(tmp_path / 'run')
  first = train.train_and_evaluate(test_config, workdir)
  student = os.path.join(workdir, 'student')
  for step in os.listdir(checkpoints.directory(student)):
    if step.isdigit():
      _damage(os.path.join(checkpoints.directory(student), step), 'empty step folder')
  with caplog.at_level(logging.INFO, logger='jaxfer'):
    again = train.train_and_evaluate(test_config, workdir)
  assert caplog.text.count('cannot be restored') == checkpoints.MAX_TO_KEEP
  assert 'student epoch   1/' in caplog.text
  assert again.accuracy == first.accuracy
