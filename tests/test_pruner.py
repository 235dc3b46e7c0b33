"""The default pruner does not kill the slow-starting regularized settings we are looking for.

Replays real per-epoch curves of 48 unpruned trials of the default digits study
(tests/data/digits_curves.json, made by benchmarks/pruner.py) through pruners, in the order the
trials ran, exactly as Optuna would have seen them.
"""

from __future__ import annotations

import json

import optuna
import pytest

from search.backends.optuna_backend import make_pruner
from search.objective import select
from search.pruning import replay
from search.spec import load_spec

from .conftest import ROOT

DATA = json.loads((ROOT / "tests" / "data" / "digits_curves.json").read_text())
TRIALS = DATA["trials"]


def strongly_regularized(t: dict) -> bool:
    p = t["params"]
    return p["dropout"] >= 0.35 or p.get("l1", 0) >= 1e-3 or p.get("l2", 0) >= 1e-3


@pytest.fixture(scope="module")
def chosen_and_candidates():
    records = [{"number": i, "val_accuracy": t["val_accuracy"], "gap": t["gap"]}
               for i, t in enumerate(TRIALS)]
    sel = select(records, n_val=DATA["n_val"])
    near = [r["number"] for r in records
            if r["val_accuracy"] >= sel.best_val_accuracy - sel.tolerance]
    return sel.chosen["number"], near


def test_the_curves_show_slow_starting_regularized_candidates(chosen_and_candidates):
    _, near = chosen_and_candidates
    strong = [i for i in near if strongly_regularized(TRIALS[i])]
    assert strong, "the fixture must hold strongly regularized candidates for this test to mean much"
    median_at_3 = sorted(t["score"][2] for t in TRIALS)[len(TRIALS) // 2]
    assert any(TRIALS[i]["score"][2] < median_at_3 for i in strong)


def test_default_pruner_keeps_the_chosen_and_every_strongly_regularized_candidate(
        chosen_and_candidates):
    chosen, near = chosen_and_candidates
    pruner = make_pruner(load_spec(ROOT / "studies" / "default.toml").search)
    result = replay([t["score"] for t in TRIALS], pruner)
    pruned = {r.number for r in result if r.pruned_at}
    assert chosen not in pruned
    assert not [i for i in near if i in pruned and strongly_regularized(TRIALS[i])]
    # ... and it still matters: it saves epochs on the settings that are far off.
    spent = sum(r.epochs for r in result) / sum(len(t["score"]) for t in TRIALS)
    assert spent < 0.9 and len(pruned) >= 10
    assert min(r.pruned_at for r in result if r.pruned_at) > 10  # never inside the warm-up


def test_plain_median_pruner_on_val_accuracy_kills_what_we_look_for(chosen_and_candidates):
    chosen, near = chosen_and_candidates
    result = replay([t["val_curve"] for t in TRIALS], optuna.pruners.MedianPruner())
    pruned = {r.number for r in result if r.pruned_at}
    assert chosen in pruned
    assert [i for i in near if i in pruned and strongly_regularized(TRIALS[i])]
