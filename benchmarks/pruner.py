"""Which pruner configuration is fair to regularization? Measured on real digits curves.

Runs the default study with a random sampler, no pruner and no racing (every trial trains each
fold until EarlyStopping), then replays each trial's first fold, the one ``FoldPruner`` acts
in, in order, through candidate pruners (``search.pruning.replay``), and writes
benchmarks/results/pruner.md (and the curves as pruner.json): epochs spent, trials pruned, and
how many of the trials the selection rule would consider (not below the best validation
accuracy by more than a standard error, paired on the folds) each pruner would have cut, the
chosen one and the strongly regularized ones (dropout >= 0.35 or lambda >= 1e-3) in particular;
then the same for the two single-split collections in tests/data that tests/test_pruner.py
replays.

    .venv/bin/python benchmarks/pruner.py [--trials 24]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import DEFAULT, ROOT, WORK, default_spec, study_of, write_result


def collect(trials: int, epochs: int | None = None) -> dict:
    """Run the unpruned, unraced random study in a fresh storage and return its curves: each
    trial's first fold (the one the pruner judges), with its per-fold figures for selection."""
    from search import commands
    from search.objective import is_baseline
    from search.study import Snapshot

    spec_path = default_spec(WORK / "pruner", trials=trials, epochs=epochs,  # a fresh storage
                             study={"name": "pruner-curves"},
                             search={"sampler": "random", "pruner": "none"},
                             evaluation={"racing": False})
    started = time.perf_counter()
    commands.run_study(spec_path=str(spec_path), progress=False)
    print(f"collected in {time.perf_counter() - started:.0f} s")
    snap = Snapshot(study_of(spec_path))
    rows = [{"number": t.number, "params": t.params, "val_accuracy": t.user_attrs["val_accuracy"],
             "gap": t.user_attrs["gap"],
             "folds": [{"val_accuracy": f["val_accuracy"], "gap": f["gap"]}
                       for f in t.user_attrs["folds"]],
             "score": [round(x, 5) for x in t.user_attrs["curves"]["score"]],
             "val_curve": [round(x, 5) for x in t.user_attrs["curves"]["val_accuracy"]]}
            for t in snap.study.trials
            if t.state.name == "COMPLETE" and not is_baseline(t.user_attrs)]
    epochs = snap.spec.training.max_epochs
    return {"about": f"Real per-epoch curves of {len(rows)} unpruned trials of the default digits "
                     f"study (random sampler, {snap.spec.evaluation.folds} folds, up to {epochs} "
                     "epochs with EarlyStopping), the first fold's, in the order they ran; made "
                     "by benchmarks/pruner.py.",
            "n_val": snap.n_val, "trials": rows}


def compare(data: dict) -> str:
    """The markdown table of pruner configurations replayed over ``data``.

    A collection with per-fold figures is selected on as a study selects (paired on the folds);
    one recorded on a single validation split has no spread to pair, so its tolerance is one
    binomial standard error of the best validation accuracy (at least one sample)."""
    import math

    import optuna

    from search.backends.optuna_backend import make_pruner
    from search.objective import near, select
    from search.pruning import replay
    from search.spec import load_spec

    trials, n_val = data["trials"], data["n_val"]
    records = [{"number": i, "val_accuracy": t["val_accuracy"], "gap": t["gap"],
                **({"folds": t["folds"]} if "folds" in t else {})}
               for i, t in enumerate(trials)]
    top = max(r["val_accuracy"] for r in records)
    tolerance = (None if all("folds" in t for t in trials)
                 else max(math.sqrt(top * (1 - top) / n_val), 1 / n_val))
    sel = select(records, floor=1 / n_val, tolerance=tolerance)
    candidates = {r["number"] for r in records
                  if near(r, sel.best, floor=1 / n_val, tolerance=tolerance)}
    strong = {i for i, t in enumerate(trials) if t["params"]["dropout"] >= 0.35
              or t["params"].get("l1", 0) >= 1e-3 or t["params"].get("l2", 0) >= 1e-3}
    search = load_spec(DEFAULT).search
    score = [t["score"] for t in trials]
    stride = max(len(c) for c in score)  # every recorded epoch is the first fold's

    def pruner(**change) -> optuna.pruners.BasePruner:
        return make_pruner(dataclasses.replace(search, **change), stride)

    warm, keep = search.pruner_warmup, search.pruner_percentile
    configs = [
        ("Optuna default: MedianPruner() on val_accuracy", optuna.pruners.MedianPruner(),
         [t["val_curve"] for t in trials]),
        (f"MedianPruner, warm-up {warm}, on the objective",
         pruner(pruner="median", pruner_patience=0), score),
        (f"Percentile keep {keep:g}%, warm-up {warm}, on the objective (no patience)",
         pruner(pruner_patience=0), score),
        (f"Percentile keep {keep:g}%, warm-up {warm}, patience 2", pruner(pruner_patience=2),
         score),
        (f"Percentile keep 75%, warm-up {warm}, patience {search.pruner_patience}",
         pruner(pruner_percentile=75.0), score),
        (f"Median, warm-up {warm}, patience {search.pruner_patience}", pruner(pruner="median"),
         score),
        (f"**default**: percentile keep {keep:g}%, warm-up {warm}, patience "
         f"{search.pruner_patience}, on the objective", pruner(), score),
    ]
    full = sum(len(c) for c in score)
    rule = ("paired on the folds, within one standard error" if tolerance is None
            else f"within {tolerance:.4f}")
    lines = [f"{len(trials)} unpruned trials; selection candidates (val accuracy {rule} of the "
             f"best, {sel.best['val_accuracy']:.4f}): {len(candidates)}, of which strongly "
             f"regularized: {len(candidates & strong)}; chosen: trial {sel.chosen['number']}.",
             "", "| pruner | epochs spent | trials pruned | candidates cut | strongly regularized "
             "candidates cut | earliest epoch a candidate was cut | chosen cut |",
             "|---|---|---|---|---|---|---|"]
    for name, rule_pruner, curves in configs:
        result = replay(curves, rule_pruner)
        cut = {r.number for r in result if r.pruned_at}
        earliest = min((r.pruned_at for r in result if r.number in cut & candidates),
                       default="-")
        lines.append(f"| {name} | {sum(r.epochs for r in result) / full:.0%} | {len(cut)} | "
                     f"{len(cut & candidates)} | {len(cut & candidates & strong)} | {earliest} | "
                     f"{'yes' if sel.chosen['number'] in cut else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 24: each trial now runs three folds to convergence (327 s for 24 here), not 30 epochs once.
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=None,
                        help="max epochs per fit (default: the default study's)")
    args = parser.parse_args()
    data = collect(args.trials, args.epochs)
    flags = f"--trials {args.trials}" + (f" --epochs {args.epochs}" if args.epochs else "")
    text = ("# Pruner fairness on real digits curves\n\nMade by `benchmarks/pruner.py "
            f"{flags}`: unpruned, unraced trials of the default study (random sampler), each "
            "trial's first fold (the fold the pruner acts in) replayed through each pruner in "
            "the order they ran. Candidates: trials the selection rule's first "
            "step keeps against the best validation accuracy; strongly regularized: dropout >= "
            "0.35 or a lambda >= 1e-3. Epochs spent are the first fold's.\n\n"
            f"## Curves collected by this run\n\n{data['about']}\n\n" + compare(data))
    for name, title in (("digits_curves.json", "Collected before folds (one validation split, "
                                               "30 epochs), kept as the test fixture"),
                        ("digits_curves_before_seeding.json", "An earlier collection, made "
                                                              "before trials were seeded per "
                                                              "layer")):
        text += (f"\n## {title}\n\n`tests/data/{name}` (replayed by tests/test_pruner.py)\n\n"
                 + compare(json.loads((ROOT / "tests" / "data" / name).read_text())))
    write_result("pruner", text, data)


if __name__ == "__main__":
    main()
