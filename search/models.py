"""The model builder: where Dropout and the L1/L2 kernel penalties go.

The lecture-notes MLP: for each hidden width, Dense(relu) -> BatchNormalization -> Dropout, then
Dense(classes, softmax); the penalty sits on every Dense kernel. The same function builds the
unregularized baseline (dropout 0, regularizer "none"); ``search/snippet.py`` writes it as code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .space import USES
from .spec import ModelSpec


def effective_params(params: dict[str, Any]) -> dict[str, Any]:
    """Fill the params a trial did not sample: dropout 0, regularizer none, unused strengths 0."""
    kind = params.get("regularizer", "none")
    return {
        "dropout": float(params.get("dropout", 0.0)),
        "regularizer": kind,
        "l1": float(params.get("l1", 0.0)) if "l1" in USES[kind] else 0.0,
        "l2": float(params.get("l2", 0.0)) if "l2" in USES[kind] else 0.0,
    }


def describe_params(params: dict[str, Any]) -> str:
    """``dropout 0.31, l2 3.1e-04`` in words; no dropout and no penalty is "no regularization"
    (strengths shown only for the penalty in use)."""
    full = effective_params(dict(params))
    if full["dropout"] == 0 and all(full[k] == 0 for k in ("l1", "l2")):
        return "no regularization"
    parts = [f"dropout {full['dropout']:.3g}"]
    if full["regularizer"] == "none" or all(full[k] == 0 for k in ("l1", "l2")):
        parts.append("no penalty")
    parts += [f"{k} {full[k]:.2g}" for k in ("l1", "l2") if full[k] > 0]
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


def compile_model(model, optimizer: str, learning_rate: float):
    """Compile for training: the ``[training] optimizer``, sparse cross-entropy, accuracy."""
    import keras

    make = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop}[optimizer]
    # jit_compile=False: XLA buys nothing measurable for a model this small (Keras' "auto"
    # default ran at 1.02x a plain fit: benchmarks/results/overhead-digits.md).
    model.compile(optimizer=make(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=False)
    return model


def build_model(params: dict[str, Any], n_features: int, n_classes: int, spec: ModelSpec,
                seed: int = 0, *, dropout: Callable[[float, int], Any] | None = None,
                penalty: Callable[[], Any] | None = None):
    """An uncompiled ``keras.Sequential`` for one setting of the space, seeded by ``seed``.

    ``dropout(rate, seed)`` makes the layer after each hidden block (None: no layer) and
    ``penalty()`` each Dense kernel's regularizer; by default ``keras.layers.Dropout`` (only
    for a rate above 0) and ``keras.regularizers.L1L2`` (only when the regularizer is not
    "none"). The reused model (``search/reuse.py``) passes its variable-strength versions.
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

    layers: list[Any] = [keras.Input(shape=(n_features,))]
    for i, units in enumerate(spec.hidden):
        layers.append(keras.layers.Dense(
            units, activation="relu", kernel_regularizer=penalty(),
            kernel_initializer=keras.initializers.GlorotUniform(seed=dense_seeds[i])))
        if spec.batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(dropout(p["dropout"], dropout_seeds[i]))
    layers.append(keras.layers.Dense(
        n_classes, activation="softmax", kernel_regularizer=penalty(),
        kernel_initializer=keras.initializers.GlorotUniform(seed=dense_seeds[-1])))
    return keras.Sequential([layer for layer in layers if layer is not None])
