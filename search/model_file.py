"""The export's trained model: the confirmed answer's setting as a ``.keras`` file.

It is the confirmation's first run of that setting, trained again: train + validation, the
same epochs and the same seed, so ``keras.models.load_model`` on the file gives that run's test
accuracy back. The model is a plain Keras one (a fresh build, never the reused model with its
variable-rate layers, which ``load_model`` would not know), and it takes the features as they
are in the data file: the scaling regsearch fitted on the training part goes in front of it as
a Keras layer.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .data import Splits
    from .scaling import Scaling
    from .study import Snapshot


def answer_run(confirmation: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The answer's params, its epochs and its first confirmation run (seed and figures)."""
    regularize = confirmation["regularize"]
    chosen = confirmation["settings"][1 if regularize else 0]
    return dict(chosen["params"]), int(chosen["epochs"]), chosen["runs"][0]


def scaling_layer(scaling: Scaling, input_shape: tuple[int, ...]):
    """The Keras layer that computes ``scaling`` on raw samples of ``input_shape``, or None:
    ``Rescaling`` for one range shared by every value, else ``Normalization`` over all the
    sample's axes (one mean and variance per value, shaped like a sample)."""
    import keras

    if scaling.method == "none":
        return None
    offset, scale = scaling.offset, scaling.scale
    if np.all(offset == offset[0]) and np.all(scale == scale[0]):
        return keras.layers.Rescaling(scale=float(1 / scale[0]),
                                      offset=float(-offset[0] / scale[0]))
    axes = tuple(range(1, len(input_shape) + 1))
    return keras.layers.Normalization(axis=axes if len(axes) > 1 else -1,
                                      mean=offset.reshape(input_shape),
                                      variance=np.square(scale).reshape(input_shape))


def train_answer(snap: Snapshot, confirmation: dict[str, Any], splits: Splits):
    """The answer trained as its first confirmation run was, with the scaling in front."""
    import keras

    from .objective import trainer_for

    params, epochs, run = answer_run(confirmation)
    spec = dataclasses.replace(snap.spec, training=dataclasses.replace(
        snap.spec.training, reuse_model=False))
    with trainer_for(spec, splits) as trainer:
        _, model = trainer.refit(params, seed=int(run["seed"]), epochs=epochs, splits=splits)
        layer = scaling_layer(splits.scaling, splits.input_shape)
        if layer is None:
            return model
        raw = keras.Input(shape=splits.input_shape, name="features")
        wrapped = keras.Model(raw, model(layer(raw)), name=f"{snap.name}_answer")
        wrapped.compile(loss=model.loss, metrics=["accuracy"])
        return wrapped


def save_atomic(model: Any, path: str | Path) -> None:
    """``model.save(path)`` so that a crash leaves the old file or the whole new one; a place
    that cannot be written raises ``RegsearchError`` naming it, with nothing left behind."""
    from .errors import RegsearchError
    from .export import replace_atomic

    def save(tmp: Path) -> None:
        try:
            model.save(tmp)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - Keras' own reason, in one line
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RegsearchError(f"cannot save the answer's trained model as {path}: "
                                 f"{type(exc).__name__}: {reason} (a subclassed model needs "
                                 "get_config to be saved); nothing was written") from None

    replace_atomic(path, save, suffix=".keras")
