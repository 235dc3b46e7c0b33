"""Optuna vs Keras Tuner on the default study, each with the study's budget for it.

Runs ``regsearch run`` on a copy of ``studies/default.toml`` (its own storage) with
``--backend optuna`` and then ``--backend keras-tuner`` (Hyperband, the study's factor), one
after the other in this invocation, and reads both studies back: the chosen setting with its
train, validation and test accuracy and gap, trials completed/pruned/failed, epochs spent and
wall time.
Writes benchmarks/results/backends.md and backends.json.

    .venv/bin/python benchmarks/backends.py [--trials N] [--epochs N]
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
    """One ``regsearch run`` with ``backend``: the search's pick (fold means) and the confirmed
    answer (test, paired on the confirmation's seeds against the baseline)."""
    from search.study import Snapshot, setting

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.cli", "run", str(spec), "--backend", backend,
                    "--no-progress"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = time.perf_counter() - started
    snap = Snapshot(study_of(spec, backend))
    chosen, c = snap.selection.chosen, snap.confirmation
    base, pick = c["settings"][0], c["settings"][-1]
    return {"backend": backend, "wall_s": wall, **snap.counts,
            "chosen": {"trial": int(chosen["number"]), "params": setting(chosen),
                       **{k: float(chosen[k]) for k in ("train_accuracy", "val_accuracy", "gap")}},
            "confirmed": {"verdict": c["verdict"], "params": dict(c["params"]),
                          "test": pick["mean"]["test_accuracy"], "gap": pick["mean"]["gap"],
                          "baseline_test": base["mean"]["test_accuracy"],
                          "baseline_gap": base["mean"]["gap"],
                          "test_diff": c["difference"]["test_accuracy"],
                          "gap_diff": c["difference"]["gap"]}}


def main() -> None:
    args = budget_parser(__doc__.splitlines()[0]).parse_args()
    # A given --trials is both backends' budget; otherwise each has the default study's own.
    spec = default_spec(WORK, trials=args.trials, epochs=args.epochs,
                        keras_tuner={"trials": args.trials})
    from search.spec import load_spec
    from search.workers import cpu_count

    loaded = load_spec(spec)
    budgets = {"optuna": loaded.search.trials,
               "keras-tuner": loaded.keras_tuner.trials or loaded.search.trials}
    runs = [run(b, spec) for b in BACKENDS]

    def row(label: str, get) -> str:
        return f"| {label} | " + " | ".join(get(r) for r in runs) + " |"

    def num(key: str, fmt: str = ".4f"):
        return lambda r: format(r["chosen"][key], fmt)

    def param(key: str):
        return lambda r: (f"{r['chosen']['params'][key]:.4g}"
                          if isinstance(r["chosen"]["params"][key], float)
                          else str(r["chosen"]["params"][key]))

    def diff(key: str):
        def shown(r: dict) -> str:
            d = r["confirmed"][key]
            return f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
        return shown

    table = "\n".join([
        "| | " + " | ".join(BACKENDS[r["backend"]] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
        row("the search's pick (trial)", lambda r: str(r["chosen"]["trial"])),
        row("dropout", param("dropout")), row("regularizer", param("regularizer")),
        row("l1", param("l1")), row("l2", param("l2")),
        row("train accuracy, dropout off (fold mean)", num("train_accuracy")),
        row("val accuracy (fold mean)", num("val_accuracy")),
        row("gap (fold mean)", num("gap", "+.4f")),
        row("confirmed verdict", lambda r: r["confirmed"]["verdict"]),
        row("test accuracy vs baseline (paired, 95%)", diff("test_diff")),
        row("gap vs baseline (paired, 95%)", diff("gap_diff")),
        row("test accuracy / gap: the pick",
            lambda r: f"{r['confirmed']['test']:.4f} / {r['confirmed']['gap']:+.4f}"),
        row("test accuracy / gap: the baseline",
            lambda r: f"{r['confirmed']['baseline_test']:.4f} / "
                      f"{r['confirmed']['baseline_gap']:+.4f}"),
        row("trials completed / pruned / failed",
            lambda r: f"{r['complete']} / {r['pruned']} / {r['failed']}"),
        row("epochs spent (baseline included)", lambda r: str(r["epochs"])),
        row("wall time (whole command)", lambda r: f"{r['wall_s']:.0f} s"),
    ])
    result = (
        "# Optuna vs Keras Tuner on the default study\n\n"
        f"`benchmarks/backends.py{' --trials ' + str(args.trials) if args.trials else ''}`, "
        f"{date.today()}, {platform.machine()}, {cpu_count()} CPUs: one run of "
        f"each backend on `studies/default.toml` (a copy with its own storage) with the "
        f"study's budget for it, {budgets['optuna']} Optuna trials and "
        f"{budgets['keras-tuner']} Keras Tuner trials (Hyperband, factor "
        f"{loaded.keras_tuner.factor}), back to back in one invocation. Both score every trial "
        "on the same "
        "folds and confirm their pick the same way (retrained on train + validation with the "
        "study's confirmation seeds, beside the baseline on the same seeds).\n\n" + table
        + "\n\nHyperband spends its budget mostly on short rungs (recorded PRUNED), so few "
        "configurations reach the full epoch budget and the selection rule chooses among "
        "those; the confirmation judges each pick against no regularization on test.\n")
    write_result("backends", result, runs)


if __name__ == "__main__":
    main()
