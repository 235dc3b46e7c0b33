"""Selection rules replayed: would another way of choosing from the same searches have met the
recommendation targets better than regsearch's rule?

`recommendation.py --all` keeps each part's regsearch study under the work folder. This script
replays four ways of choosing from each study's completed trials, the baseline included, all
on the same folds the study ran:

* ``regsearch``: the product's rule (``search.objective.select``): within one standard error of
  the most accurate and of the baseline, closing the gap beyond one standard error, smallest gap;
* ``accuracy``: the most accurate setting on the folds, which may be the baseline (what plain
  Optuna maximizes, on folds instead of one split);
* ``score``: the best trial value, the study's own objective (what ``study.best_trial`` is);
* ``regularize``: the best regularized setting (``Selection.alternative``): regsearch's rule
  without the baseline as a competitor.

A regularized pick then goes through regsearch's confirmation as it is: trained on train +
validation for its refit epochs on the part's confirmation seeds, judged by
``search.confirm.judge``, and grown to ``confirm.max_seeds`` seeds where the first ones lean
against it (``search.confirm.needs_more``); a pick that confirmation rejects is answered by no
regularization, and the page pairs the answer on the first seeds. Runs already made (the study's own confirmation) are taken, not repeated. With each rule's
answer in regsearch's place, the issue's targets are counted as `recommendation.md` counts
them (``recommendation.targets``), against the same plain Optuna, random search and Hyperband
recommendations.

Each part keeps its picks and runs (``results/selection/``); ``--report`` rebuilds the page.

    .venv/bin/python benchmarks/selection.py          # after recommendation.py --all
    .venv/bin/python benchmarks/selection.py --report
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from _common import RESULTS, WORK, write_result
from recommendation import ORDER, PARTS, _setting, figures, targets

RULES = ("regsearch", "accuracy", "score", "regularize")
OUT = RESULTS / "selection"


def picks(snap) -> dict[str, dict[str, Any]]:
    """Each rule's pick among the study's completed trials (the baseline's record included)."""
    sel = snap.selection
    records = snap.completed.to_dict("records")
    return {"regsearch": sel.chosen, "accuracy": sel.best,
            "score": max(records, key=lambda r: (r["score"], -r["number"])),
            "regularize": sel.alternative}


def run_part(name: str, seed: int) -> dict[str, Any] | None:
    """One part's picks, each confirmed (or taken from the study's confirmation); None when
    the study has no confirmation (no regularized trial completed)."""
    from search.confirm import judge, most_seeds, needs_more, refit_epochs, retrain, seeds
    from search.folds import study_data
    from search.objective import is_baseline, trainer_for
    from search.spec import load_spec
    from search.storage import load_study
    from search.study import Snapshot, setting

    spec = load_spec(WORK / "recommendation" / name / f"{name}-{seed}.toml")
    snap = Snapshot(load_study(f"{name}-{seed}", spec.storage))
    stored = snap.confirmation
    if stored is None:  # no regularized trial completed: nothing to choose between
        print(f"{name}-{seed}: no confirmation in its study (no regularized trial completed); "
              "not replayed", file=sys.stderr)
        return None
    # The study's confirmation: the baseline's runs and one regularized setting's, by trial.
    # Each pick is judged as the product judges (search.confirm.needs_more): on the first
    # seeds, grown to the most seeds where those lean against it; the page pairs on the first.
    first = stored.get("first_seeds", stored["seeds"])
    done = {s["trial"]: s for s in stored["settings"]}
    base, base_record = stored["settings"][0], snap.selection.baseline
    _, refit = study_data(spec)
    floor = 1 / len(refit.y_test)
    trainer = None

    def runs_on(record: dict[str, Any], wanted: list[int]) -> dict[str, Any]:
        """``record``'s confirmation setting with its runs on the seeds ``wanted`` (stored
        runs taken, missing ones trained: a prefix of the same seed sequence)."""
        nonlocal trainer
        number = int(record["number"])
        have = done.setdefault(number, {"label": f"trial {number}", "trial": number,
                                        "params": setting(record),
                                        "epochs": refit_epochs(record, spec), "runs": []})
        more = wanted[len(have["runs"]):]
        if more:
            if trainer is None:
                trainer = trainer_for(spec, refit)
            have["runs"] = have["runs"] + retrain(trainer, have["params"], have["epochs"],
                                                  more, refit)
        return {**have, "runs": have["runs"][:len(wanted)]}

    out: dict[str, Any] = {"problem": name, "seed": seed, "baseline_trial": base["trial"],
                           "rules": {}}
    try:
        for rule, record in picks(snap).items():
            number = int(record["number"])
            pick = runs_on(record, first)
            verdict = {"verdict": "nothing", "regularize": False}
            if not is_baseline(record):
                first_base = {**base, "runs": base["runs"][:len(first)]}
                verdict = judge(first_base, pick, True, spec.search.gap_weight, floor=floor)
                if needs_more(verdict) and most_seeds(spec) > len(first):
                    every = seeds(spec, most_seeds(spec))
                    verdict = judge(runs_on(base_record, every), runs_on(record, every), True,
                                    spec.search.gap_weight, floor=floor)
            answer = pick if verdict["regularize"] else base
            out["rules"][rule] = {
                "trial": number, "baseline": is_baseline(record), "params": pick["params"],
                "verdict": verdict["verdict"],
                "regularize": verdict["regularize"],
                "runs": [{"train": r["train_accuracy"], "test": r["test_accuracy"]}
                         for r in answer["runs"][:len(first)]]}
    finally:
        if trainer is not None:
            trainer.close()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}-{seed}.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def report() -> None:
    """``selection.md``: the targets with each rule's answer in regsearch's place."""
    parts = {p.stem: json.loads(p.read_text()) for p in sorted(PARTS.glob("*-*.json"))}
    replays = {p.stem: json.loads(p.read_text()) for p in sorted(OUT.glob("*-*.json"))}
    keys = sorted(set(parts) & set(replays),
                  key=lambda k: (ORDER.index(parts[k]["problem"]), parts[k]["seed"]))
    missing = sorted(set(parts) - set(replays))
    rows, reproduced = [], 0
    for rule in RULES:
        runs = []
        for k in keys:
            part, mine = parts[k], replays[k]["rules"][rule]
            c = part["confirmed"]
            runs.append((part["problem"], part["seed"],
                         {**c, "regsearch": figures(mine["runs"], c["baseline"]["tests"],
                                                    c["floor"])},
                         part["recommendations"]))
            if rule == "regsearch":
                reproduced += all(abs(a - b) < 1e-9 for a, b in
                                  zip(runs[-1][2]["regsearch"]["tests"], c["regsearch"]["tests"]))
        t = targets(runs)
        answers = [replays[k]["rules"][rule] for k in keys]
        rows.append(
            f"| {rule} | {t['overtuned']['regsearch']} | {len(t['below_optuna'])} "
            f"({len(t['below_family'])}) | {len(t['gap_losses'])} / {len(t['gap_wide'])} / "
            f"{len(t['gap_significant'])} ({len(t['gap_family'])}) | "
            f"{statistics.fmean(c['regsearch']['test'] for _, _, c, _ in runs):.4f} | "
            f"{statistics.fmean(c['regsearch']['gap'] for _, _, c, _ in runs):+.4f} | "
            f"{sum(not a['regularize'] for a in answers)} | "
            f"{sum(not a['baseline'] and not a['regularize'] for a in answers)} |")
    lines = [
        "# Selection rules replayed on the recommendation benchmark's studies", "",
        "Command: `make bench` (`python benchmarks/selection.py` after `recommendation.py "
        "--all`; `--report` rebuilds this page). Method: the script's docstring. Each rule "
        "chooses from the same completed trials of regsearch's study, on the same folds; a "
        "regularized pick is confirmed as regsearch confirms (same seeds and refit epochs, "
        "`search.confirm.judge`) and replaced by no regularization when confirmation rejects "
        "it; the targets are then counted as `recommendation.md` counts them, with the rule's "
        f"answer in regsearch's place, over {len(keys)} runs. The `regsearch` row replays the "
        f"product's rule: it reproduces the benchmark's confirmed answer in {reproduced} of "
        f"{len(keys)} runs."
        + (f" Not replayed (no kept study, or no regularized trial completed in it): "
           f"{', '.join(missing)}."
           if missing else ""), "",
        "| rule | overtuned | below plain Optuna (Holm) | gap misses: point / > 1 test sample "
        "/ paired (Holm) | mean test | mean gap | answered no regularization | "
        "picks confirmation rejected |",
        "|---|---|---|---|---|---|---|---|", *rows, "",
        f"Comparisons for the gap target: {3 * len(keys)}. The other strategies, for "
        "reference: as in `recommendation.md`.", ""]
    lines += ["## Picks per run", "", "| run | " + " | ".join(RULES) + " |",
              "|---|" + "---|" * len(RULES)]
    for k in keys:
        cells = []
        for rule in RULES:
            a = replays[k]["rules"][rule]
            cells.append(f"trial {a['trial']} ({_setting(a['params'])}): {a['verdict']}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    write_result("selection", "\n".join(lines) + "\n", {"replays": replays})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only rebuild the page")
    args = parser.parse_args()
    if not args.report:
        from search.trainer import configure_tensorflow

        configure_tensorflow()  # op determinism: the same figures on any thread count
        parts = sorted(PARTS.glob("*-*.json"))
        if not parts:
            sys.exit(f"{PARTS}: no recommendation parts; run recommendation.py --all first")
        for path in parts:
            part = json.loads(path.read_text())
            if not (OUT / path.name).exists():
                run_part(part["problem"], part["seed"])
    report()


if __name__ == "__main__":
    main()
