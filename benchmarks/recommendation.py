"""Recommendation quality: is the setting each strategy recommends better than doing nothing?

For each problem and search seed, four strategies search the same space on the same data:

* ``regsearch``: the problem's spec run by ``regsearch run`` (folds, racing, the baseline as a
  competitor); its recommendation is the confirmed answer, which may be no regularization;
* ``optuna``: plain Optuna the way its examples do it: TPE, ``MedianPruner``, one train /
  validation split, maximize validation accuracy (EarlyStopping on it, best weights restored);
* ``random``: random search on the same single split, no pruner, maximize validation accuracy;
* ``hyperband``: Keras Tuner's Hyperband oracle (factor 3) on the same single split, maximize
  validation accuracy.

The three others get regsearch's epoch budget for that problem and seed (each stops at the first
trial end past it). Every recommendation, and the unregularized baseline, is then confirmed the
same way: retrained on all of train + validation with 5 seeds (the same 5 for every strategy),
for the epochs its own search found (the best trial's best epoch; the baseline's: its median
best epoch over the study's folds), and evaluated once on the test split. Per problem the table
gives the paired test-accuracy difference against the baseline (mean and 95% interval), the
confirmed gap (train minus test, dropout off), the epochs searched, and the number of runs whose
recommendation is significantly worse than the baseline on test (overtuning).

Each problem is a part that keeps its own results (``benchmarks/results/recommendation/``);
``--report`` assembles ``benchmarks/results/recommendation.md`` from the parts present.

    .venv/bin/python benchmarks/recommendation.py --problem wine [--seeds 0 1 2] [--trials 6] [--threads 1]
    .venv/bin/python benchmarks/recommendation.py --report
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, WORK, spec_document, write_result

MNIST = ROOT.parent / "shared" / "data" / "mnist10k.npz"
CONFIRM_SEEDS = [10_001, 10_002, 10_003, 10_004, 10_005]
STRATEGIES = ("regsearch", "optuna", "random", "hyperband")
PARTS = RESULTS / "recommendation"


def problems(folder: Path) -> dict[str, dict[str, Any]]:
    """Each problem's spec sections on top of ``studies/default.toml``."""
    from sklearn.datasets import load_breast_cancer, load_wine

    # The default study is the lecture-notes MLP on digits, so that problem is "default".
    lecture = {"hidden": [50, 50], "batch_norm": True}
    out: dict[str, dict[str, Any]] = {
        "default": {},
        "mnist-lecture": {"data": {"dataset": "npz", "path": str(MNIST), "limit": 3000},
                          "model": lecture},
        "mnist-wide": {"data": {"dataset": "npz", "path": str(MNIST), "limit": 3000},
                       "model": {"hidden": [512, 512], "batch_norm": False}},
    }
    for name, loader in (("wine", load_wine), ("breast-cancer", load_breast_cancer)):
        path = folder / f"{name}.csv"
        if not path.exists():
            loader(as_frame=True).frame.rename(columns={"target": "label"}).to_csv(path,
                                                                                   index=False)
        out[name] = {"data": {"dataset": "csv", "path": str(path), "label_column": "label"}}
    return out


def write_spec(folder: Path, name: str, sections: dict[str, Any], seed: int,
               trials: int) -> Path:
    import tomli_w

    doc = spec_document(**{k: dict(v) for k, v in sections.items()})
    doc["study"].update(name=f"{name}-{seed}", seed=seed,
                        storage=f"sqlite:///{(folder / f'{name}-{seed}.db').as_posix()}")
    doc["search"]["trials"] = trials
    path = folder / f"{name}-{seed}.toml"
    (folder / f"{name}-{seed}.db").unlink(missing_ok=True)
    path.write_text(tomli_w.dumps(doc))
    return path


def run_regsearch(spec_path: Path) -> dict[str, Any]:
    """regsearch's confirmed answer: (params, epochs) and the epochs its search spent."""
    from search.commands import run_study
    from search.storage import load_study
    from search.study import Snapshot

    with contextlib.redirect_stderr(io.StringIO()):
        result = run_study(spec_path=str(spec_path), progress=False, out=io.StringIO())
    from search.spec import load_spec

    spec = load_spec(spec_path)
    snap = Snapshot(load_study(result["study"], spec.storage))
    c = snap.confirmation
    entry = c["settings"][1] if c["regularize"] else c["settings"][0]
    return {"params": dict(c["params"]), "epochs": entry["epochs"],
            "searched_epochs": snap.counts["epochs"], "verdict": c["verdict"],
            "baseline_epochs": c["settings"][0]["epochs"]}


class EpochBudget:
    """Stops an Optuna study at the first trial end once ``budget`` epochs are spent."""

    def __init__(self, budget: int) -> None:
        self.budget, self.spent = budget, 0

    def __call__(self, study, trial) -> None:
        self.spent += int(trial.user_attrs.get("epochs", 0))
        if self.spent >= self.budget:
            study.stop()


def run_optuna(spec, splits, budget: int, sampler_name: str) -> dict[str, Any]:
    """Plain Optuna on one split: maximize validation accuracy, per-epoch pruning for TPE."""
    import optuna

    from search.backends.optuna_backend import suggest
    from search.trainer import Trainer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tpe = sampler_name == "tpe"
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=spec.seed) if tpe
        else optuna.samplers.RandomSampler(seed=spec.seed),
        pruner=optuna.pruners.MedianPruner() if tpe else optuna.pruners.NopPruner())
    counter = EpochBudget(budget)
    with Trainer(splits, model=spec.model, training=spec.training,
                 score=lambda val, gap: val) as trainer:
        def objective(trial):
            params = suggest(trial, spec.space)

            def report(step: int, value: float) -> bool:
                trial.report(value, step)
                return trial.should_prune()

            result, _ = trainer.fit(params, seed=spec.seed, report=report)
            trial.set_user_attr("epochs", result.epochs)
            trial.set_user_attr("best_epoch", result.best_epoch)
            trial.set_user_attr("params", result.params)
            if result.stopped == "pruned":
                raise optuna.TrialPruned()
            return result.val_accuracy

        study.optimize(objective, n_trials=10_000, callbacks=[counter])
    best = study.best_trial
    return {"params": best.user_attrs["params"], "epochs": best.user_attrs["best_epoch"],
            "searched_epochs": counter.spent}


def run_hyperband(spec, splits, budget: int, folder: Path) -> dict[str, Any]:
    """Keras Tuner's Hyperband oracle on one split, maximizing validation accuracy."""
    import keras_tuner as kt

    from search.backends.keras_tuner_backend import hyperparameters, params_of
    from search.trainer import Trainer

    max_epochs = spec.training.max_epochs
    spent = {"epochs": 0}
    with Trainer(splits, model=spec.model, training=spec.training,
                 score=lambda val, gap: val) as trainer:
        class BudgetTuner(kt.Tuner):
            def run_trial(self, trial, *args, **kwargs):
                epochs = int(trial.hyperparameters.values.get("tuner/epochs", max_epochs))
                training = dataclasses.replace(spec.training, max_epochs=epochs,
                                               min_steps=spec.training.min_steps
                                               if epochs >= max_epochs else 0)
                result, _ = trainer.fit(params_of(trial.hyperparameters, spec.space),
                                        seed=spec.seed, training=training)
                spent["epochs"] += result.epochs
                self.results[trial.trial_id] = result
                if spent["epochs"] >= budget:
                    self.oracle.max_trials = len(self.oracle.trials)
                return {"val_accuracy": result.val_accuracy}

        oracle = kt.oracles.HyperbandOracle(
            objective=kt.Objective("val_accuracy", "max"), max_epochs=max_epochs, factor=3,
            hyperband_iterations=100, seed=spec.seed or 1,
            hyperparameters=hyperparameters(spec.space), tune_new_entries=False,
            allow_new_entries=False)
        with contextlib.redirect_stdout(io.StringIO()):
            tuner = BudgetTuner(oracle=oracle, directory=str(folder / "kt"),
                                project_name=f"{spec.name}", overwrite=True)
            tuner.results = {}
            tuner.search(verbose=0)
    best = oracle.get_best_trials(1)[0]
    result = tuner.results[best.trial_id]
    return {"params": result.params, "epochs": result.best_epoch, "searched_epochs": spent["epochs"]}


def confirm(spec, refit, recommendations: dict[str, dict[str, Any]],
            baseline_epochs: int) -> dict[str, Any]:
    """Every recommendation and the baseline retrained on train+validation with the same 5
    seeds and tested once; paired differences against the baseline."""
    from search.objective import trainer_for
    from search.paired import Paired

    runs: dict[str, list[dict[str, float]]] = {}
    todo = {"baseline": ({}, baseline_epochs), **{k: (v["params"], v["epochs"])
                                                 for k, v in recommendations.items()}}
    with trainer_for(spec, refit) as trainer:
        for label, (params, epochs) in todo.items():
            runs[label] = []
            for seed in CONFIRM_SEEDS:
                train, model = trainer.refit(params, seed=seed, epochs=max(1, int(epochs)),
                                             splits=refit)
                test = trainer.accuracy(model, refit.x_test, refit.y_test)
                runs[label].append({"train": train, "test": test, "gap": train - test})
    out = {}
    for label, mine in runs.items():
        if label == "baseline":
            continue
        d = Paired.of([r["test"] for r in mine], [r["test"] for r in runs["baseline"]])
        low, high = d.interval()
        out[label] = {"test": statistics.fmean(r["test"] for r in mine),
                      "gap": statistics.fmean(r["gap"] for r in mine),
                      "diff": d.mean, "low": low, "high": high, "overtuned": high < 0}
    out["baseline"] = {"test": statistics.fmean(r["test"] for r in runs["baseline"]),
                       "gap": statistics.fmean(r["gap"] for r in runs["baseline"])}
    return out


def run_problem(name: str, seeds: list[int], trials: int, threads: int | None = None) -> Path:
    """Run ``name`` for each search seed; the part's file is rewritten after every seed (rows
    of seeds run before are kept), so an interrupted part keeps what it finished."""
    from search.data import load_splits
    from search.folds import study_data
    from search.spec import load_spec
    from search.trainer import configure_tensorflow

    configure_tensorflow(threads)
    folder = WORK / "recommendation" / name
    folder.mkdir(parents=True, exist_ok=True)
    sections = problems(WORK / "recommendation")[name]
    PARTS.mkdir(parents=True, exist_ok=True)
    target = PARTS / f"{name}.json"
    kept = json.loads(target.read_text())["rows"] if target.exists() else []
    rows = [r for r in kept if r["seed"] not in seeds]
    for seed in seeds:
        started = time.time()
        spec_path = write_spec(folder, name, sections, seed, trials)
        spec = load_spec(spec_path)
        recs = {"regsearch": run_regsearch(spec_path)}
        budget = recs["regsearch"]["searched_epochs"]
        splits = load_splits(spec.data, spec.seed)
        recs["optuna"] = run_optuna(spec, splits, budget, "tpe")
        recs["random"] = run_optuna(spec, splits, budget, "random")
        recs["hyperband"] = run_hyperband(spec, splits, budget, folder)
        _, refit = study_data(spec)
        confirmed = confirm(spec, refit, recs, recs["regsearch"]["baseline_epochs"])
        rows.append({"seed": seed, "recommendations": recs, "confirmed": confirmed,
                     "seconds": time.time() - started})
        rows.sort(key=lambda r: r["seed"])
        target.write_text(json.dumps({"problem": name, "trials": trials, "rows": rows},
                                     indent=1))
        print(f"{name} seed {seed}: " + ", ".join(
            f"{k} {confirmed[k]['diff']:+.4f}" for k in STRATEGIES), flush=True)
    return target


def report() -> None:
    parts = sorted(PARTS.glob("*.json"))
    lines = ["# Recommendation quality", "",
             "Command: `python benchmarks/recommendation.py --problem NAME` per problem, then "
             "`--report`. Method: see the script's docstring. Test differences are paired "
             "against the unregularized baseline over 5 confirmation seeds (95% intervals); "
             "'overtuned' counts runs whose recommendation is significantly worse than the "
             "baseline on test.", ""]
    data = {}
    for part in parts:
        doc = json.loads(part.read_text())
        data[doc["problem"]] = doc
        rows = doc["rows"]
        lines += [f"## {doc['problem']} ({len(rows)} search seeds, regsearch {doc['trials']} "
                  "trials; the others at its epoch budget)", "",
                  "| strategy | test diff vs baseline (per seed: mean [95% CI]) | mean test | "
                  "mean gap | epochs searched | overtuned |", "|---|---|---|---|---|---|"]
        best_test = max(r["confirmed"][k]["test"] for r in rows for k in STRATEGIES)
        for k in STRATEGIES:
            cells = "; ".join(f"{r['confirmed'][k]['diff']:+.4f} [{r['confirmed'][k]['low']:+.4f}"
                              f", {r['confirmed'][k]['high']:+.4f}]" for r in rows)
            lines.append(
                f"| {k} | {cells} | "
                f"{statistics.fmean(r['confirmed'][k]['test'] for r in rows):.4f} | "
                f"{statistics.fmean(r['confirmed'][k]['gap'] for r in rows):+.4f} | "
                f"{statistics.fmean(r['recommendations'][k]['searched_epochs'] for r in rows):.0f}"
                f" | {sum(r['confirmed'][k]['overtuned'] for r in rows)} |")
        base = statistics.fmean(r["confirmed"]["baseline"]["test"] for r in rows)
        mine = statistics.fmean(r["confirmed"]["regsearch"]["test"] for r in rows)
        lines += ["", f"Baseline: mean test {base:.4f}, gap "
                  f"{statistics.fmean(r['confirmed']['baseline']['gap'] for r in rows):+.4f}. "
                  f"Best test accuracy any strategy's recommendation reached (one seed): "
                  f"{best_test:.4f}; regsearch's mean is {best_test - mine:.4f} below it. "
                  "regsearch's verdicts: "
                  + ", ".join(r["recommendations"]["regsearch"]["verdict"] for r in rows) + ".",
                  ""]
    write_result("recommendation", "\n".join(lines) + "\n", data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", help="one problem to run (a part)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--threads", type=int, help="TensorFlow threads (two parts side by "
                        "side on two cores: 1 each)")
    parser.add_argument("--report", action="store_true", help="assemble the parts' table")
    parser.add_argument("--quick", action="store_true", help="wine, one seed, 3 trials")
    args = parser.parse_args()
    if args.quick:
        run_problem("wine", [0], 3)
        report()
        return
    if args.problem:
        run_problem(args.problem, args.seeds, args.trials, args.threads)
    if args.report or not args.problem:
        report()


if __name__ == "__main__":
    main()
