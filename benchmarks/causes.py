"""Why is regsearch's answer below plain Optuna's on test? Three causes measured on a run.

A run of a draw (its part and its recheck, ``recommendation.py --all`` then ``recheck.py``) in
which regsearch's answer tests significantly below plain Optuna's pick on the recheck's fresh
seeds: by default every such run of the draw, or the runs ``--parts`` names. For each:

* **The refit's epochs.** regsearch refits its answer for the median best epoch of its folds;
  plain Optuna refits for its split's best epoch. The answer is retrained on the fresh seeds for
  its own epochs, for plain Optuna's pick's, and for twice its own.
* **The test split's own draw.** The recheck's intervals are paired over seeds on one test
  split, so they do not count the test rows' sampling error. Each test row's correctness is kept
  for the answer, plain Optuna's pick and the baseline over the fresh seeds, and the difference
  is given with the seeds' standard error alone (paired, at least one test sample, as every
  page gives it), the rows' alone (the per-row differences averaged over seeds), and both
  added.
* **The folds' training size.** regsearch's folds train on (k-1)/k of train + validation, the
  refit on all of it, and regularization is worth more on less data. The baseline, the answer
  and plain Optuna's pick are scored over 3 folds repeated 3 times and over 10 folds, each
  against the baseline paired on the folds (``search.paired``), beside their test difference.

Each run keeps its figures (``results/causes/``); ``--report`` rebuilds ``causes.md``.

    .venv/bin/python benchmarks/causes.py                     # the draw's misses
    .venv/bin/python benchmarks/causes.py --parts default-12
    .venv/bin/python benchmarks/causes.py --report
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from _common import RESULTS, WORK, write_result
from recheck import OUT as RECHECKS
from recommendation import ORDER, PARTS, _setting, _versus, problems, write_spec

from search.paired import interval_text

OUT = RESULTS / "causes"
#: The fold shapes scored: (folds, repeats).
SHAPES = ((3, 3), (10, 1))
#: Who is retrained and scored: the part's strategy, or the baseline.
WHO = ("regsearch", "optuna", "baseline")


def misses() -> list[str]:
    """The rechecked runs in which regsearch is significantly below plain Optuna (one-sided,
    as ``recommendation.targets`` counts it) on the fresh seeds."""
    out = []
    for path in sorted(RECHECKS.glob("*-*.json")):
        if _versus(json.loads(path.read_text())["confirmed"], "regsearch", "optuna").below():
            out.append(path.stem)
    return out


def run_part(key: str) -> None:
    """The three measurements for run ``key``, kept in ``OUT``."""
    import numpy as np

    from search.export import write_atomic
    from search.folds import study_data
    from search.objective import evaluator_for, trainer_for
    from search.paired import Paired
    from search.spec import load_spec
    from search.trainer import _predict

    part = json.loads((PARTS / f"{key}.json").read_text())
    c = json.loads((RECHECKS / f"{key}.json").read_text())["confirmed"]
    name, seed, recs = part["problem"], part["seed"], part["recommendations"]
    setting = {"regsearch": (recs["regsearch"]["params"], recs["regsearch"]["epochs"]),
               "optuna": (recs["optuna"]["params"], recs["optuna"]["epochs"]),
               "baseline": ({}, recs["regsearch"]["baseline_epochs"])}
    folder = WORK / "causes" / name
    folder.mkdir(parents=True, exist_ok=True)
    sections = problems(WORK / "causes")[name]
    spec = load_spec(write_spec(folder, name, sections, seed, part["trials"]))
    _, refit = study_data(spec)
    seeds = c["seeds"]

    def correct(trainer, params: dict[str, Any], epochs: int) -> np.ndarray:
        """Seeds x test rows: 1 where the refit model gets the row right."""
        rows = []
        for s in seeds:
            _, model = trainer.refit(params, seed=s, epochs=max(1, int(epochs)), splits=refit)
            rows.append(np.argmax(_predict(model, refit.x_test), axis=1) == refit.y_test)
        return np.asarray(rows, dtype=float)

    with trainer_for(spec, refit) as trainer:
        right = {who: correct(trainer, *setting[who]) for who in WHO}
        params, own = setting["regsearch"]
        longer = {}
        for epochs in sorted({int(setting["optuna"][1]), 2 * int(own)} - {int(own)}):
            longer[str(epochs)] = float(correct(trainer, params, epochs).mean())
    # Over seeds as every page pairs them (standard error at least one test sample); over the
    # test rows, each row's difference averaged over the seeds; both, their errors added.
    floor = 1 / len(refit.y_test)
    rows_out = {}
    for a, b in (("regsearch", "optuna"), ("regsearch", "baseline"), ("optuna", "baseline")):
        by_seed = Paired.of(list(right[a].mean(axis=1)), list(right[b].mean(axis=1)), floor)
        by_row = Paired.of(list(right[a].mean(axis=0)), list(right[b].mean(axis=0)))
        both = math.hypot(by_seed.se, by_row.se)
        rows_out[f"{a}-{b}"] = {"seeds": by_seed.to_dict(), "rows": by_row.to_dict(),
                                "both": {"mean": by_seed.mean, "se": both,
                                         "low": by_seed.mean - 1.96 * both,
                                         "high": by_seed.mean + 1.96 * both}}
    shapes = {}
    for folds, repeats in SHAPES:
        sections = problems(WORK / "causes")[name]
        sections["evaluation"] = {"folds": folds, "repeats": repeats}
        shaped = load_spec(write_spec(folder, name, sections, seed, part["trials"]))
        fold_splits, _ = study_data(shaped)
        floor = 1 / min(len(f.y_val) for f in fold_splits)
        with evaluator_for(shaped, fold_splits) as evaluator:
            vals = {who: [f.val_accuracy for f in evaluator.evaluate(setting[who][0]).folds]
                    for who in WHO}
        shapes[f"{folds}x{repeats}"] = {
            "train_rows": len(fold_splits[0].y_train),
            **{who: Paired.of(vals[who], vals["baseline"], floor).to_dict()
               for who in ("regsearch", "optuna")}}
    OUT.mkdir(parents=True, exist_ok=True)
    write_atomic(OUT / f"{key}.json", json.dumps(
        {"problem": name, "seed": seed, "params": {w: setting[w][0] for w in WHO},
         "epochs": {w: int(setting[w][1]) for w in WHO},
         "test": {w: float(right[w].mean()) for w in WHO}, "longer": longer,
         "rows": rows_out, "refit_rows": int(len(refit.y_train)), "shapes": shapes},
        indent=1) + "\n")
    print(f"{key}: done", flush=True)


def report() -> None:
    """``causes.md``: per run, the three measurements."""
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(OUT.glob("*-*.json"))}
    keys = sorted(runs, key=lambda k: (ORDER.index(runs[k]["problem"]), runs[k]["seed"]))
    lines = ["# Why regsearch's answer is below plain Optuna's: three causes measured", "",
             "Command: `python benchmarks/causes.py` after `recommendation.py --all` and "
             "`recheck.py` (`--report` rebuilds this page). Method: the script's docstring. "
             "Test figures are over the recheck's fresh seeds, retrained here.", ""]
    for k in keys:
        r = runs[k]
        test, ep = r["test"], r["epochs"]
        lines += [f"## {k}", "",
                  f"regsearch's answer: {_setting(r['params']['regsearch'])}, refit for "
                  f"{ep['regsearch']} epochs; plain Optuna's pick: "
                  f"{_setting(r['params']['optuna'])}, {ep['optuna']} epochs; the baseline "
                  f"{ep['baseline']} epochs. Test accuracy: regsearch {test['regsearch']:.4f}, "
                  f"plain Optuna {test['optuna']:.4f}, baseline {test['baseline']:.4f}.", "",
                  "**Refit epochs.** regsearch's answer refit for "
                  + ", ".join(f"{e} epochs tests {v:.4f}" for e, v in r["longer"].items())
                  + f" (own {ep['regsearch']}: {test['regsearch']:.4f}).", "",
                  "**Test rows' sampling error** (95% intervals):", "",
                  "| difference | seeds only | test rows only | both |", "|---|---|---|---|"]
        for pair, d in r["rows"].items():
            lines.append(f"| {pair.replace('-', ' minus ')} | {interval_text(d['seeds'])} | "
                         f"{interval_text(d['rows'])} | {interval_text(d['both'])} |")
        lines += ["", f"**Folds' training size** (validation accuracy minus the baseline's, "
                  f"paired on the folds, standard error; the refit trains on {r['refit_rows']} "
                  "rows):", "",
                  "| folds | training rows a fold | regsearch's answer | plain Optuna's pick |",
                  "|---|---|---|---|"]
        for shape, s in r["shapes"].items():
            lines.append(f"| {shape} | {s['train_rows']} | {s['regsearch']['mean']:+.4f} "
                         f"({s['regsearch']['se']:.4f}) | {s['optuna']['mean']:+.4f} "
                         f"({s['optuna']['se']:.4f}) |")
        lines.append(f"| test (refit) | {r['refit_rows']} | "
                     f"{r['rows']['regsearch-baseline']['seeds']['mean']:+.4f} | "
                     f"{r['rows']['optuna-baseline']['seeds']['mean']:+.4f} |")
        lines.append("")
    if not keys:
        lines.append("No run of this draw is below plain Optuna on the recheck's fresh seeds.")
    write_result("causes", "\n".join(lines) + "\n", {"runs": runs})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="*", help="runs (problem-seed); default: the draw's "
                        "runs below plain Optuna on the recheck's fresh seeds")
    parser.add_argument("--threads", type=int, help="TensorFlow threads")
    parser.add_argument("--report", action="store_true", help="only rebuild the page")
    args = parser.parse_args()
    if not args.report:
        from search.trainer import configure_tensorflow

        configure_tensorflow(args.threads)
        for key in args.parts if args.parts is not None else misses():
            if not (PARTS / f"{key}.json").exists() or not (RECHECKS / f"{key}.json").exists():
                sys.exit(f"{key}: needs its part and its recheck (recommendation.py, recheck.py)")
            if not (OUT / f"{key}.json").exists():
                run_part(key)
    report()


if __name__ == "__main__":
    main()
