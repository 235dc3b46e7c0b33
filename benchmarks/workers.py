"""Trials per hour with 1 and 2 workers on this machine, and how long a killed worker's trial
takes to be re-queued.

Throughput: the default study (digits, 30 epochs, its sampler, pruner and heartbeats) with a
budget of ``--trials``, run by ``regsearch run --workers N`` into a fresh storage, alternating
1, 2, 2, 1 workers in this one invocation so the machine's load drifts over both alike. Trials
per hour is taken over the trial phase (first trial started to last trial finished, from the
storage), which leaves out the process start and the baseline; epochs per hour says the same
for the work actually done, since different settings train for different numbers of epochs.

Re-queue: ``regsearch run --workers 2`` on the default study; once a trial has reported an
epoch its worker is killed with SIGKILL, and the storage is polled until the trial is FAILED,
its retry queued and the retry running again (default heartbeats: a beat every 5 s, 20 s grace).

Writes benchmarks/results/workers.md.

    .venv/bin/python benchmarks/workers.py [--trials 12] [--skip-requeue]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import ROOT, WORK as BENCH_WORK, default_spec, study_of, write_result
WORK = BENCH_WORK / "workers"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def throughput(workers: int, trials: int, label: str, epochs: int | None) -> dict:
    spec = default_spec(WORK / label, trials=trials, epochs=epochs)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.cli", "run", str(spec), "--workers",
                    str(workers), "--no-progress"], cwd=ROOT, env=ENV, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    from search.study import Snapshot

    snap = Snapshot(study_of(spec))
    study = snap.study
    ended = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    phase = (max(t.datetime_complete for t in ended)
             - min(t.datetime_start for t in ended)).total_seconds()
    c = snap.counts
    done = c["complete"] + c["pruned"] + c["failed"]
    return {"workers": workers, "trials": done, "epochs": c["epochs"], "phase_s": phase,
            "wall_s": wall, "trials_per_hour": 3600 * done / phase,
            "epochs_per_hour": 3600 * c["epochs"] / phase,
            "states": {"COMPLETE": c["complete"], "PRUNED": c["pruned"], "FAIL": c["failed"]}}


def requeue(trials: int) -> dict:
    import optuna

    from search.errors import RegsearchError
    from search.spec import load_spec

    spec = default_spec(WORK / "requeue", trials=trials)
    proc = subprocess.Popen([sys.executable, "-m", "search.cli", "run", str(spec), "--workers",
                             "2", "--no-progress"], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    study = victim = None
    while victim is None:
        time.sleep(0.1)
        if study is None:
            try:
                study = study_of(spec)
            except RegsearchError:  # not created yet
                continue
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        victim = next((t for t in running if t.intermediate_values), None)
    os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    killed = time.perf_counter()
    seen: dict[str, float] = {}
    while len(seen) < 3 and proc.poll() is None:
        time.sleep(0.2)
        now = time.perf_counter() - killed
        trials = study.get_trials(deepcopy=False)
        if trials[victim.number].state.name == "FAIL":
            seen.setdefault("failed", now)
        retry = next((t for t in trials
                      if t.system_attrs.get("failed_trial") == victim.number), None)
        if retry is not None:
            seen.setdefault("queued", now)
            if retry.state.name != "WAITING":
                seen.setdefault("running", now)
    proc.wait()
    beat = load_spec(spec).workers
    return {"trial": victim.number, "epochs_reported": len(victim.intermediate_values),
            **seen, "heartbeat_interval": beat.heartbeat_interval,
            "grace_period": beat.grace_period}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=None,
                        help="max epochs per fit (default: the default study's)")
    parser.add_argument("--skip-requeue", action="store_true")
    args = parser.parse_args()

    runs = []
    for i, workers in enumerate((1, 2, 2, 1)):
        print(f"== {workers} worker(s), {args.trials} trials", flush=True)
        runs.append(throughput(workers, args.trials, f"run{i}-{workers}w", args.epochs))
        print(runs[-1], flush=True)
    per = {w: [r for r in runs if r["workers"] == w] for w in (1, 2)}

    def mean(w: int, key: str) -> float:
        return sum(r[key] for r in per[w]) / len(per[w])

    from search.workers import cpu_count

    cpus = cpu_count()
    rows = ["| workers | run | trials (complete/pruned/failed) | epochs | trial phase | "
            "trials per hour | epochs per hour | whole command |", "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs):
        s = r["states"]
        rows.append(f"| {r['workers']} | {i + 1} | {r['trials']} ({s['COMPLETE']}/{s['PRUNED']}/"
                    f"{s['FAIL']}) | {r['epochs']} | {r['phase_s']:.0f} s | "
                    f"{r['trials_per_hour']:.0f} | {r['epochs_per_hour']:.0f} | "
                    f"{r['wall_s']:.0f} s |")
    lines = [
        "# Workers on one machine",
        "",
        f"`benchmarks/workers.py --trials {args.trials}"
        f"{f' --epochs {args.epochs}' if args.epochs else ''}` on {cpus} CPUs: the "
        f"default study with a budget of {args.trials} trials, run with 1, 2, 2, 1 workers in "
        "one invocation.",
        "",
        *rows,
        "",
        f"**2 workers / 1 worker: {mean(2, 'trials_per_hour') / mean(1, 'trials_per_hour'):.2f}x "
        f"trials per hour, {mean(2, 'epochs_per_hour') / mean(1, 'epochs_per_hour'):.2f}x "
        "epochs per hour** (means of the two runs each; each of 2 workers has 1 TensorFlow "
        "thread, 1 worker has all of them).",
        "",
    ]
    if not args.skip_requeue:
        print("== re-queue after SIGKILL", flush=True)
        r = requeue(8)
        print(r, flush=True)
        lines += [
            "## A killed worker's trial",
            "",
            f"`regsearch run --workers 2` on the default study; trial {r['trial']} was killed "
            f"(SIGKILL to its worker) after {r['epochs_reported']} epoch(s). Heartbeat every "
            f"{r['heartbeat_interval']} s, grace period {r['grace_period']} s.",
            "",
            "| after the kill | seconds |", "|---|---|",
            f"| trial marked FAILED | {r.get('failed', float('nan')):.1f} |",
            f"| its retry queued (WAITING) | {r.get('queued', float('nan')):.1f} |",
            f"| the retry running again | {r.get('running', float('nan')):.1f} |",
            "",
            "A stale trial is looked for when a worker starts its next trial (and when `regsearch "
            "run` starts or waits), so the delay is the grace period plus up to one trial of "
            "the surviving worker.",
            "",
        ]
    write_result("workers", "\n".join(lines))


if __name__ == "__main__":
    main()
