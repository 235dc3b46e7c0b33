"""``regsearch export``: the chosen setting as a config file, with what it takes to trust it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .study import METRICS
from .errors import RegsearchError

FORMATS = ("json", "toml")


def build_export(study_name: str, backend: str, chosen: dict[str, Any], baseline: dict[str, Any],
                 spec_document: dict[str, Any], snippet: str,
                 confirmation: dict[str, Any] | None = None,
                 warning: str | None = None) -> dict[str, Any]:
    """The exported document (plain data, TOML- and JSON-safe).

    ``confirmation`` (from ``regsearch report``) adds the seeds-averaged figures of the top
    settings and which of them wins on the means; ``warning`` (the no-learning guard's, for an
    export that was forced) comes first, so nobody reuses the setting unwarned.
    """
    sel = chosen["selection"]
    document = {
        **({"warning": warning} if warning else {}),
        "study": study_name,
        "backend": backend,
        "trial": chosen["trial"],
        "params": dict(chosen["params"]),
        "metrics": {k: chosen[k] for k in METRICS},
        "baseline": {k: baseline[k] for k in METRICS},
        "selection": {"rule": sel["rule"], "tolerance": sel["tolerance"],
                      "tolerance_source": sel["tolerance_source"]},
        "keras_snippet": snippet,
        "spec": spec_document,
    }
    if confirmation is not None:
        document["confirmation"] = confirmation_block(confirmation)
    return document


def confirmation_block(confirmation: dict[str, Any]) -> dict[str, Any]:
    """The export's view of a confirmation: per setting mean and std, no per-run detail.

    TOML has no null, so the baseline's entry simply has no ``trial`` key.
    """
    from .confirm import best_setting  # numpy, optuna, the trainer: only when there is one

    best = best_setting(confirmation)
    return {
        "seeds": list(confirmation["seeds"]),
        "best_trial": confirmation["best"],
        "best_params": dict(best["params"]),
        "agrees_with_search": confirmation["agrees"],
        "tolerance": confirmation["selection"]["tolerance"],
        "settings": [{"setting": s["label"], **({"trial": s["trial"]} if s["trial"] is not None
                                                 else {}),
                      "params": dict(s["params"]), "mean": dict(s["mean"]), "std": dict(s["std"])}
                     for s in confirmation["settings"]],
    }


def dumps(document: dict[str, Any], fmt: str) -> str:
    """Serialize an export as JSON or TOML."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(document, multiline_strings=True)
    raise RegsearchError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` so that a crash leaves either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
