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

import argparse
import os
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
#: Where results go; `make bench-quick` points it elsewhere so smoke runs keep the real ones.
RESULTS = Path(os.environ.get("REGSEARCH_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
WORK = Path(os.environ.get("REGSEARCH_BENCH_WORK", ROOT / "benchmarks" / "work")) / "reuse"


def spec_copy(reuse: bool, trials: int | None, epochs: int | None) -> Path:
    """The default spec, with its own storage, ``reuse_model`` set, optionally another budget."""
    text = (ROOT / "studies" / "default.toml").read_text()
    text = text.replace('space = "../spaces/', f'space = "{(ROOT / "spaces").as_posix()}/')
    text, found = re.subn(r"(?m)^reuse_model = \w+", f"reuse_model = {str(reuse).lower()}", text)
    if not found:
        raise SystemExit("studies/default.toml has no `reuse_model = ...` line to set")
    if trials is not None:
        text = re.sub(r"(?m)^trials = \d+", f"trials = {trials}", text)
    if epochs is not None:
        text = re.sub(r"(?m)^max_epochs = \d+", f"max_epochs = {epochs}", text)
    folder = WORK / ("reuse" if reuse else "rebuild")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "default.toml"
    path.write_text(text)
    return path


def run(reuse: bool, trials: int | None, epochs: int | None) -> dict:
    """One ``regsearch run`` in a fresh process; its wall time and what the study holds."""
    import optuna

    from search import records

    spec = spec_copy(reuse, trials, epochs)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.cli", "run", str(spec), "--no-progress"],
                   cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - started
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="default",
                              storage=f"sqlite:///{spec.parent / 'regsearch.db'}")
    frame = records.trials_frame(study)
    trial_seconds = frame["duration"].dt.total_seconds().sum()
    chosen = study.user_attrs["chosen"]
    return {"reuse": reuse, "wall_s": wall, "trial_s": float(trial_seconds),
            **records.counts(frame), "chosen": chosen["trial"],
            "chosen_val": chosen["val_accuracy"], "chosen_gap": chosen["gap"],
            "values": [t.value for t in study.trials]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None,
                        help="trial budget (default: the default study's)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="max epochs per trial (default: the default study's)")
    args = parser.parse_args()
    runs = [run(True, args.trials, args.epochs), run(False, args.trials, args.epochs)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reuse.json").write_text(json.dumps(runs, indent=1) + "\n")
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
        f"{date.today()}, {platform.machine()}, {len(os.sched_getaffinity(0))} "
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
        + " The whole command also trains the baseline and the chosen setting once more for "
        "its test accuracy.\n")
    (RESULTS / "reuse.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
