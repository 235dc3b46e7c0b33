"""One compiled model reused across trials, with the dropout rate and penalties as variables.

In a regularization study the model's shape never changes between trials; only the dropout rate
and the L1/L2 strengths do. Building, compiling and tracing ``fit``/``evaluate`` cost 3.5-5 s a
trial against 0.2 s an epoch on digits, so a study spent most of its time there. Here the model
is built and compiled once per process; the rate and the strengths live in non-trainable
variables read inside the traced graph, and each trial only resets state:

* kernels drawn again by the same seeded initializers ``models.build_model`` uses, biases and
  BatchNormalization weights and statistics back to their initial values;
* every optimizer variable (moments, iteration count) back to zero;
* each dropout layer's seed generator back to the seed a fresh ``keras.layers.Dropout`` gets;
* the trial's dropout rate and penalties assigned.

So a trial on the reused model is the same computation as on a freshly built one with the same
seed: ``tests/test_reuse.py`` compares them epoch by epoch. Keras has no such "reset" (Optuna's
examples and Keras Tuner rebuild every trial), hence this module.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import build_model, compile_model, effective_params, init_seeds
from .spec import ModelSpec


def _layers():
    """The variable-strength layer and regularizer (defined lazily: they subclass Keras)."""
    import keras
    import tensorflow as tf

    class VariableDropout(keras.layers.Layer):
        """Dropout whose rate is a variable, so a traced graph reads each trial's rate.

        It computes what ``keras.layers.Dropout`` does with the TensorFlow backend
        (``tf.nn.experimental.stateless_dropout`` seeded by the layer's ``SeedGenerator``), op for
        op, except that rate and scale are read from variables: the same uniform draw, the same
        ``>= rate`` mask and the same multiplication by ``1 / (1 - rate)``, with the scale
        computed in double precision as TensorFlow does for a Python rate (dividing in float32
        instead rounds differently, and over 30 epochs those last bits grow into different
        accuracies). A rate of 0 keeps every unit and scales by 1: the identity, as a fresh
        model with no Dropout layer.
        """

        def __init__(self, seed: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)
            self.rate = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                        name="rate")
            self.scale = self.add_weight(shape=(), initializer="ones", trainable=False,
                                         name="scale")

        def call(self, inputs, training=False):
            if not training:
                return inputs
            seed = self.seed_generator.next()
            # The same cast keras.backend.tensorflow.random applies before stateless ops.
            seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")
            kept = inputs * tf.cast(self.scale.value, inputs.dtype)
            draw = tf.random.stateless_uniform(tf.shape(inputs), seed=seed, dtype=inputs.dtype,
                                               alg=None)
            keep = draw >= tf.cast(self.rate.value, inputs.dtype)
            return tf.where(keep, kept, tf.zeros((), inputs.dtype))

        def reset(self, rate: float, seed: int) -> None:
            self.rate.assign(rate)
            self.scale.assign(1 / (1 - rate))
            self.seed_generator.state.assign(np.array([seed, 0],
                                                      dtype=self.seed_generator.state.dtype))

    class VariableL1L2(keras.regularizers.Regularizer):
        """``l1 * sum(|w|) + l2 * sum(w**2)`` with l1 and l2 held in variables.

        The same sum ``keras.regularizers.L1L2`` computes; a zero strength adds an exact zero,
        so "none", "l1", "l2" and "l1_l2" are one graph.
        """

        def __init__(self) -> None:
            self.l1 = keras.Variable(0.0, trainable=False, name="l1")
            self.l2 = keras.Variable(0.0, trainable=False, name="l2")

        def __call__(self, x):
            ops = keras.ops
            return (ops.convert_to_tensor(0.0, dtype=x.dtype)
                    + ops.cast(self.l1, x.dtype) * ops.sum(ops.absolute(x))
                    + ops.cast(self.l2, x.dtype) * ops.sum(ops.square(x)))

        def get_config(self) -> dict[str, float]:
            return {"l1": float(self.l1.numpy()), "l2": float(self.l2.numpy())}

    return VariableDropout, VariableL1L2


@dataclass(frozen=True)
class Shape:
    """What must match for a compiled model to be reused: architecture and compile settings."""

    n_features: int
    n_classes: int
    model: ModelSpec
    optimizer: str
    learning_rate: float


class ReusableModel:
    """A compiled model for one ``Shape``, re-armed for each trial by ``prepare``."""

    def __init__(self, shape: Shape) -> None:
        import keras

        VariableDropout, VariableL1L2 = _layers()
        self.shape = shape
        self.penalty = VariableL1L2()
        # The same builder as a fresh model; a dropout layer at every rate, one shared penalty.
        self.model = build_model({}, shape.n_features, shape.n_classes, shape.model,
                                 dropout=lambda rate, seed: VariableDropout(seed),
                                 penalty=lambda: self.penalty)
        self.dense = [x for x in self.model.layers if isinstance(x, keras.layers.Dense)]
        self.norms = [x for x in self.model.layers
                      if isinstance(x, keras.layers.BatchNormalization)]
        self.dropouts = [x for x in self.model.layers if isinstance(x, VariableDropout)]
        compile_model(self.model, shape.optimizer, shape.learning_rate)

    def prepare(self, params: dict[str, Any], seed: int):
        """Put the model in the state a fresh ``build_model(params, seed=seed)`` starts in."""
        import keras

        p = effective_params(params)
        dense_seeds, dropout_seeds = init_seeds(seed, len(self.shape.model.hidden))
        for layer, s in zip(self.dense, dense_seeds):
            layer.kernel.assign(keras.initializers.GlorotUniform(seed=s)(layer.kernel.shape))
            layer.bias.assign(np.zeros(layer.bias.shape, dtype="float32"))
        for norm in self.norms:
            for var in (norm.gamma, norm.moving_variance):
                var.assign(np.ones(var.shape, dtype="float32"))
            for var in (norm.beta, norm.moving_mean):
                var.assign(np.zeros(var.shape, dtype="float32"))
        for layer, s in zip(self.dropouts, dropout_seeds):
            layer.reset(p["dropout"], s)
        self.penalty.l1.assign(p["l1"])
        self.penalty.l2.assign(p["l2"])
        optimizer = self.model.optimizer
        for var in optimizer.variables:
            var.assign(np.zeros(var.shape, dtype=var.dtype))
        optimizer.learning_rate = self.shape.learning_rate
        return self.model


#: The compiled models shared by every Trainer inside ``shared_models()``, by shape.
_SHARED: contextvars.ContextVar[dict[Shape, ReusableModel] | None] = contextvars.ContextVar(
    "regsearch_shared_models", default=None)


@contextlib.contextmanager
def shared_models() -> Iterator[None]:
    """Let every Trainer opened inside share one compiled model per shape, released at exit.

    A command opens one Trainer, which owns its model. A process that runs many commands (the
    test suite, a benchmark) would build, compile and trace the same model for each, seconds
    every time; inside this context they share it, and the context releases it.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def shared(shape: Shape) -> ReusableModel | None:
    """The shared compiled model for ``shape`` inside ``shared_models()``, else None."""
    pool = _SHARED.get()
    if pool is None:
        return None
    if shape not in pool:
        pool[shape] = ReusableModel(shape)
    return pool[shape]
