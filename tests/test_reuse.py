"""The reused model gives the same answer as a freshly built one, and really is reused.

Tolerance: none. The reused graph performs the same float32 operations in the same order as a
fresh ``keras.layers.Dropout`` / ``keras.regularizers.L1L2`` / ``keras.constraints.MaxNorm``
model with the same optimizer weight decay (a zero strength adds an exact zero, a max-norm of 0
and a weight decay of 0 leave the weights as they are; the dropout scale is rounded as
TensorFlow rounds it for a Python rate), so every per-epoch figure is bit for bit the same.
That matters beyond tidiness: an earlier version that divided by ``1 - rate`` in float32
differed by 5e-7 in the loss after a few epochs, and after 30 epochs some trials ended 0.4
points apart in validation accuracy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from search import reuse, trainer
from search.folds import study_data
from search.objective import score
from search.spec import load_spec

from .conftest import ROOT

SETTINGS = {
    "dropout only": {"dropout": 0.4, "regularizer": "none"},
    "l1": {"dropout": 0.2, "regularizer": "l1", "l1": 1e-3},
    "l2": {"dropout": 0.3, "regularizer": "l2", "l2": 1e-2},
    "l1_l2": {"dropout": 0.1, "regularizer": "l1_l2", "l1": 1e-4, "l2": 1e-3},
    "baseline": {},
    # A bound of 1 binds from the start: Glorot kernels' columns have norms about 1.
    "max-norm": {"dropout": 0.2, "regularizer": "l2", "l2": 1e-3, "max_norm": 1.0},
}
#: A prior trial with every variable on, so the trial after it must switch them back off.
PRIOR = {"dropout": 0.5, "regularizer": "l2", "l2": 0.05, "weight_decay": 0.05, "max_norm": 1.5}


@pytest.fixture(scope="module")
def setup():
    """The default study's spec and folds, and a trainer per architecture (on the first fold,
    as the search's evaluator makes it), released after."""
    trainer.configure_tensorflow()
    spec = load_spec(ROOT / "studies" / "default.toml")
    folds, _ = study_data(spec)
    trainers: dict = {}
    yield spec, folds, trainers
    for t in trainers.values():
        t.close()


def fit(setup, params, *, reuse_model, report=None, epochs=4, seed=None, fold=0, **model):
    """One trial on the trainer for this architecture, on fold ``fold``: reused or rebuilt as
    ``reuse_model``."""
    spec, folds, trainers = setup
    model_spec = dataclasses.replace(spec.model, **model)
    if model_spec not in trainers:
        trainers[model_spec] = trainer.Trainer(folds[0], model=model_spec, training=spec.training,
                                               score=lambda val, gap: score(val, gap, 0.5))
    training = dataclasses.replace(spec.training, max_epochs=epochs, reuse_model=reuse_model,
                                   min_steps=0)
    return trainers[model_spec].fit(params, seed=spec.seed if seed is None else seed,
                                    report=report, training=training, splits=folds[fold])


def assert_same(fresh, reused):
    assert reused.curves == fresh.curves  # every per-epoch figure, bit for bit
    assert reused.metrics() == fresh.metrics()  # final train/val accuracy, gap, epochs, ...


@pytest.mark.parametrize("name", SETTINGS)
def test_a_trial_on_the_reused_model_equals_one_on_a_fresh_model(setup, name):
    fresh, _ = fit(setup, SETTINGS[name], reuse_model=False)
    fit(setup, PRIOR, reuse_model=True)
    reused, _ = fit(setup, SETTINGS[name], reuse_model=True)
    assert_same(fresh, reused)


def test_weight_decay_on_the_reused_model_equals_a_fresh_optimizer_with_that_decay(setup):
    """The decay is a variable the traced step reads: trial after trial it does what a fresh
    ``compile_model(..., weight_decay=...)`` does, curves and final weights bit for bit."""
    import keras

    from search.models import build_model, compile_model

    spec, folds, _ = setup
    fold = folds[0]
    reusable = reuse.ReusableModel(reuse.Shape(fold.n_features, fold.n_classes, spec.model,
                                               "adam", 1e-3))

    def train(model):
        history = model.fit(fold.x_train, fold.y_train, batch_size=100, epochs=3, verbose=0,
                            validation_data=(fold.x_val, fold.y_val))
        weights = [w.numpy() for layer in model.layers if isinstance(
            layer, (keras.layers.Dense, keras.layers.BatchNormalization)) for w in layer.weights]
        return history.history, weights

    for seed, params in enumerate([PRIOR, {"dropout": 0.2, "weight_decay": 1e-2},
                                   {"dropout": 0.3, "regularizer": "l2", "l2": 1e-3,
                                    "weight_decay": 3e-3, "max_norm": 1.0}]):
        keras.utils.set_random_seed(seed)
        fresh = compile_model(build_model(params, fold.n_features, fold.n_classes, spec.model,
                                          seed=seed), "adam", 1e-3, params["weight_decay"])
        assert fresh.optimizer.weight_decay == params["weight_decay"]
        fresh_history, fresh_weights = train(fresh)
        keras.utils.set_random_seed(seed)
        model = reusable.prepare(params, seed)
        assert float(model.optimizer.weight_decay.numpy()) == np.float32(params["weight_decay"])
        history, weights = train(model)
        assert history == fresh_history
        assert all(np.array_equal(a, b) for a, b in zip(weights, fresh_weights, strict=True))


def test_nothing_leaks_from_a_pruned_trial_into_the_next(setup):
    """Optimizer moments, BN statistics, early-stopping state and the dropout RNG all reset."""
    target = SETTINGS["l1_l2"]
    fresh, _ = fit(setup, target, reuse_model=False, epochs=6)
    pruned, model = fit(setup, {"dropout": 0.45, "regularizer": "l1", "l1": 0.02},
                        reuse_model=True, report=lambda step, value: step == 1, epochs=6)
    assert pruned.stopped == "pruned" and pruned.epochs == 2
    assert int(model.optimizer.iterations.numpy()) > 0  # state the next trial must not inherit
    reused, again = fit(setup, target, reuse_model=True, epochs=6)
    assert again is model, "the same compiled model served both trials"
    assert_same(fresh, reused)


def test_the_compiled_model_and_its_traced_functions_are_reused(setup):
    _, first = fit(setup, SETTINGS["l2"], reuse_model=True, epochs=2)
    train_function = first.train_function
    _, second = fit(setup, SETTINGS["l1"], reuse_model=True, epochs=2, seed=5)
    assert second is first and second.train_function is train_function
    _, other = fit(setup, SETTINGS["l1"], reuse_model=True, epochs=2, hidden=(20,))
    assert other is not first, "another architecture gets its own model"
    assert len(other.layers) == 4  # Dense, BatchNorm, Dropout, Dense
    _, fresh_a = fit(setup, SETTINGS["l1"], reuse_model=False, epochs=1)
    _, fresh_b = fit(setup, SETTINGS["l1"], reuse_model=False, epochs=1)
    assert fresh_a is not fresh_b, "reuse_model = false builds a model per trial"


def test_one_reused_model_serves_every_fold_as_fresh_models_would(setup):
    """The evaluator trains a setting fold after fold on one compiled model."""
    fresh, _ = fit(setup, SETTINGS["l1"], reuse_model=False, fold=1, seed=4)
    _, first = fit(setup, SETTINGS["l1"], reuse_model=True, fold=0, seed=3)
    reused, again = fit(setup, SETTINGS["l1"], reuse_model=True, fold=1, seed=4)
    assert again is first
    assert_same(fresh, reused)


def test_another_seed_gives_another_start_as_a_fresh_model_would(setup):
    fresh, _ = fit(setup, SETTINGS["l2"], reuse_model=False, seed=11, epochs=3)
    reused, _ = fit(setup, SETTINGS["l2"], reuse_model=True, seed=11, epochs=3)
    other, _ = fit(setup, SETTINGS["l2"], reuse_model=True, seed=12, epochs=3)
    assert_same(fresh, reused)
    assert other.curves["loss"] != reused.curves["loss"]


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (1e-3, 0.0), (0.0, 1e-2), (3e-4, 2e-3)])
def test_the_penalty_is_the_one_keras_l1l2_computes(setup, l1, l2):
    import keras

    spec, folds, _ = setup
    shape = reuse.Shape(folds[0].n_features, folds[0].n_classes, spec.model, "adam", 1e-3)
    model = reuse.ReusableModel(shape).prepare(
        {"regularizer": "l1_l2", "l1": l1, "l2": l2, "dropout": 0.2}, seed=3)
    reference = keras.regularizers.L1L2(l1=l1, l2=l2)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    assert len(model.losses) == len(kernels) == 3
    for loss, kernel in zip(model.losses, kernels):
        assert float(loss) == float(reference(kernel))
    weights = np.random.default_rng(0).normal(size=kernels[0].shape).astype("float32")
    assert float(model.layers[0].kernel.regularizer(weights)) == float(reference(weights))


@pytest.mark.parametrize("max_norm", [0.0, 0.5, 3.0])
def test_the_constraint_is_the_one_keras_maxnorm_computes_and_off_is_the_identity(setup,
                                                                                  max_norm):
    import keras

    spec, folds, _ = setup
    shape = reuse.Shape(folds[0].n_features, folds[0].n_classes, spec.model, "adam", 1e-3)
    model = reuse.ReusableModel(shape).prepare({"max_norm": max_norm}, seed=3)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    assert len({id(k.constraint) for k in kernels}) == 1  # one shared constraint
    weights = np.random.default_rng(0).normal(size=kernels[0].shape).astype("float32")
    constrained = keras.ops.convert_to_numpy(kernels[0].constraint(weights))
    if max_norm == 0:
        assert np.array_equal(constrained, weights)
    else:
        reference = keras.constraints.MaxNorm(max_value=max_norm)(weights)
        assert np.array_equal(constrained, keras.ops.convert_to_numpy(reference))
        assert np.linalg.norm(constrained, axis=0).max() <= max_norm * (1 + 1e-6)
