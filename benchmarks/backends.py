"""Optuna vs Keras Tuner on the default study, same trial budget, one run each.

Runs ``regsearch run`` on a copy of ``studies/default.toml`` (its own storage) with
``--backend optuna`` and then ``--backend keras-tuner`` (Hyperband, factor 3), one after the other
in this invocation, and reads both studies back: the chosen setting with its train, validation
and test accuracy and gap, trials completed/pruned/failed, epochs spent and wall time.
Writes benchmarks/results/backends.md and backends.json.

    .venv/bin/python benchmarks/backends.py [--trials 60]
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import ROOT, WORK as BENCH_WORK, budget_parser, default_spec, study_of, write_result

WORK = BENCH_WORK / "backends"
BACKENDS = {"optuna": "Optuna (TPE + percentile pruner)", "keras-tuner": "Keras Tuner (Hyperband)"}


def run(backend: str, spec: Path) -> dict:
    from search.study import counts, trials_frame

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.cli", "run", str(spec), "--backend", backend,
                    "--no-progress"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = time.perf_counter() - started
    study = study_of(spec, backend)
    return {"backend": backend, "wall_s": wall, **counts(trials_frame(study)),
            "chosen": study.user_attrs["chosen"] | {"curves": None},
            "baseline": study.user_attrs["baseline"] | {"curves": None}}


def main() -> None:
    args = budget_parser(__doc__.splitlines()[0]).parse_args()
    spec = default_spec(WORK, trials=args.trials, epochs=args.epochs)
    from search.spec import load_spec
    from search.workers import cpu_count

    budget = load_spec(spec).search.trials
    runs = [run(b, spec) for b in BACKENDS]

    def row(label: str, get) -> str:
        return f"| {label} | " + " | ".join(get(r) for r in runs) + " |"

    def num(key: str, fmt: str = ".4f"):
        return lambda r: format(r["chosen"][key], fmt)

    def param(key: str):
        return lambda r: (f"{r['chosen']['params'][key]:.4g}"
                          if isinstance(r["chosen"]["params"][key], float)
                          else str(r["chosen"]["params"][key]))

    table = "\n".join([
        "| | " + " | ".join(BACKENDS[r["backend"]] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
        row("chosen trial", lambda r: str(r["chosen"]["trial"])),
        row("dropout", param("dropout")), row("regularizer", param("regularizer")),
        row("l1", param("l1")), row("l2", param("l2")),
        row("train accuracy (dropout off)", num("train_accuracy")),
        row("val accuracy", num("val_accuracy")), row("test accuracy", num("test_accuracy")),
        row("gap", num("gap", "+.4f")),
        row("baseline gap / test accuracy",
            lambda r: f"{r['baseline']['gap']:+.4f} / {r['baseline']['test_accuracy']:.4f}"),
        row("trials completed / pruned / failed",
            lambda r: f"{r['complete']} / {r['pruned']} / {r['failed']}"),
        row("epochs spent", lambda r: str(r["epochs"])),
        row("wall time (whole command)", lambda r: f"{r['wall_s']:.0f} s"),
    ])
    result = (
        "# Optuna vs Keras Tuner on the default study, same trial budget\n\n"
        f"`benchmarks/backends.py{' --trials ' + str(args.trials) if args.trials else ''}`, "
        f"{date.today()}, {platform.machine()}, {cpu_count()} CPUs: one run of "
        f"each backend on `studies/default.toml` with its {budget}-trial budget (a copy with its "
        "own storage), back to back in one invocation.\n\n" + table + "\n\n"
        "Hyperband spends its budget mostly on short rungs (1, 3 and 10 epochs, recorded "
        "PRUNED), so few configurations reach the full epoch budget and the selection rule "
        "chooses among those. Its picks rest on far fewer complete runs; `make report` "
        "retrains the top settings with fresh seeds to settle differences this small.\n")
    write_result("backends", result, runs)


if __name__ == "__main__":
    main()
