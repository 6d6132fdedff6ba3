"""The teacher as an artifact: trained once into a directory, then only read.

A teacher directory holds `checkpoints/`, `config.json` (the settings it was trained with),
`result.json` (its test result), `logits.npz` (its logits on the training images, in the order
the data layer serves them) and, written last, `artifact.json`: the data it was trained on, the
sha256 checksums of the logits and parameters, of every other file of the artifact
(`files_sha256`) and of the manifest itself. A directory with `artifact.json` is complete;
students read its logits, checked against those checksums, and never resume, evaluate or rewrite
it. `train` holds a file lock while it works, so processes asking for the same teacher at once
train it once.

Every complete teacher is also kept in a store shared by all run directories of this machine
(or of every machine that mounts it: $JAXFER_TEACHER_STORE), `store_dir()`, under a key made
of what determines it: its settings (`run_records.fingerprint('teacher', ...)`), the data's
identity (build, fold and its hash, validation and subset hashes, preprocessing) and jaxfer's
version. A run directory that needs a teacher already in the store gets a copy of it instead of
training one, so a second study, ablation or cross-validation on the same data trains no teacher
(`config.teacher.cache`). A stored teacher is verified as it is copied: a damaged one is moved
aside (`<key>.damaged-<time>`, never deleted, never copied again) and the teacher trained afresh.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import zipfile

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
RESULT = 'result.json'
# What a run directory's teacher folder holds that is not the teacher: its lock and settings
# record (made by the run itself), at any depth (a pretraining stage has its own).
_OWN_FILES = (locks.LOCK_FILE, 'config.json')
# The manifest's checksum of itself: sha256 of its JSON without this field.
_SELF_CHECKSUM = 'manifest_sha256'


@dataclasses.dataclass(frozen=True)
class Teacher:
  """A complete teacher artifact: where it is, its logits on the training images, its result."""
  directory: str
  logits: np.ndarray
  logits_sha256: str
  result: loop.Result


class _Damaged(Exception):
  """Files of a teacher artifact that are not what was written there: (name, what is wrong)
  pairs, each name relative to the artifact's folder."""

  def __init__(self, *problems: tuple[str, str]):
    super().__init__(problems)
    self.problems = problems

  def names(self) -> set[str]:
    return {name for name, _ in self.problems}

  def describe(self, directory: str = '') -> str:
    """The first problem, its file under `directory`, and how many more files are damaged."""
    name, problem = self.problems[0]
    more = len(self.problems) - 1
    return (f'{os.path.join(directory, name) if directory else name} {problem}'
            + (f' (and {more} more file{"s" * (more > 1)} of it)' if more else ''))


def _sha256_of_file(path: str) -> str:
  # hashlib.file_digest does this from Python 3.11 on; jaxfer supports 3.10.
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(2**20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def _artifact_files(directory: str) -> list[str]:
  """The names (relative to `directory`, with '/') of every file of the artifact in it but its
  manifest and the run's own files."""
  files = []
  for folder, _, names in os.walk(directory):
    for name in names:
      if name not in _OWN_FILES and not (folder == directory and name == MANIFEST):
        files.append(os.path.relpath(os.path.join(folder, name), directory).replace(os.sep, '/'))
  return sorted(files)


def _file_checksums(directory: str) -> dict[str, str]:
  """{name: sha256} of every file of the artifact in `directory` (`_artifact_files`)."""
  return {name: _sha256_of_file(os.path.join(directory, *name.split('/')))
          for name in _artifact_files(directory)}


def _manifest_checksum(manifest: dict) -> str:
  content = {field: value for field, value in manifest.items() if field != _SELF_CHECKSUM}
  return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _sealed(manifest: dict, directory: str) -> dict:
  """`manifest` with the checksums of the files in `directory` and of itself."""
  manifest = {field: value for field, value in manifest.items() if field != _SELF_CHECKSUM}
  manifest['files_sha256'] = _file_checksums(directory)
  manifest[_SELF_CHECKSUM] = _manifest_checksum(manifest)
  return manifest


def _read_manifest(directory: str) -> dict | None:
  """The manifest of the teacher in `directory`, None if it has none; _Damaged if it is not the
  one jaxfer wrote (unreadable, or not matching its own checksum)."""
  try:
    with open(os.path.join(directory, MANIFEST), 'rb') as f:
      manifest = json.loads(f.read())
  except FileNotFoundError:
    return None
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise _Damaged((MANIFEST, f'is not valid JSON ({error})')) from None
  except OSError as error:
    raise _Damaged((MANIFEST, f'cannot be read ({error.strerror or error})')) from None
  if not (isinstance(manifest, dict) and isinstance(manifest.get('data'), dict)
          and isinstance(manifest.get('logits_sha256'), str)
          and isinstance(manifest.get('files_sha256', {}), dict)):
    raise _Damaged((MANIFEST, 'lacks the fields jaxfer writes there (data, logits_sha256)'))
  # Manifests written before files had checksums have none of their own either.
  if _SELF_CHECKSUM in manifest and manifest[_SELF_CHECKSUM] != _manifest_checksum(manifest):
    raise _Damaged((MANIFEST, 'does not match its own sha256 checksum'))
  return manifest


def _check_files(directory: str, checksums: dict[str, str]) -> None:
  """_Damaged naming every file of the artifact in `directory` that is missing or does not
  match its sha256 in `checksums` ({name: sha256}, a manifest's `files_sha256`)."""
  problems = []
  for name, sha256 in sorted(checksums.items()):
    path = os.path.join(directory, *name.split('/'))
    try:
      if _sha256_of_file(path) != sha256:
        problems.append((name, f'does not match its sha256 checksum in {MANIFEST}'))
    except FileNotFoundError:
      problems.append((name, 'is missing'))
    except OSError as error:
      problems.append((name, f'cannot be read ({error.strerror or error})'))
  if problems:
    raise _Damaged(*problems)


def _read_logits(directory: str, manifest: dict) -> np.ndarray:
  """The artifact's logits; _Damaged if they are unreadable or do not match their checksum."""
  path = os.path.join(directory, LOGITS)
  try:
    with np.load(path) as stored:
      logits = stored['logits']
  except FileNotFoundError:
    raise _Damaged((LOGITS, 'is missing')) from None
  # Not `artifacts.load_checked`, which says only that the file is unusable: here, why.
  except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
    raise _Damaged((LOGITS, f'is not a readable .npz file of logits ({error})')) from None
  if artifacts.sha256_of_arrays([logits]) != manifest['logits_sha256']:
    raise _Damaged((LOGITS, f'does not match the logits checksum in {MANIFEST}'))
  return logits


def _read_result_json(path: str) -> dict:
  """The result object in the JSON file `path` (an artifact's result.json); _Damaged if it is
  not one."""
  try:
    with open(path, 'rb') as f:
      result = json.loads(f.read())
  except FileNotFoundError:
    raise _Damaged((RESULT, 'is missing')) from None
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise _Damaged((RESULT, f'is not valid JSON ({error})')) from None
  try:
    loop.Result(**result)
  except TypeError:
    raise _Damaged((RESULT, 'does not hold the fields of a result')) from None
  return result


def _read_teacher(directory: str, manifest: dict) -> Teacher:
  """The complete teacher in `directory`, every file checked; _Damaged if any is damaged (an
  artifact written before files had checksums shows what it can: its logits match theirs and
  its result reads)."""
  _check_files(directory, manifest.get('files_sha256', {}))
  logits = _read_logits(directory, manifest)
  result = loop.Result(**_read_result_json(os.path.join(directory, RESULT)))
  return Teacher(directory=os.path.abspath(directory), logits=logits,
                 logits_sha256=manifest['logits_sha256'], result=result)


def _check_data(directory: str, manifest: dict, dataset: data_lib.Dataset) -> None:
  changed = run_records.changed_fields(manifest['data'], json.loads(json.dumps(
      dataset.identity)), strict=True)
  if changed:
    raise ValueError(f'the teacher in {directory} was trained on other data than this run '
                     f'(data identity fields {", ".join(changed)} differ: another dataset build, '
                     'fold or preprocessing); point config.teacher.artifact at the teacher of '
                     'this data, or train one')


def _damaged_artifact(directory: str, damage: _Damaged, advice: str) -> ValueError:
  return ValueError(f'the teacher artifact {directory} is damaged: {damage.describe(directory)}; '
                    f'{advice}')


_TRAIN_AGAIN = ('delete it and train the teacher again (`jaxfer train-teacher --config ... '
                '--workdir DIR` makes DIR/teacher)')


def require(directory: str) -> dict:
  """The manifest of the complete teacher artifact in `directory`; FileNotFoundError naming the
  path and what to run if there is none, ValueError if its manifest is damaged. Reads nothing
  else, creates nothing."""
  try:
    manifest = _read_manifest(directory) if os.path.isdir(directory) else None
  except _Damaged as damage:
    raise _damaged_artifact(directory, damage, _TRAIN_AGAIN) from None
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

  Raises FileNotFoundError if there is none, ValueError if it is damaged (a file is missing,
  unreadable or does not match its checksum) or was trained on other data.
  """
  manifest = require(directory)
  _check_data(directory, manifest, dataset)
  try:
    return _read_teacher(directory, manifest)
  except _Damaged as damage:
    raise _damaged_artifact(directory, damage, _TRAIN_AGAIN) from None


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


def _store_lock():
  """The store's lock, held while an entry is put in place or set aside (never while reading:
  an entry in place is never rewritten)."""
  return locks.held(store_dir(), 'teacher store')


def _copy_from_store(key: str, directory: str) -> bool:
  """Copies the stored teacher `key` into `directory` (its manifest last, so an interrupted copy
  is an unfinished teacher), checking every file; whether it did. A damaged stored teacher is
  set aside (`_set_aside`) and not copied."""
  stored = os.path.join(store_dir(), key)
  try:
    examined = os.stat(stored)
  except OSError:  # Not stored (or no store: a file in its place).
    return False
  copied = set()
  try:
    manifest = _read_manifest(stored)
    if manifest is None:  # Entries are put in place whole: this one lost its manifest.
      raise _Damaged((MANIFEST, 'is missing'))
    recorded = manifest.get('files_sha256')
    names = sorted(recorded) if recorded is not None else _artifact_files(stored)
    for top in {name.split('/')[0] for name in names}:
      copied.add(top)
      if os.path.isdir(os.path.join(directory, top)):
        shutil.rmtree(os.path.join(directory, top))
    for name in names:
      source, target = (os.path.join(folder, *name.split('/')) for folder in (stored, directory))
      if name == RESULT:
        _write_relocated_result(source, target, None if recorded is None else recorded[name])
        continue
      os.makedirs(os.path.dirname(target), exist_ok=True)
      try:
        shutil.copyfile(source, target)
      except FileNotFoundError:
        if not os.path.exists(source):
          raise _Damaged((name, 'is missing')) from None
        raise
    # What was copied is what the manifest vouches for (the result was checked before it was
    # relocated); an entry without checksums shows what it can: readable logits and result.
    _check_files(directory, {name: sha256 for name, sha256 in (recorded or {}).items()
                             if name != RESULT})
    _read_logits(directory, manifest)
    _read_result_json(os.path.join(directory, RESULT))
  except _Damaged as damage:
    _remove(directory, copied)
    _set_aside(stored, examined, damage)
    return False
  except BaseException:  # Leaves no part of the stored teacher unchecked in `directory`.
    _remove(directory, copied)
    raise
  artifacts.write_json(os.path.join(directory, MANIFEST), _sealed(manifest, directory))
  return True


def _remove(directory: str, names: set[str]) -> None:
  for name in names:
    path = os.path.join(directory, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.lexists(path):
      os.remove(path)


def _set_aside(stored: str, examined: os.stat_result, damage: _Damaged) -> None:
  """Moves the damaged stored teacher `stored` (as it was when `examined`) to a name of its own
  beside it, `<key>.damaged-<time>`, and says so in one warning: kept for a look, never copied.
  Under the store's lock and only if `stored` is still the folder examined, so that of two
  processes finding the same damage one moves it, and neither moves a teacher stored since."""
  what = f'teacher: the stored teacher {stored} is damaged ({damage.describe()})'
  try:
    with _store_lock():
      try:
        current = os.stat(stored)
      except FileNotFoundError:
        current = None
      if current is None or (current.st_dev, current.st_ino) != (examined.st_dev,
                                                                 examined.st_ino):
        logger.warning('%s; another process has set it aside; training the teacher afresh', what)
        return
      aside = stamped = f'{stored}.damaged-{time.strftime("%Y%m%d-%H%M%S")}'
      number = 1
      while os.path.lexists(aside):  # Another one set aside within the same second.
        number += 1
        aside = f'{stamped}-{number}'
      os.rename(stored, aside)
  except OSError as error:
    logger.warning('%s and cannot be set aside (%s); training the teacher afresh', what,
                   error.strerror or error)
    return
  logger.warning('%s; set aside as %s, training the teacher afresh', what, aside)


def _write_relocated_result(source: str, target: str, sha256: str | None) -> None:
  """The result at `source` (checked against `sha256` when there is one) written to `target`
  with the paths of the run that trained it (its work directory and what lies below it) moved
  to `target`'s folder."""
  if sha256 is not None:
    try:
      if _sha256_of_file(source) != sha256:
        raise _Damaged((RESULT, f'does not match its sha256 checksum in {MANIFEST}'))
    except FileNotFoundError:
      raise _Damaged((RESULT, 'is missing')) from None
  result = _read_result_json(source)
  trained_in, here = result.get('workdir'), os.path.dirname(os.path.abspath(target))
  for field, value in result.items():
    if trained_in and isinstance(value, str) and (value == trained_in or
                                                  value.startswith(trained_in + os.sep)):
      result[field] = here + value[len(trained_in):]
  artifacts.write_json(target, result)


def _put_in_store(key: str, directory: str, manifest: dict) -> None:
  """A copy of the complete teacher in `directory` (of manifest `manifest`) as the stored
  teacher `key`, checked before it is put in place (whole or not at all; a store that cannot be
  written is skipped with a warning)."""
  stored = os.path.join(store_dir(), key)
  if os.path.isdir(stored):
    return
  temporary = f'{stored}.{os.getpid()}.tmp'
  try:
    shutil.copytree(directory, temporary, ignore=shutil.ignore_patterns(*_OWN_FILES))
    _check_files(temporary, manifest['files_sha256'])
    with _store_lock():
      if not os.path.isdir(stored):  # Another process may have stored it first: then keep that.
        os.rename(temporary, stored)
  except _Damaged as damage:
    logger.warning('teacher: not stored in %s (its copy there came out damaged: %s)',
                   store_dir(), damage.describe())
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
  there and intact, and a teacher trained here is stored. A complete artifact whose logits alone
  are damaged gets them computed again from its last checkpoint; other damage is a ValueError
  naming the file.
  """
  use_store = config.teacher.get('cache', False)
  key = store_key(config, dataset) if use_store else ''
  with locks.held(directory, 'teacher'):
    run_records.record_or_compare(directory, run_records.fingerprint('teacher', config),
                                  'teacher')
    if (use_store and not os.path.lexists(os.path.join(directory, MANIFEST))
        and not os.path.isdir(os.path.join(directory, 'checkpoints'))
        and _copy_from_store(key, directory)):
      logger.info('teacher: copied from the store (%s) into %s; nothing to train',
                  os.path.join(store_dir(), key), directory)
    manifest = None
    try:
      manifest = _read_manifest(directory)
      if manifest is not None:
        _check_data(directory, manifest, dataset)
        teacher = _read_teacher(directory, manifest)
        logger.info('teacher: reusing the trained teacher in %s (%s accuracy %.4f)',
                    directory, teacher.result.evaluated_on, teacher.result.accuracy)
        return teacher
    except _Damaged as damage:
      # Its logits alone can be computed again: the checkpoints they come from are intact
      # (checked, in an artifact whose files have checksums).
      if manifest is None or damage.names() != {LOGITS}:
        raise _damaged_artifact(directory, damage, f'delete {directory} to train the teacher '
                                'again') from None
      logger.warning('teacher: %s; computing the logits again from the last checkpoint',
                     damage.describe(directory))
      os.remove(os.path.join(directory, MANIFEST))
    spec = facenet2expnet.with_pretraining(loop.fit_spec(config, 'teacher', dataset.num_classes),
                                           config, dataset, directory)
    state, seconds = loop.fit(spec, dataset, directory)
    result = loop.summarize(spec, state, dataset, directory, seconds)
    artifacts.write_json(os.path.join(directory, RESULT), dataclasses.asdict(result))
    logger.info('teacher: %s accuracy %.4f, %d parameters', result.evaluated_on, result.accuracy,
                result.params)
    logits = np.asarray(loop.predict(state, dataset.train['image'], config.eval_batch_size),
                        np.float32)
    manifest = _sealed({
        'data': json.loads(json.dumps(dataset.identity)),
        'logits_sha256': artifacts.save_array(os.path.join(directory, LOGITS), 'logits', logits),
        'logits_shape': list(logits.shape),
        'params_sha256': artifacts.sha256_of_arrays(
            jax.tree.leaves((state.params, state.batch_stats))),
    }, directory)
    artifacts.write_json(os.path.join(directory, MANIFEST), manifest)
    logger.info('teacher: logits on %d training images written to %s', len(logits), directory)
    if use_store:
      _put_in_store(key, directory, manifest)
    return Teacher(directory=os.path.abspath(directory), logits=logits,
                   logits_sha256=manifest['logits_sha256'], result=result)
