"""The teacher as an artifact: trained once into a directory, then only read.

A teacher directory holds `checkpoints/`, `config.json` (the settings it was trained with),
`result.json` (its test result), `logits.npz` (its logits on the training images, in the order
the data layer serves them) and, written last, `artifact.json`: the data it was trained on and
sha256 checksums of the logits and parameters. A directory with `artifact.json` is complete;
students read its logits and never resume, evaluate or rewrite it. `train` holds a file lock
while it works, so processes asking for the same teacher at once train it once.

Every complete teacher is also kept in a store shared by all run directories of this machine
(or of every machine that mounts it: $JAXFER_TEACHER_STORE), `store_dir()`, under a key made
of what determines it: its settings (`run_records.fingerprint('teacher', ...)`), the data's
identity (build, fold and its hash, validation and subset hashes, preprocessing) and jaxfer's
version. A run directory that needs a teacher already in the store gets a copy of it instead of
training one, so a second study, ablation or cross-validation on the same data trains no teacher
(`config.teacher.cache`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil

import jax
import ml_collections
import numpy as np

from jaxfer import artifacts
from jaxfer import data as data_lib
from jaxfer import facenet2expnet
from jaxfer import locks
from jaxfer import loop
from jaxfer import run_records
from jaxfer import version
from jaxfer import xla_cache

logger = logging.getLogger('jaxfer')

MANIFEST = 'artifact.json'
LOGITS = 'logits.npz'
# What a run directory's teacher folder holds that is not the teacher: its lock and settings
# record (made by the run itself).
_OWN_FILES = (locks.LOCK_FILE, 'config.json')


@dataclasses.dataclass(frozen=True)
class Teacher:
  """A complete teacher artifact: where it is, its logits on the training images, its result."""
  directory: str
  logits: np.ndarray
  logits_sha256: str
  result: loop.Result




def _read_manifest(directory: str) -> dict | None:
  path = os.path.join(directory, MANIFEST)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError) as error:
    raise ValueError(f'the teacher artifact {path} is unreadable ({error}); delete {directory} '
                     'to train the teacher again') from None


def _read_logits(directory: str, manifest: dict) -> np.ndarray | None:
  """The artifact's logits if they match the checksum in its manifest, else None."""
  return artifacts.load_checked(os.path.join(directory, LOGITS), 'logits',
                                manifest.get('logits_sha256'))


def _check_data(directory: str, manifest: dict, dataset: data_lib.Dataset) -> None:
  changed = run_records.changed_fields(manifest['data'], json.loads(json.dumps(
      dataset.identity)), strict=True)
  if changed:
    raise ValueError(f'the teacher in {directory} was trained on other data than this run '
                     f'(data identity fields {", ".join(changed)} differ: another dataset build, '
                     'fold or preprocessing); point config.teacher.artifact at the teacher of '
                     'this data, or train one')


def _as_teacher(directory: str, manifest: dict, logits: np.ndarray) -> Teacher:
  with open(os.path.join(directory, 'result.json')) as f:
    result = loop.Result(**json.load(f))
  return Teacher(directory=os.path.abspath(directory), logits=logits,
                 logits_sha256=manifest['logits_sha256'], result=result)


def require(directory: str) -> dict:
  """The manifest of the complete teacher artifact in `directory`; FileNotFoundError naming the
  path and what to run if there is none. Reads nothing else, creates nothing."""
  manifest = _read_manifest(directory) if os.path.isdir(directory) else None
  if manifest is None:
    state = ('is an unfinished teacher (no artifact.json)' if os.path.isdir(directory)
             else 'does not exist')
    raise FileNotFoundError(
        f'config.teacher.artifact: {directory} {state}; train the teacher first with `jaxfer '
        'train-teacher --config ... --workdir DIR` (its artifact is DIR/teacher), or leave '
        'config.teacher.artifact empty to train one in WORKDIR/teacher')
  return manifest


def load(directory: str, dataset: data_lib.Dataset) -> Teacher:
  """The complete teacher artifact in `directory`, checked against `dataset`.

  Raises FileNotFoundError if there is none, ValueError if it is damaged (its logits do not
  match their checksum) or was trained on other data.
  """
  manifest = require(directory)
  _check_data(directory, manifest, dataset)
  logits = _read_logits(directory, manifest)
  if logits is None:
    raise ValueError(f'the teacher artifact {directory} is damaged: {LOGITS} is missing or does '
                     'not match the checksum in artifact.json; train the teacher again')
  return _as_teacher(directory, manifest, logits)


def store_dir() -> str:
  """Where complete teachers are kept by key: $JAXFER_TEACHER_STORE, else
  $JAXFER_CACHE_DIR/teachers (default ~/.cache/jaxfer/teachers)."""
  return (os.environ.get('JAXFER_TEACHER_STORE')
          or os.path.join(xla_cache.cache_root(), 'teachers'))


def store_key(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> str:
  """The store's name for the teacher of `config` on `dataset`: a digest of its settings, the
  data's identity and jaxfer's version."""
  determined_by = {'teacher': run_records.fingerprint('teacher', config),
                   'data': dataset.identity, 'jaxfer': version.VERSION}
  return hashlib.sha256(json.dumps(determined_by, sort_keys=True, default=str).encode()
                        ).hexdigest()


def _copy_from_store(key: str, directory: str) -> bool:
  """Copies the stored teacher `key` into `directory` (its manifest last, so an interrupted copy
  is an unfinished teacher); whether there was one."""
  stored = os.path.join(store_dir(), key)
  if not os.path.isfile(os.path.join(stored, MANIFEST)):
    return False
  for name in sorted(os.listdir(stored), key=lambda name: name == MANIFEST):
    source, target = os.path.join(stored, name), os.path.join(directory, name)
    if name in _OWN_FILES:
      continue
    if os.path.isdir(source):
      shutil.rmtree(target, ignore_errors=True)
      shutil.copytree(source, target)
    elif name == 'result.json':
      _write_relocated_result(source, target)
    else:
      shutil.copy2(source, target)
  return True


def _write_relocated_result(source: str, target: str) -> None:
  """The result at `source` written to `target` with the paths of the run that trained it (its
  work directory and what lies below it) moved to `target`'s folder."""
  with open(source) as f:
    result = json.load(f)
  trained_in, here = result.get('workdir'), os.path.dirname(os.path.abspath(target))
  for field, value in result.items():
    if trained_in and isinstance(value, str) and (value == trained_in or
                                                  value.startswith(trained_in + os.sep)):
      result[field] = here + value[len(trained_in):]
  artifacts.write_json(target, result)


def _put_in_store(key: str, directory: str) -> None:
  """A copy of the complete teacher in `directory` as the stored teacher `key` (whole or not at
  all; a store that cannot be written is skipped with a warning)."""
  stored = os.path.join(store_dir(), key)
  if os.path.isdir(stored):
    return
  temporary = f'{stored}.{os.getpid()}.tmp'
  try:
    shutil.copytree(directory, temporary, ignore=shutil.ignore_patterns(*_OWN_FILES))
    os.rename(temporary, stored)  # Another process may have stored it first: then keep that.
  except OSError as error:
    if not os.path.isdir(stored):
      logger.warning('teacher: not stored in %s (%s)', store_dir(), error.strerror or error)
  finally:
    shutil.rmtree(temporary, ignore_errors=True)


def train(config: ml_collections.ConfigDict, directory: str,
          dataset: data_lib.Dataset) -> Teacher:
  """The teacher of `config` in `directory`: reused if complete, else trained (or resumed).

  Training ends by computing the logits on `dataset.train` once and writing the manifest;
  a complete artifact is returned as it is, without evaluating or rewriting anything. With
  `config.teacher.cache`, a teacher not yet in `directory` is copied from the store when it is
  there, and a teacher trained here is stored.
  """
  use_store = config.teacher.get('cache', False)
  key = store_key(config, dataset) if use_store else ''
  with locks.held(directory, 'teacher'):
    run_records.record_or_compare(directory, run_records.fingerprint('teacher', config),
                                  'teacher')
    if (use_store and _read_manifest(directory) is None
        and not os.path.isdir(os.path.join(directory, 'checkpoints'))
        and _copy_from_store(key, directory)):
      logger.info('teacher: copied from the store (%s) into %s; nothing to train',
                  os.path.join(store_dir(), key), directory)
    manifest = _read_manifest(directory)
    if manifest is not None:
      _check_data(directory, manifest, dataset)
      logits = _read_logits(directory, manifest)
      if logits is not None:
        teacher = _as_teacher(directory, manifest, logits)
        logger.info('teacher: reusing the trained teacher in %s (%s accuracy %.4f)',
                    directory, teacher.result.evaluated_on, teacher.result.accuracy)
        return teacher
      logger.warning('teacher: %s in %s does not match its checksum; computing the logits again '
                     'from the last checkpoint', LOGITS, directory)
      os.remove(os.path.join(directory, MANIFEST))
    spec = facenet2expnet.with_pretraining(loop.fit_spec(config, 'teacher', dataset.num_classes),
                                           config, dataset, directory)
    state, seconds = loop.fit(spec, dataset, directory)
    result = loop.summarize(spec, state, dataset, directory, seconds)
    artifacts.write_json(os.path.join(directory, 'result.json'), dataclasses.asdict(result))
    logger.info('teacher: %s accuracy %.4f, %d parameters', result.evaluated_on, result.accuracy,
                result.params)
    logits = np.asarray(loop.predict(state, dataset.train['image'], config.eval_batch_size),
                        np.float32)
    manifest = {
        'data': json.loads(json.dumps(dataset.identity)),
        'logits_sha256': artifacts.save_array(os.path.join(directory, LOGITS), 'logits', logits),
        'logits_shape': list(logits.shape),
        'params_sha256': artifacts.sha256_of_arrays(
            jax.tree.leaves((state.params, state.batch_stats))),
    }
    artifacts.write_json(os.path.join(directory, MANIFEST), manifest)
    logger.info('teacher: logits on %d training images written to %s', len(logits), directory)
    if use_store:
      _put_in_store(key, directory)
    return Teacher(directory=os.path.abspath(directory), logits=logits,
                   logits_sha256=manifest['logits_sha256'], result=result)
