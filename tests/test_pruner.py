"""The default pruner does not kill the slow-starting regularized settings we are looking for.

Replays real per-epoch curves of 48 unpruned trials of the default digits study through pruners,
in the order the trials ran, exactly as Optuna would have seen them. Two collections, both made
by benchmarks/pruner.py: tests/data/digits_curves.json with the current code, and an earlier one
made before trials were seeded per layer. They were recorded on one validation split (one
fold), so the selection is applied with one binomial standard error of the best validation
accuracy as its tolerance: one fold has no spread for a paired standard error.

The pruner is the one a study gets (``make_pruner``: a ``FoldPruner`` over the patient
percentile); a whole single-split curve is its first fold, ``STRIDE`` epochs. The last tests
check what the fold wrapper does: it judges the first fold after the warm-up, and leaves the
later folds to racing.
"""

from __future__ import annotations

import dataclasses
import json
import math

import optuna
import pytest

from search.backends.optuna_backend import make_pruner
from search.objective import select
from search.pruning import FoldPruner, replay
from search.spec import load_spec

from .conftest import ROOT

FILES = ["digits_curves.json", "digits_curves_before_seeding.json"]
SEARCH = load_spec(ROOT / "studies" / "default.toml").search
STRIDE = 30  # the recorded curves' epochs: each is one fold's worth of steps


def selection(data: dict):
    """The selection rule on a single-split collection: tolerance one binomial standard error
    of the best validation accuracy (at least one sample), the floor one validation sample."""
    trials, n = data["trials"], data["n_val"]
    records = [{"number": i, "val_accuracy": t["val_accuracy"], "gap": t["gap"]}
               for i, t in enumerate(trials)]
    p = max(r["val_accuracy"] for r in records)
    tolerance = max(math.sqrt(p * (1 - p) / n), 1 / n)
    return records, select(records, floor=1 / n, tolerance=tolerance), tolerance


def strongly_regularized(t: dict) -> bool:
    p = t["params"]
    return p["dropout"] >= 0.35 or p.get("l1", 0) >= 1e-3 or p.get("l2", 0) >= 1e-3


@pytest.fixture(scope="module", params=FILES)
def curves(request):
    """(trials, chosen trial number, numbers of the selection's candidates) of one collection."""
    data = json.loads((ROOT / "tests" / "data" / request.param).read_text())
    records, sel, tolerance = selection(data)
    assert sel.regularizes and sel.baseline is None  # no baseline in these collections
    near = [r["number"] for r in records
            if r["val_accuracy"] >= sel.best["val_accuracy"] - tolerance]
    return data["trials"], sel.chosen["number"], near


def pruned_at(trials: list[dict], pruner: optuna.pruners.BasePruner, key: str = "score") -> dict:
    return {r.number: r.pruned_at for r in replay([t[key] for t in trials], pruner) if r.pruned_at}


def test_the_chosen_trial_is_strongly_regularized_and_starts_slow(curves):
    trials, chosen, near = curves
    assert strongly_regularized(trials[chosen])
    median_at_3 = sorted(t["score"][2] for t in trials)[len(trials) // 2]
    assert trials[chosen]["score"][2] < median_at_3
    assert sum(strongly_regularized(trials[i]) for i in near) >= 5


def test_default_pruner_keeps_the_chosen_and_cuts_no_candidate_early(curves):
    trials, chosen, near = curves
    # The default's patience (5, set for the default's 150-epoch runs), and the 2 epochs these
    # 30-epoch curves were recorded with.
    for patience in (SEARCH.pruner_patience, 2):
        search = dataclasses.replace(SEARCH, pruner_patience=patience)
        cut = pruned_at(trials, make_pruner(search, STRIDE))
        assert chosen not in cut
        assert all(cut[i] > 20 for i in near if i in cut)  # a candidate, if cut, ran 20+ epochs
        assert sum(strongly_regularized(trials[i]) for i in near if i in cut) <= 1
        assert all(epochs > SEARCH.pruner_warmup for epochs in cut.values())  # not in warm-up
    # With patience 2 it still prunes (3 and 4 of the 48 trials): the bottom tenth, once stopped
    # improving. Patience 5 outwaits the noise of these short curves: it cuts none of them.
    assert cut


def test_without_patience_the_percentile_cuts_the_chosen_trial():
    """Why the default waits for a trial to stop improving: measured on the current curves."""
    data = json.loads((ROOT / "tests" / "data" / FILES[0]).read_text())
    chosen = selection(data)[1].chosen["number"]
    impatient = make_pruner(dataclasses.replace(SEARCH, pruner_patience=0), STRIDE)
    assert chosen in pruned_at(data["trials"], impatient)


def test_plain_median_pruner_on_val_accuracy_kills_what_we_look_for(curves):
    trials, chosen, near = curves
    cut = pruned_at(trials, optuna.pruners.MedianPruner(), key="val_curve")
    assert chosen in cut
    assert [i for i in near if i in cut and strongly_regularized(trials[i])]


def test_the_study_pruner_is_a_fold_pruner_with_the_spec_warmup():
    pruner = make_pruner(SEARCH, STRIDE)
    assert isinstance(pruner, FoldPruner)
    assert (pruner.stride, pruner.warmup) == (STRIDE, SEARCH.pruner_warmup)
    assert isinstance(make_pruner(dataclasses.replace(SEARCH, pruner="none"), STRIDE),
                      optuna.pruners.NopPruner)


def fold_curves(per_fold: list[list[float]], stride: int) -> dict[int, float]:
    """Per-fold curves as the evaluator reports them: step ``fold * stride + epoch``."""
    return {i * stride + e: v for i, curve in enumerate(per_fold) for e, v in enumerate(curve)}


def should_prune(pruner: optuna.pruners.BasePruner, others: list[dict[int, float]],
                 mine: dict[int, float]) -> dict[int, bool]:
    """After each of ``mine``'s steps, whether ``pruner`` would stop it, with ``others``
    completed before it (as a study would hold them)."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for values in others:
        trial = study.ask()
        for step, value in values.items():
            trial.report(value, step)
        study.tell(trial, 1.0)
    trial = study.ask()
    out = {}
    for step, value in mine.items():
        trial.report(value, step)
        out[step] = trial.should_prune()
    return out


def test_fold_pruner_judges_the_first_fold_after_its_warmup():
    stride, warmup = 6, 2
    # Two earlier trials, 0.9 on fold 1 and 0.3 on fold 2 (a hard fold).
    others = [fold_curves([[0.9] * stride, [0.3] * stride], stride) for _ in range(2)]
    inner = lambda: optuna.pruners.PercentilePruner(50.0, n_startup_trials=2)  # noqa: E731
    pruner = FoldPruner(inner(), stride=stride, warmup=warmup)
    # A slow starter: weak in the first two epochs, above the others after: kept.
    slow = fold_curves([[0.1, 0.1, 0.95, 0.95, 0.95, 0.95], [0.5] * stride], stride)
    assert not any(should_prune(pruner, others, slow).values())
    # Without the warm-up, the same judge stops it at once.
    assert should_prune(FoldPruner(inner(), stride=stride, warmup=0), others, slow)[0]
    # Below the others all through the first fold: cut from the end of the warm-up on.
    poor = fold_curves([[0.5] * stride, [0.3] * stride], stride)
    decisions = should_prune(pruner, others, poor)
    assert [s for s, cut in decisions.items() if cut] == list(range(warmup, stride))


def test_fold_pruner_leaves_later_folds_to_racing():
    """Later folds are run only by the trials that survived the first, too few for a
    percentile: the per-epoch pruner stays out of them (search/pruning.py)."""
    stride, warmup = 6, 2
    others = [fold_curves([[0.9] * stride, [0.3] * stride], stride) for _ in range(2)]
    worse = fold_curves([[0.9] * stride, [0.05] * stride], stride)  # far below, fold 2 only
    decisions = should_prune(FoldPruner(optuna.pruners.PercentilePruner(
        50.0, n_startup_trials=2), stride=stride, warmup=warmup), others, worse)
    assert not any(decisions.values()), decisions
