"""What the benchmark scripts share: where results and working files go, and the default spec.

`make bench-quick` points REGSEARCH_BENCH_RESULTS and REGSEARCH_BENCH_WORK elsewhere, so its
smoke runs neither overwrite the committed results nor clobber a full run going on beside them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("REGSEARCH_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
WORK = Path(os.environ.get("REGSEARCH_BENCH_WORK", ROOT / "benchmarks" / "work"))


def default_spec(folder: Path, *, trials: int | None = None, epochs: int | None = None,
                 reuse_model: bool | None = None) -> Path:
    """``studies/default.toml`` copied into a fresh ``folder`` (so its storage is new), with the
    space by absolute path and, where given, another budget, epoch count or ``reuse_model``."""
    text = (ROOT / "studies" / "default.toml").read_text()
    text = text.replace('space = "../spaces/', f'space = "{(ROOT / "spaces").as_posix()}/')
    for key, value in (("trials", trials), ("max_epochs", epochs), ("reuse_model", reuse_model)):
        if value is None:
            continue
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        text, found = re.subn(rf"(?m)^{key} = \w+", f"{key} = {shown}", text)
        if found != 1:
            raise SystemExit(f"studies/default.toml has no single `{key} = ...` line to set")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "default.toml"
    path.write_text(text)
    return path


def budget_parser(description: str) -> argparse.ArgumentParser:
    """Arguments for a benchmark that runs the default study: ``--trials`` and ``--epochs``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trials", type=int, default=None,
                        help="trial budget (default: the default study's)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="max epochs per trial (default: the default study's)")
    return parser
