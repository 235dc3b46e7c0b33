"""One compiled model reused across trials, with the dropout rate, penalties, max-norm bound and
weight decay as variables.

In a regularization study the model's shape never changes between trials; only the dropout rate,
the L1/L2 strengths, the max-norm bound and the weight decay do. Building, compiling and tracing
``fit``/``evaluate`` cost 3.5-5 s a trial against 0.2 s an epoch on digits, so a study spent
most of its time there. Here the model is built and compiled once per process; the rate, the
strengths, the bound and the decay live in non-trainable variables read inside the traced graph,
and each trial only resets state:

* kernels drawn again by the same seeded initializers ``models.build_model`` uses, biases and
  BatchNormalization weights and statistics back to their initial values;
* every optimizer variable (moments, iteration count) back to zero;
* each dropout layer's seed generator back to the seed a fresh ``keras.layers.Dropout`` gets;
* the trial's dropout rate, penalties, max-norm bound and weight decay assigned.

A setting that is off is an exact no-op, so one graph serves every setting: a zero strength adds
an exact zero, a max-norm bound of 0 hands the kernel back unchanged, and a weight decay of 0
subtracts ``w * 0 * lr``, a signed zero that leaves every weight as it is (only a -0.0 would
change, to +0.0, and no weight is ever -0.0: Glorot draws, zero biases, updates by subtraction).

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
from .space import PARAM_NAMES
from .spec import ModelSpec


def _layers():
    """The variable-strength layer, regularizer and constraint (defined lazily: they subclass
    Keras)."""
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
            self.supports_masking = True  # as Dropout: an Embedding's padding mask passes on
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

    class VariableMaxNorm(keras.constraints.MaxNorm):
        """``keras.constraints.MaxNorm`` with its bound in a variable; a bound of 0 is off.

        On, it is MaxNorm's own computation, reading the bound from a float32 variable where a
        fresh model's ``ops.clip`` converts the Python float to the same float32 number. Off,
        ``where`` hands the kernel back unchanged, as a fresh model without a constraint leaves
        it (MaxNorm with a huge bound would not: it multiplies by ``norm / (epsilon + norm)``).
        """

        def __init__(self) -> None:
            super().__init__(max_value=keras.Variable(0.0, trainable=False, name="max_norm"))

        def __call__(self, w):
            return keras.ops.where(self.max_value > 0, super().__call__(w), w)

        def get_config(self) -> dict[str, Any]:
            return {"max_value": float(self.max_value.numpy()), "axis": self.axis}

    return VariableDropout, VariableL1L2, VariableMaxNorm


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

        VariableDropout, VariableL1L2, VariableMaxNorm = _layers()
        self.shape = shape
        self.penalty = VariableL1L2()
        self.max_norm = VariableMaxNorm()
        # The same builder as a fresh model; a dropout layer at every rate, one shared penalty
        # and one shared constraint.
        self.model = build_model({}, shape.n_features, shape.n_classes, shape.model,
                                 dropout=lambda rate, seed: VariableDropout(seed),
                                 penalty=lambda: self.penalty,
                                 constraint=lambda: self.max_norm)
        self.dense = [x for x in self.model.layers if isinstance(x, keras.layers.Dense)]
        self.norms = [x for x in self.model.layers
                      if isinstance(x, keras.layers.BatchNormalization)]
        self.dropouts = [x for x in self.model.layers if isinstance(x, VariableDropout)]
        compile_model(self.model, shape.optimizer, shape.learning_rate)
        # Keras checks ``optimizer.weight_decay is None`` when it traces the train step and casts
        # it inside the graph: a variable there is read at every step, so each trial's decay
        # applies without a new trace. Set after construction, it is tracked among the
        # optimizer's variables (see prepare).
        self.weight_decay = keras.Variable(0.0, trainable=False, name="weight_decay")
        self.model.optimizer.weight_decay = self.weight_decay

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
        self.max_norm.max_value.assign(p["max_norm"])
        optimizer = self.model.optimizer
        for var in optimizer.variables:  # the learning rate and weight decay too: set after
            var.assign(np.zeros(var.shape, dtype=var.dtype))
        optimizer.learning_rate = self.shape.learning_rate
        self.weight_decay.assign(p["weight_decay"])
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


class ReusableClone:
    """One compiled clone of a preset's or user's model, re-armed for each trial by ``prepare``:
    the same idea as ``ReusableModel`` for a model regsearch did not build.

    ``search/rewire.py`` clones the model once with variable-rate Dropout layers, one shared
    variable-strength penalty and variable max-norm constraints in place of the plain ones, and
    it is compiled once with the spec's optimizer. For each trial a plain clone is drawn as a
    fresh trial would draw it (same seed, same weights, same dropout seeds), uncompiled, which
    costs no trace; its weights, the dropout seeds and the trial's strengths are copied in and
    the optimizer's state zeroed. ``tests/test_reuse.py`` compares the two epoch by epoch.

    Only for an uncompiled model whose Dropout-family layers are plain ``keras.layers.Dropout``
    (``VariableDropout`` reproduces that one op for op) and that has no Embedding: with a
    max-norm bound on an Embedding, the reused clone's sparse update came out different from a
    fresh clone's (0.017 apart after one step, with the same constraint objects; the cause is
    in the optimizer's sparse path and was not found), and reuse must be exact. ``supports``
    says so; other models get a fresh clone per trial.
    """

    def __init__(self, base, *, add_dropout: bool, optimizer: str, learning_rate: float,
                 searched: tuple[str, ...] = PARAM_NAMES) -> None:
        import keras

        from .rewire import Factories, apply

        VariableDropout, VariableL1L2, VariableMaxNorm = _layers()
        self.base, self.add_dropout = base, add_dropout
        self.learning_rate = learning_rate
        self.penalty = VariableL1L2()
        self.bounds: list[Any] = []

        def dropout(rate: float, seed: int | None, config: dict[str, Any]):
            return VariableDropout(0, name=config["name"])

        def constraint(axis: list[int]):
            bound = VariableMaxNorm()
            bound.axis = axis
            self.bounds.append(bound)
            return bound

        # The max-norm constraints and the weight-decay variable only where the space searches
        # them: off, they are exact no-ops, but they still run at every step (an assign per
        # constrained kernel, a decay per variable).
        self.searched = searched
        self.model = apply(base, {}, add_dropout=add_dropout,
                           factories=Factories(
                               dropout=dropout, penalty=lambda: self.penalty,
                               constraint=constraint if "max_norm" in searched else None))
        compile_model(self.model, optimizer, learning_rate)
        self.weight_decay = None
        if "weight_decay" in searched:
            self.weight_decay = keras.Variable(0.0, trainable=False, name="weight_decay")
            self.model.optimizer.weight_decay = self.weight_decay
        self.variable_dropout = VariableDropout

    @staticmethod
    def supports(base) -> bool:
        """Whether ``base`` can be reused: uncompiled, and every dropout a plain Dropout."""
        import keras

        from .rewire import is_dropout, leaves

        if base.compiled:
            return False
        layers = list(leaves(base))
        return (not any(isinstance(x, keras.layers.Embedding) for x in layers)
                and all(type(x) is keras.layers.Dropout for x in layers if is_dropout(x)))

    def prepare(self, params: dict[str, Any], seed: int, *, keep_weights: bool = False):
        """Put the model in the state a fresh ``rewire.apply(base, params, seed=seed)``
        compiled with the same optimizer starts in."""
        from .rewire import apply, leaves

        p = effective_params(params)
        unsearched = [k for k in ("max_norm", "weight_decay") if p[k] and k not in self.searched]
        if unsearched:
            raise ValueError(f"the reused clone was built without {', '.join(unsearched)}")
        fresh = apply(self.base, p, add_dropout=self.add_dropout, seed=seed,
                      keep_weights=keep_weights)
        for mine, theirs in zip(leaves(self.model), leaves(fresh), strict=True):
            if isinstance(mine, self.variable_dropout):
                mine.reset(p["dropout"], int(theirs.seed))
            elif theirs.weights:
                mine.set_weights(theirs.get_weights())
        self.penalty.l1.assign(p["l1"])
        self.penalty.l2.assign(p["l2"])
        for bound in self.bounds:
            bound.max_value.assign(p["max_norm"])
        optimizer = self.model.optimizer
        for var in optimizer.variables:  # the learning rate and weight decay too: set after
            var.assign(np.zeros(var.shape, dtype=var.dtype))
        optimizer.learning_rate = self.learning_rate
        if self.weight_decay is not None:
            self.weight_decay.assign(p["weight_decay"])
        return self.model
