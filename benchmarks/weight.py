"""The objective's gap weight measured: does a search steered by validation accuracy alone
(``search.gap_weight = 0``) answer closer to plain Optuna on test, and still never below doing
nothing?

In the runs where regsearch is below plain Optuna on fresh seeds, plain Optuna's picks are weak
dropout with a moderate L2 penalty (dropout 0.10-0.20, L2 0.016-0.022 on default seeds 9 and 12
and mnist-lecture seeds 10 and 12). regsearch's searches of those four runs, as kept by
``folds.py --equal-epochs`` (which share the draws' random start-up), tried no such setting,
and in three of them three of the seven trials tried L1 at 0.005 or more: steered by
``val_accuracy - 0.5 * |gap|``, the search values most the settings that close the gap most,
which the folds rate within noise of the best and the refit's test does not (``causes.md``).
With weight 0 the sampler, the per-epoch pruner and EarlyStopping follow validation accuracy as
plain Optuna's do; the selection rule still takes the smallest gap within noise of the best;
and confirmation's score is test accuracy alone, so "at no cost" also asks that the setting is
not below the baseline on average.

This was measured on draws made at the product's earlier default, ``gap_weight = 0.5`` for
the search and confirmation alike, and it is the product's default now: search 0, confirm 0.5
(README, "A search steered by validation accuracy").

For each run of a draw that ``recommendation.py --all`` and ``recheck.py`` made, this runs
regsearch again with ``--gap-weight`` (for the search and confirmation alike; by default, of 0
and 0.5, the one the draw's own searches did not use) and the draw's own folds and trials a
search (``recommendation.TRIALS``), so only the weight changes; its answer is confirmed and
retrained on the recheck's fresh seeds as ``screening.py`` does (``screening.rerun``), and
``gap-weight.md`` pairs it there with the baseline, plain Optuna and the draw's own answer.

Weight 0 changes two things at once, the search and confirmation's trade. ``--confirm-weight``
separates them: it continues each ``gap-weight`` study (its trials are the same, so nothing is
searched again) with ``[confirm] gap_weight`` set, so only its confirmation runs again, and
``gap-weight-split.md`` shows a search steered by validation accuracy whose confirmation still
accepts a setting at the draw's trade.

A draw's weights are read from its parts: those made since the default changed record them
(``weights``); older ones searched at ``recommendation.BEFORE_SEARCH`` and confirmed at the
same, under what they set (``recommendation.py --set``). A draw searched at 0 is rerun at 0.5:
as the product searched before.

    .venv/bin/python benchmarks/weight.py                    # every rechecked part of the draw
    .venv/bin/python benchmarks/weight.py --parts default-12
    .venv/bin/python benchmarks/weight.py --report
    .venv/bin/python benchmarks/weight.py --confirm-weight 0.5   # after the above
"""

from __future__ import annotations

import json
import sys

from recommendation import PARTS, TRIALS, draw_weights
from screening import kept_runs, page, rerun_draw, rerun_parser

#: The weights a rerun searches at when ``--gap-weight`` is not given: the one of these the
#: draw's own searches did not use.
WEIGHTS = (0.0, 0.5)
VARIANT = "gap-weight"
#: The same searches with confirmation judging at ``--confirm-weight``.
SPLIT = "gap-weight-split"


def weights_in_words() -> tuple[str, float]:
    """How the draw's own searches weighed the gap, in words, and their ``[search]`` weight."""
    seen = draw_weights(json.loads(p.read_text()) for p in PARTS.glob("*-*.json"))
    if len(seen) != 1:
        sys.exit(f"{PARTS}: the parts ran with different gap weights, or there are none: {seen}")
    [w] = seen
    return (f"gap_weight {w['search']:g}" if w["search"] == w["confirm"] else
            f"search {w['search']:g}, confirm {w['confirm']:g}"), w["search"]


def report(split: bool) -> None:
    """``gap-weight.md``, or ``gap-weight-split.md``."""
    name = SPLIT if split else VARIANT
    runs = kept_runs(name)
    old, draw_weight = weights_in_words()

    def shown(section: str) -> str:
        return ", ".join(f"{w:g}" for w in sorted({r[section]["gap_weight"]
                                                    for r in runs.values()}))

    confirm = (f"; confirmation judges at `[confirm] gap_weight = {shown('confirm')}` (the same "
               f"searches as `gap-weight.md`, continued: only their confirmation ran again)"
               if split else "")
    page(name, runs, old,
         f"search {shown('search')}, confirm {shown('confirm')}" if split else
         f"gap_weight {shown('search')}",
         "The objective's gap weight"
         f"{', confirmation apart' if split else ''}: regsearch against plain Optuna on fresh "
         "seeds",
         f"The reruns search with `[search] gap_weight = {shown('search')}` instead of the "
         f"draw's {draw_weight:g}, on the draw's folds and at the draw's trials a "
         f"search{confirm}", "weight.py --confirm-weight" if split else "weight.py")


def main() -> None:
    parser = rerun_parser(__doc__.splitlines()[0], "the draw's own")
    parser.add_argument("--gap-weight", type=float, help="search.gap_weight and "
                        "confirm.gap_weight (default: of 0 and 0.5, the one the draw's own "
                        "searches did not use)")
    parser.add_argument("--confirm-weight", type=float, help="confirm.gap_weight: continue the "
                        f"{VARIANT} studies with it ({SPLIT})")
    args = parser.parse_args()
    split = args.confirm_weight is not None
    if args.gap_weight is None:
        args.gap_weight = next(w for w in WEIGHTS if w != weights_in_words()[1])
    kept = ({r["search"]["gap_weight"] for r in kept_runs(VARIANT).values()}
            if split and not args.report else set())
    if kept - {args.gap_weight}:
        # The kept studies searched at that weight; a study cannot continue under another.
        parser.error(f"--confirm-weight continues the {VARIANT} studies, which searched at "
                     f"gap_weight {', '.join(f'{w:g}' for w in sorted(kept))}: give that "
                     f"--gap-weight, not {args.gap_weight:g}")
    if not args.report:
        # One weight for both, as the product's searches had before [confirm] gap_weight.
        changes = {"search": {"gap_weight": args.gap_weight},
                   "confirm": {"gap_weight": args.confirm_weight if split else args.gap_weight}}
        rerun_draw(args.parts, args.threads, changes, SPLIT if split else VARIANT,
                   {name: args.trials or n for name, n in TRIALS.items()},
                   VARIANT if split else None)
    report(split)


if __name__ == "__main__":
    main()
