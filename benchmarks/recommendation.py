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
same way: retrained on all of train + validation with the study's 5 confirmation seeds (the same
for every strategy), for the epochs its own search found (the best trial's best epoch; the
baseline's: its median best epoch over the study's folds), and evaluated once on the test split.
regsearch's own confirmation already trained its answer and the baseline exactly so (the same
``Trainer.refit`` on the same seeds), so those runs are taken from its study, not repeated, and
a recommendation another strategy already confirmed (same setting, same epochs) is reused. Per problem the table
gives the paired test-accuracy difference against the baseline (mean and 95% interval), the
confirmed gap (train minus test, dropout off), the epochs searched, and the number of runs whose
recommendation is significantly worse than the baseline on test (overtuning).

Each (problem, search seed) is a part that keeps its own results
(``benchmarks/results/recommendation/``); ``--report`` assembles
``benchmarks/results/recommendation.md`` from the parts present. ``--all`` (what `make bench`
runs) runs every part not done yet in two lanes side by side, one TensorFlow thread each, seed
by seed; each part records when it finished and how long it took, so the page gives the
comparison's wall time (the time some part was running) whatever runs of ``--all`` made them.

    .venv/bin/python benchmarks/recommendation.py --all
    .venv/bin/python benchmarks/recommendation.py --problem wine [--seeds 0 1 2] [--threads 1]
    .venv/bin/python benchmarks/recommendation.py --report
    .venv/bin/python benchmarks/recommendation.py --problem default --seeds 2 --trial 9
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, WORK, in_lanes, spec_document, write_result

MNIST = ROOT.parent / "shared" / "data" / "mnist10k.npz"
STRATEGIES = ("regsearch", "optuna", "random", "hyperband")
PARTS = RESULTS / "recommendation"


def problems(folder: Path) -> dict[str, dict[str, Any]]:
    """Each problem's spec sections on top of ``studies/default.toml``."""
    from sklearn.datasets import load_breast_cancer, load_wine

    from search.export import write_atomic

    # The default study is the lecture-notes MLP on digits, so that problem is "default".
    lecture = {"hidden": [50, 50], "batch_norm": True}
    out: dict[str, dict[str, Any]] = {
        "default": {},
        "mnist-lecture": {"data": {"dataset": "npz", "path": str(MNIST), "limit": 2000},
                          "model": lecture},
        "mnist-wide": {"data": {"dataset": "npz", "path": str(MNIST), "limit": 2000},
                       "model": {"hidden": [512, 512], "batch_norm": False}},
    }
    for name, loader in (("wine", load_wine), ("breast-cancer", load_breast_cancer)):
        path = folder / f"{name}.csv"
        if not path.exists():  # whole or not at all: two parts in lanes may both write it
            write_atomic(path, loader(as_frame=True).frame.rename(
                columns={"target": "label"}).to_csv(index=False))
        # Batches of 32, not the default 100: a fold of wine is 95 rows, one step an epoch at
        # 100, so min_steps (300) alone meant 315 epochs of mostly per-epoch overhead a fit.
        out[name] = {"data": {"dataset": "csv", "path": str(path), "label_column": "label"},
                     "training": {"batch_size": 32}}
    return out


def merged(sections: dict[str, dict[str, Any]],
           changes: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``sections`` with ``changes`` (spec section -> keys) set on top, section by section (a
    None value leaves the key as shipped)."""
    out = {k: dict(v) for k, v in sections.items()}
    for section, keys in (changes or {}).items():
        out[section] = {**out.get(section, {}), **keys}
    return out


def write_spec(folder: Path, name: str, sections: dict[str, Any], seed: int,
               trials: int, changes: dict[str, dict[str, Any]] | None = None) -> Path:
    """The problem's spec for one search seed, with a fresh storage, ``trials`` a search and
    ``changes`` (a draw run with ``--set``) on top."""
    import tomli_w

    doc = spec_document(**merged(sections, changes))
    doc["study"].update(name=f"{name}-{seed}", seed=seed,
                        storage=f"sqlite:///{(folder / f'{name}-{seed}.db').as_posix()}")
    doc["search"]["trials"] = trials
    path = folder / f"{name}-{seed}.toml"
    (folder / f"{name}-{seed}.db").unlink(missing_ok=True)
    path.write_text(tomli_w.dumps(doc))
    return path


def run_regsearch(spec_path: Path) -> dict[str, Any]:
    """regsearch's confirmed answer (params, epochs), the epochs its search spent, and the runs
    its confirmation made of the answer and of the baseline (per seed: train, test)."""
    from search.commands import run_study
    from search.confirm import refit_epochs
    from search.spec import load_spec
    from search.storage import load_study
    from search.study import Snapshot

    with contextlib.redirect_stderr(io.StringIO()):
        result = run_study(spec_path=str(spec_path), progress=False, out=io.StringIO())
    spec = load_spec(spec_path)
    snap = Snapshot(load_study(result["study"], spec.storage))
    c = snap.confirmation
    if c is None:  # no regularized trial completed (all raced or pruned): the baseline stands
        epochs = refit_epochs(snap.selection.baseline, spec)
        return {"params": {}, "epochs": epochs, "searched_epochs": snap.counts["epochs"],
                "verdict": "no regularized trial completed", "baseline_epochs": epochs,
                "runs": None, "baseline_runs": None, "seeds": None}
    base, entry = c["settings"][0], c["settings"][1] if c["regularize"] else c["settings"][0]

    return {"params": dict(c["params"]), "epochs": entry["epochs"],
            "searched_epochs": snap.counts["epochs"], "verdict": c["verdict"],
            "baseline_epochs": base["epochs"], "runs": page_runs(entry["runs"]),
            "baseline_runs": page_runs(base["runs"]), "seeds": list(c["seeds"]),
            # Set when the confirmation grew (search.confirm.needs_more): its first seeds'
            # test difference, which the runs above no longer show alone after a veto.
            "grown": c.get("grown")}


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


def setting_key(params: dict[str, Any], epochs: int) -> str:
    """A confirmed setting's identity, for taking runs already made: its parameters and
    refit epochs."""
    return json.dumps([sorted(params.items()), max(1, int(epochs))])


def confirm(spec, refit, recs: dict[str, dict[str, Any]],
            seeds: list[int] | None = None) -> dict[str, Any]:
    """Every recommendation and the baseline retrained on train+validation with the study's
    confirmation seeds (or ``seeds``) and tested once; paired differences against the baseline
    (and per seed test accuracies, for the paired comparisons the report makes between
    strategies)."""
    from search.confirm import retrain
    from search.confirm import seeds as confirm_seeds
    from search.objective import trainer_for

    mine = recs["regsearch"]
    fresh = seeds is not None
    seeds = seeds if fresh else confirm_seeds(spec)

    # regsearch's own confirmation trained these exactly as below (on the study's seeds):
    # taken, not repeated.
    done: dict[str, list[dict[str, float]]] = {}
    if not fresh and mine["runs"] is not None:
        # A confirmation that grew (search.confirm.needs_more) ran more seeds; the page pairs
        # every strategy on the first ones.
        n = len(seeds)
        assert mine["seeds"][:n] == seeds, (mine["seeds"], seeds)
        done[setting_key({}, mine["baseline_epochs"])] = mine["baseline_runs"][:n]
        done[setting_key(mine["params"], mine["epochs"])] = mine["runs"][:n]
    runs: dict[str, list[dict[str, float]]] = {}
    todo = {"baseline": ({}, mine["baseline_epochs"]),
            **{k: (recs[k]["params"], recs[k]["epochs"]) for k in STRATEGIES}}
    with trainer_for(spec, refit) as trainer:
        for label, (params, epochs) in todo.items():
            if setting_key(params, epochs) not in done:
                done[setting_key(params, epochs)] = page_runs(
                    retrain(trainer, params, max(1, int(epochs)), seeds, refit))
            runs[label] = done[setting_key(params, epochs)]
    floor = 1 / len(refit.y_test)
    out: dict[str, Any] = {"seeds": seeds, "floor": floor}
    for label, these in runs.items():
        out[label] = figures(these, None if label == "baseline" else
                             [r["test"] for r in runs["baseline"]], floor)
    return out


def page_runs(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Confirmation runs (``search.confirm.retrain``'s, or a stored confirmation's) as the
    page keeps them: per seed, train and test accuracy."""
    return [{"train": r["train_accuracy"], "test": r["test_accuracy"]} for r in runs]


def runs_of(f: dict[str, Any]) -> list[dict[str, float]]:
    """``figures``' per-seed runs back from its output (a part recorded before per-seed gaps
    were kept gives every seed the mean gap)."""
    gaps = f.get("gaps") or [f["gap"]] * len(f["tests"])
    return [{"train": t + g, "test": t} for t, g in zip(f["tests"], gaps)]


def figures(runs: list[dict[str, float]], baseline_tests: list[float] | None,
            floor: float) -> dict[str, Any]:
    """One setting's confirmed figures from its runs (per seed: train, test): mean test and
    gap, per seed, and unless it is the baseline, its paired test difference against the
    baseline's test accuracies on the same seeds and whether that is significantly negative
    (overtuned)."""
    from search.paired import Paired

    tests = [r["test"] for r in runs]
    gaps = [r["train"] - r["test"] for r in runs]
    out: dict[str, Any] = {"test": statistics.fmean(tests), "gap": statistics.fmean(gaps),
                           "tests": tests, "gaps": gaps}
    if baseline_tests is not None:
        d = Paired.of(tests, baseline_tests, floor=floor)
        low, high = d.interval()
        out.update(diff=d.mean, low=low, high=high, overtuned=high < 0)
    return out


def run_part(name: str, seed: int, trials: int, threads: int | None = None,
             changes: dict[str, dict[str, Any]] | None = None) -> Path:
    """One (problem, search seed): the four searches and the confirmation, written to its own
    file when done (parts already done are kept as they are). ``changes`` (``--set``) are set
    on regsearch's spec; the others search the same space, data and training either way."""
    from search.data import load_splits
    from search.folds import study_data
    from search.spec import load_spec
    from search.trainer import configure_tensorflow

    configure_tensorflow(threads)
    folder = WORK / "recommendation" / name
    folder.mkdir(parents=True, exist_ok=True)
    sections = problems(WORK / "recommendation")[name]
    PARTS.mkdir(parents=True, exist_ok=True)
    started = time.time()
    spec_path = write_spec(folder, name, sections, seed, trials, changes)
    spec = load_spec(spec_path)
    clock = time.time()

    def timed(rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` with the seconds since the last one (where a part's time goes)."""
        nonlocal clock
        rec["seconds"], clock = time.time() - clock, time.time()
        return rec

    recs = {"regsearch": timed(run_regsearch(spec_path))}
    budget = recs["regsearch"]["searched_epochs"]
    splits = load_splits(spec.data, spec.seed)
    recs["optuna"] = timed(run_optuna(spec, splits, budget, "tpe"))
    recs["random"] = timed(run_optuna(spec, splits, budget, "random"))
    recs["hyperband"] = timed(run_hyperband(spec, splits, budget, folder))
    _, refit = study_data(spec)
    confirmed = timed(confirm(spec, refit, recs))
    target = PARTS / f"{name}-{seed}.json"
    target.write_text(json.dumps({"problem": name, "seed": seed, "trials": trials,
                                  **({"changes": changes} if changes else {}),
                                  "weights": {"search": spec.search.gap_weight,
                                              "confirm": spec.confirm.gap_weight},
                                  "recommendations": recs, "confirmed": confirmed,
                                  "seconds": time.time() - started,
                                  "finished": time.time()}, indent=1))
    print(f"{name} seed {seed}: " + ", ".join(
        f"{k} {confirmed[k]['diff']:+.4f}" for k in STRATEGIES), flush=True)
    return target


def confirm_trial(name: str, seed: int, number: int) -> None:
    """Confirm one trial of a part's regsearch study (after that part ran: its study is under
    the work folder) on the part's seeds, and print it paired against every setting the part
    confirmed: what another selection from the same search would have given on test."""
    from search.confirm import refit_epochs, retrain, setting
    from search.folds import study_data
    from search.objective import trainer_for
    from search.paired import Paired
    from search.spec import load_spec
    from search.storage import load_study
    from search.study import Snapshot

    spec_path = WORK / "recommendation" / name / f"{name}-{seed}.toml"
    part_path = PARTS / f"{name}-{seed}.json"
    if not spec_path.exists() or not part_path.exists():
        sys.exit(f"{part_path if spec_path.exists() else spec_path}: missing; run the part first "
                 f"(--problem {name} --seeds {seed})")
    spec = load_spec(spec_path)
    part = json.loads(part_path.read_text())["confirmed"]
    snap = Snapshot(load_study(f"{name}-{seed}", spec.storage))
    done = {int(r["number"]): r for r in snap.completed.to_dict("records")}
    if number not in done:
        sys.exit(f"{spec.storage}: study {name}-{seed} has no completed trial {number}; "
                 f"completed: {', '.join(map(str, sorted(done)))}")
    record = done[number]
    params, epochs = setting(record), refit_epochs(record, spec)
    _, refit = study_data(spec)
    with trainer_for(spec, refit) as trainer:
        runs = retrain(trainer, params, epochs, part["seeds"], refit)
    tests, gaps = [r["test_accuracy"] for r in runs], [r["gap"] for r in runs]
    print(f"{name} seed {seed}, trial {number} ({_setting(params)}, {epochs} epochs): test "
          f"{statistics.fmean(tests):.4f}, gap {statistics.fmean(gaps):+.4f}")
    for label in ("baseline", *STRATEGIES):
        d = Paired.of(tests, part[label]["tests"], floor=part["floor"])
        low, high = d.interval()
        print(f"  minus {label}: test {d.mean:+.4f} [{low:+.4f}, {high:+.4f}], gap "
              f"{statistics.fmean(gaps) - part[label]['gap']:+.4f}")


#: Problems (parts run seed by seed, so a run cut short has every problem at its first seeds),
#: and regsearch's trials a search per problem. 12 trials are the study's 6 random start-up
#: trials and 6 that TPE steers with regsearch's objective, as in a real study (4 trials were
#: all start-up: results/recommendation-4-trials/). The wide MLP's trials cost about six times
#: as much: at 12 its first part had not finished regsearch's own search after 20 minutes, so
#: its three parts alone would take most of the 2-hour budget; it keeps 4.
ORDER = ("mnist-wide", "mnist-lecture", "default", "breast-cancer", "wine")
TRIALS = {"mnist-wide": 4, "mnist-lecture": 12, "default": 12, "breast-cancer": 12, "wine": 12}
SEEDS = (0, 1, 2)


def run_all(seeds: tuple[int, ...] = SEEDS, lanes: int = 2, sets: list[str] = ()) -> None:
    """Every part of ``seeds`` not done yet, ``lanes`` at a time (one TensorFlow thread each),
    each with the ``--set`` arguments ``sets``; ``run.json`` records this run's parts, time and
    failures (delete ``results/recommendation/`` to rerun all). A part there made with other
    settings (``part_settings``) stops the run before anything is written."""
    started = time.time()
    log = WORK / "recommendation" / "logs"
    paths = {(name, seed): PARTS / f"{name}-{seed}.json" for seed in seeds for name in ORDER}
    # A part made with other settings is not done: skipped, it would mix two products on one
    # page (the committed parts of a draw made before a default changed, say).
    asked = asked_settings(parse_sets(sets))
    done = {key: path for key, path in paths.items() if path.exists()}
    for path in done.values():
        made = part_settings(json.loads(path.read_text()))
        if made != asked:
            raise SystemExit(f"{path}: regsearch ran with {settings_in_words(made)}, this run "
                             f"asks {settings_in_words(asked)}: move the folder's parts aside "
                             "to run it afresh, or give the --set that made them")
    tasks = [key for key in paths if key not in done]
    failed = in_lanes(Path(__file__), {
        f"{name}-{seed}": ["--problem", name, "--seeds", str(seed), "--trials",
                           str(TRIALS[name]), "--threads", "1",
                           *(a for v in sets for a in ("--set", v))] for name, seed in tasks},
        log, lanes)
    PARTS.mkdir(parents=True, exist_ok=True)
    (PARTS / "run.json").write_text(json.dumps(
        {"seconds": time.time() - started, "lanes": lanes, "trials": TRIALS,
         **({"changes": parse_sets(sets)} if sets else {}),
         "parts": [f"{n}-{s}" for n, s in tasks], "failed": failed}, indent=1))
    if failed:
        raise SystemExit(f"recommendation parts failed: {', '.join(failed)} (logs in {log})")


def _versus(c: dict[str, Any], a: str, b: str):
    """Strategy ``a``'s test accuracy minus ``b``'s, paired on the run's confirmation seeds."""
    from search.paired import Paired

    return Paired.of(c[a]["tests"], c[b]["tests"], floor=c["floor"])


def _p_below(d) -> float:
    """One-sided p-value of ``d`` (a ``Paired``) for "a below b", on the t distribution that
    ``Paired.below`` tests with (so p < 0.05 exactly when ``below()`` holds)."""
    from scipy import stats

    z = d.mean / d.se
    return float(stats.t.cdf(z, d.n - 1) if d.n > 1 else stats.norm.cdf(z))


def holm(p_values: dict[str, float], alpha: float = 0.05) -> list[str]:
    """The tests Holm's step-down procedure rejects, family-wise at ``alpha``: "never
    significantly below, across 15 runs" is one claim about 15 tests, and 15 tests at 5% each
    reject at least once with chance 0.54 when nothing differs. Written out because neither
    scipy nor anything installed here has it (statsmodels' multipletests is not a dependency)."""
    out = []
    for i, (name, p) in enumerate(sorted(p_values.items(), key=lambda kv: kv[1])):
        if p > alpha / (len(p_values) - i):
            break
        out.append(name)
    return out


def targets(runs: list[tuple[str, int, dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """The issue's targets over ``runs`` (problem, search seed, confirmed figures per strategy,
    recommendations), each as the runs or comparisons that miss it."""
    from search.paired import Paired

    below_optuna = [f"{n} seed {s}" for n, s, c, _ in runs
                    if _versus(c, "regsearch", "optuna").below()]
    below_family = holm({f"{n} seed {s}": _p_below(_versus(c, "regsearch", "optuna"))
                         for n, s, c, _ in runs})
    # The same test for the two other strategies against plain Optuna: what a strategy that
    # is not regsearch scores on this target over the same runs.
    others_below = {k: sum(_versus(c, k, "optuna").below() for _, _, c, _ in runs)
                    for k in ("random", "hyperband")}
    # A larger confirmed gap than a strategy whose test accuracy is at least as high: on the
    # point estimates, and judged as regsearch judges (paired on the seeds, one-sided 95%):
    # a gap significantly larger than a strategy's whose test accuracy is not significantly
    # lower. Parts run before per-seed gaps were kept have only the first reading.
    paired_runs = [(n, s, c) for n, s, c, _ in runs if "gaps" in c["regsearch"]]

    def gap_misses(me: str) -> tuple[list[str], list[str], list[str], list[str]]:
        """The readings of the gap target with strategy ``me`` in regsearch's place: point
        misses, those by more than one test sample (the finest step a test accuracy takes),
        significant ones, and those significant with all comparisons as one family (Holm)."""
        others = [k for k in STRATEGIES if k != me]
        point = [(f"{n} seed {s} vs {k}", c[me]["gap"] - c[k]["gap"] > c["floor"])
                 for n, s, c, _ in runs for k in others
                 if c[k]["test"] >= c[me]["test"] and c[me]["gap"] > c[k]["gap"]]
        # "Gap larger" is "the other's gap below mine": the p-value of k's gaps minus mine.
        p_larger = {f"{n} seed {s} vs {k}":
                    _p_below(Paired.of(c[k]["gaps"], c[me]["gaps"], floor=c["floor"]))
                    for n, s, c in paired_runs for k in others
                    if not _versus(c, k, me).below()}
        significant = [m for m, p in p_larger.items() if p < 0.05]
        return ([m for m, _ in point], [m for m, wide in point if wide], significant,
                holm(p_larger) if p_larger else [])

    gap_losses, gap_wide, gap_significant, gap_family = gap_misses("regsearch")
    # The same target held to each other strategy: how much of a miss is noise that every
    # strategy's confirmed gap shows against the others'.
    held_to = {k: gap_misses(k) for k in STRATEGIES[1:]}
    more_epochs = [f"{n} seed {s}" for n, s, _, r in runs
                   if r["regsearch"]["searched_epochs"] > r["random"]["searched_epochs"]]
    overtuned = {k: sum(c[k]["overtuned"] for _, _, c, _ in runs) for k in STRATEGIES}
    return {"below_optuna": below_optuna, "below_family": below_family,
            "others_below": others_below, "gap_losses": gap_losses, "gap_wide": gap_wide,
            "gap_significant": gap_significant, "gap_family": gap_family, "held_to": held_to,
            "more_epochs": more_epochs, "overtuned": overtuned,
            "paired_runs": len(paired_runs)}


def report() -> None:
    """``recommendation.md``: the targets over every part present, then a table per problem."""
    parts = [json.loads(p.read_text()) for p in sorted(PARTS.glob("*-*.json"))]
    by_problem: dict[str, list[dict[str, Any]]] = {}
    for part in sorted(parts, key=lambda p: (ORDER.index(p["problem"])
                                             if p["problem"] in ORDER else 99, p["seed"])):
        by_problem.setdefault(part["problem"], []).append(part)
    run = json.loads((PARTS / "run.json").read_text()) if (PARTS / "run.json").exists() else None
    runs = [(p["problem"], p["seed"], p["confirmed"], p["recommendations"]) for p in parts]
    t = targets(runs)
    below_optuna, below_family, gap_losses, gap_wide, gap_significant, gap_family, \
        more_epochs, overtuned = (t[k] for k in (
            "below_optuna", "below_family", "gap_losses", "gap_wide", "gap_significant",
            "gap_family", "more_epochs", "overtuned"))
    lines = ["# Recommendation quality", "",
             "Command: `make bench` (`python benchmarks/recommendation.py --all`: every problem "
             "and search seed as a part, two lanes side by side with one TensorFlow thread "
             "each; `--report` rebuilds this page from the parts). Method: the script's "
             "docstring. Test differences are paired against the unregularized baseline over the "
             "study's 5 confirmation seeds (95% intervals; the standard error is at least one "
             "test sample); 'overtuned' counts runs whose recommendation is significantly worse "
             "than the baseline on test.", ""]
    if parts:
        span = max(p["finished"] for p in parts) - min(p["finished"] - p["seconds"]
                                                       for p in parts)
        busy = _busy_seconds(parts)
        seeds = sorted({p["seed"] for p in parts})
        lines += [f"Comparison: {len(parts)} of {len(ORDER) * max(len(seeds), len(SEEDS))} runs ("
                  f"{len(by_problem)} problems, search seeds "
                  f"{', '.join(str(s) for s in seeds)}), regsearch "
                  f"{_trials(parts)} trials a search: **{busy / 60:.0f} min** with parts "
                  f"running on this 2-core machine, two lanes side by side (the parts' own "
                  f"times sum to {sum(p['seconds'] for p in parts) / 60:.0f} min"
                  + (f"; {span / 60:.0f} min from the first part's start to the last one's "
                     f"end, with pauses between runs of --all"
                     if round(span / 60) != round(busy / 60) else "") + ")"
                  + (f"; failed in the last run: {', '.join(run['failed'])}"
                     if run and run["failed"] else "") + ".", ""]
        changed = draw_changes(parts)
        if changed != [{}]:
            lines += ["regsearch's spec in this draw, on top of each problem's: " + "; ".join(
                ", ".join(f"`[{sec}] {k} = {v}`" for sec, keys in c.items()
                          for k, v in keys.items()) or "as shipped" for c in changed)
                      + " (`--set`). The other strategies search the same space, data and "
                      "training.", ""]
        lines += weights_line(parts)
    lines += ["## Targets", "",
              f"- regsearch overtuned in **{overtuned['regsearch']}** of {len(runs)} runs "
              "(others: " + ", ".join(f"{k} {overtuned[k]}" for k in STRATEGIES[1:]) + ").",
              f"- regsearch significantly below plain Optuna's recommendation on test (paired "
              f"on the seeds, one-sided 95%): **{len(below_optuna)}** runs"
              + (f" ({', '.join(below_optuna)})" if below_optuna else "")
              + f"; the {len(runs)} runs judged as one family (Holm, 5% family-wise): "
              f"**{len(below_family)}**"
              + (f" ({', '.join(below_family)})" if below_family else "")
              + ". The same per-run test for the others against plain Optuna: "
              + ", ".join(f"{k} {v}" for k, v in t["others_below"].items()) + ".",
              f"- regsearch's confirmed gap larger than another strategy's at equal or better "
              f"test accuracy: **{len(gap_losses)}** of {3 * len(runs)} comparisons"
              + (f" ({', '.join(gap_losses)})" if gap_losses else "") + "; "
              f"larger by more than one test sample: **{len(gap_wide)}**"
              + (f" ({', '.join(gap_wide)})" if gap_wide else "") + "; "
              f"significantly larger (paired on the seeds, one-sided 95%) than the gap of a "
              f"strategy whose test accuracy is not significantly lower: "
              f"**{len(gap_significant)}** of {3 * t['paired_runs']}"
              + (f" ({', '.join(gap_significant)})" if gap_significant else "")
              + f"; as one family (Holm, 5% family-wise): **{len(gap_family)}**"
              + (f" ({', '.join(gap_family)})" if gap_family else "") + ". "
              "The same target held to each other strategy in regsearch's place, against "
              "the other three (point estimates, by more than one test sample, paired, "
              "family-wise): "
              + ", ".join(f"{k} {len(p)}, {len(w)}, {len(q)} and {len(f)}"
                          for k, (p, w, q, f) in t["held_to"].items())
              + f" of {3 * len(runs)}.",
              f"- regsearch spent more epochs than random search: **{len(more_epochs)}** runs"
              + (f" ({', '.join(more_epochs)})" if more_epochs else "") + ".", ""]
    for name, rows in by_problem.items():
        seeds = f"{len(rows)} search seed" + ("s" if len(rows) > 1 else "")
        lines += [f"## {name} ({seeds}, regsearch {rows[0]['trials']} trials; "
                  "the others at its epoch budget)", "",
                  "| strategy | test diff vs baseline (per seed: mean [95% CI]) | mean test | "
                  "mean gap | epochs searched | overtuned |", "|---|---|---|---|---|---|"]
        for k in STRATEGIES:
            cells = "; ".join(f"{r['confirmed'][k]['diff']:+.4f} [{r['confirmed'][k]['low']:+.4f}"
                              f", {r['confirmed'][k]['high']:+.4f}]" for r in rows)
            lines.append(
                f"| {k} | {cells} | "
                f"{statistics.fmean(r['confirmed'][k]['test'] for r in rows):.4f} | "
                f"{statistics.fmean(r['confirmed'][k]['gap'] for r in rows):+.4f} | "
                f"{statistics.fmean(r['recommendations'][k]['searched_epochs'] for r in rows):.0f}"
                f" | {sum(r['confirmed'][k]['overtuned'] for r in rows)} |")
        best = max((r["confirmed"][k]["test"], k, r["seed"]) for r in rows for k in STRATEGIES)
        mine = statistics.fmean(r["confirmed"]["regsearch"]["test"] for r in rows)
        versus = "; ".join(f"{d.mean:+.4f} [{d.interval()[0]:+.4f}, {d.interval()[1]:+.4f}]"
                           for d in (_versus(r["confirmed"], "regsearch", "optuna")
                                     for r in rows))
        lines += ["", f"Baseline: mean test "
                  f"{statistics.fmean(r['confirmed']['baseline']['test'] for r in rows):.4f}, "
                  f"gap {statistics.fmean(r['confirmed']['baseline']['gap'] for r in rows):+.4f}."
                  f" regsearch minus plain Optuna on test, per seed: {versus}. Best test "
                  f"accuracy any strategy's recommendation reached (mean over one run's seeds): "
                  f"{best[0]:.4f} ({best[1]}, search seed {best[2]}); regsearch's mean is "
                  f"{best[0] - mine:.4f} below it. regsearch's answers: "
                  + "; ".join(f"{r['recommendations']['regsearch']['verdict']} "
                              f"({_setting(r['recommendations']['regsearch']['params'])})"
                              for r in rows) + ".", ""]
    write_result("recommendation", "\n".join(lines) + "\n",
                 {"run": run, "parts": {f"{p['problem']}-{p['seed']}": p for p in parts}})


def _busy_seconds(parts: list[dict[str, Any]]) -> float:
    """Seconds in which at least one part ran: the union of the parts' intervals.

    The comparison's wall time, also when its parts were made by several runs of --all with
    pauses between them (a session's end), which the first-start-to-last-end span would count.
    Written out because neither pandas' intervals nor the standard library merge a union.
    """
    busy, reach = 0.0, float("-inf")
    for start, end in sorted((p["finished"] - p["seconds"], p["finished"]) for p in parts):
        busy += max(0.0, end - max(start, reach))  # only what sticks out past earlier parts
        reach = max(reach, end)
    return busy


def _trials(parts: list[dict[str, Any]]) -> str:
    """The trials of regsearch's searches, per problem where they differ."""
    per = {p["problem"]: p["trials"] for p in parts}
    if len(set(per.values())) == 1:
        return str(next(iter(per.values())))
    return ", ".join(f"{n} {per[n]}" for n in ORDER if n in per)


def _setting(params: dict[str, Any]) -> str:
    """A recommendation in a few words."""
    if not params or not any(v for k, v in params.items() if k != "regularizer"):
        return "no regularization"
    return ", ".join(f"{k} {v:.3g}" for k, v in params.items()
                     if isinstance(v, float) and v > 0) or "no regularization"


#: What the search's gap weight was in parts that record no ``weights`` (the product's default
#: before it changed to search 0, confirm 0.5); confirmation followed the search's then.
BEFORE_SEARCH = 0.5


def part_weights(part: dict[str, Any]) -> dict[str, float]:
    """The ``[search]`` and ``[confirm]`` gap weights a part's regsearch ran with: recorded, or
    those of before under the part's ``--set`` changes."""
    if "weights" in part:
        return part["weights"]
    changed = part.get("changes", {})
    search = changed.get("search", {}).get("gap_weight", BEFORE_SEARCH)
    return {"search": search, "confirm": changed.get("confirm", {}).get("gap_weight", search)}


def draw_weights(parts: Iterable[dict[str, Any]]) -> list[dict[str, float]]:
    """The distinct gap weights regsearch ran with in ``parts`` (``part_weights``)."""
    return [json.loads(w) for w in sorted({json.dumps(part_weights(p), sort_keys=True)
                                           for p in parts})]


#: The spec sections whose ``gap_weight`` a part's ``weights`` record.
WEIGHED = ("search", "confirm")


def _gap_weights(changes: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The ``[search]`` and ``[confirm]`` gap weights of the shipped spec under ``changes``."""
    doc = spec_document(**changes)
    return {k: doc[k]["gap_weight"] for k in WEIGHED}


def _other_changes(changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``changes`` without the gap weights, which ``part_weights`` reads with their defaults."""
    out = {s: {k: v for k, v in keys.items() if not (k == "gap_weight" and s in WEIGHED)}
           for s, keys in changes.items()}
    return {s: keys for s, keys in out.items() if keys}


def part_settings(part: dict[str, Any]) -> dict[str, Any]:
    """What a part's regsearch ran with beyond the shipped spec: its gap weights and any other
    ``--set`` changes."""
    return {"weights": part_weights(part), "changes": _other_changes(part.get("changes", {}))}


def asked_settings(changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``part_settings`` of a part that ``run_part`` would make now with ``changes``."""
    return {"weights": _gap_weights(changes), "changes": _other_changes(changes)}


def settings_in_words(settings: dict[str, Any]) -> str:
    """``part_settings`` as the spec's keys."""
    keys = [f"{s}.gap_weight = {settings['weights'][s]:g}" for s in WEIGHED]
    keys += [f"{s}.{k} = {v}" for s, kv in sorted(settings["changes"].items())
             for k, v in sorted(kv.items())]
    return ", ".join(keys)


def weights_line(parts: list[dict[str, Any]]) -> list[str]:
    """The page's line saying the gap weights regsearch ran with, where they are not those the
    product ships now (a draw made before the default changed); none where they are."""
    shipped = _gap_weights({})
    seen = draw_weights(parts)
    if seen == [shipped]:
        return []
    said = "; ".join(f"`[search] gap_weight = {w['search']:g}`, `[confirm] gap_weight = "
                     f"{w['confirm']:g}`" for w in seen)
    return [f"regsearch's gap weights in this draw: {said}; the product ships "
            f"`[search] gap_weight = {shipped['search']:g}`, `[confirm] gap_weight = "
            f"{shipped['confirm']:g}` now (README, \"A search steered by validation accuracy\").",
            ""]


def draw_changes(parts: Iterable[dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    """The distinct ``--set`` changes regsearch ran with in ``parts`` (``[{}]``: as shipped)."""
    seen = {json.dumps(p.get("changes", {}), sort_keys=True) for p in parts}
    return [json.loads(c) for c in sorted(seen)]


def parse_sets(sets: list[str]) -> dict[str, dict[str, Any]]:
    """``--set SECTION.KEY=VALUE`` arguments (VALUE in TOML) as spec section -> keys."""
    import tomllib

    out: dict[str, dict[str, Any]] = {}
    for item in sets:
        name, eq, value = item.partition("=")
        section, dot, key = name.partition(".")
        if not (eq and dot and section and key):
            raise SystemExit(f"--set {item}: expected SECTION.KEY=VALUE, e.g. "
                             "search.gap_weight=0.5")
        try:
            out.setdefault(section, {})[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError as e:
            raise SystemExit(f"--set {item}: the value is not TOML ({e})") from None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every part in two lanes, then the "
                        "report (what `make bench` runs)")
    parser.add_argument("--problem", choices=ORDER, help="one problem to run")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help="search seeds (with --all: which parts it runs)")
    parser.add_argument("--trials", type=int, help="regsearch's trials a search (default: "
                        "the problem's in TRIALS)")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (two parts side by "
                        "side on two cores: 1 each)")
    parser.add_argument("--trial", type=int, help="with --problem and --seeds: confirm this "
                        "trial of the part's regsearch study against the part's settings")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a key of regsearch's spec set for this draw (TOML value; "
                        "repeatable), e.g. search.gap_weight=0.5")
    parser.add_argument("--report", action="store_true", help="assemble the parts' page")
    parser.add_argument("--quick", action="store_true", help="wine, one seed, 3 trials")
    args = parser.parse_args()
    changes = parse_sets(args.set)
    if args.quick:
        run_part("wine", 0, 3)
        report()
        return
    if args.trial is not None:
        if not args.problem:
            parser.error("--trial needs --problem (and --seeds)")
        for seed in args.seeds:
            confirm_trial(args.problem, seed, args.trial)
        return
    if args.all:
        run_all(tuple(args.seeds), sets=args.set)
    for seed in args.seeds if args.problem else []:
        run_part(args.problem, seed, args.trials or TRIALS[args.problem], args.threads, changes)
    if args.report or args.all:
        report()


if __name__ == "__main__":
    main()
