"""The trainer measures the gap with dropout off, on the weights EarlyStopping restored; it
trains on any fold of the study's shape, and refits a setting on all of train + validation.

It runs on the default study's first cross-validation fold, as the search does."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from search import trainer
from search.errors import TrialFailure
from search.folds import study_data
from search.objective import trainer_for
from search.spec import load_spec

from .conftest import ROOT


@pytest.fixture(scope="module")
def data():
    """The default study's spec, its cross-validation folds and its refit splits."""
    trainer.configure_tensorflow()
    spec = load_spec(ROOT / "studies" / "default.toml")
    return (spec, *study_data(spec))


@pytest.fixture(scope="module")
def setup(data):
    """The default study's spec, its first fold and a trainer on it; the trainer's model is
    released after."""
    spec, folds, _ = data
    with trainer_for(spec, folds[0]) as t:
        yield spec, folds[0], t


def fit(setup, params, report=None, **training):
    """Train on digits; EarlyStopping may act from the first epoch unless ``min_steps`` says."""
    spec, _, t = setup
    return t.fit(params, seed=spec.seed, report=report,
                 training=dataclasses.replace(spec.training, **{"min_steps": 0, **training}))


def test_train_accuracy_is_measured_with_dropout_off(setup):
    spec, d, _ = setup
    result, model = fit(setup, {"dropout": 0.5, "regularizer": "none"}, max_epochs=12)
    evaluated = model.evaluate(d.x_train, d.y_train, verbose=0, return_dict=True)["accuracy"]
    # The same rows right (Keras reports its mean in float32, so not to the last bit).
    assert result.train_accuracy == pytest.approx(evaluated, abs=0.5 / len(d.y_train))
    # Keras' history accuracy is taken with dropout on: with rate 0.5 it is far lower.
    history_acc = result.curves["accuracy"][result.best_epoch - 1]
    assert result.train_accuracy - history_acc > 0.05
    assert result.gap == pytest.approx(result.train_accuracy - result.val_accuracy)
    # The per-epoch curve is the dropout-off figure too (the digits train split fits the sample).
    assert result.curves["train_accuracy"][result.best_epoch - 1] == pytest.approx(
        result.train_accuracy, abs=1e-6)


def test_metrics_come_from_the_restored_best_epoch(setup):
    result, _ = fit(setup, {"dropout": 0.1, "regularizer": "none"}, max_epochs=8, patience=2)
    scores = result.curves["score"]
    assert result.best_epoch == int(np.argmax(scores)) + 1
    assert result.epochs == len(scores)
    assert result.val_accuracy == pytest.approx(result.curves["val_accuracy"][result.best_epoch - 1],
                                                abs=1e-6)


def test_report_can_stop_training_and_marks_it_pruned(setup):
    seen = []

    def report(step, value):
        seen.append((step, value))
        return step == 2

    result, _ = fit(setup, {"dropout": 0.2}, report=report, max_epochs=10)
    assert result.stopped == "pruned" and result.epochs == 3
    assert [s for s, _ in seen] == [0, 1, 2]
    assert [v for _, v in seen] == pytest.approx(result.curves["score"])


def test_same_seed_same_figures(setup):
    a, _ = fit(setup, {"dropout": 0.3, "regularizer": "l2", "l2": 1e-3}, max_epochs=4)
    b, _ = fit(setup, {"dropout": 0.3, "regularizer": "l2", "l2": 1e-3}, max_epochs=4)
    assert a.metrics() == b.metrics()


def test_non_finite_loss_fails_the_trial_at_the_first_bad_epoch(setup):
    # Plain SGD with lr * 2 * l2 >> 2 multiplies the weights by ~200 a step: inf, then NaN.
    with pytest.raises(TrialFailure, match=r"non-finite training loss \(nan\) at epoch 1"):
        fit(setup, {"dropout": 0.1, "regularizer": "l2", "l2": 0.1}, max_epochs=5,
            optimizer="sgd", learning_rate=1e3)


def test_early_stopping_waits_for_min_steps(setup):
    # A digits fold's train part (958 rows of 3-fold train + validation) is 10 steps an epoch at
    # batch 100: 100 steps are 10 epochs, so a run with patience 1 and max_epochs 3 still
    # trains 11 and restores an epoch from 11 on.
    assert len(setup[1].y_train) == 958
    result, _ = fit(setup, {"dropout": 0.2, "regularizer": "none"}, max_epochs=3, patience=1,
                    min_steps=100)
    assert result.epochs == 11 and result.best_epoch == 11


def test_batch_norm_statistics_are_exact_on_the_restored_weights(setup):
    """The inference-mode figures use the train split's exact BN statistics of the restored
    epoch: recomputing them changes nothing (Keras' moving averages after 8 short epochs
    would)."""
    from search.batchnorm import set_population_statistics

    spec, d, _ = setup
    result, model = fit(setup, {"dropout": 0.3, "regularizer": "none"}, max_epochs=8)
    before = model.evaluate(d.x_val, d.y_val, verbose=0, return_dict=True)["accuracy"]
    assert before == pytest.approx(result.val_accuracy, abs=0.5 / len(d.y_val))
    set_population_statistics(model, d.x_train)
    after = model.evaluate(d.x_val, d.y_val, verbose=0, return_dict=True)["accuracy"]
    assert after == pytest.approx(before, abs=1e-9)


def test_a_fit_depends_on_its_seed_alone_not_on_tensorflows_global_seed(setup):
    """The reused model is not re-seeded globally (``tf.random.set_seed`` would clear
    TensorFlow's function caches): the batch order and every draw come from the trial's seed,
    so whatever global seed an earlier step left, the same seed trains the same run."""
    import tensorflow as tf

    params = {"dropout": 0.3, "regularizer": "l2", "l2": 1e-3}
    runs = []
    for global_seed in (1, 12345):
        tf.random.set_seed(global_seed)
        result, _ = fit(setup, params, max_epochs=3)
        runs.append(result)
    assert runs[0].curves == runs[1].curves and runs[0].metrics() == runs[1].metrics()
    # And another trial seed trains another run.
    other, _ = setup[2].fit(params, seed=setup[0].seed + 1, training=dataclasses.replace(
        setup[0].training, max_epochs=3, min_steps=0))
    assert other.curves["loss"] != runs[0].curves["loss"]


def test_fit_on_another_fold_trains_and_measures_on_that_fold(setup, data):
    spec, first, t = setup
    other = data[1][1]
    params = {"dropout": 0.2, "regularizer": "none"}
    training = dataclasses.replace(spec.training, max_epochs=4, min_steps=0)
    here, _ = t.fit(params, seed=spec.seed, training=training)
    there, model = t.fit(params, seed=spec.seed, training=training, splits=other)
    val = model.evaluate(other.x_val, other.y_val, verbose=0, return_dict=True)["accuracy"]
    assert there.val_accuracy == pytest.approx(val, abs=0.5 / len(other.y_val))
    train = model.evaluate(other.x_train, other.y_train, verbose=0, return_dict=True)["accuracy"]
    assert there.train_accuracy == pytest.approx(train, abs=0.5 / len(other.y_train))
    assert there.metrics() != here.metrics()
    assert t.splits is first  # the trainer's own data is unchanged


def test_refit_trains_exactly_its_epochs_on_all_of_train_and_validation(setup, data):
    spec, _, t = setup
    refit = data[2]
    params = {"dropout": 0.5, "regularizer": "l2", "l2": 1e-3}
    train_accuracy, model = t.refit(params, seed=11, epochs=3, splits=refit)
    steps = -(-len(refit.y_train) // spec.training.batch_size)
    assert int(model.optimizer.iterations.numpy()) == 3 * steps  # no early stop: 3 epochs
    # Train accuracy with dropout off, on the whole train + validation part.
    evaluated = model.evaluate(refit.x_train, refit.y_train, verbose=0,
                               return_dict=True)["accuracy"]
    assert train_accuracy == pytest.approx(evaluated, abs=0.5 / len(refit.y_train))
    test = t.accuracy(model, refit.x_test, refit.y_test)
    assert 0.5 < test <= 1.0
    # Seeded: the same seed gives the same figures (confirmation pairs runs by seed).
    again, model = t.refit(params, seed=11, epochs=3, splits=refit)
    assert again == train_accuracy and t.accuracy(model, refit.x_test, refit.y_test) == test
