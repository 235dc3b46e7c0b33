"""Train one setting and measure it honestly.

The trainer knows nothing of Optuna or Keras Tuner. It takes plain params and an optional
``report(step, value) -> bool`` that answers "stop now?"; each backend adapts its library to
that. What it measures:

* every epoch, after setting the BatchNormalization statistics exactly over the train split
  (``search/batchnorm.py``: with a few optimizer steps an epoch the moving averages are far
  off), validation accuracy and loss, train accuracy **with dropout off** (the model called in
  inference mode on a fixed sample of the train split), the gap and the objective ``score``;
  these go into Keras' logs so EarlyStopping and Keras Tuner can monitor ``score`` like any
  metric, and EarlyStopping's restored weights carry the statistics of their epoch;
* after training, on the weights EarlyStopping restored (the best-``score`` epoch), train and
  validation accuracy and loss on the whole splits, in inference mode. Keras' own
  ``history['accuracy']`` is taken with dropout and penalties active, averaged over a changing
  model, so it is never used.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .batchnorm import has_batch_norm, set_population_statistics
from .compiled import per_model
from .errors import TrialFailure
from .models import build_model, compile_model, effective_params
from .reuse import ReusableModel, Shape, shared
from .space import PARAM_NAMES
from .spec import ModelSpec, TrainingSpec

if TYPE_CHECKING:
    from .data import Splits
    from .usermodel import ModelSource

Report = Callable[[int, float], bool]
#: The objective from (val_accuracy, gap), as ``search/objective.py`` defines it.
Score = Callable[[float, float], float]

#: Per-epoch series recorded for every trial (the learning curves).
CURVES = ("loss", "accuracy", "val_loss", "val_accuracy", "train_accuracy", "gap", "score")


@dataclass
class TrainResult:
    """What one training run measured; ``curves`` hold one value per epoch that ran."""

    params: dict[str, Any]
    train_accuracy: float
    val_accuracy: float
    gap: float
    score: float
    train_loss: float
    val_loss: float
    epochs: int
    best_epoch: int
    stopped: str
    curves: dict[str, list[float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """The scalar figures, as stored in trial user attributes."""
        out = asdict(self)
        out.pop("curves")
        out.pop("params")
        return out


def configure_tensorflow(threads: int | None = None) -> None:
    """Quiet, deterministic TensorFlow; optionally capped to ``threads`` CPU threads.

    Op determinism makes a setting retrained with the same seed give the same figures, which is
    what lets the test split be evaluated after the search on a fresh run of the chosen setting.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already initialized in this process: keep what it has
            pass


def _epoch_metrics_callback(x_train, sample, y_sample, x_val, y_val, score: Score,
                            report: Report | None, max_epochs: int):
    import keras

    class EpochMetrics(keras.callbacks.Callback):
        """Measures the epoch in inference mode and adds it to the logs; asks ``report`` to stop.

        BatchNormalization statistics are first set exactly over the training split
        (``search/batchnorm.py``), so validation accuracy is measured here rather than by
        Keras' own validation pass, which would use the lagging moving averages. Then the
        dropout-off train accuracy, the gap and the score.
        """

        def __init__(self) -> None:
            super().__init__()
            self.pruned_at: int | None = None
            self.batch_norm: bool | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            _interrupt.check()
            logs = logs if logs is not None else {}
            loss = logs.get("loss")
            if loss is None or not math.isfinite(loss):
                self.model.stop_training = True
                raise TrialFailure(f"non-finite training loss ({loss}) at epoch {epoch + 1}")
            if self.batch_norm is None:
                self.batch_norm = has_batch_norm(self.model)
            # Setting the statistics runs the model over the train split: its output is the
            # dropout-off prediction, so the train sample's accuracy comes with it.
            train_probs = (set_population_statistics(self.model, x_train)[sample]
                           if self.batch_norm else _predict(self.model, x_train[sample]))
            logs["val_loss"], logs["val_accuracy"] = _evaluate(self.model, x_val, y_val)
            train_acc = _accuracy(train_probs, y_sample)
            gap = train_acc - logs["val_accuracy"]
            logs["train_accuracy"] = train_acc
            logs["gap"] = gap
            logs["score"] = score(logs["val_accuracy"], gap)
            if report is not None and report(epoch, logs["score"]) and epoch + 1 < max_epochs:
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    return EpochMetrics()


def _predict(model, x: np.ndarray, rows: int = 4096) -> np.ndarray:
    """Inference-mode outputs by Keras' compiled predict step (called op by op, the model costs
    a small MLP several times more an epoch), in chunks so a large split is not one tensor."""
    return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + rows]))
                           for i in range(0, len(x), rows)])


def _loss(model, y: np.ndarray, probs: np.ndarray) -> float:
    """The compiled loss as ``evaluate`` reports it: the model's own loss (a user's compiled
    model may use logits) plus the penalties, by one compiled function per model."""
    import keras

    return float(keras.ops.convert_to_numpy(_compiled_loss(model)(y, probs)))


def _total_loss(ref: Callable[[], Any]) -> Callable[..., Any]:
    """The model's loss plus its penalties, for ``per_model`` to compile (op by op the
    penalties alone cost a small MLP ~10 ms an epoch)."""
    import keras

    loss = keras.losses.get(ref().loss)

    def total(y, probs):
        return keras.ops.mean(loss(y, probs)) + sum(ref().losses, keras.ops.zeros(()))

    return total


_compiled_loss = per_model(_total_loss)


class _Interrupt:
    """Ctrl-C during ``fit`` always stops the trial, at the latest at the end of the epoch.

    Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, and while
    TensorFlow runs that can be inside library code that swallows it (a finalizer, or Keras'
    asynchronous callback dispatch), so a trial could run on as if nothing happened. The
    handler also sets a flag that the epoch callback checks. (Not after every batch: a batch
    hook would make Keras dispatch callbacks synchronously, step by step.) A process started
    with SIGINT ignored (a background job) keeps ignoring it.
    """

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None
        self.depth = 0

    def _handler(self, signum: int, frame: Any) -> None:
        self.requested = True
        raise KeyboardInterrupt

    def check(self) -> None:
        # The flag stays set: if this raise is swallowed too, ``__exit__`` raises again.
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self) -> None:
        import signal
        import threading

        self.depth += 1
        if self.depth > 1:  # nested (a fit inside an evaluation): the outer one holds SIGINT
            return
        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handler)

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        import signal

        self.depth -= 1
        if self.depth == 0 and self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
        pending, self.requested = self.requested, False
        if exc_type is None and pending:  # an interrupt swallowed during fit still counts
            raise KeyboardInterrupt


_interrupt = _Interrupt()


def interruptible() -> _Interrupt:
    """The Ctrl-C guard (``_Interrupt``) for a span longer than one ``fit``: an evaluation over
    folds holds it from the first fold to the last, so an interrupt that lands between two
    folds is not lost either. Nests: the fits inside it use the same guard."""
    return _interrupt


class Trainer:
    """Trains settings on one study's train and validation data, and measures them.

    A context that owns the compiled model it reuses across trials (``search/reuse.py``, with
    ``training.reuse_model``) and releases it on exit; use one Trainer at a time per process.
    ``score(val_accuracy, gap)`` is the objective, given from outside so that the trainer knows
    how to measure but not what is sought (``search/objective.py`` makes the study's trainer).
    """

    def __init__(self, splits: Splits, *, model: ModelSpec, training: TrainingSpec,
                 score: Score, searched: tuple[str, ...] = PARAM_NAMES) -> None:
        self.splits = splits
        self.searched = searched  # the space's params: what a reused clone must carry
        self.model_spec = model
        self.training = training
        self.score = score
        self._reusable: ReusableModel | None = None
        self._source: ModelSource | None = None
        self._built = False  # whether this trainer built a model it must release

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the model this trainer built (reused or last fresh) and what tracing it
        left behind; a model shared through ``reuse.shared_models()`` is the context's."""
        self._reusable = None
        self._source = None
        if self._built:
            self._built = False
            _clear()

    def fit(self, params: dict[str, Any], *, seed: int, report: Report | None = None,
            callbacks: list[Any] | None = None, training: TrainingSpec | None = None,
            splits: Splits | None = None):
        """Train and measure one setting; return ``(TrainResult, model)``.

        ``training`` overrides the study's for this run (a Hyperband rung's epochs); ``splits``
        the trainer's data (a cross-validation fold of the same shape). The model is fresh, or
        the reused one re-armed for ``params`` and ``seed``: use it before the next ``fit``.
        """
        import keras

        training = training or self.training
        s = splits or self.splits
        model = self._model_for(params, training, seed)
        rng = np.random.default_rng(seed)
        n = min(training.train_eval_samples, len(s.y_train))
        idx = np.sort(rng.choice(len(s.y_train), size=n, replace=False)) if n < len(s.y_train) \
            else np.arange(len(s.y_train))
        max_epochs, start = training.schedule(len(s.y_train))
        epoch_metrics = _epoch_metrics_callback(s.x_train, idx, s.y_train[idx],
                                                s.x_val, s.y_val, self.score, report, max_epochs)
        stopper = keras.callbacks.EarlyStopping(monitor="score", mode="max",
                                                patience=training.patience,
                                                restore_best_weights=True, start_from_epoch=start)
        with _interrupt:
            batches, steps = _shuffled_batches(s.x_train, s.y_train, training.batch_size, seed)
            history = model.fit(batches, steps_per_epoch=steps, epochs=max_epochs, verbose=0,
                                shuffle=False,
                                callbacks=[epoch_metrics, stopper, *(callbacks or [])])
        curves = {k: [float(v) for v in history.history.get(k, [])] for k in CURVES}
        epochs = len(curves["loss"])
        train_loss, train_acc = _evaluate(model, s.x_train, s.y_train)
        val_loss, val_acc = _evaluate(model, s.x_val, s.y_val)
        if not all(map(math.isfinite, (train_loss, val_loss, train_acc, val_acc))):
            raise TrialFailure("non-finite figures after training")
        gap = train_acc - val_acc
        stopped = ("pruned" if epoch_metrics.pruned_at is not None
                   else "early_stopping" if epochs < max_epochs else "max_epochs")
        result = TrainResult(
            params=effective_params(params), train_accuracy=train_acc, val_accuracy=val_acc,
            gap=gap, score=self.score(val_acc, gap), train_loss=train_loss, val_loss=val_loss,
            epochs=epochs, best_epoch=stopper.best_epoch + 1, stopped=stopped, curves=curves)
        return result, model

    def refit(self, params: dict[str, Any], *, seed: int, epochs: int, splits: Splits):
        """Train ``params`` on all of ``splits``' train part for exactly ``epochs`` (no
        validation to stop on: the epochs come from the cross-validation folds), set the
        BatchNormalization statistics exactly over it, and return ``(train_accuracy, model)``
        with train accuracy measured with dropout off."""
        import keras

        model = self._model_for(params, self.training, seed)
        with _interrupt:
            batches, steps = _shuffled_batches(splits.x_train, splits.y_train,
                                               self.training.batch_size, seed)
            history = model.fit(batches, steps_per_epoch=steps, epochs=epochs, verbose=0,
                                shuffle=False,
                                callbacks=[keras.callbacks.TerminateOnNaN()])
        losses = history.history.get("loss", [])
        if not losses or not all(map(math.isfinite, losses)):
            raise TrialFailure(f"non-finite training loss in a {epochs}-epoch refit")
        # The exact statistics' pass returns the inference-mode outputs on the way.
        probs = (set_population_statistics(model, splits.x_train) if has_batch_norm(model)
                 else _predict(model, splits.x_train))
        return _accuracy(probs, splits.y_train), model

    def accuracy(self, model, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy with dropout off (the model run in inference mode)."""
        return _accuracy(_predict(model, x), y)

    def _model_for(self, params: dict[str, Any], training: TrainingSpec, seed: int):
        """A compiled model in its initial state for ``params`` and ``seed``.

        With ``training.reuse_model`` (the default) the one compiled model is re-armed
        (``search/reuse.py``) and rebuilt only when the compile settings change; otherwise the
        last fresh model's graph state is freed and a fresh model built and compiled, the plain
        Keras way.
        """
        import keras

        s = self.splits
        if not self.model_spec.wants_vectors:
            return self._user_model(params, training, seed)
        if training.reuse_model:
            shape = Shape(s.n_features, s.n_classes, self.model_spec, training.optimizer,
                          training.learning_rate)
            if self._reusable is None or self._reusable.shape != shape:
                self.close()
                self._reusable = shared(shape)
                if self._reusable is None:
                    self._reusable, self._built = ReusableModel(shape), True
            # No ``keras.utils.set_random_seed`` here: ``prepare`` seeds every draw itself, and
            # the global seed's ``tf.random.set_seed`` would clear TensorFlow's function caches
            # (0.3-0.5 s at the next step; see ``_shuffled_batches``).
            return self._reusable.prepare(params, seed)
        if self._built:
            _clear()  # the last fresh model's graph state; a reused model is kept
        self._built = True
        keras.utils.set_random_seed(seed)
        return compile_model(build_model(params, s.n_features, s.n_classes, self.model_spec,
                                         seed=seed), training.optimizer, training.learning_rate,
                             weight_decay=effective_params(params)["weight_decay"])

    def _user_model(self, params: dict[str, Any], training: TrainingSpec, seed: int):
        """A preset's or the user's model for ``params`` (``search/usermodel.py``): a fresh
        clone with the setting wired in, the last one's graph state freed first."""
        from .usermodel import ModelSource, vocabulary

        s = self.splits
        if self._source is None:
            self._source = ModelSource(
                self.model_spec, s.input_shape, s.n_classes,
                vocabulary(s.x_train, s.x_val, s.x_test), scaled=s.scaling.method != "none",
                searched=self.searched)
        if self._built and not self._source.reuses(training):
            _clear()  # the last fresh clone's graph state; a reused clone is kept
        self._built = True
        return self._source.model(params, seed, training)


def _shuffled_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
    """``(dataset, steps per epoch)``: the train split in a new order every epoch, repeated, so
    ``fit`` keeps one input iterator for the whole run (given arrays, Keras makes a new one each
    epoch, about 25 ms: a quarter of a small MLP's epoch).

    Epoch ``e``'s order is a stateless shuffle seeded by ``(seed, e)``, so it depends on the
    trial's seed alone. ``Dataset.shuffle`` would also read TensorFlow's global seed, which only
    ``tf.random.set_seed`` fixes, and that call clears TensorFlow's caches of instantiated
    functions: the next step of a reused model then costs 0.3-0.5 s instead of 5 ms, every
    trial (``Trainer._model_for``)."""
    import tensorflow as tf

    n = len(y)
    xs, ys = tf.constant(x), tf.constant(y)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    batches = (tf.data.Dataset.counter().flat_map(epoch)
               .map(lambda rows: (tf.gather(xs, rows), tf.gather(ys, rows))))
    return batches, math.ceil(n / batch_size)


def _evaluate(model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(loss, accuracy)`` in inference mode, as Keras' ``evaluate`` reports them (the loss
    with the penalties, accuracy by the highest output), from the compiled predict and loss:
    ``evaluate`` builds a new input pipeline per call, about 0.2 s, which made the two calls at
    the end of every fit a third of a short fit's cost."""
    probs = _predict(model, x)
    return _loss(model, y, probs), _accuracy(probs, y)


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """The share of rows whose highest output is their label."""
    return float(np.mean(probs.argmax(axis=1) == y))


def _clear() -> None:
    import keras

    keras.backend.clear_session()
    _drop_custom_gradients()
    gc.collect()


def _drop_custom_gradients() -> None:
    """Unregister the gradient functions that tracing ``fit`` left in TensorFlow's registry.

    Keras' optimizer all-reduces gradients through ``tf.custom_gradient``, which registers a
    closure per trace in a global registry and never removes it; the closure holds the whole
    traced train step, about 12 MB a trial, which ``clear_session`` cannot free (TensorFlow issue
    97697; tf-keras PR 898 does the same in ``clear_session``). After ``clear_session`` no graph
    of an earlier trial is traced again, so its entries are dead weight
    (benchmarks/results/memory.md: RSS flat over 50 trials with this, +12 MB a trial without).
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if isinstance(registry, dict):  # a TensorFlow without the registry: nothing to drop
        for name in [n for n in registry if n.startswith("CustomGradient-")]:
            del registry[name]
