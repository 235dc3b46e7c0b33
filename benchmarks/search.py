"""Search efficiency: how fast each strategy finds the gap-closing setting, at the same budget.

Strategies, each run through regsearch's own code (same data path, trainer, records, selection
rule and holdout), on digits and on the real MNIST sample (``../shared/data/mnist10k.npz``,
through the NPZ data path):

* ``regsearch``: the default study (TPE, percentile pruner, EarlyStopping);
* ``random``: random search, no pruner (EarlyStopping only);
* ``grid``: the lecture-notes grid, dropout 0.1-0.5 x L2 0, 1e-4, 1e-3, 1e-2 (20 settings,
  enqueued into the study), no pruner;
* ``hyperband``: Keras Tuner Hyperband through regsearch's keras-tuner backend, factor 4 (with
  30 epochs, factor 3 would complete its first setting only at trial 51).

Each strategy x seed runs in its own process and storage; ``--jobs`` of them at a time, each with
``cpus // jobs`` TensorFlow threads, so the jobs share the cores. Epoch counts do not depend on the
machine's load; wall times do, which is why they are compared only within one invocation.
"Epochs to the grid's answer": the epochs a strategy had spent, in the order its trials finished,
when it first held a completed trial at least as good as the grid's chosen one of the same seed
(validation accuracy not lower, |gap| not larger). Beside it, "within noise": the same with the
validation accuracy allowed to be lower by up to the grid study's selection tolerance (one
binomial standard error), since a few hundred validation samples cannot rank closer settings.
Writes benchmarks/results/search.md and search.json.

    .venv/bin/python benchmarks/search.py [--seeds 3] [--trials 40] [--data digits mnist]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import ROOT, WORK as BENCH_WORK, default_spec, study_of, write_result

WORK = BENCH_WORK / "search"
MNIST = ROOT.parent / "shared" / "data" / "mnist10k.npz"
STRATEGIES = ("regsearch", "random", "grid", "hyperband")
GRID = [(d, l2) for d in (0.1, 0.2, 0.3, 0.4, 0.5) for l2 in (0.0, 1e-4, 1e-3, 1e-2)]


def job_spec(folder: Path, strategy: str, dataset: str, seed: int, trials: int,
             epochs: int | None) -> Path:
    """The default study in ``folder``, changed only where the strategy differs."""
    study: dict = {"name": f"{dataset}-{strategy}-{seed}", "seed": seed}
    search: dict = {"trials": len(GRID) if strategy == "grid" else trials}
    sections: dict = {}
    if dataset == "mnist":
        sections["data"] = {"dataset": "npz", "path": str(MNIST)}
    if strategy in ("random", "grid"):
        search.update(sampler="random", pruner="none")
    if strategy == "hyperband":
        study["backend"] = "keras-tuner"
        # With 30 epochs, factor 3 trains its first setting fully only at trial 51; factor 4 at
        # trial 29, so a 40-trial budget can complete (and choose) something.
        sections["keras_tuner"] = {"tuner": "hyperband", "factor": 4, "trials": trials}
    return default_spec(folder, epochs=epochs, study=study, search=search, **sections)


def run_job(job: dict) -> dict:
    """One strategy x dataset x seed in this process: run it, read back what it did."""
    from search import commands, trainer
    from search.study import counts, trials_frame
    from search.backends import optuna_backend
    from search.spec import load_spec

    trainer.configure_tensorflow(threads=job["threads"])
    path = job_spec(WORK / job["dataset"] / f"{job['strategy']}-{job['seed']}", job["strategy"],
                    job["dataset"], job["seed"], job["trials"], job["epochs"])
    spec = load_spec(path)
    if job["strategy"] == "grid":
        study = optuna_backend.open_study(spec)
        for dropout, l2 in GRID:
            study.enqueue_trial({"dropout": dropout, "regularizer": "l2" if l2 else "none",
                                 **({"l2": l2} if l2 else {})})
    started = time.perf_counter()
    commands.run_study(spec_path=str(path), progress=False, out=io.StringIO())
    wall = time.perf_counter() - started
    study = study_of(path)
    frame = trials_frame(study)
    trials = sorted((t for t in study.get_trials(deepcopy=False) if t.datetime_complete),
                    key=lambda t: t.datetime_complete)
    chosen = study.user_attrs["chosen"]
    return {
        **job, "wall_s": wall,
        "search_s": (trials[-1].datetime_complete - min(t.datetime_start for t in trials)
                     ).total_seconds(),
        **counts(frame), "tolerance": chosen["selection"]["tolerance"],
        "chosen": {k: chosen[k] for k in ("trial", "params", "train_accuracy", "val_accuracy",
                                          "test_accuracy", "gap")},
        "baseline": {k: study.user_attrs["baseline"][k]
                     for k in ("train_accuracy", "val_accuracy", "test_accuracy", "gap")},
        "order": [{"state": t.state.name, "epochs": int(t.user_attrs.get("epochs", 0)),
                   "val": t.user_attrs.get("val_accuracy"), "gap": t.user_attrs.get("gap")}
                  for t in trials],
    }


def spawn(job: dict) -> dict:
    """Run one job in a fresh process (its own TensorFlow, its own memory); keep its result in
    ``work/search/results.jsonl`` at once, so ``--report-only`` can report a cut-short run."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"  start {job['dataset']} {job['strategy']} seed {job['seed']}", flush=True)
    proc = subprocess.run([sys.executable, __file__, "--job", json.dumps(job)], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        print(f"  FAILED {job}: {proc.stderr[-2000:]}", flush=True)
        return {**job, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "?"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    with (WORK / "results.jsonl").open("a") as sink:
        sink.write(json.dumps(result) + "\n")
    print(f"  done  {job['dataset']} {job['strategy']} seed {job['seed']}: "
          f"{result['epochs']} epochs, {result['search_s']:.0f} s", flush=True)
    return result


def epochs_to_reach(order: list[dict], target: dict, slack: float = 0.0) -> int | None:
    """Epochs spent when a completed trial first matched ``target``: val >= (less ``slack``),
    |gap| <=."""
    spent = 0
    for t in order:
        spent += t["epochs"]
        if t["state"] == "COMPLETE" and t["val"] is not None and \
                t["val"] >= target["val_accuracy"] - slack - 1e-9 and \
                abs(t["gap"]) <= abs(target["gap"]) + 1e-9:
            return spent
    return None


def spread(values: list[float], fmt: str) -> str:
    """Median and, over several seeds, the range."""
    if not values:
        return "-"
    med = format(statistics.median(values), fmt)
    return med if len(values) == 1 else \
        f"{med} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(results: list[dict], args: argparse.Namespace) -> str:
    """The Markdown results: per dataset, per strategy medians and spreads, then the targets."""
    from search.workers import cpu_count, threads_per_worker

    lines = [
        "# Search efficiency: strategies at the same trial budget",
        "",
        f"`benchmarks/search.py --seeds {args.seeds} --trials {args.trials} --data "
        f"{' '.join(args.data)}{' --epochs ' + str(args.epochs) if args.epochs else ''} "
        f"--jobs {args.jobs}`, {date.today()}, {platform.machine()}, {cpu_count()} CPUs, "
        f"{args.jobs} jobs at a time with {threads_per_worker(args.jobs)} TensorFlow thread(s) "
        "each. Figures are the median over seeds with the range in brackets. The grid has "
        f"{len(GRID)} settings, so it runs {len(GRID)} trials; the others {args.trials}. "
        "Test accuracy is of the chosen setting retrained with the study's seed "
        "(`search/holdout.py`); the search itself never reads the test split.",
        "",
    ]
    verdicts = []
    for dataset in args.data:
        rows = [r for r in results if r["dataset"] == dataset and "error" not in r]
        errors = [r for r in results if r["dataset"] == dataset and "error" in r]
        if not rows:
            lines += [f"## {dataset}", "", "no result" + "".join(
                f"\n- {e['strategy']} seed {e['seed']}: {e['error']}" for e in errors), ""]
            continue
        grid = {r["seed"]: r for r in rows if r["strategy"] == "grid"}
        for r in rows:
            g = grid.get(r["seed"])
            r["to_grid"] = epochs_to_reach(r["order"], g["chosen"]) if g else None
            r["to_grid_noise"] = (epochs_to_reach(r["order"], g["chosen"], g["tolerance"])
                                  if g else None)
        lines += [f"## {dataset}", "",
                  "| strategy | trials (complete/pruned/failed) | epochs | search wall s | "
                  "epochs to the grid's answer | ... within noise | chosen val acc | "
                  "chosen test acc | chosen train acc | chosen gap | settings chosen |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for strategy in STRATEGIES:
            rs = [r for r in rows if r["strategy"] == strategy]
            if not rs:
                continue
            reached = [r["to_grid"] for r in rs if r["to_grid"] is not None]
            never = "" if len(reached) == len(rs) else f" ({len(rs) - len(reached)} of {len(rs)} never)"
            noisy = [r["to_grid_noise"] for r in rs if r["to_grid_noise"] is not None]
            never_noisy = ("" if len(noisy) == len(rs)
                           else f" ({len(rs) - len(noisy)} of {len(rs)} never)")
            chosen = "; ".join(describe(r["chosen"]["params"]) for r in rs)
            lines.append(
                f"| {strategy} | " + ", ".join(f"{r['complete']}/{r['pruned']}/{r['failed']}"
                                               for r in rs)
                + f" | {spread([r['epochs'] for r in rs], '.0f')} | "
                f"{spread([r['search_s'] for r in rs], '.0f')} | "
                f"{spread(reached, '.0f')}{never} | {spread(noisy, '.0f')}{never_noisy} | "
                f"{spread([r['chosen']['val_accuracy'] for r in rs], '.4f')} | "
                f"{spread([r['chosen']['test_accuracy'] for r in rs], '.4f')} | "
                f"{spread([r['chosen']['train_accuracy'] for r in rs], '.4f')} | "
                f"{spread([r['chosen']['gap'] for r in rs], '+.4f')} | {chosen} |")
        base = [r["baseline"] for r in rows if r["strategy"] == "regsearch"]
        if base:
            lines += ["", f"Unregularized baseline (median over seeds): val "
                          f"{spread([b['val_accuracy'] for b in base], '.4f')}, test "
                          f"{spread([b['test_accuracy'] for b in base], '.4f')}, gap "
                          f"{spread([b['gap'] for b in base], '+.4f')}."]
        for e in errors:
            lines.append(f"\n- failed: {e['strategy']} seed {e['seed']}: {e['error']}")
        lines.append("")
        verdicts += targets(dataset, rows)
    lines += ["## Targets", "", *verdicts, ""]
    return "\n".join(lines)


def targets(dataset: str, rows: list[dict]) -> list[str]:
    """The issue's two targets, judged per seed and on the medians."""
    out = []
    by = {s: [r for r in rows if r["strategy"] == s] for s in STRATEGIES}
    ours, grid = by["regsearch"], {r["seed"]: r for r in by["grid"]}
    if ours and grid:
        checks = []
        for r in ours:
            g = grid.get(r["seed"])
            if g:
                checks.append((r["seed"], r["to_grid"], g["epochs"]))
        met = sum(1 for _, reach, total in checks if reach is not None and reach <= total / 3)
        out.append(f"- {dataset}, regsearch reaches the grid's answer within a third of the "
                   f"grid's epochs: **{met} of {len(checks)} seeds** ("
                   + "; ".join(f"seed {s}: {reach if reach is not None else 'never'} vs "
                               f"{total / 3:.0f}" for s, reach, total in checks) + ")")
        noisy = [(r["seed"], r["to_grid_noise"], grid[r["seed"]]) for r in ours if r["seed"] in grid]
        out.append(f"  - not the target, for the why: within noise (val at most the grid study's "
                   f"tolerance below its answer, |gap| not larger), in "
                   f"{sum(1 for _, n, g in noisy if n is not None and n <= g['epochs'] / 3)} of "
                   f"{len(noisy)} seeds (" + "; ".join(
                       f"seed {s}: {n if n is not None else 'never'} vs {g['epochs'] / 3:.0f}, "
                       f"tolerance {g['tolerance']:.4f}" for s, n, g in noisy) + ")")
    if ours:
        med = lambda rs, k: statistics.median(  # noqa: E731
            abs(r["chosen"][k]) if k == "gap" else r["chosen"][k] for r in rs)
        ours_val, ours_gap = med(ours, "val_accuracy"), med(ours, "gap")
        parts, compared, ok = [], 0, True
        for s in STRATEGIES[1:]:
            if not by[s]:
                continue
            val, gap = med(by[s], "val_accuracy"), med(by[s], "gap")
            comparable = abs(ours_val - val) <= 0.005
            compared += comparable
            ok &= ours_gap <= gap + 1e-12 or not comparable
            parts.append(f"{s}: |gap| {gap:.4f} at val {val:.4f}"
                         + ("" if comparable else " (val more than 0.5 points apart)"))
        verdict = ("not testable: no other strategy's validation accuracy is within 0.5 points"
                   if not compared else "met" if ok else "not met")
        out.append(f"- {dataset}, regsearch's chosen |gap| {ours_gap:.4f} at val {ours_val:.4f} "
                   f"is no larger than any strategy's within 0.5 points of validation accuracy: "
                   f"**{verdict}** on the medians (" + "; ".join(parts) + ")")
    return out


def describe(params: dict) -> str:
    strengths = " + ".join(f"{k} {params[k]:.1e}" for k in ("l1", "l2") if params.get(k))
    return f"dropout {params['dropout']:.2f}, {strengths or 'no penalty'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=None,
                        help="max epochs per trial (default: the default study's)")
    parser.add_argument("--data", nargs="+", choices=("digits", "mnist"),
                        default=["digits", "mnist"])
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--jobs", type=int, default=2, help="jobs at a time")
    parser.add_argument("--out", default="search", help="results file name (no extension)")
    parser.add_argument("--report-only", action="store_true",
                        help="report the jobs kept in benchmarks/work/search/results.jsonl")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # one child's work, as JSON
    args = parser.parse_args()
    if args.job:
        print(json.dumps(run_job(json.loads(args.job))))
        return
    if args.report_only:
        kept = [json.loads(line) for line in (WORK / "results.jsonl").read_text().splitlines()]
        args.data = [d for d in args.data if any(r["dataset"] == d for r in kept)]
        write(kept, args)
        return
    data = [d for d in args.data if d != "mnist" or MNIST.exists()]
    if "mnist" in args.data and "mnist" not in data:
        print(f"skipping mnist: {MNIST} is not there (see ../shared/data/README.md)")
    args.data = data
    from search.workers import threads_per_worker

    threads = threads_per_worker(args.jobs)
    jobs = [{"dataset": d, "strategy": s, "seed": 777 + i, "trials": args.trials,
             "epochs": args.epochs, "threads": threads}
            for d in data for i in range(args.seeds) for s in args.strategies]
    # Digits first (a run cut short still has one whole dataset), then within each dataset
    # seed by seed, longest strategy first, so the pool does not end on one long job alone.
    cost = {"random": 4, "regsearch": 3, "grid": 2, "hyperband": 1}
    jobs.sort(key=lambda j: (j["dataset"] != "digits", j["seed"], -cost[j["strategy"]]))
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.jsonl").write_text("")
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(spawn, jobs))
    write(results, args)


def write(results: list[dict], args: argparse.Namespace) -> None:
    write_result(args.out, report(results, args), results)


if __name__ == "__main__":
    main()
