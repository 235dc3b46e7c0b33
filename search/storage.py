"""Opening Optuna storages: SQLite on one machine, PostgreSQL across machines, clear errors.

Every study lives in Optuna's RDB storage, whatever the number of workers, because only the SQL
storage has heartbeats (``RDBStorage(heartbeat_interval=...)``): a worker that dies mid-trial
leaves a trial whose heartbeat goes stale, the next worker to look marks it FAILED, and
``RetryHeartbeatStaleTrialCallback`` re-queues its parameters. SQLite files are switched to WAL
so readers never block the writer, and a writer waits for the lock instead of failing
(README-scaling.md says why this holds for workers on one machine). A PostgreSQL server that
does not answer is reported within ``CONNECT_TIMEOUT`` seconds, not after a hang. Only
``regsearch run`` creates a storage; a damaged SQLite file is refused before it is written to.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from .errors import RegsearchError
from .spec import STORAGE_SCHEMES, WorkersSpec

#: Seconds to wait for a PostgreSQL/MySQL server to answer before saying it is unreachable.
CONNECT_TIMEOUT = 5
#: Seconds a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT = 60


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can parse: nothing to hide
        return url


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL; None for another scheme or an in-memory database."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):])
    return None


def artifact_dir(storage_url: str) -> Path:
    """Where the dashboard's artifacts (the report's figures) live for a storage.

    Beside the SQLite file (``studies/artifacts`` for the default study), else
    ``studies/artifacts`` in the working folder; ``regsearch dashboard`` serves the same folder.
    """
    path = sqlite_path(storage_url)
    return (path.parent if path else Path("studies")) / "artifacts"


def _engine_kwargs(scheme: str) -> dict[str, Any]:
    if scheme == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    # pool_pre_ping: a worker holds its connections for hours; a server restart or a dropped
    # connection must cost a reconnect, not a failed trial.
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True}


def open_storage(url: str, *, workers: WorkersSpec | None = None, create: bool = True):
    """An ``optuna.storages.RDBStorage`` for ``url``, with heartbeats when ``workers`` is given.

    With ``create`` (``regsearch run``) a SQLite file and its folder are made if missing;
    without it (the commands that read a study or join one) a missing file is an error, so a
    mistyped path or name creates nothing. An existing SQLite file is checked before anything
    writes to it (``_check_sqlite``); the file is put in WAL mode. Raises ``RegsearchError`` for an
    unknown scheme, a missing driver, a server that cannot be reached, a file that is missing,
    damaged or not a study database, or a folder that cannot be created.
    """
    shown = display_url(url)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in STORAGE_SCHEMES:
        raise RegsearchError(f"storage {shown!r}: unknown storage scheme {scheme or '(none)'!r}; "
                             f"allowed: {', '.join(STORAGE_SCHEMES)}")
    path = sqlite_path(url)
    if path is None:
        return _rdb_storage(url, scheme, workers)
    if path.is_dir():
        raise RegsearchError(f"storage {shown!r}: {path} is a folder, not a SQLite file")
    if not create and not path.exists():
        raise RegsearchError(f"no storage at {path} (no such file); studies are created by "
                             "`regsearch run SPEC`")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegsearchError(f"cannot create the folder {exc.filename} of storage {shown!r}: "
                             f"{exc.strerror}") from None
    with folder_lock(path.parent):
        if path.exists():
            _check_sqlite(path, studies_required=not create)
        return _rdb_storage(url, scheme, workers)


def _rdb_storage(url: str, scheme: str, workers: WorkersSpec | None):
    """Construct the storage (SQLite: in WAL mode); driver and connection failures become one
    ``RegsearchError`` line."""
    import optuna
    import sqlalchemy.exc

    shown = display_url(url)
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental; they are the point
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            heartbeat: dict[str, Any] = {} if workers is None else {
                "heartbeat_interval": workers.heartbeat_interval,
                "grace_period": workers.grace_period,
                "heartbeat_stale_trial_callback":
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=workers.max_retry),
            }
            if workers is None or scheme == "sqlite":
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs=_engine_kwargs(scheme), **heartbeat)
            else:  # a long run on a server survives the server's restart
                from .reconnect import Reconnecting

                storage = Reconnecting(url, reconnect_timeout=workers.reconnect_timeout,
                                       engine_kwargs=_engine_kwargs(scheme), **heartbeat)
        if sqlite_path(url):
            with storage.engine.connect() as connection:  # WAL is stored in the file: once is enough
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    except ImportError:
        raise RegsearchError(f"storage {shown!r}: the database driver for {scheme!r} is not "
                             "installed (regsearch ships psycopg 3 for 'postgresql://'; other "
                             "drivers are yours to install)") from None
    except sqlalchemy.exc.OperationalError as exc:
        reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        if scheme == "sqlite":
            raise RegsearchError(f"cannot open the SQLite storage {shown!r}: {reason}") from None
        raise RegsearchError(f"cannot connect to the database server of storage {shown!r}: "
                             f"{reason}. Is the server running, and does it accept connections "
                             f"from this machine? (waited at most {CONNECT_TIMEOUT} s)") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types for a bad URL
        raise RegsearchError(f"cannot open storage {shown!r}: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                             ) from None
    return storage


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` while a SQLite storage is checked and opened.

    Optuna's ``RDBStorage`` creates a new file's tables and inserts its schema version outside
    one transaction, so processes started together on a fresh file raced: one in ten died with
    ``UNIQUE constraint failed: alembic_version.version_num``. The lock serializes that start-up
    only (trials are written under SQLite's own locking). The folder is locked rather than a
    lock file so that nothing is left beside the database.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _check_sqlite(path: Path, *, studies_required: bool) -> None:
    """Refuse an existing SQLite file that is damaged or is not a database, before anything
    writes to it: SQLite would otherwise write into a malformed file until it reached the
    damage. ``PRAGMA quick_check`` reads every page through a read-only connection.
    ``studies_required``: a database without Optuna's tables is refused too (nothing may
    create them but ``regsearch run``)."""
    sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    existed = [p.exists() for p in sidecars]
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=SQLITE_BUSY_TIMEOUT)) as db:
            found = [row[0] for row in db.execute("PRAGMA quick_check")]
            has_studies = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                     "name = 'studies'").fetchone() is not None
    except sqlite3.DatabaseError as exc:
        found, has_studies, code = [str(exc)], False, exc.sqlite_errorcode & 0xFF
    else:
        code = sqlite3.SQLITE_OK if found == ["ok"] else sqlite3.SQLITE_CORRUPT
    if code == sqlite3.SQLITE_OK and (has_studies or not studies_required):
        return
    # A read-only connection to a WAL database makes its -wal and -shm files and cannot remove
    # them: take away the ones this check made, so a refused file is left as it was found.
    for sidecar, was_there in zip(sidecars, existed):
        if not was_there:
            sidecar.unlink(missing_ok=True)
    reason = found[0].strip().splitlines()[-1]
    if code == sqlite3.SQLITE_OK:
        raise RegsearchError(f"{path} holds no studies (a SQLite database without Optuna's "
                             "tables); studies are created by `regsearch run SPEC`")
    if code == sqlite3.SQLITE_NOTADB:
        raise RegsearchError(f"{path} is not a SQLite database ({reason}); the storage must be "
                             "a study database that `regsearch run` wrote, or a path where no "
                             "file is yet")
    if code == sqlite3.SQLITE_CORRUPT:
        recovered = path.with_name(f"{path.stem}-recovered{path.suffix}")
        raise RegsearchError(f"the SQLite storage {path} is damaged ({reason}); nothing was "
                             "written to it. Restore it from a backup, or move it away to start "
                             "a new study; a sqlite3 shell built with .recover (3.40 and later "
                             f"with SQLITE_ENABLE_DBPAGE_VTAB) salvages readable rows: `sqlite3 "
                             f"{path} .recover | sqlite3 {recovered}`")
    raise RegsearchError(f"cannot open the SQLite storage {path}: {reason}")


def load_study(name: str, url: str, *, workers: WorkersSpec | None = None):
    """Load an existing study, or say which studies the storage does hold; creates nothing
    (``open_storage(create=False)``)."""
    import optuna

    storage = open_storage(url, workers=workers, create=False)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
        raise RegsearchError(f"no study named {name!r} in {display_url(url)}; studies there: "
                             f"{', '.join(names) or 'none'}") from None
