"""The model builder: where Dropout, the L1/L2 kernel penalties, MaxNorm and weight decay go.

The lecture-notes MLP: for each hidden width, Dense(relu) -> BatchNormalization -> Dropout, then
Dense(classes, softmax); the penalty and the MaxNorm constraint sit on every Dense kernel, the
decoupled weight decay on the optimizer (``compile_model``). The same function builds the
unregularized baseline (dropout 0, regularizer "none", no decay, no constraint);
``search/snippet.py`` writes it as code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .space import USES
from .spec import ModelSpec


def effective_params(params: dict[str, Any]) -> dict[str, Any]:
    """Fill the params a trial did not sample: dropout 0, regularizer none, unused strengths 0,
    weight decay 0 and max-norm 0 (0: off)."""
    kind = params.get("regularizer", "none")
    return {
        "dropout": float(params.get("dropout", 0.0)),
        "regularizer": kind,
        "l1": float(params.get("l1", 0.0)) if "l1" in USES[kind] else 0.0,
        "l2": float(params.get("l2", 0.0)) if "l2" in USES[kind] else 0.0,
        "weight_decay": float(params.get("weight_decay", 0.0)),
        "max_norm": float(params.get("max_norm", 0.0)),
    }


def describe_params(params: dict[str, Any]) -> str:
    """``dropout 0.31, l2 0.00031, weight decay 0.0001, max-norm 3`` in words; nothing on is
    "no regularization" (strengths shown only for the penalty in use; weight decay and max-norm
    only when on)."""
    full = effective_params(dict(params))
    if all(full[k] == 0 for k in ("dropout", "l1", "l2", "weight_decay", "max_norm")):
        return "no regularization"
    parts = [f"dropout {full['dropout']:.3g}"]
    if full["regularizer"] == "none" or all(full[k] == 0 for k in ("l1", "l2")):
        parts.append("no penalty")
    parts += [f"{k} {full[k]:.2g}" for k in ("l1", "l2") if full[k] > 0]
    if full["weight_decay"] > 0:
        parts.append(f"weight decay {full['weight_decay']:.2g}")
    if full["max_norm"] > 0:
        parts.append(f"max-norm {full['max_norm']:.3g}")
    return ", ".join(parts)


def init_seeds(seed: int, n_hidden: int) -> tuple[list[int], list[int]]:
    """The seeds of a model's random parts: one per Dense kernel, one per Dropout layer.

    Explicit seeds make a model's initial weights and dropout masks a function of the trial's
    seed alone, so the reused model (``search/reuse.py``) can be put back into exactly the state
    a fresh build starts in.
    """
    state = np.random.SeedSequence(seed).generate_state(2 * n_hidden + 1)
    seeds = [int(s % (2**31 - 2)) for s in state]
    return seeds[:n_hidden + 1], seeds[n_hidden + 1:]


def compile_model(model, optimizer: str, learning_rate: float, weight_decay: float = 0.0):
    """Compile for training: the ``[training] optimizer`` with the trial's decoupled weight decay
    (0: none), sparse cross-entropy, accuracy."""
    import keras

    make = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop}[optimizer]
    # Keras 3 decays weights in the base optimizer, for every optimizer alike: before each update
    # step, ``w -= w * weight_decay * learning_rate`` (BaseOptimizer._apply_weight_decay, the
    # TensorFlow backend's override computes the same), skipped when weight_decay is None. So
    # Adam(weight_decay=x) is AdamW (Loshchilov & Hutter, 2019): keras.optimizers.AdamW is Adam
    # with a default decay of 0.004 that refuses None, nothing more. One call serves all three.
    # jit_compile=False: XLA buys nothing measurable for a model this small (Keras' "auto"
    # default ran at 1.02x a plain fit: benchmarks/results/overhead-digits.md).
    model.compile(optimizer=make(learning_rate=learning_rate,
                                 weight_decay=weight_decay if weight_decay > 0 else None),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=False)
    return model


def build_model(params: dict[str, Any], n_features: int, n_classes: int, spec: ModelSpec,
                seed: int = 0, *, dropout: Callable[[float, int], Any] | None = None,
                penalty: Callable[[], Any] | None = None,
                constraint: Callable[[], Any] | None = None):
    """An uncompiled ``keras.Sequential`` for one setting of the space, seeded by ``seed``.

    ``dropout(rate, seed)`` makes the layer after each hidden block (None: no layer),
    ``penalty()`` each Dense kernel's regularizer and ``constraint()`` its constraint; by
    default ``keras.layers.Dropout`` (only for a rate above 0), ``keras.regularizers.L1L2``
    (only when the regularizer is not "none") and ``keras.constraints.MaxNorm`` (only for a
    max-norm above 0). The reused model (``search/reuse.py``) passes its variable versions.
    Weight decay is the optimizer's: ``compile_model``.
    """
    import keras

    p = effective_params(params)
    dense_seeds, dropout_seeds = init_seeds(seed, len(spec.hidden))
    if dropout is None:
        def dropout(rate: float, layer_seed: int):
            return keras.layers.Dropout(rate=rate, seed=layer_seed) if rate > 0 else None
    if penalty is None:
        def penalty():
            if p["regularizer"] == "none":
                return None
            return keras.regularizers.L1L2(l1=p["l1"], l2=p["l2"])
    if constraint is None:
        def constraint():
            if p["max_norm"] == 0:
                return None
            return keras.constraints.MaxNorm(max_value=p["max_norm"])

    layers: list[Any] = [keras.Input(shape=(n_features,))]
    for i, units in enumerate(spec.hidden):
        layers.append(keras.layers.Dense(
            units, activation="relu", kernel_regularizer=penalty(),
            kernel_constraint=constraint(),
            kernel_initializer=keras.initializers.GlorotUniform(seed=dense_seeds[i])))
        if spec.batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(dropout(p["dropout"], dropout_seeds[i]))
    layers.append(keras.layers.Dense(
        n_classes, activation="softmax", kernel_regularizer=penalty(),
        kernel_constraint=constraint(),
        kernel_initializer=keras.initializers.GlorotUniform(seed=dense_seeds[-1])))
    return keras.Sequential([layer for layer in layers if layer is not None])
