"""``regsearch export``: the confirmed answer as a config file, with what it takes to trust it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .confirm import statement
from .errors import RegsearchError
from .study import Snapshot
from .summary import settings

FORMATS = ("json", "toml")


def build_export(snap: Snapshot, confirmation: dict[str, Any], snippet: str,
                 warning: str | None = None) -> dict[str, Any]:
    """The exported document (plain data, TOML- and JSON-safe): the confirmed answer.

    ``params`` is what to use: the search's setting when confirmation accepted it, else no
    regularization. ``statement`` says why in one sentence; ``confirmation`` holds the paired
    test-split figures behind it and ``search`` the cross-validation figures. ``warning`` (the
    no-learning guard's, for an export that was forced) comes first, so nobody reuses the
    answer unwarned. TOML has no null, so absent values are left out rather than written null.
    """
    sel = snap.selection.describe()
    other = confirmation["settings"][1]
    document = {
        **({"warning": warning} if warning else {}),
        "study": snap.name,
        "backend": snap.backend,
        "answer": "regularize" if confirmation["regularize"] else "no regularization",
        "verdict": confirmation["verdict"],
        "statement": statement(confirmation),
        "params": dict(confirmation["params"]),
        "trial": confirmation["answer_trial"],
        "confirmation": {
            "seeds": list(confirmation["seeds"]),
            "setting": {"trial": other["trial"], "params": dict(other["params"]),
                        "epochs": other["epochs"]},
            "baseline": {"trial": confirmation["settings"][0]["trial"],
                         "epochs": confirmation["settings"][0]["epochs"]},
            "mean": {s["label"]: dict(s["mean"]) for s in confirmation["settings"]},
            "difference": {k: dict(v) for k, v in confirmation["difference"].items()},
            "notes": list(confirmation["notes"]),
        },
        "search": {
            "evaluation": dict(snap.attrs["spec"].get("evaluation", {})),
            "selection": {k: v for k, v in sel.items() if v is not None},
            "folds": {e["label"]: {k: e[k] for k in ("train_accuracy", "val_accuracy", "gap")}
                      for e in settings(snap)},
        },
        "keras_snippet": snippet,
        "spec": snap.attrs["spec"],
    }
    return _no_nulls(document)


def _no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def dumps(document: dict[str, Any], fmt: str) -> str:
    """Serialize an export as JSON or TOML."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(document, multiline_strings=True)
    raise RegsearchError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` so that a crash leaves either the old file or the whole new one.

    A path that cannot be written (a folder, a read-only place, a full disk) raises
    ``RegsearchError`` naming it, and leaves any old file as it was and no temporary file.
    """
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    replace_atomic(path, write)


def replace_atomic(path: str | Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """``write(tmp)`` a temporary file beside ``path``, then move it into place: a crash leaves
    the old file or the whole new one, and a failure nothing. ``suffix`` ends the temporary
    name (Keras saves only to a name ending in ``.keras``). Errors as ``write_atomic``'s."""
    path = Path(path)
    if path.is_dir():
        raise RegsearchError(f"cannot write {path}: it is a folder; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegsearchError(f"cannot write {path}: cannot create the folder {exc.filename} "
                             f"({exc.strerror})") from None
    umask = os.umask(0)
    os.umask(umask)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        tmp = Path(name)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RegsearchError(f"cannot write {path}: {exc.strerror or exc}; nothing was "
                                 "written") from None
        raise
