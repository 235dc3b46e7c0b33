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

For each run of a draw that ``recommendation.py --all`` and ``recheck.py`` made, this runs
regsearch again with ``--gap-weight`` and the draw's own folds and trials a search
(``recommendation.TRIALS``), so only the weight changes; its answer is confirmed and retrained
on the recheck's fresh seeds as ``screening.py`` does (``screening.rerun``), and
``gap-weight.md`` pairs it there with the baseline, plain Optuna and the draw's own answer.

Weight 0 changes two things at once, the search and confirmation's trade. ``--confirm-weight``
separates them: it continues each ``gap-weight`` study (its trials are the same, so nothing is
searched again) with ``[confirm] gap_weight`` set, so only its confirmation runs again, and
``gap-weight-split.md`` shows a search steered by validation accuracy whose confirmation still
accepts a setting at the draw's trade.

A draw made with the weights set (``recommendation.py --set search.gap_weight=0``) is read
the other way round: its parts keep what they set, each rerun starts from it, and
``--gap-weight 0.5`` reruns that draw as the product's default searches.

    .venv/bin/python benchmarks/weight.py                    # every rechecked part of the draw
    .venv/bin/python benchmarks/weight.py --parts default-12
    .venv/bin/python benchmarks/weight.py --report
    .venv/bin/python benchmarks/weight.py --confirm-weight 0.5   # after the above
"""

from __future__ import annotations

import json
import sys

from recommendation import PARTS, TRIALS, draw_changes
from screening import kept_runs, page, rerun_draw, rerun_parser

from search.spec import SearchSpec

WEIGHT = 0.0
VARIANT = "gap-weight"
#: The same searches with confirmation judging at ``--confirm-weight``.
SPLIT = "gap-weight-split"


def draw_weights() -> tuple[str, float]:
    """How the draw's own searches weighed the gap, in words, and their ``[search]`` weight:
    the product's default, or what the draw set (``recommendation.py --set``)."""
    changes = draw_changes(json.loads(p.read_text()) for p in PARTS.glob("*-*.json"))
    if len(changes) > 1:
        sys.exit(f"{PARTS}: the parts ran with different --set changes: {changes}")
    changed = changes[0] if changes else {}
    search = changed.get("search", {}).get("gap_weight", SearchSpec().gap_weight)
    confirm = changed.get("confirm", {}).get("gap_weight")
    return (f"gap_weight {search:g}" if confirm is None else
            f"search {search:g}, confirm {confirm:g}"), search


def report(split: bool) -> None:
    """``gap-weight.md``, or ``gap-weight-split.md``."""
    name = SPLIT if split else VARIANT
    runs = kept_runs(name)
    old, draw_weight = draw_weights()

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
    parser.add_argument("--gap-weight", type=float, default=WEIGHT, help="search.gap_weight")
    parser.add_argument("--confirm-weight", type=float, help="confirm.gap_weight: continue the "
                        f"{VARIANT} studies with it ({SPLIT})")
    args = parser.parse_args()
    split = args.confirm_weight is not None
    kept = ({r["search"]["gap_weight"] for r in kept_runs(VARIANT).values()}
            if split and not args.report else set())
    if kept - {args.gap_weight}:
        # The kept studies searched at that weight; a study cannot continue under another.
        parser.error(f"--confirm-weight continues the {VARIANT} studies, which searched at "
                     f"gap_weight {', '.join(f'{w:g}' for w in sorted(kept))}: give that "
                     f"--gap-weight, not {args.gap_weight:g}")
    if not args.report:
        changes = {"search": {"gap_weight": args.gap_weight},
                   **({"confirm": {"gap_weight": args.confirm_weight}} if split else {})}
        rerun_draw(args.parts, args.threads, changes, SPLIT if split else VARIANT,
                   {name: args.trials or n for name, n in TRIALS.items()},
                   VARIANT if split else None)
    report(split)


if __name__ == "__main__":
    main()
