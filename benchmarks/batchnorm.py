"""How wrong BatchNormalization's moving statistics make dropout-off accuracy on small datasets.

The project reads train and validation accuracy with dropout off, i.e. in inference mode, where
each BatchNormalization layer normalizes with its moving mean and variance. With a few hundred
rows an epoch is 2-5 optimizer steps at batch 100, and Keras' default momentum 0.99 keeps those
statistics near their initial values (mean 0, variance 1) for hundreds of steps, so the
inference-mode figures describe a model that does not exist. This script trains the lecture-notes
MLP, Input -> [Dense(50, relu) -> BatchNormalization -> Dropout] x2 -> Dense(classes, softmax),
Adam 1e-3, batch 100, EarlyStopping on val_accuracy (patience 6, best weights restored), with:

* ``a``: Keras' default momentum 0.99;
* ``b``: momentum 0.9;
* ``c1``: momentum ``clip(0.01 ** (1 / steps), 0.5, 0.99)``, steps = ceil(n_train / batch): the
  state from before an epoch keeps weight 0.01 after it (floored at 0.5, because with momentum
  below that the last, possibly tiny, batch of an epoch dominates the statistics);
* ``c2``: momentum ``clip(1 - 1 / steps, 0.5, 0.99)``: the moving average's window is one epoch;
* ``d``: momentum 0.99, and at every epoch end a callback sets each BN layer's moving mean and
  variance to the exact mean and (biased, as in training) variance of its input over the whole
  training split, earlier layers in inference mode ("precise BN"), then computes val_loss and
  val_accuracy itself, so EarlyStopping sees figures made with the fixed statistics (Keras
  computes its validation metrics before ``on_epoch_end``; here fit gets no validation_data).

For every run, at every epoch end (time excluded from the run's cost) and after training, a probe
compares the inference-mode accuracy with the model's own statistics against the same weights'
accuracy with exact population statistics; the absolute difference is the "statistics error".
The reference for what a long, converged run scores is the same model at batch 16 and momentum
0.99, trained whole epochs for at least ``--ref-steps`` optimizer steps before EarlyStopping
may act (as ``start_from_epoch`` would), same dropout, split and seed. Datasets: scikit-learn's wine (178 rows)
and breast cancer (569), standardized on the train part, and 400 stratified digits (/16); with
``--full-digits`` also all 1797 digits. Splits 60/20/20 stratified; each seed fixes the split
and the model's initialization. Runs re-arm one compiled model per dataset, dropout rate and
momentum instead of tracing a new one each (``Models``; checked against a fresh model at the
end). About 6 minutes on 2 busy CPUs; ``--full-digits`` adds about 6-9 more. Writes
benchmarks/results/batchnorm.md and batchnorm.json.

    .venv/bin/python benchmarks/batchnorm.py [--seeds 0 1 2] [--dropouts 0.0 0.3] [--full-digits]
    .venv/bin/python benchmarks/batchnorm.py --quick      # a smoke test with tiny budgets
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

# A script's own folder is on sys.path, so the shared helpers import as a module.
from _common import write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HIDDEN = (50, 50)
LEARNING_RATE = 1e-3
BATCH = 100
PATIENCE = 6


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    momentum: Callable[[int], float]  # steps per epoch -> BatchNormalization momentum
    precise: bool = False


def _clip(m: float) -> float:
    return float(min(max(m, 0.5), 0.99))


OPTIONS = (
    Option("a", "momentum 0.99 (Keras default)", lambda steps: 0.99),
    Option("b", "momentum 0.9", lambda steps: 0.9),
    Option("c1", "momentum clip(0.01^(1/steps), 0.5, 0.99)", lambda s: _clip(0.01 ** (1 / s))),
    Option("c2", "momentum clip(1 - 1/steps, 0.5, 0.99)", lambda s: _clip(1 - 1 / s)),
    Option("d", "momentum 0.99 + precise BN every epoch", lambda steps: 0.99, precise=True),
)


@dataclass
class Splits:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def load(name: str, seed: int) -> Splits:
    """One dataset split stratified 60/20/20 by ``seed``; standardized on the train part."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name in ("digits400", "digits"):
        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        if name == "digits400":
            x, _, y, _ = train_test_split(x, y, train_size=400, stratify=y, random_state=seed)
    else:
        x, y = {"wine": load_wine, "breast_cancer": load_breast_cancer}[name](return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y,
                                                      random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.25,
                                                      stratify=y_rest, random_state=seed)
    if not name.startswith("digits"):
        scaler = StandardScaler().fit(x_train)
        x_train, x_val, x_test = (scaler.transform(v) for v in (x_train, x_val, x_test))
    f32 = lambda v: np.asarray(v, dtype="float32")  # noqa: E731
    return Splits(name, f32(x_train), y_train.astype("int64"), f32(x_val), y_val.astype("int64"),
                  f32(x_test), y_test.astype("int64"), int(len(np.unique(y))))


def build(n_features: int, n_classes: int, dropout: float, momentum: float):
    """The lecture-notes MLP with the given dropout rate and BatchNormalization momentum,
    uncompiled: its initial weights and dropout seeds are drawn from Keras' global seed."""
    import keras

    layers: list[Any] = [keras.Input(shape=(n_features,))]
    for units in HIDDEN:
        layers += [keras.layers.Dense(units, activation="relu"),
                   keras.layers.BatchNormalization(momentum=momentum)]
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential(layers)


class Models:
    """Compiled models, one per dataset, dropout rate and momentum, re-armed for every run.

    A run's model is built fresh after ``keras.utils.set_random_seed(seed)``; with ``reuse``,
    its variables (weights, BN statistics, dropout seed states) are copied into the compiled
    model kept for the same architecture and momentum, whose optimizer state is put back to
    its initial values, so the traced train and test functions serve every seed and option
    (the momentum is a constant in the traced graph, hence one model per momentum). Tracing
    costs ~3 s a run on this machine, more than the training itself; ``check`` in ``main``
    compares a re-armed run with a fresh one.
    """

    def __init__(self, reuse: bool = True) -> None:
        self.reuse = reuse
        self.kept: dict[tuple, tuple[Any, list[np.ndarray]]] = {}

    def get(self, s: Splits, dropout: float, momentum: float, seed: int):
        import keras

        if not self.reuse:
            keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        fresh = build(s.x_train.shape[1], s.n_classes, dropout, momentum)
        key = (s.name, s.x_train.shape, dropout, momentum)
        if not self.reuse or key not in self.kept:
            fresh.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                          jit_compile=False)
            fresh.optimizer.build(fresh.trainable_variables)
            if self.reuse:
                self.kept[key] = (fresh, [v.numpy() for v in fresh.optimizer.variables])
            return fresh
        model, optimizer_state = self.kept[key]
        for target, source in zip(model.variables, fresh.variables, strict=True):
            target.assign(source)
        for target, value in zip(model.optimizer.variables, optimizer_state, strict=True):
            target.assign(value)
        return model


def forward(model, x: np.ndarray, exact: bool) -> tuple[np.ndarray, list]:
    """The model's inference-mode logits for ``x`` in numpy (dropout off), each BN layer
    normalizing with its moving statistics or, with ``exact``, with the exact mean and (biased,
    as in training) variance of its input over ``x``; and the statistics each BN layer used.
    Numpy, not Keras: a probe every epoch must not cost an eager Keras pass per layer."""
    import keras

    h = np.asarray(x, dtype="float32")
    used = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            h = h @ layer.kernel.numpy() + layer.bias.numpy()
            if layer.get_config()["activation"] == "relu":
                h = np.maximum(h, 0)
        elif isinstance(layer, keras.layers.BatchNormalization):
            if exact:
                h64 = h.astype("float64")
                mean, var = h64.mean(axis=0).astype("float32"), h64.var(axis=0).astype("float32")
            else:
                mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
            used.append((mean, var))
            h = ((h - mean) / np.sqrt(var + np.float32(layer.epsilon)) * layer.gamma.numpy()
                 + layer.beta.numpy())
        # Dropout: the identity with dropout off.
    return h, used  # the last Dense's softmax is left out: argmax needs only logits


def precise_bn(model, x: np.ndarray) -> None:
    """Set every BN layer's moving statistics to the exact ones of its input over ``x``, the
    layers before it in inference mode (dropout off, BN on the statistics already fixed)."""
    import keras

    _, used = forward(model, x, exact=True)
    bns = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    for layer, (mean, var) in zip(bns, used):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(var)


def accuracies(model, s: Splits, parts: tuple[str, ...], exact: bool) -> dict[str, float]:
    """Inference-mode accuracy on each split, with the model's own or with exact statistics
    (the exact statistics are always the training split's)."""
    if not exact:
        return {p: float(np.mean(np.argmax(forward(model, getattr(s, f"x_{p}"), False)[0], -1)
                                 == getattr(s, f"y_{p}"))) for p in parts}
    import keras

    bns = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    saved = [(la.moving_mean.numpy(), la.moving_variance.numpy()) for la in bns]
    precise_bn(model, s.x_train)
    out = accuracies(model, s, parts, exact=False)
    for la, (mean, var) in zip(bns, saved):
        la.moving_mean.assign(mean)
        la.moving_variance.assign(var)
    return out


def callbacks(s: Splits, precise: bool) -> tuple[list, dict[str, Any], Any]:
    """The precise-BN callback (when asked) and the per-epoch probe; the probe's record; the
    epoch timer (to go last in the callback list)."""
    import keras

    record: dict[str, Any] = {"probe_s": 0.0, "precise_s": [], "train": [], "val": [],
                              "train_exact": [], "val_exact": [], "epoch_s": []}
    probe_at_begin = [0.0, 0.0]  # the epoch's start time, the probe's total then

    class PreciseBN(keras.callbacks.Callback):
        """Exact BN statistics over the training split, then val metrics made with them."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            started = time.perf_counter()
            precise_bn(self.model, s.x_train)
            logits = forward(self.model, s.x_val, exact=False)[0].astype("float64")
            logits -= logits.max(axis=-1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
            if logs is not None:
                logs["val_loss"] = float(-np.mean(log_p[np.arange(len(s.y_val)), s.y_val]))
                logs["val_accuracy"] = float(np.mean(np.argmax(log_p, axis=-1) == s.y_val))
            record["precise_s"].append(time.perf_counter() - started)

    class Probe(keras.callbacks.Callback):
        """Inference-mode accuracy with the model's statistics and with exact ones, per epoch;
        its time is recorded so that it can be taken out of the run's cost."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            started = time.perf_counter()
            for exact in (False, True):
                for p, v in accuracies(self.model, s, ("train", "val"), exact).items():
                    record[f"{p}_exact" if exact else p].append(v)
            record["probe_s"] += time.perf_counter() - started

    class Timer(keras.callbacks.Callback):
        """Each epoch's wall time, the probe's share taken out."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            probe_at_begin[:] = [time.perf_counter(), record["probe_s"]]

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            elapsed = time.perf_counter() - probe_at_begin[0]
            record["epoch_s"].append(elapsed - (record["probe_s"] - probe_at_begin[1]))

    return ([PreciseBN()] if precise else []) + [Probe()], record, Timer()


def train(models: Models, s: Splits, *, seed: int, dropout: float, momentum: float,
          precise: bool, batch: int, epochs: int, warmup_epochs: int = 0) -> dict[str, Any]:
    """One run: its final and per-epoch figures, the restored epoch and its cost per epoch.

    ``warmup_epochs`` (the reference) are trained first, as one pass over a reshuffled, repeated
    dataset, so that they cost no per-epoch overhead; EarlyStopping acts only on the epochs
    after them (what ``start_from_epoch`` does), and epochs are counted from the start.
    """
    import keras
    import tensorflow as tf

    model = models.get(s, dropout, momentum, seed)
    steps = math.ceil(len(s.y_train) / batch)
    # tf.data pipelines, not arrays: what Keras does with arrays (a fresh permutation every
    # epoch, the last partial batch kept), at a fifth of the per-epoch overhead on this model.
    data = (tf.data.Dataset.from_tensor_slices((s.x_train, s.y_train))
            .shuffle(len(s.y_train), seed=seed, reshuffle_each_iteration=True).batch(batch))
    val = tf.data.Dataset.from_tensor_slices((s.x_val, s.y_val)).batch(len(s.y_val))
    if warmup_epochs:
        model.fit(data.repeat(), steps_per_epoch=warmup_epochs * steps, epochs=1, verbose=0,
                  shuffle=False)
    extra, record, timer = callbacks(s, precise)
    stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                            patience=PATIENCE, restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(data, epochs=epochs, verbose=0, shuffle=False,
                        validation_data=None if precise else val,
                        callbacks=[*extra, stopper, timer])
    fit_s = time.perf_counter() - started - record["probe_s"]
    ran = len(history.history["loss"])
    # The first epoch also traces the train (and test) functions: the cost of an epoch is the
    # median of the later ones.
    epoch_s = statistics.median(record["epoch_s"][1:] or record["epoch_s"])
    parts = ("train", "val", "test")
    own = {p: float(np.mean(np.argmax(np.asarray(model(getattr(s, f"x_{p}"), training=False)),
                                      -1) == getattr(s, f"y_{p}"))) for p in parts}
    mine = accuracies(model, s, parts, exact=False)  # the probe's arithmetic, for a check
    exact = accuracies(model, s, parts, exact=True)
    per_epoch_err = {p: float(np.mean(np.abs(np.subtract(record[p], record[f"{p}_exact"]))))
                     for p in ("train", "val")}
    return {"momentum": momentum, "epochs": warmup_epochs + ran,
            "restored": warmup_epochs + int(stopper.best_epoch) + 1,
            "steps": (warmup_epochs + ran) * steps, "s_per_epoch": epoch_s, "fit_s": fit_s,
            "precise_s_per_epoch": statistics.fmean(record["precise_s"]) if precise else 0.0,
            **own, **{f"{p}_exact": exact[p] for p in parts},
            **{f"err_{p}": abs(mine[p] - exact[p]) for p in parts},
            **{f"epoch_err_{p}": v for p, v in per_epoch_err.items()},
            "probe_vs_keras": max(abs(mine[p] - own[p]) for p in parts),
            "history": {k: record[k] for k in ("train", "val", "train_exact", "val_exact")}}


def ms(values: list[float], fmt: str = ".3f") -> str:
    """``mean ± std`` (population std over the seeds)."""
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{mean:{fmt}} ± {std:{fmt}}"


def report(runs: list[dict[str, Any]], args: argparse.Namespace, wall: float,
           check: dict[str, Any] | None) -> str:
    """The results page: a summary per option, the statistics error per dataset, every figure."""
    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    refs = {(r["dataset"], r["dropout"], r["seed"]): r for r in runs if r["option"] == "ref"}
    for r in runs:
        ref = refs[(r["dataset"], r["dropout"], r["seed"])]
        for p in ("train", "val", "test"):
            r[f"dref_{p}"] = r[p] - ref[f"{p}_exact"]
        r["dref_val_exact"] = r["val_exact"] - ref["val_exact"]
        r["epoch_err_val_max"] = max(abs(a - b) for a, b in zip(r["history"]["val"],
                                                                  r["history"]["val_exact"]))

    def mean(rs: list[dict[str, Any]], key: str, fmt: str = ".3f", absolute: bool = False) -> str:
        return f"{statistics.fmean(abs(r[key]) if absolute else r[key] for r in rs):{fmt}}"

    def group(dataset: str, dropout: float, key: str) -> list[dict[str, Any]]:
        return [r for r in runs
                if (r["dataset"], r["dropout"], r["option"]) == (dataset, dropout, key)]

    sizes = {r["dataset"]: r["sizes"] for r in runs}
    keys = ["ref", *(o.key for o in OPTIONS)]
    lines = [
        "# BatchNormalization statistics and dropout-off accuracy on small datasets\n",
        f"`benchmarks/batchnorm.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`, "
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, {wall:.0f} s wall. "
        f"Seeds {', '.join(map(str, args.seeds))} (each fixes the split and the initial weights); "
        f"dropout {', '.join(map(str, args.dropouts))}; at most {args.epochs} epochs at batch "
        f"{BATCH}, Adam 1e-3, EarlyStopping on val_accuracy (patience {PATIENCE}, best weights "
        "restored). Datasets (train/val/test rows; optimizer steps per epoch at batch 100): "
        + "; ".join(f"{d} {sizes[d][0]}/{sizes[d][1]}/{sizes[d][2]}; "
                    f"{math.ceil(sizes[d][0] / BATCH)}" for d in datasets) + ".\n",
        "Options: " + "; ".join(f"**{o.key}** {o.label}" for o in OPTIONS)
        + f"; **ref** batch 16, momentum 0.99, whole epochs for ≥{args.ref_steps} optimizer "
          f"steps, then EarlyStopping as above over at most {10 * PATIENCE} more epochs (the "
          "long, converged run; its *restored / ran* count all epochs).\n",
        "Figures: dropout-off (inference-mode) accuracy of the restored weights, with the "
        "model's own BN moving statistics, as the project measures it. *stat err*: |that "
        "accuracy − the same weights' accuracy with exact population statistics over the "
        "training split|, for the final model and, *per epoch*, averaged over (and the maximum "
        "over) every epoch's end: the figures the project's per-epoch score, pruner and "
        "EarlyStopping see. *Δref*: accuracy − the reference run's accuracy with exact "
        "statistics (same split, seed and dropout); *Δref val, exact stats*: the same for the "
        "restored weights' val accuracy with exact statistics (signed), i.e. how good the "
        "weights EarlyStopping kept are, whatever their statistics. Δref also holds what "
        "fewer, larger steps and early stopping change in the weights themselves, so it cannot "
        "go to 0. *s/epoch*: "
        "median wall time of an epoch after the first (which traces the functions), the "
        "probe's time taken out; it includes Keras' validation pass or, for d, the callback, "
        "whose own time is *callback s/epoch*. Mean ± std over seeds.\n",
        "## Summary over all datasets, dropout rates and seeds\n",
        "| option | stat err train | stat err val | per-epoch stat err val (mean / max) | "
        "\\|Δref\\| train | \\|Δref\\| val | \\|Δref\\| test | Δref val, exact stats | "
        "s/epoch | callback s/epoch | restored / ran |\n|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        rs = [r for r in runs if r["option"] == key]
        lines.append(
            f"| {key} | {mean(rs, 'err_train')} | {mean(rs, 'err_val')} | "
            f"{mean(rs, 'epoch_err_val')} / {mean(rs, 'epoch_err_val_max')} | "
            f"{mean(rs, 'dref_train', absolute=True)} | {mean(rs, 'dref_val', absolute=True)} | "
            f"{mean(rs, 'dref_test', absolute=True)} | {mean(rs, 'dref_val_exact', '+.3f')} | "
            f"{mean(rs, 's_per_epoch', '.4f')} | "
            f"{mean(rs, 'precise_s_per_epoch', '.4f')} | {mean(rs, 'restored', '.1f')} / "
            f"{mean(rs, 'epochs', '.1f')} |")
    lines += ["", "## Final val statistics error per dataset (mean over seeds)\n",
              "| data | dropout | " + " | ".join(keys) + " |\n|---|---|"
              + "---|" * len(keys)]
    for d in datasets:
        for dropout in args.dropouts:
            lines.append(f"| {d} | {dropout} | " + " | ".join(
                mean(group(d, dropout, k), "err_val") if group(d, dropout, k) else "" for k in keys)
                + " |")
    lines += ["", "## Every figure\n",
              "| data | dropout | option | momentum | train | val | test | exact-stats val | "
              "restored / ran | stat err train | stat err val | per-epoch stat err val | "
              "Δref train | Δref val | Δref test | s/epoch |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in datasets:
        for dropout in args.dropouts:
            for key in keys:
                rs = group(d, dropout, key)
                if not rs:
                    continue
                col = lambda k, fmt=".3f": ms([r[k] for r in rs], fmt)  # noqa: E731
                lines.append(
                    f"| {d} | {dropout} | {key} | {rs[0]['momentum']:.3g} | {col('train')} | "
                    f"{col('val')} | {col('test')} | {col('val_exact')} | "
                    f"{mean(rs, 'restored', '.1f')} / {mean(rs, 'epochs', '.1f')} | "
                    f"{col('err_train')} | {col('err_val')} | {col('epoch_err_val')} | "
                    f"{col('dref_train', '+.3f')} | {col('dref_val', '+.3f')} | "
                    f"{col('dref_test', '+.3f')} | {col('s_per_epoch', '.4f')} |")
    checked = max(r["probe_vs_keras"] for r in runs)
    # The momentum never enters training (training-mode BN normalizes with the batch's own
    # statistics), so one seed's options should share the weights epoch by epoch: same exact-
    # statistics accuracies for as long as both ran.
    shared, compared = 0, 0
    for d in datasets:
        for dropout in args.dropouts:
            for seed in args.seeds:
                hs = [r["history"] for r in runs if (r["dataset"], r["dropout"], r["seed"])
                      == (d, dropout, seed) and r["option"] != "ref"]
                for h in hs[1:]:
                    n = min(len(h["val_exact"]), len(hs[0]["val_exact"]))
                    compared += 1
                    shared += all(h[k][:n] == hs[0][k][:n] for k in ("train_exact", "val_exact"))
    lines += ["", f"Options a-d of one seed trained the same weights, epoch by epoch, in {shared} of "
              f"{compared} comparisons (exact-statistics train and val accuracy equal for as long "
              "as both ran): the momentum and the recomputation change only the statistics, hence "
              "the inference-mode figures and the epoch EarlyStopping restores, never the "
              "training itself (training-mode BN normalizes with each batch's own statistics).\n",
              f"Check: the probe's numpy forward pass and Keras' `model(x, training=False)` "
              f"agree on every final accuracy to within {checked:.4f}."]
    if check is not None:
        same = check["max_abs_diff"] == 0 and check["history_equal"]
        lines.append(
            "Runs re-arm one compiled model per dataset, dropout rate and momentum (see "
            "`Models`); the last run repeated on a freshly built and compiled model gave "
            + ("identical figures, epoch by epoch." if same else
               f"figures that differ by up to {check['max_abs_diff']:.4f}"
               f"{'' if check['history_equal'] else ' (per-epoch figures differ too)'}.")
            + "\n")
    else:
        lines.append("Every run built and compiled a fresh model (`--no-reuse`).\n")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dropouts", type=float, nargs="+", default=[0.0, 0.3])
    parser.add_argument("--datasets", nargs="+", default=["wine", "breast_cancer", "digits400"],
                        choices=["wine", "breast_cancer", "digits400", "digits"])
    parser.add_argument("--full-digits", action="store_true", help="add all 1797 digits")
    parser.add_argument("--epochs", type=int, default=30, help="max epochs at batch 100")
    parser.add_argument("--ref-steps", type=int, default=1000,
                        help="optimizer steps the reference trains before EarlyStopping may act")
    parser.add_argument("--no-reuse", action="store_true",
                        help="build and compile a fresh model for every run (slower)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: wine, one seed, dropout 0.3, 3 epochs, short reference")
    args = parser.parse_args()
    if args.full_digits and "digits" not in args.datasets:
        args.datasets.append("digits")
    if args.quick:
        args.seeds, args.dropouts, args.datasets = [0], [0.3], ["wine"]
        args.epochs, args.ref_steps = 3, 20

    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    started = time.perf_counter()
    models = Models(reuse=not args.no_reuse)
    runs: list[dict[str, Any]] = []
    for name in args.datasets:
        for seed in args.seeds:
            s = load(name, seed)
            sizes = (len(s.y_train), len(s.y_val), len(s.y_test))
            steps = math.ceil(len(s.y_train) / BATCH)
            for dropout in args.dropouts:
                warmup = math.ceil(args.ref_steps / math.ceil(len(s.y_train) / 16))
                plan = [("ref", dict(momentum=0.99, precise=False, batch=16,
                                     epochs=10 * PATIENCE, warmup_epochs=warmup))]
                plan += [(o.key, dict(momentum=o.momentum(steps), precise=o.precise, batch=BATCH,
                                      epochs=args.epochs)) for o in OPTIONS]
                for key, kw in plan:
                    t0 = time.perf_counter()
                    r = train(models, s, seed=seed, dropout=dropout, **kw)
                    runs.append({"dataset": name, "sizes": sizes, "seed": seed,
                                 "dropout": dropout, "option": key, **r})
                    print(f"{name} seed {seed} dropout {dropout} {key}: train {r['train']:.3f} "
                          f"val {r['val']:.3f} (exact {r['train_exact']:.3f}/{r['val_exact']:.3f})"
                          f" epochs {r['restored']}/{r['epochs']} "
                          f"{time.perf_counter() - t0:.1f} s", flush=True)
    check = None
    if not args.no_reuse:  # the last run again on a freshly built and compiled model
        last = runs[-1]
        s = load(last["dataset"], last["seed"])
        option = next(o for o in OPTIONS if o.key == last["option"])
        fresh = train(Models(reuse=False), s, seed=last["seed"], dropout=last["dropout"],
                      momentum=last["momentum"], precise=option.precise, batch=BATCH,
                      epochs=args.epochs)
        check = {"run": {k: last[k] for k in ("dataset", "seed", "dropout", "option")},
                 "max_abs_diff": max(abs(fresh[k] - last[k]) for k in (
                     "train", "val", "test", "train_exact", "val_exact", "test_exact",
                     "epochs", "restored")),
                 "history_equal": fresh["history"] == last["history"]}
        print(f"reuse check: {check}", flush=True)
    wall = time.perf_counter() - started
    text = report(runs, args, wall, check)
    config = {k: v for k, v in vars(args).items()}
    write_result("batchnorm", text, {"config": config, "wall_s": wall, "reuse_check": check,
                                     "runs": runs})


if __name__ == "__main__":
    main()
