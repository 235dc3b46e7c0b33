"""Storage calls that survive a database server restart.

A search on PostgreSQL runs for hours; the server may be restarted under it (an upgrade, a
failover). SQLAlchemy's ``pool_pre_ping`` replaces a dead pooled connection at checkout, but a
call made while the server is down, or on a connection it dropped mid-query, fails, and Optuna
does not retry: the run died with a traceback and its trial stayed RUNNING. ``Reconnecting``
retries every storage call that failed for lack of a connection, with backoff, for at most
``reconnect_timeout`` seconds (``[workers]`` in the spec), then lets the error through: the
trial in progress completes if the server is back in time, else the run stops and the trial's
stale heartbeat re-queues it on the next run. Only server storages get it
(``storage.open_storage``): a SQLite file has no server to restart, and its operational errors
(a full disk) should stop the run at once.

A retried write is safe when the failure aborted its transaction, which a restart does. A
commit whose acknowledgement was lost (the server died between committing and answering) is
the one case a retry can repeat; a repeated state change then fails as an update of a finished
trial, which marks that trial and not the study.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.storages import BaseStorage, RDBStorage

#: Longest wait between two attempts, in seconds.
MAX_DELAY = 5.0


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` (or what Optuna wrapped in it) says the server could not be reached or
    dropped the connection, rather than that the call itself was wrong."""
    cause = exc.__cause__ if isinstance(exc, optuna.exceptions.StorageInternalError) else exc
    if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated:
        return True
    return isinstance(cause, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                              sqlalchemy.exc.PendingRollbackError))


class Reconnecting(RDBStorage):
    """``RDBStorage`` whose calls are retried across a lost connection (see the module)."""

    def __init__(self, url: str, *, reconnect_timeout: float, **kwargs: Any) -> None:
        self.reconnect_timeout = reconnect_timeout
        self.outage = False  # a call is being retried: said once until a call succeeds
        super().__init__(url, **kwargs)


def _retrying(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Reconnecting, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.25
        while True:
            try:
                result = method(self, *args, **kwargs)
                self.outage = False
                return result
            except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as exc:
                if not lost_connection(exc) or time.monotonic() + delay > deadline:
                    raise
                if not self.outage:  # once per outage, whichever thread meets it first
                    self.outage = True
                    print(f"regsearch: the storage server does not answer; retrying for up to "
                          f"{self.reconnect_timeout:g} s", file=sys.stderr, flush=True)
                self.remove_session()  # a session whose connection died cannot be reused
                time.sleep(delay)
                delay = min(2 * delay, MAX_DELAY)

    return call


# Every call of Optuna's storage API, the heartbeat, the stale-trial query that
# ``optuna.storages.fail_stale_trials`` makes, and the private methods Optuna's own cache in
# front of an RDBStorage (``_CachedStorage``) calls instead of the public ones (a pruner's
# ``get_trials`` reaches ``_get_trials``: unwrapped, a restart failed the trial in progress),
# wrapped once here rather than at each caller.
_PRIVATE = {"record_heartbeat", "_get_stale_trial_ids", "_get_trials", "_create_new_trial",
            "_set_trial_param", "_get_best_trial_id"}
for _name in sorted({n for n in vars(BaseStorage) if not n.startswith("_")
                     and n != "remove_session" and callable(getattr(RDBStorage, n, None))}
                    | _PRIVATE):
    setattr(Reconnecting, _name, _retrying(getattr(RDBStorage, _name)))
