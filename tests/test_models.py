"""The model builder and the snippet users paste build the same network."""

from __future__ import annotations

import keras
import pytest

from search.models import build_model, compile_model, describe_params, effective_params
from search.spec import ModelSpec

SPEC = ModelSpec(hidden=(50, 50), batch_norm=True)


def kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_lecture_notes_mlp_with_a_penalty_on_every_dense_kernel():
    model = build_model({"dropout": 0.3, "regularizer": "l1_l2", "l1": 1e-4, "l2": 1e-3}, 64, 10,
                        SPEC)
    assert kinds(model) == ["Dense", "BatchNormalization", "Dropout"] * 2 + ["Dense"]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [50, 50, 10]
    for d in dense:
        reg = d.kernel_regularizer
        assert isinstance(reg, keras.regularizers.L1L2)
        assert (reg.l1, reg.l2) == pytest.approx((1e-4, 1e-3))
    assert all(layer.rate == pytest.approx(0.3) for layer in model.layers
               if isinstance(layer, keras.layers.Dropout))


def test_baseline_has_no_dropout_and_no_penalty():
    model = build_model({}, 64, 10, SPEC)
    assert "Dropout" not in kinds(model)
    assert all(layer.kernel_regularizer is None and layer.kernel_constraint is None
               for layer in model.layers if isinstance(layer, keras.layers.Dense))


def test_unused_strengths_are_zero():
    assert effective_params({"dropout": 0.2, "regularizer": "l2", "l2": 0.01}) == {
        "dropout": 0.2, "regularizer": "l2", "l1": 0.0, "l2": 0.01, "weight_decay": 0.0,
        "max_norm": 0.0}


def test_max_norm_constrains_every_dense_kernel_and_no_bias():
    model = build_model({"dropout": 0.2, "regularizer": "none", "max_norm": 3.0}, 64, 10, SPEC)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == 3
    for d in dense:
        assert isinstance(d.kernel_constraint, keras.constraints.MaxNorm)
        assert (d.kernel_constraint.max_value, d.kernel_constraint.axis) == (3.0, 0)
        assert d.kernel.constraint is d.kernel_constraint
        assert d.bias_constraint is None and d.bias.constraint is None
        assert d.kernel_regularizer is None


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_weight_decay_goes_to_the_optimizer_and_zero_is_none(optimizer):
    decayed = compile_model(build_model({"weight_decay": 1e-4}, 64, 10, SPEC), optimizer, 1e-3,
                            weight_decay=1e-4)
    assert decayed.optimizer.weight_decay == pytest.approx(1e-4)
    plain = compile_model(build_model({}, 64, 10, SPEC), optimizer, 1e-3)
    assert plain.optimizer.weight_decay is None
    assert type(decayed.optimizer) is type(plain.optimizer)


def test_weight_decay_decouples_from_adam_where_an_l2_penalty_does_not():
    """Decoupled decay shrinks each weight by lr x decay x weight; Adam's first step moves every
    weight by about lr whatever its gradient, so an L2 gradient's pull is normalized away."""
    import numpy as np

    w0 = np.array([[2.0], [-0.5]], dtype="float32")
    lr, decay = 0.1, 0.5
    for kind, penalty in (("decay", None), ("l2", keras.regularizers.L2(decay / 2))):
        model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(
            1, use_bias=False, kernel_regularizer=penalty)])
        model.compile(optimizer=keras.optimizers.Adam(
            learning_rate=lr, weight_decay=decay if kind == "decay" else None), loss="mse")
        model.layers[0].kernel.assign(w0)
        model.train_on_batch(np.zeros((1, 2), "float32"), np.zeros((1, 1), "float32"))
        step = w0 - model.layers[0].kernel.numpy()
        if kind == "decay":  # w * decay * lr, then Adam's step on a zero gradient: nothing
            np.testing.assert_allclose(step, w0 * decay * lr, rtol=1e-6)
        else:  # the gradient decay * w, normalized: a step of lr * sign(w)
            np.testing.assert_allclose(step, lr * np.sign(w0), rtol=1e-4)


def test_adam_with_weight_decay_is_adamw():
    """Keras 3's AdamW is Adam with a default decay: the same steps, bit for bit."""
    import numpy as np

    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    weights = []
    for make in (keras.optimizers.Adam, keras.optimizers.AdamW):
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(
            1, kernel_initializer="ones")])
        model.compile(optimizer=make(learning_rate=0.05, weight_decay=0.1), loss="mse")
        for _ in range(5):
            model.train_on_batch(x, y)
        weights.append([w.numpy() for w in model.weights])
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def test_describe_params_names_every_regularizer_on():
    assert describe_params({"dropout": 0.3, "regularizer": "l2", "l2": 1e-3,
                            "weight_decay": 1e-4, "max_norm": 3.0}) == \
        "dropout 0.3, l2 0.001, weight decay 0.0001, max-norm 3"
    assert describe_params({"weight_decay": 1e-4}) == "dropout 0, no penalty, weight decay 0.0001"
    assert describe_params({"max_norm": 2.5}) == "dropout 0, no penalty, max-norm 2.5"
    assert describe_params({"dropout": 0.0, "regularizer": "none", "weight_decay": 0.0,
                            "max_norm": 0.0}) == "no regularization"
    assert describe_params({}) == "no regularization"
