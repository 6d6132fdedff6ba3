"""Where studies live: Optuna storages by URL, read-only lookups, and keeping passwords out.

`config.search.storage` is '' (an SQLite file in the run directory), 'journal:PATH' (Optuna's
journal file), a database URL ('sqlite:///PATH', 'postgresql://user:password@host/db') or
'env:VARIABLE': the URL that environment variable holds, which keeps a password off command lines
(`ps` shows them to every user of the machine). `run --workers N` hands its storage to the workers
it starts that way: `--storage=env:JAXFER_SEARCH_STORAGE` (`HELPER_VARIABLE`) on their command
line, the URL in their environment. A password never reaches a log, a file, a trial attribute or
a message: `redact` masks it.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import re
import time
import unicodedata
import urllib.parse
import warnings
from typing import Sequence

import optuna

# Optuna 4.9 renamed RetryFailedTrialCallback; the old name still works with a warning.
RETRY_CALLBACK = getattr(optuna.storages, 'RetryHeartbeatStaleTrialCallback',
                         optuna.storages.RetryFailedTrialCallback)
DATABASES = ('sqlite:///', 'postgresql://', 'postgresql+psycopg://', 'mysql://',
             'mysql+pymysql://')
JOURNAL = 'journal:'
ENVIRONMENT = 'env:'
# The variable through which `run --workers N` gives its storage to the workers it starts.
HELPER_VARIABLE = 'JAXFER_SEARCH_STORAGE'
SECRET = '***'
# Seconds a process waits for an SQLite study file that another holds locked.
SQLITE_LOCK_WAIT_S = 60
# Pieces of a password shorter than this are left alone (whole passwords from 3 characters):
# masking them would garble common words of every message.
PIECE = 4
# A URL's user information up to the LAST '@' of its line: a password holding an unencoded '@'
# or space is masked whole, where a URL parser stops at its first '@'.
_USERINFO = re.compile(r'(\b[A-Za-z][\w+.-]*://)(?!/)([^\n]*)@')
# password= in a query or in key=value settings, up to '&', ';', an unescaped '"' (the end of a
# JSON string) or the end of the line: a space does not end it.
_QUERY_PASSWORD = re.compile(r'(?i)((?:^|[?&;\s])password=)(?!\*\*\*)(?:\\.|[^&;\n"\\])*')
# Where drivers and parsers split a connection string, and where quoting escapes it: a message
# may show the pieces of a password between these (the host after an unencoded '@', a port after
# a ':').
_SPLITS = re.compile(r"""[\s@:/?#\[\]%&=;,'"\\+]""")


def resolve(storage: str) -> str:
  """`storage` with 'env:VARIABLE' replaced by that variable's value; ValueError if unset."""
  if not storage.startswith(ENVIRONMENT):
    return storage
  name = storage[len(ENVIRONMENT):]
  if not name or name not in os.environ:
    raise ValueError(f'config.search.storage = {storage!r} names an environment variable that is '
                     'not set; expected env:VARIABLE, VARIABLE holding the storage URL')
  return os.environ[name]


def _userinfo_password(userinfo: str) -> str:
  return userinfo.split(':', 1)[1] if ':' in userinfo else ''


def passwords(url: str) -> list[str]:
  """The secrets written in a storage URL (user-info password, password= query values), raw and
  decoded, longest first: as SQLAlchemy reads them (what drivers get), and as written up to the
  URL's last '@'."""
  if url.startswith(ENVIRONMENT):
    url = os.environ.get(url[len(ENVIRONMENT):], '')
  found = []
  for userinfo in (r'(.*)@', r'([^@]*)@'):  # To the last '@', and to the first.
    match = re.match(r'[A-Za-z][\w+.-]*://' + userinfo, url, re.DOTALL)
    if match:
      found.append(_userinfo_password(match.group(1)))
  try:
    from sqlalchemy.engine import make_url  # pylint: disable=g-import-not-at-top
    parsed = make_url(url)
    found.append(parsed.password or '')
    for key, value in parsed.query.items():
      if key.lower() == 'password':
        found += [value] if isinstance(value, str) else list(value)
  except Exception:  # pylint: disable=broad-except  (not a URL to SQLAlchemy: the rest holds)
    pass
  found += re.findall(r'(?i)(?:^|[?&;])password=([^&;]*)', url)
  forms = {form for secret in found if secret
           for form in (secret, urllib.parse.unquote(secret), urllib.parse.unquote_plus(secret))}
  return sorted(forms, key=len, reverse=True)


def _written_forms(secret: str) -> set[str]:
  """`secret` as messages and files may show it: percent-encoded, escaped by JSON or repr(), in
  either Unicode normal form."""
  forms = set()
  for text in {secret, unicodedata.normalize('NFC', secret),
               unicodedata.normalize('NFD', secret)}:
    forms |= {text, urllib.parse.quote(text, safe=''), urllib.parse.quote(text),
              urllib.parse.quote_plus(text), json.dumps(text)[1:-1],
              json.dumps(text, ensure_ascii=False)[1:-1], repr(text)[1:-1]}
  return forms


def _pieces(text: str) -> set[str]:
  """`text`, and its parts of at least `PIECE` characters that start and end at a split point
  (`_SPLITS`), with or without the character split at."""
  cuts = {0, len(text)}
  for match in _SPLITS.finditer(text):
    cuts |= {match.start(), match.end()}
  pieces = {text[i:j] for i in cuts for j in cuts if j - i >= PIECE}
  return pieces | ({text} if len(text) >= PIECE - 1 else set())


@functools.lru_cache(maxsize=16)
def _secrets_pattern(url: str) -> re.Pattern[str] | None:
  # Cached: a RedactingFilter masks every log record with the same URL.
  masked = set()
  for secret in passwords(url):
    for form in _written_forms(secret):
      masked |= _pieces(form)
  if not masked:
    return None
  return re.compile('|'.join(re.escape(s) for s in sorted(masked, key=len, reverse=True)),
                    re.IGNORECASE)


def _mask_userinfo(match: re.Match[str]) -> str:
  scheme, userinfo = match.groups()
  if ':' not in userinfo:
    return match.group(0)  # A user name and a host are not secret.
  masked = userinfo.find(f':{SECRET}@')
  if masked >= 0:  # Masked already, with the secrets of its URL: what follows is another text.
    done = userinfo[:masked + len(SECRET) + 2]
    return scheme + done + _USERINFO.sub(_mask_userinfo, userinfo[len(done):] + '@')
  user = userinfo.split(':', 1)[0]
  if not re.fullmatch(r'[^@\s]*', user):  # The greedy match spans more than one URL.
    user = SECRET
  return f'{scheme}{user}:{SECRET}@'


def redact(text: str, url: str = '') -> str:
  """`text` with the secrets of `url`, and the password of every URL in it, replaced by ***.

  The secrets of `url` (a storage URL or env:VARIABLE) are masked in every form a message or file
  may show them (raw, decoded, percent-encoded, escaped), and so are their pieces between the
  characters where drivers split a connection string. Any URL's user information is masked from
  '://' to the last '@' of its line (its user name kept), and any password= value up to '&' or
  ';'.
  """
  pattern = _secrets_pattern(url) if url else None
  if pattern is not None:
    text = pattern.sub(SECRET, text)
  text = _USERINFO.sub(_mask_userinfo, text)
  return _QUERY_PASSWORD.sub(rf'\g<1>{SECRET}', text)


def urls_in(arguments: Sequence[str]) -> list[str]:
  """The storage URLs (or password-bearing settings) written in `arguments`, a command line
  whose flags may not have been read: each argument, or the value of a `--flag=VALUE` one."""
  values = [argument.split('=', 1)[1] if argument.startswith('-') and '=' in argument
            else argument for argument in arguments]
  return [value for value in values if '://' in value or 'password=' in value.lower()]


def redact_arguments(text: str, arguments: Sequence[str], url: str = '') -> str:
  """`redact(text, url)`, also masking the secrets of every URL in `arguments` (a command line,
  whose flags may not have been read: a mistake in them is reported before they are)."""
  for value in urls_in(arguments):
    text = redact(text, value)
  return redact(text, url)


def public_url(storage: str) -> str:
  """The URL of `storage` (env:VARIABLE read) with its password masked: what is recorded."""
  try:
    url = resolve(storage)
  except ValueError:
    url = storage
  return redact(url, url)


def log_optuna_through_root(verbosity: int = 0) -> None:
  """Optuna's log lines through the root logger's handlers (and their filters, which mask
  passwords) instead of Optuna's own handler; -q (`verbosity` -1) keeps its warnings only."""
  optuna.logging.disable_default_handler()
  optuna.logging.enable_propagation()
  optuna.logging.set_verbosity(logging.WARNING if verbosity < 0 else logging.INFO)


class RedactingFilter(logging.Filter):
  """Masks the secrets of a storage URL in every log record that passes through a handler, the
  traceback of a logged exception included."""

  def __init__(self, url: str):
    super().__init__()
    self._url = url

  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    if record.exc_info:
      message += '\n' + logging.Formatter().formatException(record.exc_info)
      record.exc_info = record.exc_text = None
    masked = redact(message, self._url)
    if masked != record.msg or record.args:
      record.msg, record.args = masked, ()
    return True


def _check_parses(url: str, where: str) -> None:
  """ValueError unless SQLAlchemy reads a database URL as its user wrote it: an unencoded '@'
  before the host makes the host 'rest-of-password@host', which a driver would look up."""
  if url.startswith(JOURNAL) or not url.startswith(DATABASES):
    return
  from sqlalchemy.engine import make_url  # pylint: disable=g-import-not-at-top
  try:
    host = make_url(url).host or ''
  except Exception:  # pylint: disable=broad-except  (a port that is not a number, ...)
    host = '@'
  if '@' in host:
    # The URL comes last: what follows it on its line could read as its user information.
    raise ValueError(f"{where} does not read as a URL: write any '@', ':' or '/' of its user "
                     f'name or secret as %40, %3A or %2F; got {redact(url, url)!r}')


def check_url(storage: str) -> None:
  """Raises ValueError unless `storage` is '', journal:PATH, a database URL that parses, or
  env:VARIABLE holding one of those."""
  url = resolve(storage)
  where = ('config.search.storage' if url == storage else
           f'config.search.storage = {storage!r}: the URL in ${storage[len(ENVIRONMENT):]}')
  if url and not url.startswith((JOURNAL, *DATABASES)):
    raise ValueError(f'{where} = {redact(url, url)!r} is not allowed; expected \'\' '
                     f'(SQLite in the run directory), journal:PATH, env:VARIABLE, or a URL '
                     f'starting with {", ".join(DATABASES)}')
  if url.startswith(JOURNAL) and not url[len(JOURNAL):]:
    raise ValueError(f"{where} = 'journal:' needs a file, e.g. journal:runs/j.log")
  _check_parses(url, where)
  if url.startswith('postgresql'):
    _require_postgres_driver(where)


def _require_postgres_driver(where: str) -> None:
  """ValueError naming the `postgres` extra when psycopg (3) is not installed: it is not part
  of the default install, which needs no database server."""
  if importlib.util.find_spec('psycopg') is None:
    raise ValueError(f'{where} is a PostgreSQL URL, and its driver is not installed: pip install '
                     '-e ".[postgres]" (psycopg 3)')


def storage_url(storage: str, run_dir: str) -> str:
  """The storage of a study (env:VARIABLE read): '' means an SQLite file in `run_dir`."""
  return resolve(storage) or f'sqlite:///{os.path.abspath(os.path.join(run_dir, "study.db"))}'


def _sqlalchemy_url(url: str) -> str:
  if url.startswith('postgresql://'):  # psycopg 3, whatever SQLAlchemy's default driver.
    return 'postgresql+psycopg://' + url[len('postgresql://'):]
  return url


def _first_line(message: str) -> str:
  return (message.strip().splitlines() or [''])[0]


@contextlib.contextmanager
def quiet_experimental_warnings():
  """Hides Optuna's ExperimentalWarning inside the block, and leaves the process's warning
  filters as they were after it."""
  # Heartbeats, their retry callback, stale-trial failing and metric names are marked
  # experimental in Optuna; they are the documented ways to fail the trials of dead workers and
  # to name objectives, so the warning would only repeat. Scoped as Optuna's own optimize loop
  # scopes it around fail_stale_trials, so that importing or calling this code leaves the
  # process's filters alone.
  with warnings.catch_warnings():
    warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)
    yield


def queue_again(study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retry: int) -> None:
  """Queues the failed `trial` again, as the heartbeat callback of RDB storages does (at most
  `max_retry` times in all)."""
  with quiet_experimental_warnings():
    RETRY_CALLBACK(max_retry=max_retry)(study, trial)


def queue_in_place(study: optuna.Study, trial_id: int, attempts: int = 10) -> None:
  """Puts the running trial `trial_id`, stopped by Ctrl-C, back in the queue under its own
  number (RUNNING to WAITING, which Optuna's storages allow): the next worker to ask for a trial
  takes it, with its parameters, and resumes it from its checkpoints. The study then gives the
  same trials as if it had never stopped; a retried trial (`queue_again`) would take a new
  number, and every later trial another seed.

  Workers stopped together write at once: a locked SQLite file is tried again."""
  import sqlalchemy.exc  # pylint: disable=g-import-not-at-top  (Optuna's own dependency)
  for attempt in range(attempts):
    try:
      # The storage's own method: Optuna's public API only finishes trials.
      study._storage.set_trial_state_values(  # pylint: disable=protected-access
          trial_id, state=optuna.trial.TrialState.WAITING)
      return
    except sqlalchemy.exc.OperationalError:
      if attempt == attempts - 1:
        raise
      time.sleep(0.5 * (attempt + 1))


def refresh_heartbeats(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]) -> None:
  """Records a heartbeat now for the waiting `trials` that ran before (interrupted ones): between
  the moment a worker takes one and its first heartbeat, another worker would otherwise find it
  running with a heartbeat from before the interruption, and fail it as a dead worker's."""
  storage = study._storage  # pylint: disable=protected-access
  # Optuna's heartbeat base class is not public: a storage has heartbeats if it has an interval.
  interval = getattr(storage, 'get_heartbeat_interval', lambda: None)()
  if interval is None:
    return
  for trial in trials:
    if trial.datetime_start is not None:
      storage.record_heartbeat(trial._trial_id)  # pylint: disable=protected-access


def make_storage(url: str, *, heartbeat_interval: int = 60,
                 max_retry: int = 2) -> optuna.storages.BaseStorage:
  """An Optuna storage for `url` (see `storage_url`), creating what it needs.

  RDB storages get heartbeats, so a trial whose worker died becomes FAIL after
  2 x `heartbeat_interval` seconds and is retried (at most `max_retry` times).
  """
  _check_parses(url, 'the storage URL')
  if url.startswith(JOURNAL):
    path = url[len(JOURNAL):]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
  engine = {}
  if url.startswith('sqlite:///'):
    os.makedirs(os.path.dirname(url[len('sqlite:///'):]) or '.', exist_ok=True)
    # Workers write at once (when they stop together, say): each waits up to this long for the
    # file's lock rather than the driver's 5 s before 'database is locked'.
    engine = {'connect_args': {'timeout': SQLITE_LOCK_WAIT_S}}
  for attempt in range(3):
    try:
      with quiet_experimental_warnings():
        return optuna.storages.RDBStorage(
            _sqlalchemy_url(url), engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            heartbeat_stale_trial_callback=RETRY_CALLBACK(max_retry=max_retry))
    except Exception as error:  # pylint: disable=broad-except  (drivers raise many kinds)
      # Workers started together on a new database race to create its tables; the loser
      # fails on a unique constraint and finds the tables made when it tries again.
      message = str(error).lower()
      if attempt < 2 and ('unique constraint' in message or 'already exists' in message):
        time.sleep(1 + attempt)
        continue
      raise ValueError(f'cannot open the study storage {redact(url, url)}: '
                       f'{_first_line(redact(str(error), url))}') from None
  raise AssertionError('unreachable')


def existing_storage(url: str) -> optuna.storages.BaseStorage | None:
  """The storage at `url` if it already holds Optuna's tables (or journal), else None.

  Creates nothing: no file, no database table. For read-only commands.
  """
  _check_parses(url, 'the storage URL')
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
    raise ValueError(f'cannot open the study storage {redact(url, url)}: '
                     f'{_first_line(redact(str(error), url))}') from None
  return make_storage(url) if has_tables else None


def _studies_in(run_dir: str, storage: str) -> tuple[str, optuna.storages.BaseStorage | None,
                                                     list[str]]:
  """(the storage's URL, the storage if it exists, the names of the studies it holds), creating
  nothing."""
  url = storage_url(storage, run_dir)
  backend = existing_storage(url)
  return url, backend, ([s.study_name for s in optuna.get_all_study_summaries(backend)]
                        if backend else [])


def load_study(name: str, run_dir: str, storage: str) -> optuna.Study:
  """The existing study `name`, creating nothing; ValueError listing the studies the storage
  holds when there is no such study."""
  url, backend, names = _studies_in(run_dir, storage)
  if name not in names:
    where = redact(url, url)
    raise ValueError(f'no study named {name!r} in {where}; the storage holds: '
                     f'{", ".join(repr(n) for n in names) if names else "no study"} (check '
                     '--study, --workdir and --storage)')
  return optuna.load_study(study_name=name, storage=backend)


def open_run_study(run_dir: str, study_name: str | None = None, storage: str = '') -> optuna.Study:
  """The study `study_name` of the run directory `run_dir` (in its study.db, or in `storage`),
  read as it is, creating nothing; without a name, the one study the storage holds (ValueError
  listing them when there are several, or naming the place when there is none)."""
  if study_name is not None:
    return load_study(study_name, run_dir, storage)
  url, backend, names = _studies_in(run_dir, storage)
  if len(names) != 1:
    raise ValueError(f'{redact(url, url)} holds {len(names) or "no"} studies'
                     + (f' ({", ".join(repr(n) for n in names)}); name one' if names else
                        '; expected a run directory of jaxfer-search run'))
  return optuna.load_study(study_name=names[0], storage=backend)
