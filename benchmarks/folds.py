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

    .venv/bin/python benchmarks/folds.py                     # every rechecked part of the draw
    .venv/bin/python benchmarks/folds.py --parts default-12 --folds 5
    .venv/bin/python benchmarks/folds.py --report
"""

from __future__ import annotations

from recommendation import TRIALS
from screening import kept_runs, page, rerun_draw, rerun_parser

FOLDS = 5


def report() -> None:
    """``folds.md``."""
    runs = kept_runs("folds")
    folds = sorted({r["evaluation"]["folds"] for r in runs.values()})
    page("folds", runs, "3 folds", f"{', '.join(map(str, folds))} folds",
         "More folds: regsearch against plain Optuna on fresh seeds",
         f"The reruns value each trial on {', '.join(map(str, folds))} stratified folds "
         "(`[evaluation] folds`) instead of the default's 3, at the draw's own trials a search "
         "and so more epochs")


def main() -> None:
    parser = rerun_parser(__doc__.splitlines()[0], "the draw's own")
    parser.add_argument("--folds", type=int, default=FOLDS, help="evaluation.folds")
    args = parser.parse_args()
    if not args.report:
        rerun_draw(args.parts, args.threads, {"folds": args.folds}, "folds",
                   {name: args.trials or n for name, n in TRIALS.items()})
    report()


if __name__ == "__main__":
    main()
