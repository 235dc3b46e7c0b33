"""The default pruner does not kill the slow-starting regularized settings we are looking for.

Replays real per-epoch curves of 48 unpruned trials of the default digits study through pruners,
in the order the trials ran, exactly as Optuna would have seen them. Two collections, both made
by benchmarks/pruner.py: tests/data/digits_curves.json with the current code, and an earlier one
made before trials were seeded per layer.
"""

from __future__ import annotations

import dataclasses
import json

import optuna
import pytest

from search.backends.optuna_backend import make_pruner
from search.objective import select
from search.pruning import replay
from search.spec import load_spec

from .conftest import ROOT

FILES = ["digits_curves.json", "digits_curves_before_seeding.json"]
SEARCH = load_spec(ROOT / "studies" / "default.toml").search


def strongly_regularized(t: dict) -> bool:
    p = t["params"]
    return p["dropout"] >= 0.35 or p.get("l1", 0) >= 1e-3 or p.get("l2", 0) >= 1e-3


@pytest.fixture(scope="module", params=FILES)
def curves(request):
    """(trials, chosen trial number, numbers of the selection's candidates) of one collection."""
    data = json.loads((ROOT / "tests" / "data" / request.param).read_text())
    trials = data["trials"]
    records = [{"number": i, "val_accuracy": t["val_accuracy"], "gap": t["gap"]}
               for i, t in enumerate(trials)]
    sel = select(records, n_val=data["n_val"])
    near = [r["number"] for r in records
            if r["val_accuracy"] >= sel.best_val_accuracy - sel.tolerance]
    return trials, sel.chosen["number"], near


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
    cut = pruned_at(trials, make_pruner(SEARCH))
    assert chosen not in cut
    assert all(cut[i] > 20 for i in near if i in cut)  # a candidate, if cut at all, ran 20+ epochs
    assert sum(strongly_regularized(trials[i]) for i in near if i in cut) <= 1
    # It still prunes (3 and 4 of the 48 trials): the bottom tenth, once stopped improving,
    # never inside the warm-up.
    assert cut and min(cut.values()) > SEARCH.pruner_warmup


def test_without_patience_the_percentile_cuts_the_chosen_trial():
    """Why the default waits for a trial to stop improving: measured on the current curves."""
    data = json.loads((ROOT / "tests" / "data" / FILES[0]).read_text())
    trials = data["trials"]
    records = [{"number": i, "val_accuracy": t["val_accuracy"], "gap": t["gap"]}
               for i, t in enumerate(trials)]
    chosen = select(records, n_val=data["n_val"]).chosen["number"]
    assert chosen in pruned_at(trials, make_pruner(dataclasses.replace(SEARCH, pruner_patience=0)))


def test_plain_median_pruner_on_val_accuracy_kills_what_we_look_for(curves):
    trials, chosen, near = curves
    cut = pruned_at(trials, optuna.pruners.MedianPruner(), key="val_curve")
    assert chosen in cut
    assert [i for i in near if i in cut and strongly_regularized(trials[i])]
