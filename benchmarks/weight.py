"""The objective's gap weight measured: does a search steered by validation accuracy alone
(``search.gap_weight = 0``) answer closer to plain Optuna on test, and still never below doing
nothing?

In the runs where regsearch is below plain Optuna on fresh seeds, plain Optuna's picks are weak
dropout with a moderate L2 penalty (dropout 0.10-0.20, L2 0.016-0.022 on default seeds 9 and 12
and mnist-lecture seeds 10 and 12), and regsearch's searches tried no such setting: their TPE
trials, steered by ``val_accuracy - 0.5 * |gap|``, went where the gap closes most (strong L1,
strong dropout), which the folds rate within noise and the refit's test does not. With weight 0
the sampler, the per-epoch pruner and EarlyStopping follow validation accuracy as plain
Optuna's do; the selection rule still takes the smallest gap within noise of the best; and
confirmation's score is test accuracy alone, so "at no cost" also asks that the setting is not
below the baseline on average.

For each run of a draw that ``recommendation.py --all`` and ``recheck.py`` made, this runs
regsearch again with ``--gap-weight`` and the draw's own folds and trials a search
(``recommendation.TRIALS``), so only the weight changes; its answer is confirmed and retrained
on the recheck's fresh seeds as ``screening.py`` does (``screening.rerun``), and
``gap-weight.md`` pairs it there with the baseline, plain Optuna and the draw's own answer.

    .venv/bin/python benchmarks/weight.py                    # every rechecked part of the draw
    .venv/bin/python benchmarks/weight.py --parts default-12
    .venv/bin/python benchmarks/weight.py --report
"""

from __future__ import annotations

from recommendation import TRIALS
from screening import kept_runs, page, rerun_draw, rerun_parser

from search.spec import SearchSpec

WEIGHT = 0.0
#: The weight the draws' searches ran with: the product's default.
DRAW_WEIGHT = SearchSpec().gap_weight
VARIANT = "gap-weight"


def report() -> None:
    """``gap-weight.md``."""
    runs = kept_runs(VARIANT)
    shown = ", ".join(f"{w:g}" for w in sorted({r["search"]["gap_weight"] for r in runs.values()}))
    page(VARIANT, runs, f"gap_weight {DRAW_WEIGHT:g}", f"gap_weight {shown}",
         "The objective's gap weight: regsearch against plain Optuna on fresh seeds",
         f"The reruns search with `[search] gap_weight = {shown}` instead of the default's "
         f"{DRAW_WEIGHT:g}, on the draw's folds and at the draw's trials a search", "weight.py")


def main() -> None:
    parser = rerun_parser(__doc__.splitlines()[0], "the draw's own")
    parser.add_argument("--gap-weight", type=float, default=WEIGHT, help="search.gap_weight")
    args = parser.parse_args()
    if not args.report:
        rerun_draw(args.parts, args.threads, {}, VARIANT,
                   {name: args.trials or n for name, n in TRIALS.items()},
                   {"gap_weight": args.gap_weight})
    report()


if __name__ == "__main__":
    main()
