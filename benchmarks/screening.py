"""Screening after the first fold measured: does regsearch, looking at more settings
(``[evaluation] screen``, successive halving with folds as the resource), answer closer to plain
Optuna on test, and still never below doing nothing?

The recommendation benchmark found regsearch's answer significantly below plain Optuna's on
fresh seeds in 6 of 20 runs (``selection.md`` of the third and fourth draws): no other choice
among the same 12 trials reached 0 without overtuning, so the misses come from where the search
looks. Plain Optuna, at the same epochs on one split, sees about three times the settings.

For each run of a draw that ``recommendation.py --all`` and ``recheck.py`` made (their parts in
the results folder), this runs regsearch again on the same problem, search seed, folds and
confirmation seeds, with ``--trials`` trials (default ``TRIALS``) and ``screen = --keep``; its
answer is confirmed as the product confirms it, and then retrained on the fresh seeds the
recheck confirmed every strategy on. There it is paired with the recheck's runs of the
baseline, plain Optuna and the unscreened regsearch on the same seeds, and the issue's targets
are counted with either answer in regsearch's place (``recommendation.targets``).

Each run keeps its figures (``results/screening/``); ``--report`` rebuilds ``screening.md``.
``folds.py`` reruns the draw the same way with another ``[evaluation]`` (``rerun``, ``page``).

    .venv/bin/python benchmarks/screening.py                 # every part of the draw
    .venv/bin/python benchmarks/screening.py --parts default-12 --keep 0.33
    .venv/bin/python benchmarks/screening.py --report
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from typing import Any

from _common import RESULTS, WORK, write_result
from recheck import OUT as RECHECKS
from recommendation import (ORDER, PARTS, STRATEGIES, _setting, _versus, figures, page_runs,
                            merged, problems, run_regsearch, runs_of, setting_key, targets,
                            write_spec)

from search.paired import interval_text

#: Trials a screened search, against the unscreened search's 12 (the wide MLP's 4). Planned as
#: the same epochs with a third of the trials past the pruner's start-up going on after the
#: first fold; measured, the screen lets more through as TPE's picks improve, and the 20 runs of
#: the third and fourth draws spent 1.35 times the unscreened searches' epochs.
TRIALS = {"mnist-wide": 6, "mnist-lecture": 20, "default": 20, "breast-cancer": 20, "wine": 20}
KEEP = 0.33


def stopped(key: str, variant: str = "screening") -> dict[str, int]:
    """What stopped the rerun study's trials early (``WORK``'s study of run ``key`` under
    ``variant``): how many the screen stopped, the pruner within the first fold, or racing,
    and the epochs the screened trials would have spent on their later folds at their first
    fold's epochs (the epochs screening saved, estimated)."""
    from search.spec import load_spec
    from search.storage import load_study
    from search.study import Snapshot

    name = key.rsplit("-", 1)[0]
    spec = load_spec(WORK / variant / name / f"{key}.toml")
    frame = Snapshot(load_study(key, spec.storage)).frame
    out = {"screened": 0, "pruned": 0, "raced": 0, "saved_epochs": 0}
    for row in frame.to_dict("records"):
        if row.get("stopped") not in ("pruned", "raced"):
            continue
        # Racing needs two folds: a trial stopped between folds after one was screened.
        kind = ("pruned" if row["stopped"] == "pruned" else
                "screened" if row["folds_done"] == 1 else "raced")
        out[kind] += 1
        if kind == "screened":
            out["saved_epochs"] += int(row["epochs"]) * (int(row["folds_planned"]) - 1)
    return out


def rerun(key: str, trials: int, changes: dict[str, dict[str, Any]], variant: str,
          resume: str | None = None) -> None:
    """Run ``key`` of the draw again with ``changes`` (spec section -> keys) set: search,
    confirmation, and the answer on the recheck's fresh seeds, kept in
    ``RESULTS/variant/key.json``. ``resume`` names a variant whose study of ``key`` (under
    ``WORK``) is continued instead of searched again: a rerun that changes only ``[confirm]``
    would make the same trials, so only its confirmation runs."""
    from search.confirm import retrain, seeds
    from search.export import write_atomic
    from search.folds import study_data
    from search.objective import trainer_for
    from search.spec import load_spec

    part = json.loads((PARTS / f"{key}.json").read_text())
    c = json.loads((RECHECKS / f"{key}.json").read_text())["confirmed"]
    name, seed = part["problem"], part["seed"]
    folder = WORK / variant / name
    folder.mkdir(parents=True, exist_ok=True)
    # A resumed study keeps its data files where its variant wrote them: the same spec.
    sections = problems(WORK / (resume or variant))[name]
    # On top of what the draw's own regsearch ran with (a draw made with --set).
    changes = {"evaluation": {}, **merged(part.get("changes", {}), changes)}
    spec_path = write_spec(folder, name, sections, seed, trials, changes)
    if resume is not None:
        kept = WORK / resume / name / f"{key}.db"
        if not kept.exists():
            sys.exit(f"{key}: no {resume} study to continue at {kept}")
        shutil.copyfile(kept, folder / f"{key}.db")
    started = time.time()
    answer = run_regsearch(spec_path)
    searched = time.time() - started
    recs = part["recommendations"]
    spec = load_spec(spec_path)
    # The study confirmed on the product's seeds: the draw's own with the draw's folds (the same
    # search seed), past the folds' seeds when the rerun has more (search.confirm.seeds).
    mine = seeds(spec, len(part["confirmed"]["seeds"]))
    assert answer["seeds"] is None or answer["seeds"][:len(mine)] == mine, (answer["seeds"], mine)
    if not {"folds", "repeats"} & set(changes["evaluation"]):
        assert mine == part["confirmed"]["seeds"], (mine, part["confirmed"]["seeds"])
    known = {setting_key(recs[k]["params"], recs[k]["epochs"]): runs_of(c[k]) for k in STRATEGIES}
    # No regularization answers with the baseline's setting: every strength zero.
    regularizes = any(v not in (0, "none") for v in answer["params"].values())
    fresh_key = setting_key(answer["params"], answer["epochs"])
    if not regularizes:
        fresh = runs_of(c["baseline"])
    elif fresh_key in known:
        fresh = known[fresh_key]
    else:
        _, refit = study_data(spec)
        with trainer_for(spec, refit) as trainer:
            fresh = page_runs(retrain(trainer, answer["params"], answer["epochs"], c["seeds"],
                                      refit))
    out = RESULTS / variant
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{key}.json", json.dumps(
        {"problem": name, "seed": seed, "trials": trials, **changes,
         **({"resumed": resume} if resume else {}),
         "answer": answer, "regularizes": regularizes, "fresh": fresh,
         "stopped": stopped(key, variant), "search_seconds": searched,
         "seconds": time.time() - started}, indent=1) + "\n")
    fig = figures(fresh, c["baseline"]["tests"], c["floor"])
    print(f"{key}: {variant} answer {_setting(answer['params'])} ({answer['verdict']}), fresh "
          f"test {fig['test']:.4f}, regsearch's {c['regsearch']['test']:.4f}, plain Optuna's "
          f"{c['optuna']['test']:.4f}", flush=True)


def rerun_draw(parts: list[str] | None, threads: int | None,
               changes: dict[str, dict[str, Any]], variant: str, trials: dict[str, int],
               resume: str | None = None) -> None:
    """``rerun`` each of ``parts`` (default: every run the draw rechecked) not yet kept, with
    ``trials[problem]`` trials a search (``changes`` and ``resume`` as there)."""
    from search.trainer import configure_tensorflow

    configure_tensorflow(threads)
    keys = parts or sorted(p.stem for p in RECHECKS.glob("*-*.json"))
    for key in keys:
        if not (PARTS / f"{key}.json").exists() or not (RECHECKS / f"{key}.json").exists():
            sys.exit(f"{key}: needs its part and its recheck (recommendation.py, recheck.py)")
        if not (RESULTS / variant / f"{key}.json").exists():
            rerun(key, trials[key.rsplit("-", 1)[0]], changes, variant, resume)


def kept_runs(variant: str) -> dict[str, dict[str, Any]]:
    """The runs ``rerun`` kept under ``RESULTS/variant``, by key."""
    return {p.stem: json.loads(p.read_text())
            for p in sorted((RESULTS / variant).glob("*-*.json"))}


def page(variant: str, runs: dict[str, dict[str, Any]], old: str, new: str, title: str,
         method: str, command: str | None = None) -> None:
    """``variant.md``: per run, the rerun (``new``) and the draw's own (``old``) answers on
    fresh seeds, and the targets counted with each in regsearch's place. ``method`` says what
    the rerun changed; ``command`` is the script that makes the page (default
    ``variant.py``)."""
    keys = sorted(runs, key=lambda k: (ORDER.index(runs[k]["problem"]), runs[k]["seed"]))
    parts = {k: json.loads((PARTS / f"{k}.json").read_text()) for k in keys}
    checks = {k: json.loads((RECHECKS / f"{k}.json").read_text())["confirmed"] for k in keys}

    def rerun_of(k: str) -> dict[str, Any]:
        c = checks[k]
        return {**c, "regsearch": figures(runs[k]["fresh"], c["baseline"]["tests"], c["floor"])}

    def recs(k: str) -> dict[str, Any]:
        r = parts[k]["recommendations"]
        return {**r, "regsearch": {**r["regsearch"],
                                   "searched_epochs": runs[k]["answer"]["searched_epochs"]}}

    rows = []
    for label, counted in (
            (f"regsearch, {old}", [(parts[k]["problem"], parts[k]["seed"], checks[k],
                                    parts[k]["recommendations"]) for k in keys]),
            (f"regsearch, {new}", [(parts[k]["problem"], parts[k]["seed"], rerun_of(k),
                                    recs(k)) for k in keys])):
        t = targets(counted)
        rows.append(
            f"| {label} | {t['overtuned']['regsearch']} | {len(t['below_optuna'])} "
            f"({len(t['below_family'])}) | {len(t['gap_losses'])} / {len(t['gap_wide'])} / "
            f"{len(t['gap_significant'])} | "
            f"{statistics.fmean(c['regsearch']['test'] for _, _, c, _ in counted):.4f} | "
            f"{statistics.fmean(c['regsearch']['gap'] for _, _, c, _ in counted):+.4f} | "
            f"{sum(r['regsearch']['searched_epochs'] for *_, r in counted)} | "
            f"{', '.join(t['below_optuna']) or 'none'} |")
    random_epochs = sum(parts[k]["recommendations"]["random"]["searched_epochs"] for k in keys)
    lines = [
        f"# {title}", "",
        f"Command: `python benchmarks/{command or variant + '.py'}` after "
        "`recommendation.py --all` and `recheck.py` on the same results folder (`--report` "
        f"rebuilds this page). Method: the script's docstring. {method}, "
        f"with {', '.join(sorted({str(runs[k]['trials']) for k in keys}))} trials a search, "
        f"confirmed as the product confirms now (growth rule included). The {old} answers "
        "are the draw's own as its recheck retrained them, made by the code of the draw (one "
        "older than the growth rule answered without it; `selection.md`'s regsearch row "
        "replays the product's rule on the same studies). Every figure is on the recheck's "
        f"{len(checks[keys[0]]['seeds']) if keys else 0} fresh seeds, paired by seed; "
        "the other strategies' runs are the recheck's. Plain Optuna, random search and "
        f"Hyperband had the {old} search's epoch budget.", "",
        "| regsearch | overtuned | below plain Optuna (Holm) | gap misses: point / > 1 test "
        "sample / paired | mean test | mean gap | epochs searched | below plain Optuna in |",
        "|---|---|---|---|---|---|---|---|", *rows, "",
        f"Random search spent {random_epochs} epochs over these runs.", "",
        "## Per run (fresh seeds; differences paired by seed, 95% intervals)", "",
        f"| run | {new} answer | verdict | test vs baseline | vs plain Optuna | vs {old} "
        f"| {old} answer | epochs searched: {new} / {old} | trials screened / "
        "pruned / raced (epochs screening saved) |",
        "|---|---|---|---|---|---|---|---|---|"]
    for k in keys:
        c, s = checks[k], rerun_of(k)
        mine = {**s, old: c["regsearch"]}
        a = runs[k]["answer"]
        f, before = s["regsearch"], parts[k]["recommendations"]["regsearch"]
        lines.append(
            f"| {k} | {_setting(a['params']) if runs[k]['regularizes'] else 'none'} | "
            f"{a['verdict']} | {interval_text({'mean': f['diff'], **f})} | "
            f"{interval_text(_versus(s, 'regsearch', 'optuna').to_dict())} | "
            f"{interval_text(_versus(mine, 'regsearch', old).to_dict())} | "
            f"{_setting(before['params'])} "
            f"| {a['searched_epochs']} / {before['searched_epochs']} | "
            f"{_stops(runs[k].get('stopped'))} |")
    write_result(variant, "\n".join(lines) + "\n", {"runs": runs})


def report() -> None:
    """``screening.md``."""
    runs = kept_runs("screening")
    keep = sorted({r["evaluation"]["screen"] for r in runs.values()})
    page("screening", runs, "unscreened", "screened",
         "Screening after the first fold: regsearch against plain Optuna on fresh seeds",
         f"Screened searches keep {', '.join(f'{x:g}' for x in keep)} of the trials past the "
         "first fold (`[evaluation] screen`)")


def _stops(st: dict[str, int] | None) -> str:
    """A run's early stops, ``screened / pruned / raced (saved epochs)``."""
    if st is None:
        return "-"
    return f"{st['screened']} / {st['pruned']} / {st['raced']} ({st['saved_epochs']})"


def rerun_parser(description: str, trials: str) -> argparse.ArgumentParser:
    """The options every rerun of a draw takes (``trials``: where the default comes from)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--parts", nargs="*", help="runs (problem-seed) to rerun; default all "
                        "that the draw rechecked")
    parser.add_argument("--trials", type=int, help=f"trials a search (default: {trials})")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (op determinism gives "
                        "the same figures on any count)")
    parser.add_argument("--report", action="store_true", help="only rebuild the page")
    return parser


def main() -> None:
    parser = rerun_parser(__doc__.splitlines()[0], "TRIALS")
    parser.add_argument("--keep", type=float, default=KEEP, help="evaluation.screen")
    args = parser.parse_args()
    if not args.report:
        rerun_draw(args.parts, args.threads, {"evaluation": {"screen": args.keep}}, "screening",
                   {name: args.trials or n for name, n in TRIALS.items()})
    report()


if __name__ == "__main__":
    main()
