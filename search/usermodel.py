"""The model a study regularizes when it is not the MLP: a preset, or the user's own.

``[model] builder = "module:function"`` names a function that returns a Keras Sequential or
Functional model, compiled or not; the module is imported from ``[model] builder_path`` (a
folder relative to the spec, by default the spec's own folder), ahead of ``sys.path``.
``[model] path`` names a saved ``.keras`` file. Presets (``search/presets.py``) are builders.

A builder is called with those of ``input_shape``, ``n_classes`` and ``vocabulary`` (one more
than the largest token id in the data: the Embedding's input dimension) that it takes by name.
Its model is built once; each trial gets a clone with the trial's setting wired in
(``search/rewire.py``). A builder that itself takes ``dropout`` and ``kernel_regularizer``
(and, if it likes, ``kernel_constraint``) is instead called for each trial with the trial's
rate, ``keras.regularizers.L1L2`` and ``keras.constraints.MaxNorm`` (None where off): the
documented form for a subclassed model, which Keras cannot clone.

The user's compile settings (loss, optimizer, metrics) are kept when the model comes compiled,
with "accuracy" added if missing (the trainer reads it); otherwise the spec's ``[training]``
optimizer and sparse cross-entropy. ``start_from = "saved"`` starts each trial from the weights
the model came with; "fresh" (the default) from new weights drawn with the trial's seed.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import RegsearchError
from .models import compile_model, effective_params
from .space import PARAM_NAMES
from .spec import ModelSpec, TrainingSpec

if TYPE_CHECKING:
    from .data import Splits
    from .space import Space
    from .spec import StudySpec

#: What a builder may take by name, besides the per-trial arguments.
DATA_ARGS = ("input_shape", "n_classes", "vocabulary")
#: The per-trial arguments of the builder form (all but the constraint required for it).
TRIAL_ARGS = ("dropout", "kernel_regularizer")


def where(spec: ModelSpec) -> str:
    """The spec key that names the model, with its value, for messages."""
    if spec.path is not None:
        return f"model.path = {spec.path!r}"
    if spec.builder is not None:
        return f"model.builder = {spec.builder!r}"
    return f"model.preset = {spec.preset!r}"


def resolve_builder(spec: ModelSpec) -> Callable[..., Any]:
    """The function ``spec.builder`` names, imported from ``spec.builder_path`` first."""
    module_name, _, function = spec.builder.partition(":")
    folder = spec.builder_path
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's module's
        raise RegsearchError(f"{where(spec)}: cannot import module {module_name!r} (looked in "
                             f"model.builder_path = {folder!r} and sys.path): "
                             f"{type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(folder)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise RegsearchError(f"{where(spec)}: module {module_name!r} ({module.__file__}) has no "
                             f"function {function!r}")
    return fn


class ModelSource:
    """Makes each trial's compiled model from one preset, builder or saved file.

    Built for one data shape: ``input_shape`` per sample, ``n_classes`` outputs, and the
    ``vocabulary`` of integer inputs. Errors in the model (it cannot be imported, loaded or
    built; it is not a Keras model; its input or output does not fit the data; it has nothing
    to regularize) are ``RegsearchError`` naming the spec key, raised before anything trains.
    """

    def __init__(self, spec: ModelSpec, input_shape: tuple[int, ...], n_classes: int,
                 vocabulary: int, *, scaled: bool = False,
                 searched: tuple[str, ...] = PARAM_NAMES) -> None:
        self.spec = spec
        self.searched = searched
        self.input_shape = tuple(input_shape)
        self.n_classes = n_classes
        self.vocabulary = vocabulary
        self.builder: Callable[..., Any] | None = None
        self.per_trial = False
        self._supports: bool | None = None
        self._reused: tuple[tuple[str, float], Any] | None = None
        if spec.path is not None:
            self.base = self._load()
        else:
            self.builder = (resolve_builder(spec) if spec.builder is not None
                            else self._preset())
            self.per_trial = takes(self.builder, TRIAL_ARGS)
            self.base = self._call(dropout=0.0, kernel_regularizer=None) \
                if self.per_trial else self._call()
        self._check(self.base, scaled)

    def _preset(self) -> Callable[..., Any]:
        from . import presets

        if self.spec.preset == "cnn":
            def cnn(input_shape, n_classes):
                return presets.cnn(input_shape, n_classes, filters=self.spec.filters,
                                   hidden=self.spec.hidden)
            return cnn

        def text(input_shape, n_classes, vocabulary):
            return presets.text(input_shape, n_classes, vocabulary=vocabulary,
                                embedding_dim=self.spec.embedding_dim, hidden=self.spec.hidden)
        return text

    def _load(self):
        import keras

        try:
            with _quiet():
                return keras.models.load_model(self.spec.path)
        except Exception as exc:  # noqa: BLE001 - a missing, damaged or foreign file alike
            raise RegsearchError(f"{where(self.spec)}: cannot load as a Keras model: "
                                 f"{type(exc).__name__}: {_first_line(exc)}") from None

    def _call(self, **trial: Any):
        """Call the builder with the data arguments it takes (and ``trial``'s, if any)."""
        import keras

        data = {"input_shape": self.input_shape, "n_classes": self.n_classes,
                "vocabulary": self.vocabulary}
        kwargs = {k: v for k, v in {**data, **trial}.items() if takes(self.builder, (k,))}
        try:
            with _quiet():
                model = self.builder(**kwargs)
        except RegsearchError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code failed: say where, not how
            raise RegsearchError(f"{where(self.spec)}: the builder raised "
                                 f"{type(exc).__name__}: {_first_line(exc)}") from None
        if not isinstance(model, keras.Model):
            raise RegsearchError(f"{where(self.spec)}: the builder returned "
                                 f"{type(model).__name__}, not a Keras model (keras.Model, "
                                 "Sequential or Functional)")
        return model

    def _check(self, model, scaled: bool) -> None:
        """The model fits the data and has something to regularize."""
        import keras

        from .rewire import describe

        try:
            shapes = model.input_shape
        except (AttributeError, ValueError):
            shapes = None  # a subclassed model not yet called: checked by the first fit
        if isinstance(shapes, list):
            raise RegsearchError(f"{where(self.spec)}: the model takes {len(shapes)} inputs; "
                                 "regsearch feeds one array (the data's features)")
        if shapes is not None and not _fits(tuple(shapes[1:]), self.input_shape):
            raise RegsearchError(f"{where(self.spec)}: the model takes inputs of shape "
                                 f"{tuple(shapes[1:])} per sample, but the data's samples have "
                                 f"shape {self.input_shape} (data.dataset); build the model for "
                                 "that shape (a builder can take input_shape)")
        try:
            units = model.output_shape[-1]
        except (AttributeError, ValueError):
            units = None
        if units is not None and units != self.n_classes:
            raise RegsearchError(f"{where(self.spec)}: the model's output has {units} units, "
                                 f"but the data has {self.n_classes} classes; regsearch needs "
                                 "one output per class (softmax or logits; labels as integers)")
        embeds = any(isinstance(x, keras.layers.Embedding) for x in _all_layers(model))
        if embeds and scaled:
            raise RegsearchError(f"{where(self.spec)}: the model starts with an Embedding, "
                                 "which takes token ids as they are; set data.scaling = 'none'")
        if not self.per_trial:
            found = describe(model)
            if not found["kernels"] and not found["dropout_layers"]:
                raise RegsearchError(f"{where(self.spec)}: the model has no layer to "
                                     "regularize (no Dropout, and no Dense, Conv, Embedding or "
                                     "recurrent kernel)")

    def reuses(self, training: TrainingSpec) -> bool:
        """Whether trials share one compiled clone (``reuse.ReusableClone``): with
        ``training.reuse_model``, for a model that is rewired (not the builder form) and that
        the reused clone reproduces exactly; otherwise each trial gets a fresh clone."""
        from .reuse import ReusableClone

        if self._supports is None:
            self._supports = not self.per_trial and ReusableClone.supports(self.base)
        return training.reuse_model and self._supports

    def model(self, params: dict[str, Any], seed: int, training: TrainingSpec):
        """A compiled model for one trial: the trial's setting wired in, weights fresh from
        ``seed`` (or as saved, with ``start_from = "saved"``)."""
        import keras

        p = effective_params(params)
        keras.utils.set_random_seed(seed)
        if self.reuses(training):
            shape = (training.optimizer, training.learning_rate)
            if self._reused is None or self._reused[0] != shape:
                from .reuse import ReusableClone

                self._reused = shape, ReusableClone(
                    self.base, add_dropout=self.spec.add_dropout, optimizer=training.optimizer,
                    learning_rate=training.learning_rate, searched=self.searched)
            return self._reused[1].prepare(p, seed, keep_weights=self.spec.start_from == "saved")
        if self.per_trial:
            model = self._call(dropout=p["dropout"], kernel_regularizer=_penalty(p),
                               kernel_constraint=_constraint(p))
        else:
            from .rewire import apply

            model = apply(self.base, p, add_dropout=self.spec.add_dropout, seed=seed,
                          keep_weights=self.spec.start_from == "saved")
        if getattr(model, "optimizer", None) is not None and getattr(model, "compiled", False):
            return _with_accuracy(model)
        return compile_model(model, training.optimizer, training.learning_rate,
                             weight_decay=p["weight_decay"])


def _penalty(p: dict[str, Any]):
    import keras

    if p["regularizer"] == "none" or not (p["l1"] or p["l2"]):
        return None
    return keras.regularizers.L1L2(l1=p["l1"], l2=p["l2"])


def _constraint(p: dict[str, Any]):
    import keras

    return keras.constraints.MaxNorm(p["max_norm"]) if p["max_norm"] > 0 else None


def _with_accuracy(model):
    """The user's compiled model, recompiled with "accuracy" among its metrics if missing."""
    config = model.get_compile_config()
    metrics = list(config.get("metrics") or [])
    if "accuracy" not in metrics:
        config["metrics"] = metrics + ["accuracy"]
        model.compile_from_config(config)
    return model


def takes(fn: Callable[..., Any], names: tuple[str, ...]) -> bool:
    """Whether ``fn`` takes every one of ``names`` as a keyword."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return False  # **kwargs says nothing about what it understands
    return all(n in params and params[n].kind in (params[n].POSITIONAL_OR_KEYWORD,
                                                  params[n].KEYWORD_ONLY) for n in names)


def _fits(model_shape: tuple, data_shape: tuple) -> bool:
    """A model's per-sample input shape (None for any size) against the data's."""
    return len(model_shape) == len(data_shape) and all(
        m is None or m == d for m, d in zip(model_shape, data_shape))


def _all_layers(model) -> list[Any]:
    import keras

    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out += _all_layers(layer)
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


@contextlib.contextmanager
def _quiet():
    """Keep a user's builder or Keras' loader from printing into regsearch's output."""
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        yield


def vocabulary(*arrays: np.ndarray) -> int:
    """The Embedding input dimension integer inputs need: one more than the largest token id
    over all the rows (a property of the vocabulary, not something learned from labels)."""
    values = [a for a in arrays if a.size]
    if not values:
        return 1
    top = max(float(np.max(a)) for a in values)
    return int(top) + 1 if np.isfinite(top) and top >= 0 else 1


def check(spec: StudySpec, splits: Splits) -> None:
    """Refuse a model that cannot be searched before anything is stored or trained: build it
    for the data, and wire in the space's strongest setting once (a model with no Dropout for
    a space that searches the rate fails here, with what to do)."""
    if spec.model.wants_vectors:
        return
    source = ModelSource(spec.model, splits.input_shape, splits.n_classes,
                         vocabulary(splits.x_train, splits.x_val, splits.x_test),
                         scaled=splits.scaling.method != "none")
    if not source.per_trial:
        from .rewire import apply

        try:
            apply(source.base, strongest(spec.space), add_dropout=spec.model.add_dropout,
                  seed=0)
        except RegsearchError as exc:
            raise RegsearchError(f"{where(spec.model)}: {exc}") from None
    del source
    _release()


def strongest(space: Space) -> dict[str, Any]:
    """The setting with every float of ``space`` at its upper bound and every choice at its
    last value: the one that exercises every regularizer the space can pick."""
    from .space import Float

    values: dict[str, Any] = {}
    for param in space.params:
        if space.is_active(param, values):
            values[param.name] = param.high if isinstance(param, Float) else param.choices[-1]
    return values


def _release() -> None:
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
