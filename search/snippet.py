"""The Keras code an export carries: paste it, give it your data, and it trains the chosen setting.

It has to reproduce the trial, so it holds everything the trial's figures depend on, not only
the layers: the feature scaling regsearch fitted on the training split (as a Keras
``Normalization`` or ``Rescaling`` layer, so the model takes the features as they are in the
data file), the exact BatchNormalization statistics the trainer sets each epoch, the optimizer and its learning rate, the batch
size, the epochs, and the early stopping on the same signal the trainer stops on (validation
accuracy minus ``gap_weight`` times the dropout-off gap, best weights restored).
``tests/test_snippet.py`` runs it in a fresh process on a study's split and gets the trial's
figures back within noise.
"""

from __future__ import annotations

from typing import Any

from .models import effective_params
from .spec import ModelSpec, TrainingSpec

_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def _floats(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.9g}" for v in values) + "]"


def scaling_layer(scaling: dict[str, Any] | None) -> str | None:
    """The Keras layer that applies a study's fitted scaling (its ``data_scaling`` record).

    ``(x - offset) / scale`` is ``Normalization(mean=offset, variance=scale**2)``; one offset
    and scale for every feature (the pixel ``range``) is the shorter ``Rescaling``.
    """
    if not scaling or scaling.get("method", "none") == "none":
        return None
    offset, scale = list(scaling["offset"]), list(scaling["scale"])
    if len(set(offset)) == 1 and len(set(scale)) == 1:
        return (f"keras.layers.Rescaling(scale={1 / scale[0]:.9g}, "
                f"offset={-offset[0] / scale[0]:.9g})")
    return (f"keras.layers.Normalization(\n        mean={_floats(offset)},\n"
            f"        variance={_floats([s * s for s in scale])})")


def keras_snippet(params: dict[str, Any], *, n_features: int, n_classes: int, model: ModelSpec,
                  training: TrainingSpec, gap_weight: float, seed: int,
                  scaling: dict[str, Any] | None) -> str:
    """Ready-to-paste Keras code that builds and trains the same model as the trial did."""
    p = effective_params(params)
    reg = ("None" if p["regularizer"] == "none"
           else f"keras.regularizers.L1L2(l1={p['l1']:.6g}, l2={p['l2']:.6g})")
    layer = scaling_layer(scaling)
    n = training.train_eval_samples
    lines = [
        "import keras",
        "import numpy as np",
        "",
        "# x_train, y_train, x_val, y_val: your features as they are in the data file (the",
        "# first layer applies the scaling regsearch fitted on the training split) and labels",
        f"# as integers 0..{n_classes - 1}.",
        f"keras.utils.set_random_seed({seed})",
        "model = keras.Sequential([",
        f"    keras.Input(shape=({n_features},)),",
    ]
    if layer is not None:
        lines.append(f"    {layer},")
    for units in model.hidden:
        lines.append(f"    keras.layers.Dense({units}, activation=\"relu\", "
                     f"kernel_regularizer={reg}),")
        if model.batch_norm:
            lines.append("    keras.layers.BatchNormalization(),")
        if p["dropout"] > 0:
            lines.append(f"    keras.layers.Dropout(rate={p['dropout']:.6g}),")
    lines += [
        f"    keras.layers.Dense({n_classes}, activation=\"softmax\", kernel_regularizer={reg}),",
        "])",
        f"model.compile(optimizer=keras.optimizers.{_OPTIMIZERS[training.optimizer]}"
        f"(learning_rate={training.learning_rate:.6g}),",
        "              loss=\"sparse_categorical_crossentropy\", metrics=[\"accuracy\"])",
        "",
        "",
        "class DropoutOffScore(keras.callbacks.Callback):",
        "    \"\"\"regsearch's measurement at each epoch end: BatchNormalization statistics set",
        "    exactly over the training data (a few steps an epoch leave the moving averages far",
        "    off), validation accuracy and train accuracy with dropout off, and the score that",
        "    EarlyStopping watches.\"\"\"",
        "",
        "    def __init__(self, x_train, y_train, x_val, y_val):",
        "        super().__init__()",
        "        self.x_train, self.y_train = x_train, np.asarray(y_train)",
        "        self.x_val, self.y_val = x_val, np.asarray(y_val)",
        "",
        "    def accuracy(self, x, y):",
        "        probs = keras.ops.convert_to_numpy(self.model(x, training=False))",
        "        return float(np.mean(probs.argmax(axis=1) == y))",
        "",
        "    def on_epoch_end(self, epoch, logs=None):",
        "        out = keras.ops.convert_to_tensor(self.x_train)",
        "        for layer in self.model.layers:",
        "            if isinstance(layer, keras.layers.BatchNormalization):",
        "                mean, variance = keras.ops.moments(out, axes=[0])",
        "                layer.moving_mean.assign(mean)",
        "                layer.moving_variance.assign(variance)",
        "            out = layer(out, training=False)",
        "        val = logs[\"val_accuracy\"] = self.accuracy(self.x_val, self.y_val)",
        f"        train = self.accuracy(self.x_train[:{n}], self.y_train[:{n}])",
        f"        logs[\"score\"] = val - {gap_weight:g} * abs(train - val)",
        "",
        "",
        "# regsearch's schedule: EarlyStopping acts once min_steps optimizer steps are done, and",
        "# training runs max_epochs, or that many epochs plus the patience where that is more.",
        f"steps = -(-len(x_train) // {training.batch_size})  # optimizer steps an epoch",
        f"start = -(-{training.min_steps} // steps)",
        f"epochs = max({training.max_epochs}, start + {training.patience}) if start else "
        f"{training.max_epochs}",
        f"model.fit(x_train, y_train, batch_size={training.batch_size}, epochs=epochs, verbose=0,",
        "          callbacks=[DropoutOffScore(x_train, y_train, x_val, y_val),",
        "                     keras.callbacks.EarlyStopping(monitor=\"score\", mode=\"max\", "
        f"patience={training.patience},",
        "                                                   restore_best_weights=True,",
        "                                                   start_from_epoch=start)])",
    ]
    return "\n".join(lines)
