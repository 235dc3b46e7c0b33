"""Selection rules replayed: would another way of choosing from the same searches have met the
recommendation targets better than regsearch's rule?

`recommendation.py --all` keeps each part's regsearch study under the work folder. This script
replays seven ways of choosing from each study's completed trials, the baseline included, all
on the same folds the study ran:

* ``regsearch``: the product's rule (``search.objective.select``): within one standard error of
  the most accurate and of the baseline, closing the gap beyond one standard error, smallest gap;
* ``accuracy``: the most accurate setting on the folds, which may be the baseline (what plain
  Optuna maximizes, on folds instead of one split);
* ``score``: the best trial value, the study's own objective (what ``study.best_trial`` is);
* ``regularize``: the best regularized setting (``Selection.alternative``): regsearch's rule
  without the baseline as a competitor;
* ``closer``: regsearch's rule, but of the settings that qualify the most accurate on the folds
  rather than the one with the smallest gap (``select(..., prefer="accuracy")``);
* ``regsearch-grow`` and ``closer-grow``: the same picks, confirmed with a wider growth rule:
  every "at no cost" acceptance grows to ``confirm.max_seeds`` seeds, not only one whose test
  accuracy leans below the baseline's (five seeds cannot tell a one-point cost from none).

A regularized pick then goes through regsearch's confirmation as it is: trained on train +
validation for its refit epochs on the part's confirmation seeds, judged by
``search.confirm.judge``, and grown to ``confirm.max_seeds`` seeds where the first ones lean
against it (``search.confirm.needs_more``); a pick that confirmation rejects is answered by no
regularization, and the page pairs the answer on the first seeds. Runs already made (the
study's own confirmation) are taken, not repeated. With each rule's answer in regsearch's
place, the issue's targets are counted as `recommendation.md` counts them
(``recommendation.targets``), against the same plain Optuna, random search and Hyperband
recommendations.

The confirmation seeds picked nothing here, but they judged each pick, and a rule that looks
better on them may be luckier, not better. ``--fresh`` (after ``recheck.py``) retrains each
rule's answer on the fresh seeds the recheck confirmed every strategy on, and the page counts
the targets there as well.

Each part keeps its picks and runs (``results/selection/``); ``--report`` rebuilds the page.

    .venv/bin/python benchmarks/selection.py          # after recommendation.py --all
    .venv/bin/python benchmarks/selection.py --fresh  # after recheck.py
    .venv/bin/python benchmarks/selection.py --report
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from _common import RESULTS, WORK, write_result
from recheck import OUT as RECHECKS
from recommendation import (ORDER, PARTS, STRATEGIES, _setting, figures, page_runs, runs_of,
                            setting_key, targets)

RULES = ("regsearch", "accuracy", "score", "regularize", "closer", "regsearch-grow",
         "closer-grow")
OUT = RESULTS / "selection"


def picks(snap) -> dict[str, dict[str, Any]]:
    """Each rule's pick among the study's completed trials (the baseline's record included)."""
    from search.objective import select

    sel = snap.selection
    records = snap.completed.to_dict("records")
    closer = select(records, floor=1 / snap.n_val, tolerance=snap.spec.tolerance,
                    prefer="accuracy").chosen
    return {"regsearch": sel.chosen, "accuracy": sel.best,
            "score": max(records, key=lambda r: (r["score"], -r["number"])),
            "regularize": sel.alternative, "closer": closer,
            "regsearch-grow": sel.chosen, "closer-grow": closer}


def run_part(name: str, seed: int) -> dict[str, Any] | None:
    """One part's picks, each confirmed (or taken from the study's confirmation); None when
    the study has no confirmation (no regularized trial completed)."""
    from search.confirm import judge, most_seeds, needs_more, refit_epochs, retrain, seeds
    from search.export import write_atomic
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

    path = OUT / f"{name}-{seed}.json"
    # A part kept from an earlier version (fewer rules, no refit epochs): the rules it has are
    # kept, given their pick's refit epochs (for --fresh), and the others replayed.
    out: dict[str, Any] = (json.loads(path.read_text()) if path.exists() else
                           {"problem": name, "seed": seed, "baseline_trial": base["trial"],
                            "rules": {}})
    try:
        for rule, record in picks(snap).items():
            if rule in out["rules"]:
                out["rules"][rule].setdefault("epochs", refit_epochs(record, spec))
                continue
            number = int(record["number"])
            pick = runs_on(record, first)
            verdict = {"verdict": "nothing", "regularize": False}
            judged_on = len(first)
            if not is_baseline(record):
                first_base = {**base, "runs": base["runs"][:len(first)]}
                verdict = judge(first_base, pick, True, spec.confirm.gap_weight, floor=floor)
                grow = (verdict["verdict"] == "no_cost" if rule.endswith("-grow")
                        else needs_more(verdict))
                if grow and most_seeds(spec) > len(first):
                    every = seeds(spec, most_seeds(spec))
                    verdict = judge(runs_on(base_record, every), runs_on(record, every), True,
                                    spec.confirm.gap_weight, floor=floor)
                    judged_on = len(every)
            answer = pick if verdict["regularize"] else base
            out["rules"][rule] = {
                "trial": number, "baseline": is_baseline(record), "params": pick["params"],
                "epochs": pick["epochs"], "verdict": verdict["verdict"],
                "regularize": verdict["regularize"], "judged_on": judged_on,
                # The pick against the baseline on test over the seeds that judged it.
                "test_difference": verdict.get("difference", {}).get("test_accuracy"),
                "runs": page_runs(answer["runs"][:len(first)])}
    finally:
        if trainer is not None:
            trainer.close()
    OUT.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(out, indent=1) + "\n")
    return out


def fresh_part(name: str, seed: int) -> None:
    """Each rule's answer in one replayed part retrained on the fresh seeds that
    ``recheck.py`` confirmed that part's strategies on, kept in the replay's file. A setting
    the recheck already trained (the baseline, or a strategy's recommendation with the same
    epochs) is taken, not repeated."""
    from search.confirm import retrain
    from search.export import write_atomic
    from search.folds import study_data
    from search.objective import trainer_for
    from search.spec import load_spec

    path = OUT / f"{name}-{seed}.json"
    replay = json.loads(path.read_text())
    c = json.loads((RECHECKS / f"{name}-{seed}.json").read_text())["confirmed"]
    recs = json.loads((PARTS / f"{name}-{seed}.json").read_text())["recommendations"]

    known = {setting_key(recs[k]["params"], recs[k]["epochs"]): runs_of(c[k])
             for k in STRATEGIES}
    known.update({setting_key(a["params"], a["epochs"]): a["fresh"]
                  for a in replay["rules"].values() if a["regularize"] and "fresh" in a})
    trainer = None
    try:
        for answer in replay["rules"].values():
            if "fresh" in answer:
                continue
            if not answer["regularize"]:
                answer["fresh"] = runs_of(c["baseline"])
                continue
            key = setting_key(answer["params"], answer["epochs"])
            if key not in known:
                if trainer is None:
                    spec = load_spec(WORK / "recommendation" / name / f"{name}-{seed}.toml")
                    _, refit = study_data(spec)
                    trainer = trainer_for(spec, refit)
                known[key] = page_runs(retrain(trainer, answer["params"], answer["epochs"],
                                               c["seeds"], refit))
            answer["fresh"] = known[key]
    finally:
        if trainer is not None:
            trainer.close()
    # Whole or not at all: a run cut short must not leave a replay that looks rechecked.
    write_atomic(path, json.dumps(replay, indent=1) + "\n")


def _rows(rules: list[str], runs: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
          field: str, seeds: str) -> list[str]:
    """The page's table rows, one a rule: the targets counted with that rule's answer in
    regsearch's place, over ``runs`` (part, confirmed figures of every strategy on some seeds,
    replay), the answer's runs on those seeds being the replay's ``field``."""
    rows = []
    for rule in rules:
        counted = [(part["problem"], part["seed"],
                    {**c, "regsearch": figures(replay["rules"][rule][field],
                                               c["baseline"]["tests"], c["floor"])},
                    part["recommendations"]) for part, c, replay in runs]
        t = targets(counted)
        answers = [replay["rules"][rule] for _, _, replay in runs]
        rows.append(
            f"| {rule} | {seeds} | {t['overtuned']['regsearch']} | {len(t['below_optuna'])} "
            f"({len(t['below_family'])}) | {len(t['gap_losses'])} / {len(t['gap_wide'])} / "
            f"{len(t['gap_significant'])} ({len(t['gap_family'])}) | "
            f"{statistics.fmean(c['regsearch']['test'] for _, _, c, _ in counted):.4f} | "
            f"{statistics.fmean(c['regsearch']['gap'] for _, _, c, _ in counted):+.4f} | "
            f"{sum(not a['regularize'] for a in answers)} | "
            f"{sum(not a['baseline'] and not a['regularize'] for a in answers)} |")
    return rows


def report() -> None:
    """``selection.md``: the targets with each rule's answer in regsearch's place, on the
    page's confirmation seeds and, for the runs ``--fresh`` retrained, on the recheck's."""
    parts = {p.stem: json.loads(p.read_text()) for p in sorted(PARTS.glob("*-*.json"))}
    replays = {p.stem: json.loads(p.read_text()) for p in sorted(OUT.glob("*-*.json"))}
    keys = sorted(set(parts) & set(replays),
                  key=lambda k: (ORDER.index(parts[k]["problem"]), parts[k]["seed"]))
    missing = sorted(set(parts) - set(replays))
    # A page made before confirmation's growth rule differs where the rule fired (grow.py).
    differs = [k for k in keys if not all(
        abs(r["test"] - t) < 1e-9 for r, t in zip(replays[k]["rules"]["regsearch"]["runs"],
                                               parts[k]["confirmed"]["regsearch"]["tests"]))]
    seeds = len(parts[keys[0]]["confirmed"]["seeds"]) if keys else 0
    # The rules every kept replay has (one kept from an earlier version may have fewer).
    rules = [r for r in RULES if all(r in replays[k]["rules"] for k in keys)]
    rows = _rows(rules, [(parts[k], parts[k]["confirmed"], replays[k]) for k in keys], "runs",
                 f"the page's ({seeds})")
    fresh = [k for k in keys if all("fresh" in a for a in replays[k]["rules"].values())]
    if fresh:
        rechecks = {k: json.loads((RECHECKS / f"{k}.json").read_text())["confirmed"]
                    for k in fresh}
        rows += _rows(rules, [(parts[k], parts[k]["confirmed"], replays[k]) for k in fresh],
                      "runs",
                      f"the page's ({seeds}), rechecked runs only") if fresh != keys else []
        rows += _rows(rules, [(parts[k], rechecks[k], replays[k]) for k in fresh], "fresh",
                      f"fresh ({len(rechecks[fresh[0]]['seeds'])})")
    lines = [
        "# Selection rules replayed on the recommendation benchmark's studies", "",
        "Command: `make bench` (`python benchmarks/selection.py` after `recommendation.py "
        "--all`, `selection.py --fresh` after `recheck.py`; `--report` rebuilds this page). "
        "Method: the script's docstring. Each rule "
        "chooses from the same completed trials of regsearch's study, on the same folds; a "
        "regularized pick is confirmed as regsearch confirms (same seeds and refit epochs, "
        "`search.confirm.judge`) and replaced by no regularization when confirmation rejects "
        "it; the targets are then counted as `recommendation.md` counts them, with the rule's "
        f"answer in regsearch's place, over {len(keys)} runs. The `regsearch` row replays the "
        f"product's rule: it reproduces the benchmark's confirmed answer in "
        f"{len(keys) - len(differs)} of {len(keys)} runs"
        + (f" (not in {', '.join(differs)}: there confirmation's growth rule, newer than the "
           "page, fired; `grow.md`)" if differs else "")
        + ". Rows on fresh seeds retrain each rule's answer on the seeds "
        "`recheck.py` confirmed every strategy on, and count the same targets there "
        f"({len(fresh)} runs)."
        + (f" Not replayed (no kept study, or no regularized trial completed in it): "
           f"{', '.join(missing)}."
           if missing else ""), "",
        "| rule | seeds | overtuned | below plain Optuna (Holm) | gap misses: point / > 1 test "
        "sample / paired (Holm) | mean test | mean gap | answered no regularization | "
        "picks confirmation rejected |",
        "|---|---|---|---|---|---|---|---|---|", *rows, "",
        f"Comparisons for the gap target: {3 * len(keys)} on the page's seeds, "
        f"{3 * len(fresh)} on fresh seeds. The other strategies, for "
        "reference: as in `recommendation.md` and `recheck.md`.", ""]
    lines += ["## Picks per run", "", "| run | " + " | ".join(rules) + " |",
              "|---|" + "---|" * len(rules)]
    for k in keys:
        cells = []
        for rule in rules:
            a = replays[k]["rules"][rule]
            cells.append(f"trial {a['trial']} ({_setting(a['params'])}): {a['verdict']}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    write_result("selection", "\n".join(lines) + "\n", {"replays": replays})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only rebuild the page")
    parser.add_argument("--fresh", action="store_true", help="retrain each replayed run's "
                        "answers on the fresh seeds of its recheck (after recheck.py)")
    args = parser.parse_args()
    if args.fresh:
        from search.trainer import configure_tensorflow

        configure_tensorflow()
        for path in sorted(OUT.glob("*-*.json")):
            replay = json.loads(path.read_text())
            if ((RECHECKS / path.name).exists()
                    and not all("fresh" in a for a in replay["rules"].values())):
                fresh_part(replay["problem"], replay["seed"])
    elif not args.report:
        from search.trainer import configure_tensorflow

        configure_tensorflow()  # op determinism: the same figures on any thread count
        parts = sorted(PARTS.glob("*-*.json"))
        if not parts:
            sys.exit(f"{PARTS}: no recommendation parts; run recommendation.py --all first")
        for path in parts:
            part = json.loads(path.read_text())
            kept = OUT / path.name
            rules = json.loads(kept.read_text())["rules"] if kept.exists() else {}
            if set(RULES) - set(rules) or any("epochs" not in r for r in rules.values()):
                run_part(part["problem"], part["seed"])
    report()


if __name__ == "__main__":
    main()
