"""The cross-validation folds every trial is scored on (search/folds.py, search/evaluation.py).

Stratified and seeded folds of train + validation, the same for every trial and the baseline;
the test split in none of them; each fold's scaling fitted on its own train part; too many
folds for the smallest class refused with a clear message.

Most tests run on synthetic splits whose first feature is the row's id, so which rows went
where can be read back from the folds (unscaled with method "none").
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from search.data import Splits
from search.errors import RegsearchError
from search.evaluation import Evaluator
from search.folds import fold_seed, fold_splits, pooled, refit_splits, study_data
from search.scaling import Scaling
from search.spec import EvaluationSpec, load_spec
from search.trainer import Trainer, TrainResult

EV = EvaluationSpec(folds=3, repeats=1, racing=True)


def synthetic(counts=(30, 18, 12), n_test=15, seed=0) -> Splits:
    """Unscaled splits with an id in feature 0 (ids 0.. over train, validation, then test) and
    features on other scales after it; classes in proportion ``counts`` in train + validation."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts).astype("int32")
    y = y[rng.permutation(len(y))]
    n, n_val = len(y), len(y) // 4
    ids = np.arange(n + n_test, dtype="float32")
    other = rng.normal(loc=[5.0, -300.0], scale=[2.0, 50.0], size=(n + n_test, 2))
    x = np.column_stack([ids, other]).astype("float32")
    y_test = rng.integers(0, len(counts), size=n_test).astype("int32")
    return Splits("synthetic", x[:n - n_val], y[:n - n_val], x[n - n_val:n], y[n - n_val:],
                  x[n:], y_test, len(counts), Scaling.identity(3))


def ids(x: np.ndarray) -> set[int]:
    return set(x[:, 0].astype(int).tolist())


def test_folds_are_stratified():
    raw = synthetic()
    _, y = pooled(raw)
    expected = np.bincount(y) / EV.folds  # each class split evenly over the folds
    folds = fold_splits(raw, "none", "none", EV, seed=3)
    assert len(folds) == 3
    for fold in folds:
        val = np.bincount(fold.y_val, minlength=raw.n_classes)
        train = np.bincount(fold.y_train, minlength=raw.n_classes)
        assert np.all(np.abs(val - expected) <= 1), (val, expected)  # at most one row off
        assert np.array_equal(val + train, np.bincount(y))
        # Class proportions of each part are those of train + validation.
        assert np.allclose(val / val.sum(), np.bincount(y) / len(y), atol=0.03)


def test_folds_partition_train_and_validation_and_leave_the_test_split_out():
    raw = synthetic()
    every = ids(pooled(raw)[0])
    test = ids(raw.x_test)
    for repeats in (1, 2):
        folds = fold_splits(raw, "none", "none", dataclasses.replace(EV, repeats=repeats), 3)
        assert len(folds) == EV.folds * repeats
        for fold in folds:
            train, val = ids(fold.x_train), ids(fold.x_val)
            assert not train & val and train | val == every
            assert not (train | val) & test  # no test row in any fold
            assert len(fold.x_test) == len(fold.y_test) == 0  # nothing to read there either
        # Within one repeat each row is validated exactly once.
        for r in range(repeats):
            vals = [ids(f.x_val) for f in folds[r * EV.folds:(r + 1) * EV.folds]]
            assert sum(map(len, vals)) == len(every) and set().union(*vals) == every
        if repeats == 2:  # the second repeat is reshuffled
            assert [ids(f.x_val) for f in folds[:3]] != [ids(f.x_val) for f in folds[3:]]


def test_folds_are_fixed_by_the_seed():
    raw = synthetic()
    a, b, c = (fold_splits(raw, "none", "none", EV, seed) for seed in (3, 3, 4))
    assert [ids(f.x_val) for f in a] == [ids(f.x_val) for f in b]
    assert all(np.array_equal(f.x_train, g.x_train) and np.array_equal(f.y_val, g.y_val)
               for f, g in zip(a, b))
    assert [ids(f.x_val) for f in a] != [ids(f.x_val) for f in c]


def test_each_fold_is_scaled_as_fitted_on_its_own_train_part():
    from sklearn.model_selection import RepeatedStratifiedKFold

    raw = synthetic()
    x, y = pooled(raw)
    folds = fold_splits(raw, "standard", "auto", EV, seed=3)
    splitter = RepeatedStratifiedKFold(n_splits=3, n_repeats=1, random_state=3)
    offsets = []
    for fold, (train, val) in zip(folds, splitter.split(x, y)):
        mean, std = x[train].astype("float64").mean(0), x[train].astype("float64").std(0)
        assert fold.scaling.method == "standard" and fold.scaling.requested == "auto"
        assert np.allclose(fold.scaling.offset, mean, rtol=1e-5)
        assert np.allclose(fold.scaling.scale, std, rtol=1e-5)
        # Not the pooled fit, and not one that saw the fold's validation rows.
        assert not np.allclose(fold.scaling.offset, x.mean(0), rtol=1e-4)
        assert np.allclose(fold.x_train, (x[train] - mean) / std, atol=1e-4)
        assert np.allclose(fold.x_val, (x[val] - mean) / std, atol=1e-4)
        offsets.append(fold.scaling.offset)
    assert not np.allclose(offsets[0], offsets[1])  # each fold has its own fit

    # Confirmation's splits: all of train + validation, scaled as fitted on it; test as well.
    refit = refit_splits(raw, "standard", "auto")
    mean, std = x.astype("float64").mean(0), x.astype("float64").std(0)
    assert np.allclose(refit.scaling.offset, mean, rtol=1e-5)
    assert np.allclose(refit.x_train, (x - mean) / std, atol=1e-4)
    assert np.allclose(refit.x_test, (raw.x_test - mean) / std, atol=1e-4)
    assert len(refit.x_val) == 0


def test_study_data_on_digits(tiny_spec):
    spec = load_spec(tiny_spec(epochs=1))
    folds, refit = study_data(spec)
    assert len(folds) == spec.evaluation.folds == 2
    assert len(refit.y_train) == 1437 and len(refit.y_test) == 360
    for fold in folds:
        assert len(fold.y_train) + len(fold.y_val) == 1437 and len(fold.y_test) == 0
        assert fold.scaling.method == "range" and fold.x_train.min() == 0.0
        assert fold.x_train.max() == pytest.approx(1.0)
    # Each fold holds exactly the rows of train + validation (as a multiset: digits has
    # duplicate images), read back unscaled; so no row of the test split beyond those.
    def raw_rows(x: np.ndarray, scaling: Scaling) -> list[bytes]:
        pixels = np.rint(x * scaling.scale + scaling.offset).astype(int)
        return sorted(row.tobytes() for row in pixels)

    every = raw_rows(refit.x_train, refit.scaling)
    for fold in folds:
        assert raw_rows(np.concatenate([fold.x_train, fold.x_val]), fold.scaling) == every
    again, _ = study_data(spec)  # loaded again: the same folds
    assert all(np.array_equal(f.x_val, g.x_val) for f, g in zip(folds, again))


def fake_fit(log: list):
    """A ``Trainer.fit`` that records what it was given instead of training."""

    def fit(self, params, *, seed, report=None, callbacks=None, training=None, splits=None):
        log.append((dict(params), seed, splits))
        for epoch in range(2):
            if report is not None:
                report(epoch, 0.5)
        result = TrainResult(params=dict(params), train_accuracy=0.9, val_accuracy=0.8, gap=0.1,
                             score=0.75, train_loss=0.3, val_loss=0.5, epochs=2, best_epoch=2,
                             stopped="max_epochs")
        return result, None

    return fit


def test_every_trial_sees_the_same_folds_with_the_same_fold_seeds(tiny_spec, monkeypatch):
    spec = load_spec(tiny_spec(epochs=1))
    folds, _ = study_data(spec)
    log: list = []
    monkeypatch.setattr(Trainer, "fit", fake_fit(log))
    trainer = Trainer(folds[0], model=spec.model, training=spec.training,
                      score=lambda v, g: v - g)
    evaluator = Evaluator(trainer, folds, spec.seed)
    steps = []

    def report(step: int, value: float) -> bool:
        steps.append(step)
        return False

    a = evaluator.evaluate({"dropout": 0.4, "regularizer": "l2", "l2": 1e-3}, report=report)
    b = evaluator.evaluate({})
    assert len(a.folds) == len(b.folds) == 2 and len(log) == 4
    (pa, sa0, fa0), (_, sa1, fa1), (pb, sb0, fb0), (_, sb1, fb1) = log
    assert pa["dropout"] == 0.4 and pb == {}
    # The same fold objects, in the same order, with the same per-fold seeds.
    assert fa0 is fb0 is folds[0] and fa1 is fb1 is folds[1]
    assert (sa0, sa1) == (sb0, sb1) == (fold_seed(spec.seed, 0), fold_seed(spec.seed, 1))
    assert sa0 != sa1  # different initializations across folds
    # Steps are fold * stride + epoch.
    assert steps == [0, 1, evaluator.stride, evaluator.stride + 1]


def test_more_folds_than_the_smallest_class_is_refused_clearly():
    raw = synthetic(counts=(30, 18, 2))
    with pytest.raises(RegsearchError) as info:
        fold_splits(raw, "none", "none", EV, seed=0)
    assert str(info.value) == ("synthetic: evaluation.folds = 3 needs at least 3 rows of every "
                               "class in train + validation, the smallest class has 2; use "
                               "evaluation.folds = 2 or fewer")
    assert len(fold_splits(raw, "none", "none", dataclasses.replace(EV, folds=2), 0)) == 2
    lonely = synthetic(counts=(30, 18, 1))
    with pytest.raises(RegsearchError, match=r"synthetic: a class has 1 row in train \+ "
                                             r"validation; cross-validation needs at least 2 "
                                             r"rows of every class"):
        fold_splits(lonely, "none", "none", dataclasses.replace(EV, folds=2), 0)
