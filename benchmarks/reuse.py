"""Wall time of the default study with the reused model against rebuilding every trial.

Runs ``regsearch run`` on a copy of ``studies/default.toml`` twice in one invocation, each in a
fresh process and storage: once as shipped (``reuse_model = true``), once with
``reuse_model = false``. A reused trial is the same computation as a rebuilt one with the same
seed, so the two studies should try the same settings, prune the same trials and choose the same
one: the table says whether they did, and the ratio of wall times is the saving.
Writes benchmarks/results/reuse.md and reuse.json.

    .venv/bin/python benchmarks/reuse.py [--trials 60]
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from datetime import date

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import ROOT, WORK as BENCH_WORK, budget_parser, default_spec, study_of, write_result

WORK = BENCH_WORK / "reuse"


def run(reuse: bool, trials: int | None, epochs: int | None) -> dict:
    """One ``regsearch run`` in a fresh process; its wall time and what the study holds."""
    from search.objective import is_baseline
    from search.study import Snapshot

    spec = default_spec(WORK / ("reuse" if reuse else "rebuild"), trials=trials, epochs=epochs,
                        reuse_model=reuse)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.cli", "run", str(spec), "--no-progress"],
                   cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - started
    snap = Snapshot(study_of(spec))
    trial_seconds = snap.frame["duration"].dt.total_seconds().sum()
    chosen = snap.selection.chosen
    return {"reuse": reuse, "wall_s": wall, "trial_s": float(trial_seconds),
            **snap.counts,
            "chosen": f"{int(chosen['number'])}{' (baseline)' if is_baseline(chosen) else ''}",
            "chosen_val": float(chosen["val_accuracy"]), "chosen_gap": float(chosen["gap"]),
            "values": [t.value for t in snap.study.trials]}


def main() -> None:
    args = budget_parser(__doc__.splitlines()[0]).parse_args()
    runs = [run(True, args.trials, args.epochs), run(False, args.trials, args.epochs)]
    from search.workers import cpu_count

    reuse, rebuild = runs
    same = reuse["values"] == rebuild["values"]
    close = all(a == b or (a is not None and b is not None and abs(a - b) < 1e-6)
                for a, b in zip(reuse["values"], rebuild["values"]))
    rows = "".join(
        f"| {'reuse (default)' if r['reuse'] else 'rebuild every trial'} | {r['wall_s']:.0f} s | "
        f"{r['trial_s']:.0f} s | {r['complete']} / {r['pruned']} / {r['failed']} | {r['epochs']} | "
        f"{r['chosen']} | {r['chosen_val']:.4f} | {r['chosen_gap']:+.4f} |\n" for r in runs)
    text = (
        "# The default study: reused model vs a model rebuilt every trial\n\n"
        f"`benchmarks/reuse.py{' --trials ' + str(args.trials) if args.trials else ''}`, "
        f"{date.today()}, {platform.machine()}, {cpu_count()} "
        "CPUs: `regsearch run` on a copy of `studies/default.toml`, once as shipped and once "
        "with `reuse_model = false`, one after the other in fresh processes and storages.\n\n"
        "| mode | whole command | trials' own time | completed / pruned / failed | epochs | "
        "chosen trial | its val accuracy | its gap |\n|---|---|---|---|---|---|---|---|\n"
        + rows +
        f"\n**Wall time, reuse / rebuild: {reuse['wall_s'] / rebuild['wall_s']:.2f} (whole "
        f"command), {reuse['trial_s'] / rebuild['trial_s']:.2f} (the trials alone).** The two "
        "studies gave " + ("identical trial values" if same else "trial values equal within "
                           "1e-6" if close else "different trial values")
        + (": a reused trial computes what a rebuilt one does." if close else
           ": the two paths do not compute the same thing (tests/test_reuse.py should fail).")
        + " The whole command also evaluates the baseline on the folds and confirms the answer "
        "(it and the baseline retrained on train + validation with the confirmation's seeds); "
        "the chosen trial's figures are its means over the folds.\n")
    write_result("reuse", text, runs)


if __name__ == "__main__":
    main()
