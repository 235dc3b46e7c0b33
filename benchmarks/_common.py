"""What the benchmark scripts share: where results and working files go, the default spec, and
reading back the study a run left.

`make bench-quick` points REGSEARCH_BENCH_RESULTS and REGSEARCH_BENCH_WORK elsewhere, so its
smoke runs neither overwrite the committed results nor clobber a full run going on beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("REGSEARCH_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
WORK = Path(os.environ.get("REGSEARCH_BENCH_WORK", ROOT / "benchmarks" / "work"))
DEFAULT = ROOT / "studies" / "default.toml"

sys.path.insert(0, str(ROOT))  # the search package, for every script that imports this module


def spec_document(**sections: dict[str, Any]) -> dict[str, Any]:
    """``studies/default.toml`` as a document, its space by absolute path, and each given section
    updated with the given keys (a None value leaves the key as shipped)."""
    doc = tomllib.loads(DEFAULT.read_text())
    doc["study"]["space"] = str((DEFAULT.parent / doc["study"]["space"]).resolve())
    for name, values in sections.items():
        doc.setdefault(name, {}).update({k: v for k, v in values.items() if v is not None})
    return doc


def default_spec(folder: Path, *, trials: int | None = None, epochs: int | None = None,
                 reuse_model: bool | None = None, **sections: dict[str, Any]) -> Path:
    """The default spec written into a fresh ``folder`` (so its storage is new) as
    ``default.toml``, with another budget, epoch count (exact: no ``min_steps``) or
    ``reuse_model`` where given and any other section keys changed."""
    import tomli_w

    search = {"trials": trials, **sections.pop("search", {})}
    # A given epoch count is the budget: min_steps would otherwise stretch a short one to the
    # 300 optimizer steps a converged model needs (spec.TrainingSpec.schedule).
    training = {"max_epochs": epochs, "reuse_model": reuse_model,
                **({"min_steps": 0} if epochs is not None else {}),
                **sections.pop("training", {})}
    doc = spec_document(search=search, training=training, **sections)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "default.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def study_of(spec_path: Path, backend: str | None = None):
    """The study a ``regsearch run`` of ``spec_path`` left in the spec's storage."""
    import optuna

    from search.commands import study_name
    from search.spec import load_spec
    from search.storage import load_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(spec_path)
    return load_study(study_name(spec, backend), spec.storage)


def in_lanes(script: Path, runs: dict[str, list[str]], logs: Path, lanes: int = 2) -> list[str]:
    """``script`` once per run (name: its arguments), ``lanes`` at a time in the given order,
    each run's output in ``logs/NAME.log``; the names of the runs that failed. A process per
    run, not a thread: two TensorFlow runs side by side on two cores, one thread each."""
    logs.mkdir(parents=True, exist_ok=True)

    def run(name: str) -> int:
        with open(logs / f"{name}.log", "w") as out:
            return subprocess.run([sys.executable, str(script), *runs[name]], stdout=out,
                                  stderr=subprocess.STDOUT).returncode

    with ThreadPoolExecutor(lanes) as pool:
        codes = list(pool.map(run, runs))
    return [name for name, code in zip(runs, codes) if code]


def write_result(name: str, text: str, data: Any = None) -> Path:
    """``RESULTS/name.md`` (and ``name.json`` when ``data`` is given), written whole; printed."""
    from search.export import write_atomic

    if data is not None:
        write_atomic(RESULTS / f"{name}.json", json.dumps(data, indent=1) + "\n")
    target = RESULTS / f"{name}.md"
    write_atomic(target, text)
    print(text)
    print(f"written to {target}")
    return target


def budget_parser(description: str) -> argparse.ArgumentParser:
    """Arguments for a benchmark that runs the default study: ``--trials`` and ``--epochs``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trials", type=int, default=None,
                        help="trial budget (default: the default study's)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="max epochs per trial (default: the default study's)")
    return parser
