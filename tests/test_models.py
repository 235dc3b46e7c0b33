"""The model builder and the snippet users paste build the same network."""

from __future__ import annotations

import keras
import pytest

from search.models import build_model, effective_params
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
    assert all(layer.kernel_regularizer is None for layer in model.layers
               if isinstance(layer, keras.layers.Dense))


def test_unused_strengths_are_zero():
    assert effective_params({"dropout": 0.2, "regularizer": "l2", "l2": 0.01}) == {
        "dropout": 0.2, "regularizer": "l2", "l1": 0.0, "l2": 0.01}
