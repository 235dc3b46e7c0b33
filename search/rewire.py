"""Regularize the user's own Keras model: a clone with the trial's dropout rate and penalties.

A preset model is built by regsearch's own builder, which puts Dropout and the kernel penalty
where it wants them. A user's model (``[model] path`` or a builder that knows nothing of the
search) is taken as it is and rewired for each trial instead: ``apply`` clones it with Keras'
own ``keras.models.clone_model``, rebuilding each layer from its ``get_config()`` with the
regularization keys changed, so the original is never touched and the clone is an ordinary
Functional or Sequential model (it saves, loads and summarizes as any other).

What the clone gets:

* Every Dropout-family layer (``Dropout`` and its subclasses such as ``SpatialDropout1D/2D/3D``,
  ``GaussianDropout``, ``AlphaDropout``) takes the trial's ``dropout`` rate; with a ``seed``
  each one gets its own seed, derived from ``seed`` and the layer's position, so the same seed
  gives the same masks (without one, a layer keeps the seed it had).
* Every kernel gets ``L1L2(l1, l2)`` when the regularizer uses a strength > 0, else no
  penalty: the trial's penalty *replaces* any penalty the user put on the original kernel, so
  a setting with no penalty means none. The kernels, by their config keys:

  - Dense, EinsumDense, Conv1D/2D/3D, Conv1D/2D/3DTranspose: ``kernel_regularizer``;
  - SeparableConv1D/2D: ``depthwise_regularizer`` and ``pointwise_regularizer``;
  - DepthwiseConv1D/2D: ``depthwise_regularizer``;
  - Embedding: ``embeddings_regularizer``;
  - SimpleRNN, LSTM, GRU: ``kernel_regularizer`` and ``recurrent_regularizer``,

  so an LSTM (input and recurrent kernel) or a SeparableConv counts two kernels. Biases,
  activity regularizers, BatchNormalization and an RNN's own ``dropout``/``recurrent_dropout``
  stay as the user set them.
* With ``max_norm`` > 0, every kernel gets ``MaxNorm(max_norm)`` (the matching
  ``*_constraint`` key) over the weights feeding one output unit: axis 0 for Dense and both
  recurrent kernels, all but the filter axis for a convolution (each filter's norm), the
  spatial axes for a depthwise kernel, the contracted axes for EinsumDense, each token's
  vector for an Embedding. Without it the user's own constraint stays (a ``NonNeg``, say, is
  part of the model rather than regularization).
* Layers inside nested Sequential/Functional models are rewired too (``clone_model(...,
  recursive=True)``). Layers inside wrappers (``Bidirectional``, ``TimeDistributed``) or
  inside a subclassed model used as a layer are copied unchanged.
* ``add_dropout`` puts a Dropout after each *hidden* Dense/Conv layer, one whose output reaches
  no model output (of the model or of a nested one) without passing another kernel layer, so a
  ``Dense -> Softmax`` head gets none. The layer becomes ``Sequential([layer, Dropout])`` under
  the layer's own name (a model is a layer), which works in Functional and Sequential models
  alike. A model that already has Dropout layers gets none added: its own take the rate.

A subclassed model cannot be cloned layer by layer; the user gives a builder function taking
``dropout`` and ``kernel_regularizer`` instead. ``Factories`` lets a caller put its own layers
and penalties in place of the plain Keras ones (variable-rate layers, so that one compiled
model serves every trial). Keras is imported inside the functions: ``search`` loads without
TensorFlow, so ``regsearch --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import RegsearchError
from .space import USES

if TYPE_CHECKING:
    from keras import Layer, Model
    from keras.constraints import Constraint
    from keras.regularizers import Regularizer


@dataclass(frozen=True)
class Factories:
    """The parts ``apply`` puts into the clone, for a caller that wants its own.

    A field left None gives the plain Keras part made from the setting. ``dropout(rate, seed,
    config)`` returns the layer that replaces a Dropout-family layer (``config`` is that
    layer's ``get_config()``; only ``{"name": ...}`` for one that ``add_dropout`` inserts);
    ``penalty()`` the regularizer of one kernel (None: no penalty); ``constraint(axis)`` the
    constraint of one kernel given the axes of its max-norm (None: keep the original's).
    """

    dropout: Callable[[float, int | None, dict[str, Any]], Layer] | None = None
    penalty: Callable[[], Regularizer | None] | None = None
    constraint: Callable[[list[int]], Constraint | None] | None = None


def apply(model: Model, setting: dict[str, Any], *, add_dropout: bool = False,
          seed: int | None = None, keep_weights: bool = False,
          factories: Factories | None = None) -> Model:
    """A clone of ``model`` (Keras Sequential or Functional) with ``setting`` applied; ``model``
    is untouched.

    ``setting`` holds any of ``dropout``, ``regularizer`` (``USES``' keys), ``l1``, ``l2``,
    ``max_norm`` and ``weight_decay``; a missing key is off. The clone has fresh weights, drawn
    after ``keras.utils.set_random_seed(seed)`` when a seed is given (so they are a function of
    it; note this sets the global seeds), or the original's with ``keep_weights``. A compiled
    model's clone is compiled the same way, its optimizer given the ``weight_decay`` when > 0
    (a user's own weight decay stays otherwise); an uncompiled model's clone stays uncompiled,
    and weight decay is then the caller's to put on its optimizer.
    """
    import keras

    _check_cloneable(model)
    rate, penalty, constraint, weight_decay = _read(setting)
    found = describe(model)
    if not found["kernels"] and not found["dropout_layers"]:
        raise RegsearchError(f"model {model.name!r} has no layer to regularize: no Dropout "
                             "layer and no Dense, Conv, Embedding or recurrent kernel")
    finals = _final_layers(model)
    insert = add_dropout and not found["dropout_layers"]
    hidden = [x for x in leaves(model) if _takes_dropout(x) and id(x) not in finals]
    if rate > 0 and not found["dropout_layers"]:
        if not add_dropout:
            raise RegsearchError(
                f"model {model.name!r} has no Dropout layer to take the trial's dropout rate; "
                "set [model] add_dropout = true, add Dropout layers to the model, or remove "
                "`dropout` from the space file")
        if not hidden:
            raise RegsearchError(
                f"model {model.name!r} has no Dropout layer and no hidden Dense/Conv layer for "
                "add_dropout to follow; add Dropout layers to the model or remove `dropout` "
                "from the space file")

    factories = factories or Factories()
    make_penalty = factories.penalty or penalty
    make_constraint = factories.constraint or constraint
    seeds = _dropout_seeds(seed, found["dropout_layers"] + len(hidden))
    copies: list[tuple[Layer, Layer]] = []  # (original, clone) for keep_weights

    def dropout(cls: type, config: dict[str, Any]) -> Layer:
        layer_seed = next(seeds) if seed is not None else config.get("seed")
        if factories.dropout is not None:
            return factories.dropout(rate, layer_seed, config)
        return cls.from_config({**config, "rate": rate, "seed": layer_seed})

    def clone(layer: Layer) -> Layer:
        config = layer.get_config()
        if is_dropout(layer):
            return dropout(layer.__class__, config)
        for reg_key, con_key, axis in _kernels(layer):
            config[reg_key] = make_penalty()
            config[con_key] = make_constraint(axis) or config[con_key]
        new = layer.__class__.from_config(config)
        copies.append((layer, new))
        if insert and id(layer) not in finals and _takes_dropout(layer):
            after = dropout(keras.layers.Dropout, {"name": f"{layer.name}_dropout"})
            return keras.Sequential([new, after], name=layer.name)
        return new

    if seed is not None:
        keras.utils.set_random_seed(seed)
    out = keras.models.clone_model(model, clone_function=clone, recursive=True)
    if keep_weights:
        for original, new in copies:
            if original.weights:
                new.set_weights(original.get_weights())
    # clone_model compiles the clone as the original was (get_compile_config); only the
    # optimizer changes, and only for a weight decay.
    if model.compiled and weight_decay > 0:
        config = model.get_compile_config()
        optimizer = keras.optimizers.get(config["optimizer"])
        optimizer = optimizer.__class__.from_config(
            {**optimizer.get_config(), "weight_decay": weight_decay})
        out.compile_from_config({**config, "optimizer": keras.optimizers.serialize(optimizer)})
    return out


def describe(model: Model) -> dict[str, Any]:
    """What ``apply`` would touch in ``model``: its Dropout-family layers, its kernels (an LSTM
    counts two) and the names of the layers holding either, for messages and checks."""
    _check_cloneable(model)
    dropouts, kernels, names = 0, 0, []
    for layer in leaves(model):
        n = len(_kernels(layer))
        dropouts += is_dropout(layer)
        kernels += n
        if n or is_dropout(layer):
            names.append(layer.name)
    return {"dropout_layers": dropouts, "kernels": kernels, "layers": names}


def _check_cloneable(model: Model) -> None:
    """Raise unless ``model`` is one ``clone_model`` can rebuild layer by layer."""
    import keras
    from keras.src.models.functional import Functional

    if not isinstance(model, (keras.Sequential, Functional)):
        raise RegsearchError(
            f"model {getattr(model, 'name', model)!r} is a subclassed "
            f"{type(model).__name__}, which cannot be cloned layer by layer; give a builder "
            "function taking `dropout` and `kernel_regularizer` arguments instead "
            '([model] builder = "module:function")')


def _read(setting: dict[str, Any]) -> tuple[float, Callable[[], Regularizer | None],
                                            Callable[[list[int]], Constraint | None], float]:
    """The setting as (rate, penalty maker, constraint maker, weight decay), checked."""
    import keras

    rate = float(setting.get("dropout", 0.0))
    kind = setting.get("regularizer", "none")
    if kind not in USES:
        raise RegsearchError(f"regularizer {kind!r} is not one of {', '.join(USES)}")
    l1, l2 = (float(setting.get(k, 0.0)) if k in USES[kind] else 0.0 for k in ("l1", "l2"))
    max_norm = float(setting.get("max_norm", 0.0))
    weight_decay = float(setting.get("weight_decay", 0.0))
    if not 0 <= rate < 1:
        raise RegsearchError(f"dropout rate {rate} is not in [0, 1)")
    if min(l1, l2, max_norm, weight_decay) < 0:
        raise RegsearchError("l1, l2, max_norm and weight_decay must be >= 0")

    def penalty():
        return keras.regularizers.L1L2(l1=l1, l2=l2) if l1 > 0 or l2 > 0 else None

    def constraint(axis: list[int]):
        return keras.constraints.MaxNorm(max_value=max_norm, axis=axis) if max_norm > 0 else None

    return rate, penalty, constraint, weight_decay


def _dropout_seeds(seed: int | None, n: int) -> Iterator[int]:
    """One seed per dropout layer, in cloning order, from ``seed`` alone (as models.init_seeds)."""
    if seed is None:
        return iter(())
    import numpy as np

    return iter(int(s % (2**31 - 2)) for s in np.random.SeedSequence(seed).generate_state(n))


def is_dropout(layer: Layer) -> bool:
    """Whether ``layer`` is of the Dropout family (SpatialDropout subclasses Dropout)."""
    import keras

    return isinstance(layer, (keras.layers.Dropout, keras.layers.GaussianDropout,
                              keras.layers.AlphaDropout))


def _takes_dropout(layer: Layer) -> bool:
    """Whether ``add_dropout`` may put a Dropout after ``layer``: Dense or convolution."""
    from keras import layers as L

    return bool(_kernels(layer)) and not isinstance(layer, (L.Embedding, L.SimpleRNN, L.LSTM,
                                                            L.GRU))


def _kernels(layer: Layer) -> list[tuple[str, str, list[int]]]:
    """(regularizer key, constraint key, max-norm axes) for each kernel of ``layer``."""
    from keras import layers as L

    def keys(name: str, axis: list[int]) -> tuple[str, str, list[int]]:
        return f"{name}_regularizer", f"{name}_constraint", axis

    if isinstance(layer, L.Dense):
        return [keys("kernel", [0])]
    if isinstance(layer, L.EinsumDense):
        inputs, out = layer.equation.split("->")
        kernel = inputs.split(",")[1]
        return [keys("kernel", [i for i, c in enumerate(kernel) if c not in out])]
    if isinstance(layer, L.Embedding):
        return [keys("embeddings", [1])]
    if isinstance(layer, (L.SimpleRNN, L.LSTM, L.GRU)):
        return [keys("kernel", [0]), keys("recurrent", [0])]
    conv = (L.Conv1D, L.Conv2D, L.Conv3D)
    transpose = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
    separable = (L.SeparableConv1D, L.SeparableConv2D)
    depthwise = (L.DepthwiseConv1D, L.DepthwiseConv2D)
    if not isinstance(layer, conv + transpose + separable + depthwise):
        return []
    # Kernels are (*kernel_size, in, out) except a transpose's (*kernel_size, out, in).
    space = list(range(layer.rank))
    if isinstance(layer, separable):
        return [keys("depthwise", space), keys("pointwise", space + [layer.rank])]
    if isinstance(layer, depthwise):
        return [keys("depthwise", space)]
    if isinstance(layer, transpose):
        return [keys("kernel", space + [layer.rank + 1])]
    return [keys("kernel", space + [layer.rank])]


def leaves(model: Model) -> Iterator[Layer]:
    """The layers of ``model`` and of the Sequential/Functional models nested in it, in order."""
    import keras
    from keras.src.models.functional import Functional

    for layer in model.layers:
        if isinstance(layer, (keras.Sequential, Functional)):
            yield from leaves(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            yield layer


def _final_layers(model: Model) -> set[int]:
    """Ids of the kernel layers whose output reaches an output of ``model`` or of a nested
    model through no other kernel layer (Flatten, Activation, Dropout... pass it on)."""
    import keras
    from keras.src.models.functional import Functional

    finals: set[int] = set()
    nested = {id(x): x for x in model.layers if isinstance(x, (keras.Sequential, Functional))}
    for inner in nested.values():
        finals |= _final_layers(inner)
    if isinstance(model, keras.Sequential):
        for layer in reversed(model.layers):
            if _kernels(layer) or id(layer) in nested:
                finals.add(id(layer))
                break
        return finals
    seen: set[int] = set()
    todo = list(model.outputs)
    while todo:
        op, node_index, _ = todo.pop()._keras_history
        if op is None or id(op) in seen:
            continue
        seen.add(id(op))
        if _kernels(op) or id(op) in nested:
            finals.add(id(op))
        elif not isinstance(op, keras.layers.InputLayer):
            todo.extend(op._inbound_nodes[node_index].input_tensors)
    return finals
