"""Confirmation's growth rule (``search.confirm.needs_more``) applied to the recommendation
runs recorded before it existed: which runs it fires in, what it answers there, and how that
reads against the fresh-seed recheck of the same run.

A part keeps regsearch's confirmation runs on its first ``confirm.seeds`` seeds (the answer's
and the baseline's). Where those accepted the answer as closing the gap at no cost with test
accuracy below the baseline's on average, the answer and the baseline are retrained on the
next seeds up to ``confirm.max_seeds``, exactly as ``ensure_confirmation`` would (the same
spec, refit split, epochs and seeds), and judged again on all of them. Runs where the rule does
not fire are unchanged by it; their count is the cost the rule does not spend.

Each fired run keeps its figures (``results/grow/``); ``--report`` rebuilds ``grow.md``.

    .venv/bin/python benchmarks/grow.py            # after recommendation.py and recheck.py
    .venv/bin/python benchmarks/grow.py --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, WORK, write_result
from recheck import OUT as RECHECKS
from recheck import _counts
from recommendation import ORDER, PARTS, figures, problems, runs_of, targets, write_spec

from search.confirm import ACCEPTED
from search.paired import interval_text

OUT = RESULTS / "grow"


def as_setting(label: str, params: dict[str, Any], epochs: int,
               runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A confirmation setting (``search.confirm.judge``'s input) from a part's runs."""
    return {"label": label, "trial": 0, "params": params, "epochs": epochs,
            "runs": [{"seed": r.get("seed"), "train_accuracy": r["train"],
                      "test_accuracy": r["test"], "gap": r["train"] - r["test"]}
                     for r in runs]}


def first_judged(part: dict[str, Any], gap_weight: float) -> dict[str, Any] | None:
    """regsearch's confirmation of the part re-judged on its stored first seeds; None where
    its answer was not accepted (the stored runs are then the baseline's)."""
    from search.confirm import judge

    r = part["recommendations"]["regsearch"]
    if r["runs"] is None or r["verdict"] not in ACCEPTED:
        return None
    base = as_setting("baseline", {}, r["baseline_epochs"], r["baseline_runs"])
    other = as_setting("answer", r["params"], r["epochs"], r["runs"])
    judged = judge(base, other, True, gap_weight, floor=part["confirmed"]["floor"])
    assert judged["verdict"] == r["verdict"], (part["problem"], part["seed"], judged["verdict"])
    return judged


def grow(part: dict[str, Any]) -> dict[str, Any] | None:
    """The part's confirmation grown as ``ensure_confirmation`` grows it; None where the rule
    does not fire."""
    from search.confirm import judge, most_seeds, needs_more, retrain, seeds
    from search.folds import study_data
    from search.objective import trainer_for
    from search.spec import load_spec

    name, seed, r = part["problem"], part["seed"], part["recommendations"]["regsearch"]
    folder = WORK / "grow" / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = load_spec(write_spec(folder, name, problems(WORK / "grow")[name], seed,
                                part["trials"]))
    first = seeds(spec)
    if r["seeds"] is not None and len(r["seeds"]) > len(first):  # the run's own rule grew it
        d = (r.get("grown") or {}).get("test_accuracy")
        return {"problem": name, "seed": seed, "seeds": r["seeds"], "in_run": True,
                "first": {"test_accuracy": d} if d else None, "first_verdict": "no_cost",
                "grown": None, "verdict": r["verdict"], "regularize": r["verdict"] in ACCEPTED,
                "first_seed_reproduced": None, "seconds": None}
    judged = first_judged(part, spec.confirm.gap_weight)
    if judged is None or not needs_more(judged):
        return None
    assert r["seeds"] == first, (r["seeds"], first)
    more = seeds(spec, most_seeds(spec))[len(first):]
    _, refit = study_data(spec)
    started = time.time()
    grown, reproduced = {}, {}
    with trainer_for(spec, refit) as trainer:
        for label, params, epochs, stored in (
                ("baseline", {}, r["baseline_epochs"], r["baseline_runs"]),
                ("answer", r["params"], r["epochs"], r["runs"])):
            # The first seed again: do today's code and this machine give the stored runs
            # (recorded by an earlier version, maybe elsewhere) the seeds now added to them?
            [again, *new] = [{"seed": x["seed"], "train": x["train_accuracy"],
                              "test": x["test_accuracy"]}
                             for x in retrain(trainer, params, epochs, first[:1] + more, refit)]
            reproduced[label] = (again["train"], again["test"]) == \
                (stored[0]["train"], stored[0]["test"])
            grown[label] = as_setting(label, params, epochs, [*stored, *new])
    after = judge(grown["baseline"], grown["answer"], True, spec.confirm.gap_weight,
                  floor=1 / len(refit.y_test))
    return {"problem": name, "seed": seed, "seeds": first + more,
            "first": judged["difference"], "first_verdict": judged["verdict"],
            "grown": after["difference"], "verdict": after["verdict"],
            "in_run": False, "regularize": after["regularize"],
            "first_seed_reproduced": reproduced,
            "seconds": time.time() - started}


def _row(g: dict[str, Any]) -> str:
    """One fired run as a row of ``grow.md``."""
    recheck = RECHECKS / f"{g['problem']}-{g['seed']}.json"
    fresh = "not rechecked"
    if recheck.exists():
        confirmed = json.loads(recheck.read_text())["confirmed"]
        c = confirmed["regsearch"]
        fresh = f"{interval_text({**c, 'mean': c['diff']})} ({len(confirmed['seeds'])} seeds)"
    first = (f"{interval_text(g['first']['test_accuracy'])} ({g['first']['test_accuracy']['n']})"
             if g["first"] else "not recorded")
    after = (f"{interval_text(g['grown']['test_accuracy'])}, gap {interval_text(g['grown']['gap'])}, "
             f"{g['verdict']} ({g['grown']['test_accuracy']['n']})" if g["grown"] else
             f"{g['verdict']} ({len(g['seeds'])}; grown in the run)")
    same = ("-" if g["first_seed_reproduced"] is None else
            ", ".join("yes" if v else "no" for v in g["first_seed_reproduced"].values()))
    answer = "the setting" if g["regularize"] else "no regularization"
    seconds = "-" if g["seconds"] is None else f"{g['seconds']:.0f}"
    return (f"| {g['problem']}-{g['seed']} | {first} | {after} | {answer} | {fresh} | {same} | "
            f"{seconds} |")


def with_rule(confirmed: dict[str, Any], fired: dict[str, Any] | None) -> dict[str, Any]:
    """A run's confirmed figures (the page's or the recheck's) with regsearch's answer as the
    rule leaves it: the baseline's own figures where the grown confirmation vetoed the
    setting, unchanged elsewhere (and where the run applied the rule itself)."""
    if fired is None or fired["in_run"] or fired["regularize"]:
        return confirmed
    base = confirmed["baseline"]
    return {**confirmed, "regsearch": figures(runs_of(base), base["tests"],
                                              confirmed["floor"])}


def report() -> None:
    """``grow.md``: the runs the rule fires in, the grown verdicts, and the fresh-seed recheck of
    the same answers beside them."""
    parts = sorted((json.loads(p.read_text()) for p in PARTS.glob("*-*.json")),
                   key=lambda p: (ORDER.index(p["problem"]), p["seed"]))
    grown = {(g["problem"], g["seed"]): g
             for g in (json.loads(p.read_text()) for p in OUT.glob("*-*.json"))}
    accepted = [p for p in parts if p["recommendations"]["regsearch"]["verdict"] in ACCEPTED]
    lines = [
        "# Confirmation's growth rule on the recorded runs", "",
        "Command: `make bench` (`python benchmarks/grow.py` after `recommendation.py` and "
        "`recheck.py`; `--report` rebuilds this page). Method: the script's docstring.", "",
        f"Runs: {len(parts)}; regsearch's answer accepted on its first seeds in "
        f"{len(accepted)}; the rule fires in {len(grown)}: "
        f"{', '.join(f'{n}-{s}' for n, s in grown) or 'none'}.", ""]
    rechecks = {(r["problem"], r["seed"]): r["confirmed"]
                for r in (json.loads(p.read_text()) for p in RECHECKS.glob("*-*.json"))}
    lines += ["The issue's targets counted as `recommendation.md` and `recheck.md` count them, "
              "with the answers as recorded and with the rule applied (a vetoed setting "
              "replaced by the baseline's own figures):", "",
              "| seeds | runs | answers | below plain Optuna (Holm) | gap misses: point / > 1 "
              "test sample / paired (Holm) | overtuned |", "|---|---|---|---|---|---|"]
    for label, runs in (("the page's", {(p["problem"], p["seed"]): p["confirmed"]
                                         for p in parts}), ("fresh", rechecks)):
        recs = {(p["problem"], p["seed"]): p["recommendations"] for p in parts}
        for how, rule in (("as recorded", False), ("with the rule", True)):
            t = targets([(n, s, with_rule(c, grown.get((n, s))) if rule else c, recs[(n, s)])
                         for (n, s), c in runs.items() if (n, s) in recs])
            lines.append(f"| {label} | {len(runs)} | {how} | {_counts(t)} |")
    lines.append("")
    if grown:
        lines += ["| run | first seeds: test vs baseline | all seeds: test vs baseline, gap, "
                  "verdict | answer | fresh seeds (recheck): test vs baseline | first seed "
                  "reproduced (baseline, answer) | seconds |", "|---|---|---|---|---|---|---|"]
        lines += [_row(g) for g in grown.values()]
        lines += ["", "A run grown in the run itself (recorded by a version with the rule) "
                  "shows its answer as recorded; its first seeds' figure where the part "
                  "recorded it.", ""]
    write_result("grow", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only rebuild the page")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow threads (op determinism gives the same figures on any "
                             "count)")
    args = parser.parse_args()
    if not args.report:
        from search.trainer import configure_tensorflow

        configure_tensorflow(args.threads)
        OUT.mkdir(parents=True, exist_ok=True)
        for path in sorted(PARTS.glob("*-*.json")):
            part = json.loads(path.read_text())
            result = grow(part)
            (OUT / path.name).unlink(missing_ok=True)  # a run the rule no longer fires in
            if result is not None:
                from search.export import write_atomic

                write_atomic(OUT / path.name, json.dumps(result, indent=1) + "\n")
                print(_row(result), flush=True)
    report()


if __name__ == "__main__":
    main()
