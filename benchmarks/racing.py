"""How many epochs does racing between folds save, and what does it cut?

Runs the default study with racing off (every trial that the per-epoch pruner leaves alone
runs every fold), then replays the completed trials, in the order they finished, through three
racing rules, each trial against the best completed trial so far (the baseline included) on
the folds done:

* regsearch's rule (``search.pruning.race``): one-sided paired t test at 95% on validation
  accuracy, standard error at least one validation sample;
* a rule that may stop a trial after its first fold (``replay_t`` with ``first_fold``): the
  one difference is judged against the fold-to-fold spread pooled over the trials done, then
  regsearch's rule;
* Optuna's ``WilcoxonPruner`` (p_threshold 0.1), fed the per-fold validation accuracies as
  intermediate values at steps 0..k-1 in an in-memory study.

Epochs a rule would save are the recorded epochs of the folds after the one where it stops a
trial. Also reported: whether the rule would have stopped the trial the selection chose, and
any trial that was a selection candidate.

    .venv/bin/python benchmarks/racing.py [--trials N] [--quick]
    .venv/bin/python benchmarks/racing.py --replay studies/default.toml

``--replay SPEC`` replays a study already run instead of running one; that is equivalent when
racing stopped none of its trials (a raced trial has no later folds to replay).

Writes benchmarks/results/racing.md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

from _common import WORK, default_spec, study_of, write_result


def replay_t(trials: list[dict], floor: float, *, first_fold: bool = False) -> dict[int, int]:
    """Trial number -> folds run before regsearch's rule stops it (absent: never stopped).

    With ``first_fold`` a trial may also stop after its first fold: its one paired difference
    against the best is judged against the fold-to-fold spread of the differences pooled over
    every trial kept so far, each against the best at its time (a one-sided t test at 95% with
    the pooled degrees of freedom; scipy has no pooled paired test, so the sums are kept here).
    """
    from scipy import stats

    from search.pruning import race

    stopped, done, squares, dof = {}, [], 0.0, 0
    for t in trials:
        if done:
            best = max(done, key=lambda d: (d["val_accuracy"], -d["number"]))
            mine = [f["val_accuracy"] for f in t["folds"]]
            theirs = [f["val_accuracy"] for f in best["folds"]]
            if first_fold and dof and mine[0] - theirs[0] + float(
                    stats.t.ppf(0.95, dof)) * max((squares / dof) ** 0.5, floor) < 0:
                stopped[t["number"]] = 1
            for k in range(2, len(mine)):
                if t["number"] in stopped:
                    break
                if race(mine[:k], theirs[:k], best_trial=best["number"], floor=floor):
                    stopped[t["number"]] = k
            if t["number"] not in stopped:
                d = [a - b for a, b in zip(mine, theirs)]
                squares += sum((x - sum(d) / len(d)) ** 2 for x in d)
                dof += len(d) - 1
        if t["number"] not in stopped:
            done.append(t)
    return stopped


def replay_wilcoxon(trials: list[dict]) -> dict[int, int]:
    """The same with Optuna's WilcoxonPruner deciding after each fold."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize",
                                    pruner=optuna.pruners.WilcoxonPruner(p_threshold=0.1))
        stopped = {}
        for t in trials:
            trial = study.ask()
            values = [f["val_accuracy"] for f in t["folds"]]
            for k, v in enumerate(values):
                trial.report(v, k)
                if k + 1 < len(values) and trial.should_prune():
                    stopped[t["number"]] = k + 1
                    break
            if t["number"] in stopped:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, sum(values) / len(values))
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="default: the default study's")
    parser.add_argument("--quick", action="store_true", help="4 trials of 3 epochs")
    parser.add_argument("--replay", metavar="SPEC", help="replay this study instead of running")
    args = parser.parse_args()
    from search.commands import run_study
    from search.study import Snapshot

    if args.replay:
        spec, seconds = args.replay, None
        snap = Snapshot(study_of(spec))
        if snap.counts["raced"]:
            raise SystemExit(f"{spec}: racing stopped trials of this study; replay a study run "
                             "with racing = false")
    else:
        trials, epochs = (4, 3) if args.quick else (args.trials, None)
        spec = default_spec(WORK / "racing", trials=trials, epochs=epochs,
                            evaluation={"racing": False},
                            training={"min_steps": 0} if args.quick else {})
        started = time.time()
        with contextlib.redirect_stderr(io.StringIO()):
            run_study(spec_path=str(spec), progress=False, out=io.StringIO())
        seconds = time.time() - started
        snap = Snapshot(study_of(spec))
    done = snap.completed.sort_values("number").to_dict("records")
    full = [r for r in done if len(r["folds"]) == r["folds_planned"]]
    floor = 1 / snap.n_val
    sel = snap.selection
    chosen = int(sel.chosen["number"])
    total = int(snap.counts["epochs"])
    rows, data = [], {"seconds": seconds, "epochs": total, "chosen": chosen,
                      "completed": len(full), "rules": {}}
    for name, stopped in (("t test (regsearch)", replay_t(full, floor)),
                          ("first fold on the pooled spread, then the t test",
                           replay_t(full, floor, first_fold=True)),
                          ("WilcoxonPruner p<0.1", replay_wilcoxon(full))):
        by = {r["number"]: r for r in full}
        saved = sum(sum(f["epochs"] for f in by[n]["folds"][k:]) for n, k in stopped.items())
        rows.append(f"| {name} | {len(stopped)} of {len(full)} | {saved} ({saved / total:.1%}) "
                    f"| {'yes' if chosen in stopped else 'no'} |")
        data["rules"][name] = {"stopped": stopped, "epochs_saved": saved}
    flag = " --quick" if args.quick else f" --replay {args.replay}" if args.replay else ""
    how = ("replayed; racing stopped none of its trials" if args.replay
           else f"run with `[evaluation] racing = false` in {seconds:.0f} s")
    text = "\n".join([
        "# Racing between folds", "",
        f"Command: `python benchmarks/racing.py{flag}`. The default study ({how}): "
        f"{len(full)} trials completed every fold, "
        f"{total} epochs in all (the baseline's and pruned trials' included). "
        f"The selection chose {'trial ' + str(chosen) if sel.regularizes else 'no regularization'}"
        ". Each rule replayed over the completed trials in order:", "",
        "| rule | trials it stops | epochs it saves (share of all) | stops the chosen |",
        "|---|---|---|---|", *rows, ""])
    write_result("racing", text + "\n", data)


if __name__ == "__main__":
    main()
