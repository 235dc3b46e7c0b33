"""BatchNormalization statistics that are right however few steps an epoch has.

In inference mode (dropout off: how regsearch measures train and validation accuracy) each
BatchNormalization layer normalizes with its moving mean and variance, updated once per
optimizer step with momentum 0.99. With a few hundred rows an epoch is 2-5 steps, so after
30 epochs those averages are still far from the real statistics and the inference-mode
accuracy is a different model's (on 400 digits: 0.775 validation accuracy against 0.850 for
the same weights with exact statistics). ``benchmarks/results/batchnorm.md`` measured the
options: a lower momentum or one derived from the steps per epoch still leaves 0.01-0.05 of
error (the last, small batch of an epoch weighs most), while setting the statistics to the
exact mean and variance over the training split before each evaluation leaves none and costs
one forward pass over it (cheaper than Keras' own validation pass it replaces).

Keras has no such "precise BatchNorm" step (it only updates the averages during training),
hence this module. The exported Keras snippet carries the same few lines as a callback.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .compiled import per_model


def _norms(model: Any) -> list[Any]:
    """The BatchNormalization layers of ``model`` and of the models nested in it, in order."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            out.append(layer)
        elif isinstance(layer, keras.Model):
            out += _norms(layer)
    return out


def has_batch_norm(model: Any) -> bool:
    """Whether the model has a BatchNormalization layer whose statistics need setting."""
    return bool(_norms(model))


def _axes(layer: Any, ndim: int) -> list[int]:
    """The axes a BatchNormalization layer averages over: all but its feature axis."""
    feature = layer.axis % ndim
    return [i for i in range(ndim) if i != feature]


def set_population_statistics(model: Any, x: np.ndarray) -> np.ndarray:
    """Set every BatchNormalization layer's moving statistics to those of its input over ``x``.

    The layers are run in order in inference mode, so each layer's statistics are taken from
    the input it sees once the layers before it are fixed. The variance is the biased one, as a
    training step computes it. Returns the model's output on ``x`` (its inference-mode
    predictions), which comes for free for a Sequential model.
    """
    import keras

    if not isinstance(model, keras.Sequential):
        return _set_functional(model, x)
    return keras.ops.convert_to_numpy(_sequential_pass(model)(keras.ops.convert_to_tensor(x)))


#: The Sequential walk, compiled once per model: none of Keras' compiled steps sets the
#: statistics.
_sequential_pass = per_model(lambda ref: lambda x: _walk(ref(), x))


def _walk(model: Any, out: Any) -> Any:
    """Run ``model``'s layers in inference mode, setting each BatchNormalization layer's
    statistics from its input on the way (nested Sequential models included)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            out = _walk(layer, out)
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, variance = keras.ops.moments(out, axes=_axes(layer, len(out.shape)))
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        out = layer(out, training=False)
    return out


def _set_functional(model: Any, x: np.ndarray, rows: int = 1024) -> np.ndarray:
    """``set_population_statistics`` for a Functional model: for each BatchNormalization layer
    of its graph, in order, the sub-model up to that layer's input is run over ``x`` in chunks
    and the statistics accumulated in double precision (a convolutional activation map of a
    whole split would not fit in memory at once). A BatchNormalization inside a nested model
    is not reachable this way and keeps its moving averages."""
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    for layer in [n for n in model.layers if isinstance(n, keras.layers.BatchNormalization)]:
        upto = keras.Model(inputs, layer.input)
        total = squares = None
        for i in range(0, len(x), rows):
            part = keras.ops.convert_to_numpy(upto(x[i:i + rows], training=False))
            axes = tuple(_axes(layer, part.ndim))
            s = part.sum(axis=axes, dtype="float64")
            q = np.square(part, dtype="float64").sum(axis=axes)
            total, squares = (s, q) if total is None else (total + s, squares + q)
        count = len(x) * int(np.prod([d for i, d in enumerate(layer.input.shape)
                                      if i in _axes(layer, len(layer.input.shape)) and i > 0]))
        mean = total / count
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign(np.maximum(squares / count - mean ** 2, 0).astype("float32"))
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + rows], training=False))
                           for i in range(0, len(x), rows)])
