"""Five folds measured: is regsearch's answer closer to plain Optuna's on test on larger folds?

Each trial is valued on folds that train on 80% of the pooled rows instead of 67%.

``causes.md`` (fourth draw) found regularization's gain over the baseline shrinking as the
folds' training size grows: the setting regsearch chose on default seed 12 gained +0.0070 on
3x3 folds, +0.0014 on 10 folds and -0.0036 on the refit's test, while plain Optuna's pick, chosen
on one split that trains on 75% of the pooled rows, kept its gain (+0.0069 on test). Folds nearer
the refit's size (all the pooled rows) should rank settings more as its test does, at 5/3 of the
epochs a trial.

For each run of a draw that ``recommendation.py --all`` and ``recheck.py`` made, this runs
regsearch again with ``[evaluation] folds = --folds`` and the draw's own trials a search
(``recommendation.TRIALS``), so only the folds change; its answer is confirmed and retrained on
the recheck's fresh seeds exactly as ``screening.py`` does (``screening.rerun``), and
``folds.md`` pairs it there with the baseline, plain Optuna and the draw's own answer.

``--equal-epochs`` gives each search the draw's trials times 3 / ``--folds`` instead (at least
2: 7 a search, the wide MLP 2), so that the reruns spend about the draw's epochs and more folds
compete with the default's 3 at plain Optuna's budget; its runs and page are
``folds-equal-epochs``.

    .venv/bin/python benchmarks/folds.py                     # every rechecked part of the draw
    .venv/bin/python benchmarks/folds.py --parts default-12 --folds 5
    .venv/bin/python benchmarks/folds.py --equal-epochs
    .venv/bin/python benchmarks/folds.py --report            # (--equal-epochs --report: its page)
"""

from __future__ import annotations

from recommendation import TRIALS
from screening import kept_runs, page, rerun_draw, rerun_parser

from search.spec import EvaluationSpec

FOLDS = 5
#: The folds the draws' searches were valued on: the product's default.
DRAW_FOLDS = EvaluationSpec().folds


def equal_trials(trials: int, folds: int) -> int:
    """Trials a search on ``folds`` folds that spend about the epochs of ``trials`` on the
    draw's folds; two at least, so that the search compares settings at all."""
    return max(2, round(trials * DRAW_FOLDS / folds))


def variant(equal: bool) -> str:
    """Where the reruns and their page are kept: ``folds``, or ``folds-equal-epochs`` for the
    searches given the draw's epochs."""
    return "folds-equal-epochs" if equal else "folds"


def report(equal: bool) -> None:
    """``folds.md``, or ``folds-equal-epochs.md`` (``variant``)."""
    runs = kept_runs(variant(equal))
    shown = ", ".join(map(str, sorted({r["evaluation"]["folds"] for r in runs.values()})))
    budget = (f"with the draw's trials a search times {DRAW_FOLDS} / {shown} so that they spend "
              "about the draw's epochs" if equal else
              "at the draw's own trials a search and so more epochs")
    page(variant(equal), runs, f"{DRAW_FOLDS} folds",
         f"{shown} folds, equal epochs" if equal else f"{shown} folds",
         f"More folds{' at the same epochs' if equal else ''}: regsearch against plain Optuna "
         "on fresh seeds",
         f"The reruns value each trial on {shown} stratified folds (`[evaluation] folds`) "
         f"instead of the default's {DRAW_FOLDS}, {budget}",
         "folds.py --equal-epochs" if equal else None)


def main() -> None:
    parser = rerun_parser(__doc__.splitlines()[0], "the draw's own")
    parser.add_argument("--folds", type=int, default=FOLDS, help="evaluation.folds")
    parser.add_argument("--equal-epochs", action="store_true", help="the draw's trials times "
                        f"{DRAW_FOLDS} / --folds a search (folds-equal-epochs)")
    args = parser.parse_args()
    if not args.report:
        trials = {name: args.trials or (equal_trials(n, args.folds) if args.equal_epochs else n)
                  for name, n in TRIALS.items()}
        rerun_draw(args.parts, args.threads, {"evaluation": {"folds": args.folds}},
                   variant(args.equal_epochs), trials)
    report(args.equal_epochs)


if __name__ == "__main__":
    main()
