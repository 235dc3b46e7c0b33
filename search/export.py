"""``regsearch export``: the chosen setting as a config file, with what it takes to trust it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .records import METRICS
from .errors import RegsearchError

FORMATS = ("json", "toml")


def build_export(study_name: str, backend: str, chosen: dict[str, Any], baseline: dict[str, Any],
                 spec_document: dict[str, Any], snippet: str) -> dict[str, Any]:
    """The exported document (plain data, TOML- and JSON-safe)."""
    sel = chosen["selection"]
    return {
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
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
