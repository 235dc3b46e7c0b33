"""Opening Optuna storages with clear errors instead of SQLAlchemy stack traces."""

from __future__ import annotations

from pathlib import Path

from .errors import RegsearchError


def open_storage(url: str):
    """An ``optuna.storages.RDBStorage`` for ``url``; a SQLite file's folder is created."""
    import optuna

    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many types for a bad URL/server
        raise RegsearchError(f"cannot open storage {url!r}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]}") from None


def load_study(name: str, url: str):
    """Load an existing study, or say which studies the storage does hold."""
    import optuna

    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
        raise RegsearchError(f"no study named {name!r} in {url}; studies there: "
                             f"{', '.join(names) or 'none'}") from None
