"""Where studies live: Optuna storages by URL, read-only lookups, and keeping passwords out.

`config.search.storage` is '' (an SQLite file in the run directory), 'journal:PATH' (Optuna's
journal file) or a database URL ('sqlite:///PATH', 'postgresql://user@host/db'). A password in
that URL never reaches a log, a file, a trial attribute or a message: `redact` masks it.
"""
from __future__ import annotations

import logging
import os
import re
import time
import urllib.parse
import warnings

import optuna

# Optuna 4.9 renamed RetryFailedTrialCallback; the old name still works with a warning.
RETRY_CALLBACK = getattr(optuna.storages, 'RetryHeartbeatStaleTrialCallback',
                         optuna.storages.RetryFailedTrialCallback)
DATABASES = ('sqlite:///', 'postgresql://', 'postgresql+psycopg://', 'mysql://',
             'mysql+pymysql://')
JOURNAL = 'journal:'
SECRET = '***'
_USERINFO_PASSWORD = re.compile(r'(\w[\w+.-]*://[^/@\s:]*:)(?!\*\*\*@)[^@\s]+@')
_QUERY_PASSWORD = re.compile(r'(?i)((?:^|[?&;\s])password=)(?!\*\*\*)[^&;\s\'"]+')


def passwords(url: str) -> list[str]:
  """The secrets written in a storage URL (user-info password, password= query), raw and
  decoded."""
  found = []
  match = re.match(r'\w[\w+.-]*://([^/@\s]*)@', url)
  if match and ':' in match.group(1):
    found.append(match.group(1).split(':', 1)[1])
  found += re.findall(r'(?i)(?:^|[?&;])password=([^&;]+)', url)
  return [s for secret in found if secret for s in {secret, urllib.parse.unquote(secret)}]


def redact(text: str, url: str = '') -> str:
  """`text` with every password of a URL in it, and every secret of `url`, replaced by ***."""
  for secret in sorted(passwords(url), key=len, reverse=True):
    text = text.replace(secret, SECRET)
  text = _USERINFO_PASSWORD.sub(rf'\g<1>{SECRET}@', text)
  return _QUERY_PASSWORD.sub(rf'\g<1>{SECRET}', text)


class RedactingFilter(logging.Filter):
  """Masks the secrets of a storage URL in every log record that passes through a handler."""

  def __init__(self, url: str):
    super().__init__()
    self._url = url

  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    masked = redact(message, self._url)
    if masked != message:
      record.msg, record.args = masked, ()
    return True


def check_url(storage: str) -> None:
  """Raises ValueError unless `storage` is '', journal:PATH or a database URL."""
  if storage and not storage.startswith((JOURNAL, *DATABASES)):
    raise ValueError(f'config.search.storage = {redact(storage)!r} is not allowed; expected \'\' '
                     f'(SQLite in the run directory), journal:PATH, or a URL starting with '
                     f'{", ".join(DATABASES)}')
  if storage.startswith(JOURNAL) and not storage[len(JOURNAL):]:
    raise ValueError("config.search.storage = 'journal:' needs a file, e.g. journal:runs/j.log")


def storage_url(storage: str, run_dir: str) -> str:
  """The storage of a study: '' means an SQLite file in `run_dir`."""
  return storage or f'sqlite:///{os.path.abspath(os.path.join(run_dir, "study.db"))}'


def _sqlalchemy_url(url: str) -> str:
  if url.startswith('postgresql://'):  # psycopg 3, whatever SQLAlchemy's default driver.
    return 'postgresql+psycopg://' + url[len('postgresql://'):]
  return url


def _quiet_experimental_warnings() -> None:
  # Heartbeats and metric names are marked experimental in Optuna; they are the documented ways
  # to fail the trials of dead workers and to name objectives, so the warning would only repeat.
  warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)


def make_storage(url: str, *, heartbeat_interval: int = 60,
                 max_retry: int = 2) -> optuna.storages.BaseStorage:
  """An Optuna storage for `url` (see `storage_url`), creating what it needs.

  RDB storages get heartbeats, so a trial whose worker died becomes FAIL after
  2 x `heartbeat_interval` seconds and is retried (at most `max_retry` times).
  """
  _quiet_experimental_warnings()
  if url.startswith(JOURNAL):
    path = url[len(JOURNAL):]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
  if url.startswith('sqlite:///'):
    os.makedirs(os.path.dirname(url[len('sqlite:///'):]) or '.', exist_ok=True)
  for attempt in range(3):
    try:
      return optuna.storages.RDBStorage(
          _sqlalchemy_url(url), heartbeat_interval=heartbeat_interval,
          grace_period=2 * heartbeat_interval,
          heartbeat_stale_trial_callback=RETRY_CALLBACK(max_retry=max_retry))
    except Exception as error:  # pylint: disable=broad-except  (drivers raise many kinds)
      # Workers started together on a new database race to create its tables; the loser
      # fails on a unique constraint and finds the tables made when it tries again.
      message = str(error).lower()
      if attempt < 2 and ('unique constraint' in message or 'already exists' in message):
        time.sleep(1 + attempt)
        continue
      raise ValueError(f'cannot open the study storage {redact(url)}: '
                       f'{redact(str(error), url).splitlines()[0]}') from None
  raise AssertionError('unreachable')


def existing_storage(url: str) -> optuna.storages.BaseStorage | None:
  """The storage at `url` if it already holds Optuna's tables (or journal), else None.

  Creates nothing: no file, no database table. For read-only commands.
  """
  _quiet_experimental_warnings()
  if url.startswith(JOURNAL):
    path = url[len(JOURNAL):]
    if not os.path.isfile(path):
      return None
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
  if url.startswith('sqlite:///') and not os.path.isfile(url[len('sqlite:///'):]):
    return None
  import sqlalchemy  # pylint: disable=g-import-not-at-top  (Optuna's own dependency)
  try:
    engine = sqlalchemy.create_engine(_sqlalchemy_url(url))
    try:
      has_tables = sqlalchemy.inspect(engine).has_table('studies')
    finally:
      engine.dispose()
  except Exception as error:  # pylint: disable=broad-except  (drivers raise many kinds)
    raise ValueError(f'cannot open the study storage {redact(url)}: '
                     f'{redact(str(error), url).splitlines()[0]}') from None
  return make_storage(url) if has_tables else None


def load_study(name: str, run_dir: str, storage: str) -> optuna.Study:
  """The existing study `name`, creating nothing; ValueError listing the studies the storage
  holds when there is no such study."""
  url = storage_url(storage, run_dir)
  backend = existing_storage(url)
  names = [s.study_name for s in optuna.get_all_study_summaries(backend)] if backend else []
  if name not in names:
    where = redact(url)
    raise ValueError(f'no study named {name!r} in {where}; the storage holds: '
                     f'{", ".join(repr(n) for n in names) if names else "no study"} (check '
                     '--study, --workdir and --storage)')
  return optuna.load_study(study_name=name, storage=backend)
