"""Opening Optuna storages: SQLite on one machine, PostgreSQL across machines, clear errors.

Every study lives in Optuna's RDB storage, whatever the number of workers, because only the SQL
storage has heartbeats (``RDBStorage(heartbeat_interval=...)``): a worker that dies mid-trial
leaves a trial whose heartbeat goes stale, the next worker to look marks it FAILED, and
``RetryHeartbeatStaleTrialCallback`` re-queues its parameters. SQLite files are switched to WAL
so readers never block the writer, and a writer waits for the lock instead of failing
(README-scaling.md says why this holds for workers on one machine). A PostgreSQL server that
does not answer is reported within ``CONNECT_TIMEOUT`` seconds, not after a hang.
"""

from __future__ import annotations

import warnings
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


def open_storage(url: str, *, workers: WorkersSpec | None = None):
    """An ``optuna.storages.RDBStorage`` for ``url``, with heartbeats when ``workers`` is given.

    A SQLite file's folder is created and the file put in WAL mode. Raises ``RegsearchError``
    for an unknown scheme, a missing driver or a server that cannot be reached.
    """
    import optuna
    import sqlalchemy.exc

    shown = display_url(url)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in STORAGE_SCHEMES:
        raise RegsearchError(f"storage {shown!r}: unknown storage scheme {scheme or '(none)'!r}; "
                             f"allowed: {', '.join(STORAGE_SCHEMES)}")
    path = sqlite_path(url)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental; they are the point
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            heartbeat: dict[str, Any] = {} if workers is None else {
                "heartbeat_interval": workers.heartbeat_interval,
                "grace_period": workers.grace_period,
                "heartbeat_stale_trial_callback":
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=workers.max_retry),
            }
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=_engine_kwargs(scheme), **heartbeat)
        if path:
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


def load_study(name: str, url: str, *, workers: WorkersSpec | None = None):
    """Load an existing study, or say which studies the storage does hold."""
    import optuna

    storage = open_storage(url, workers=workers)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
        raise RegsearchError(f"no study named {name!r} in {display_url(url)}; studies there: "
                             f"{', '.join(names) or 'none'}") from None
