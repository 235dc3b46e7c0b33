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


def has_batch_norm(model: Any) -> bool:
    """Whether the model has a BatchNormalization layer whose statistics need setting."""
    import keras

    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def set_population_statistics(model: Any, x: np.ndarray) -> np.ndarray:
    """Set every BatchNormalization layer's moving statistics to those of its input over ``x``.

    The layers of a Sequential model are run in order in inference mode, so each layer's
    statistics are taken from the input it sees once the layers before it are fixed. The
    variance is the biased one, as a training step computes it. Returns the model's output on
    ``x`` (its inference-mode predictions), which comes for free.
    """
    import keras

    out = keras.ops.convert_to_tensor(x)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, variance = keras.ops.moments(out, axes=[0])
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        out = layer(out, training=False)
    return keras.ops.convert_to_numpy(out)
