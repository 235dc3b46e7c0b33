"""The objective and the selection rule, on records shaped like the ones studies store."""

from __future__ import annotations

import math

import pytest

from search.objective import RULE, default_tolerance, score, select


def rec(number, train, val):
    return {"number": number, "train_accuracy": train, "val_accuracy": val, "gap": train - val}


def test_score_pays_for_absolute_gap():
    assert score(0.95, 0.04, 0.5) == pytest.approx(0.93)
    assert score(0.95, -0.04, 0.5) == pytest.approx(0.93)
    assert score(0.95, 0.04, 0.0) == pytest.approx(0.95)


def test_default_tolerance_is_one_binomial_standard_error():
    assert default_tolerance(0.96, 360) == pytest.approx(math.sqrt(0.96 * 0.04 / 360))
    assert default_tolerance(1.0, 100) == pytest.approx(0.01)  # never below one sample


def test_collapsed_setting_with_the_smallest_gap_is_not_chosen():
    records = [
        rec(0, 1.000, 0.960),   # overfits: gap 0.04
        rec(1, 0.985, 0.965),   # regularized, best val
        rec(2, 0.420, 0.418),   # collapsed: both accuracies bad, gap 0.002
        rec(3, 0.930, 0.925),   # underfits: gap 0.005 but val far below the best
    ]
    sel = select(records, n_val=360)
    assert sel.chosen["number"] == 1
    assert sel.candidates == 2  # trials 1 and 0 are within one standard error (~0.0097)


def test_smallest_gap_wins_within_the_noise_of_the_best_val_accuracy():
    records = [rec(0, 1.000, 0.970), rec(1, 0.975, 0.965), rec(2, 0.990, 0.968)]
    sel = select(records, n_val=360)  # tolerance ~0.009: all three are candidates
    assert sel.candidates == 3
    assert sel.chosen["number"] == 1
    assert sel.describe()["rule"] == RULE


def test_explicit_tolerance_wins_and_ties_go_to_the_higher_val_accuracy():
    records = [rec(0, 0.99, 0.97), rec(1, 0.98, 0.96), rec(2, 0.97, 0.95)]
    # gaps 0.02, 0.02, 0.02 up to float noise -> make them exact ties
    for r in records:
        r["gap"] = 0.02
    sel = select(records, n_val=360, tolerance=0.05)
    assert sel.chosen["number"] == 0
    assert sel.tolerance == 0.05 and "spec" in sel.tolerance_source
    narrow = select([rec(0, 1.0, 0.97), rec(1, 0.96, 0.955)], n_val=360, tolerance=0.001)
    assert narrow.chosen["number"] == 0


def test_no_records_or_unfinished_figures_select_nothing():
    assert select([], n_val=100) is None
    assert select([{"number": 0, "val_accuracy": float("nan"), "gap": 0.0}], n_val=100) is None
