"""The Keras code an export carries: paste it, give it your data, and it trains the chosen setting.

It has to reproduce the trial, so it holds everything the trial's figures depend on, not only
the layers: the feature scaling regsearch fitted on the training split (as a Keras
``Normalization`` or ``Rescaling`` layer, so the model takes the features as they are in the
data file), the exact BatchNormalization statistics the trainer sets each epoch, the optimizer
with its learning rate and weight decay, the batch size, the epochs, and the early stopping on
the same signal the trainer stops on (validation accuracy minus ``gap_weight`` times the
dropout-off gap, best weights restored).
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
    kernel = f"kernel_regularizer={reg}"
    if p["max_norm"] > 0:
        kernel += f",\n                       kernel_constraint=keras.constraints.MaxNorm(" \
                  f"max_value={p['max_norm']:.6g})"
    decay = f", weight_decay={p['weight_decay']:.6g}" if p["weight_decay"] > 0 else ""
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
        lines.append(f"    keras.layers.Dense({units}, activation=\"relu\", {kernel}),")
        if model.batch_norm:
            lines.append("    keras.layers.BatchNormalization(),")
        if p["dropout"] > 0:
            lines.append(f"    keras.layers.Dropout(rate={p['dropout']:.6g}),")
    lines += [
        f"    keras.layers.Dense({n_classes}, activation=\"softmax\", {kernel}),",
        "])",
        f"model.compile(optimizer=keras.optimizers.{_OPTIMIZERS[training.optimizer]}"
        f"(learning_rate={training.learning_rate:.6g}{decay}),",
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
        *_batches_lines("x_train", training.batch_size, seed),
        "model.fit(batches, steps_per_epoch=steps, epochs=epochs, verbose=0, shuffle=False,",
        "          callbacks=[DropoutOffScore(x_train, y_train, x_val, y_val),",
        "                     keras.callbacks.EarlyStopping(monitor=\"score\", mode=\"max\", "
        f"patience={training.patience},",
        "                                                   restore_best_weights=True,",
        "                                                   start_from_epoch=start)])",
    ]
    return "\n".join(lines)


def _batches_lines(x: str, batch_size: int, seed: int) -> list[str]:
    """The batches regsearch's trainer feeds ``fit`` (``trainer._shuffled_batches``), so the
    snippet trains on the same batch order as the run it reproduces."""
    return [
        "# The batches regsearch trains on: every epoch the rows in a new order, seeded by",
        "# (seed, epoch) (hence shuffle=False below), repeated so fit keeps one input iterator.",
        "import tensorflow as tf",
        "",
        f"rows_x, rows_y = tf.constant({x}), tf.constant(y_train)",
        "",
        "",
        "def epoch_order(epoch):",
        "    order = tf.random.experimental.stateless_shuffle(",
        f"        tf.range(len(y_train)), seed=tf.stack([tf.constant({seed}, tf.int64), epoch]))",
        f"    return tf.data.Dataset.from_tensor_slices(order).batch({batch_size})",
        "",
        "",
        "batches = (tf.data.Dataset.counter().flat_map(epoch_order)",
        "           .map(lambda rows: (tf.gather(rows_x, rows), tf.gather(rows_y, rows))))",
    ]


def model_snippet(params: dict[str, Any], *, model: ModelSpec, input_shape: tuple[int, ...],
                  n_classes: int, training: TrainingSpec, seed: int, epochs: int,
                  scaling: dict[str, Any] | None) -> str:
    """Ready-to-paste Keras code for a preset's or the user's own model: it calls the user's
    builder (or loads their file, or builds the preset), wires the setting in with regsearch's
    public ``search.apply`` and trains as the confirmation's first run did (train +
    validation, ``epochs``, ``seed``), so it reproduces that run's figures."""
    p = effective_params(params)
    setting = {k: v for k, v in p.items() if v not in (0, 0.0, "none")}
    lines = [
        "import numpy as np",
        "import keras",
        "import tensorflow as tf",
        "",
        "from search import apply  # regsearch: the setting's Dropout rates and kernel penalties",
        "",
        "tf.config.experimental.enable_op_determinism()",
    ]
    per_trial = False
    if model.path is not None:
        lines.append(f"model = keras.models.load_model({model.path!r})")
    elif model.builder is not None:
        module, _, function = model.builder.partition(":")
        args, per_trial = _builder_args(model, input_shape, n_classes, p)
        lines += ["import sys", "", f"sys.path.insert(0, {model.builder_path!r})",
                  f"from {module} import {function}", ""]
        if not per_trial:
            lines.append(f"model = {function}({args})")
    elif model.preset == "cnn":
        lines += ["from search.presets import cnn", "",
                  f"model = cnn({tuple(input_shape)}, {n_classes}, filters={tuple(model.filters)}, "
                  f"hidden={tuple(model.hidden)})"]
    else:
        lines += ["from search.presets import text", "",
                  "# vocabulary: one more than the largest token id in your data",
                  f"model = text({tuple(input_shape)}, {n_classes}, "
                  "vocabulary=int(max(x_train.max(), x_test.max())) + 1, "
                  f"embedding_dim={model.embedding_dim}, hidden={tuple(model.hidden)})"]
    lines += [f"keras.utils.set_random_seed({seed})"]
    if per_trial:  # the builder takes the setting itself
        lines.append(f"model = {function}({args})")
    else:
        lines.append(f"model = apply(model, {setting!r}, add_dropout={model.add_dropout}, "
                     f"seed={seed}, keep_weights={model.start_from == 'saved'})")
    lines += [
        "if not model.compiled:",
        f"    model.compile(optimizer=keras.optimizers.{_OPTIMIZERS[training.optimizer]}("
        f"learning_rate={training.learning_rate:.6g}"
        + (f", weight_decay={p['weight_decay']:.6g}" if p["weight_decay"] > 0 else "") + "),",
        "                  loss=\"sparse_categorical_crossentropy\", metrics=[\"accuracy\"])",
        "",
        "# x_train, y_train: all your training rows (regsearch's train + validation), labels as",
        f"# integers 0..{n_classes - 1}; x_test: new rows. The scaling regsearch fitted on the "
        "training part:",
        *_scaling_lines(scaling, input_shape),
        *_batches_lines("scale(x_train)", training.batch_size, seed),
        f"steps = -(-len(y_train) // {training.batch_size})  # optimizer steps an epoch",
        f"model.fit(batches, steps_per_epoch=steps, epochs={epochs}, verbose=0, shuffle=False)",
        "# BatchNormalization statistics exactly over the training rows (a few steps an epoch",
        "# leave the moving averages far off); nothing happens for a model without it.",
        "from search.batchnorm import set_population_statistics",
        "",
        "set_population_statistics(model, scale(x_train))",
        "probs = model.predict(scale(x_test), verbose=0)",
    ]
    return "\n".join(lines)


def _builder_args(model: ModelSpec, input_shape: tuple[int, ...], n_classes: int,
                  p: dict[str, Any]) -> tuple[str, bool]:
    """The builder's arguments as regsearch passes them (those of the data it takes, and the
    setting's if it takes ``dropout`` and ``kernel_regularizer``), and whether it does."""
    from .usermodel import DATA_ARGS, TRIAL_ARGS, resolve_builder, takes

    fn = resolve_builder(model)
    values = {"input_shape": repr(tuple(input_shape)), "n_classes": repr(n_classes),
              "vocabulary": "int(max(x_train.max(), x_test.max())) + 1"}
    args = [f"{k}={values[k]}" for k in DATA_ARGS if takes(fn, (k,))]
    per_trial = takes(fn, TRIAL_ARGS)
    if per_trial:
        reg = ("None" if p["regularizer"] == "none" or not (p["l1"] or p["l2"])
               else f"keras.regularizers.L1L2(l1={p['l1']:.6g}, l2={p['l2']:.6g})")
        args += [f"dropout={p['dropout']:.6g}", f"kernel_regularizer={reg}"]
        if takes(fn, ("kernel_constraint",)):
            args.append("kernel_constraint=" + (
                f"keras.constraints.MaxNorm({p['max_norm']:.6g})" if p["max_norm"] > 0
                else "None"))
    return ", ".join(args), per_trial


def _scaling_lines(scaling: dict[str, Any] | None, input_shape: tuple[int, ...]) -> list[str]:
    if not scaling or scaling.get("method", "none") == "none":
        return ["def scale(x):", "    return np.asarray(x, dtype=\"float32\")", ""]
    offset, scale = list(scaling["offset"]), list(scaling["scale"])
    if len(set(offset)) == 1 and len(set(scale)) == 1:
        o, s = f"np.float32({offset[0]:.9g})", f"np.float32({scale[0]:.9g})"
    else:
        shape = tuple(input_shape)
        o = f"np.array({_floats(offset)}, dtype=\"float32\").reshape({shape})"
        s = f"np.array({_floats(scale)}, dtype=\"float32\").reshape({shape})"
    return ["def scale(x):", f"    return (np.asarray(x, dtype=\"float32\") - {o}) / {s}", ""]
