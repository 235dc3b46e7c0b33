"""Which pruner configuration is fair to regularization? Measured on real digits curves.

Runs the default study unpruned with a random sampler (every trial trains its 30 epochs), then
replays those curves, in order, through candidate pruners (``search.pruning.replay``), and writes
benchmarks/results/pruner.md: epochs spent, trials pruned, and how many of the trials the
selection rule would consider (within tolerance of the best val accuracy) each pruner would have
cut, the chosen one and the strongly regularized ones (dropout >= 0.35 or lambda >= 1e-3) in
particular; then the same for an earlier collection kept in tests/data. ``--fixture`` also
refreshes tests/data/digits_curves.json, which tests/test_pruner.py replays.

    .venv/bin/python benchmarks/pruner.py [--trials 48] [--fixture]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import DEFAULT, ROOT, WORK, default_spec, study_of, write_result


def collect(trials: int) -> dict:
    """Run the unpruned random study in a fresh storage and return its curves."""
    from search import commands

    spec_path = default_spec(WORK / "pruner", trials=trials,  # a fresh storage: collected now
                             study={"name": "pruner-curves"},
                             search={"sampler": "random", "pruner": "none"})
    started = time.perf_counter()
    commands.run_study(spec_path=str(spec_path), progress=False)
    print(f"collected in {time.perf_counter() - started:.0f} s")
    study = study_of(spec_path)
    rows = [{"number": t.number, "params": t.params, "val_accuracy": t.user_attrs["val_accuracy"],
             "gap": t.user_attrs["gap"],
             "score": [round(x, 5) for x in t.user_attrs["curves"]["score"]],
             "val_curve": [round(x, 5) for x in t.user_attrs["curves"]["val_accuracy"]]}
            for t in study.trials if t.state.name == "COMPLETE"]
    return {"about": f"Real per-epoch curves of {len(rows)} unpruned trials of the default digits "
                     "study (random sampler, 30 epochs), in the order they ran; made by "
                     "benchmarks/pruner.py.",
            "n_val": study.user_attrs["data_sizes"]["val"], "trials": rows}


def compare(data: dict) -> str:
    """The markdown table of pruner configurations replayed over ``data``."""
    import optuna

    from search.backends.optuna_backend import make_pruner
    from search.objective import select
    from search.pruning import replay
    from search.spec import load_spec

    trials = data["trials"]
    records = [{"number": i, "val_accuracy": t["val_accuracy"], "gap": t["gap"]}
               for i, t in enumerate(trials)]
    sel = select(records, n_val=data["n_val"])
    near = {r["number"] for r in records if r["val_accuracy"] >= sel.best_val_accuracy - sel.tolerance}
    strong = {i for i, t in enumerate(trials) if t["params"]["dropout"] >= 0.35
              or t["params"].get("l1", 0) >= 1e-3 or t["params"].get("l2", 0) >= 1e-3}
    search = load_spec(DEFAULT).search
    score = [t["score"] for t in trials]
    configs = [
        ("Optuna default: MedianPruner() on val_accuracy", optuna.pruners.MedianPruner(),
         [t["val_curve"] for t in trials]),
        ("MedianPruner, warm-up 10, on the objective",
         make_pruner(dataclasses.replace(search, pruner="median", pruner_patience=0)), score),
        ("Percentile keep 90%, warm-up 10, on the objective (no patience)",
         make_pruner(dataclasses.replace(search, pruner_patience=0)), score),
        ("Percentile keep 90%, warm-up 10, patience 1",
         make_pruner(dataclasses.replace(search, pruner_patience=1)), score),
        ("Percentile keep 75%, warm-up 10, patience 2",
         make_pruner(dataclasses.replace(search, pruner_percentile=75.0)), score),
        ("Median, warm-up 10, patience 2",
         make_pruner(dataclasses.replace(search, pruner="median")), score),
        ("**default**: percentile keep 90%, warm-up 10, patience 2, on the objective",
         make_pruner(search), score),
    ]
    full = sum(len(c) for c in score)
    lines = [f"{len(trials)} unpruned trials; selection candidates (val within "
             f"{sel.tolerance:.4f} of the best {sel.best_val_accuracy:.4f}): {len(near)}, of "
             f"which strongly regularized: {len(near & strong)}; chosen: trial {sel.chosen['number']}.",
             "", "| pruner | epochs spent | trials pruned | candidates cut | strongly regularized "
             "candidates cut | earliest epoch a candidate was cut | chosen cut |",
             "|---|---|---|---|---|---|---|"]
    for name, pruner, curves in configs:
        result = replay(curves, pruner)
        cut = {r.number for r in result if r.pruned_at}
        earliest = min((r.pruned_at for r in result if r.number in cut & near), default="-")
        lines.append(f"| {name} | {sum(r.epochs for r in result) / full:.0%} | {len(cut)} | "
                     f"{len(cut & near)} | {len(cut & near & strong)} | {earliest} | "
                     f"{'yes' if sel.chosen['number'] in cut else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--fixture", action="store_true", help="refresh the test fixture too")
    args = parser.parse_args()
    data = collect(args.trials)
    if args.fixture:
        (ROOT / "tests" / "data" / "digits_curves.json").write_text(
            json.dumps(data, separators=(",", ":")))
    earlier = json.loads((ROOT / "tests" / "data" / "digits_curves_before_seeding.json").read_text())
    text = ("# Pruner fairness on real digits curves\n\nMade by `benchmarks/pruner.py "
            f"--trials {args.trials}`: unpruned trials of the default study (random sampler, "
            "30 epochs, EarlyStopping on), replayed through each pruner in the order they ran. "
            "Candidates: trials within the selection tolerance of the best val accuracy; "
            "strongly regularized: dropout >= 0.35 or a lambda >= 1e-3.\n\n"
            "## Curves collected by this run\n\n" + compare(data)
            + "\n## An earlier collection, made before trials were seeded per layer\n\n"
            "`tests/data/digits_curves_before_seeding.json`\n\n" + compare(earlier))
    write_result("pruner", text)


if __name__ == "__main__":
    main()
