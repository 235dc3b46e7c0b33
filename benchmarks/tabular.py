"""Does regsearch's unregularized baseline learn data it was never tuned on, as plain Keras does?

Tried as a new user would (the default spec, only ``[data]`` changed), regsearch used to sit at
the majority-class rate on small tabular CSVs whose columns run from 1e-3 to 4e3: one global
max-abs divisor squashed the small columns, and BatchNormalization's moving statistics had not
converged in the 2-5 optimizer steps of an epoch. This script measures, per dataset and seed:

* **before**: the baseline (dropout 0, no penalty) trained and evaluated by the code of an
  earlier commit (``--before``, default the last commit before the fix), checked out with
  ``git worktree`` under the work folder;
* **after**: the same, by the code of the commit that fixed it (``--after``; the code after it
  scores trials over cross-validation folds, issue 14, and has no single-split baseline to run);
* **bare Keras**: the same MLP (Dense 50 -> BatchNormalization, twice, softmax), fitted the plain
  Keras way on the same split and seed with scikit-learn's ``StandardScaler`` fitted on the train
  part: once with the spec's training settings (Adam 1e-3, batch 100, 30 epochs, EarlyStopping on
  val_accuracy with patience 6, best weights restored), and once with Keras' defaults trained
  long (batch 32, 200 epochs, patience 20): the converged reference.

Both regsearch columns run in subprocesses with only that code on the path, through the API the
two versions share (``load_spec``, ``load_splits``, ``holdout.evaluate_setting``). Datasets:
scikit-learn's wine (178 rows, 13 columns) and breast cancer (569, 30), written as CSV, and the
MNIST sample in ``../shared/data`` (3000 stratified rows, to keep the run short). The target
(issue 12): regsearch's baseline within one standard error of the bare fit on every dataset.

    .venv/bin/python benchmarks/tabular.py [--seeds 777 778 779] [--before COMMIT]
    .venv/bin/python benchmarks/tabular.py --quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from _common import ROOT, WORK, spec_document, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The last commit before per-feature scaling and exact BatchNorm statistics.
BEFORE = "5f61ceb"
AFTER = "6ac9ede"  # issue 12 fixed, before issue 14 replaced the single-split baseline
MNIST = ROOT.parent / "shared" / "data" / "mnist10k.npz"

#: Run inside a subprocess whose PYTHONPATH holds one version of the package only.
EVALUATE = """\
import dataclasses, json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from search import holdout, trainer
from search.data import load_splits
from search.spec import load_spec
trainer.configure_tensorflow()
spec = load_spec(sys.argv[1])
for seed in map(int, sys.argv[2:]):
    run = dataclasses.replace(spec, seed=seed)
    r = holdout.evaluate_setting({}, run, load_splits(run.data, seed))
    print(json.dumps({"seed": seed, **{k: r[k] for k in
          ("train_accuracy", "val_accuracy", "test_accuracy", "epochs")}}), flush=True)
"""


def datasets(folder: Path, quick: bool) -> dict[str, dict[str, Any]]:
    """Each dataset's ``[data]`` section; the sklearn ones are written as CSV files first."""
    from sklearn.datasets import load_breast_cancer, load_wine

    out = {}
    for name, loader in (("wine", load_wine), ("breast_cancer", load_breast_cancer)):
        bunch = loader(as_frame=True)
        frame = bunch.frame.rename(columns={"target": "label"})
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = {"dataset": "csv", "path": str(path), "label_column": "label"}
    if MNIST.exists():
        out["mnist_sample"] = {"dataset": "npz", "path": str(MNIST),
                               "limit": 600 if quick else 3000}
    return out


def worktree(commit: str) -> Path:
    """A checkout of ``commit`` under the work folder (made once, reused after)."""
    target = WORK / "tabular" / f"code-{commit}"
    if not (target / "search").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force",
                        str(target), commit], check=True, capture_output=True)
    return target


def regsearch_runs(code: Path, spec: Path, seeds: list[int]) -> list[dict[str, Any]]:
    """The baseline of ``spec`` for each seed, by the package found in ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", EVALUATE, str(spec), *map(str, seeds)],
                          env=env, cwd=str(code), capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def bare_keras(spec_path: Path, seed: int, *, batch: int, epochs: int,
               patience: int) -> dict[str, float]:
    """The same MLP fitted the plain Keras way on StandardScaler inputs, regsearch's split."""

    import keras
    from sklearn.preprocessing import StandardScaler

    from search.data import load_raw_splits
    from search.spec import load_spec

    spec = load_spec(spec_path)
    s = load_raw_splits(spec.data, seed)
    scaler = StandardScaler().fit(s.x_train)
    x = {k: scaler.transform(getattr(s, f"x_{k}")) for k in ("train", "val", "test")}
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(s.n_features,))]
    for units in spec.model.hidden:
        layers += [keras.layers.Dense(units, activation="relu"),
                   keras.layers.BatchNormalization()]
    model = keras.Sequential(layers + [keras.layers.Dense(s.n_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x["train"], s.y_train, validation_data=(x["val"], s.y_val),
                        batch_size=batch, epochs=epochs, verbose=0,
                        callbacks=[keras.callbacks.EarlyStopping(
                            monitor="val_accuracy", patience=patience,
                            restore_best_weights=True)])
    return {f"{k}_accuracy": float(model.evaluate(x[k], getattr(s, f"y_{k}"), verbose=0)[1])
            for k in ("train", "val", "test")} | {"epochs": len(history.history["loss"])}


def mean(values: list[float]) -> float:
    return float(np.mean(values))


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[777, 778, 779])
    parser.add_argument("--before", default=BEFORE, help="the commit whose code is 'before'")
    parser.add_argument("--after", default=AFTER, help="the commit whose code is 'after'")
    parser.add_argument("--quick", action="store_true", help="one seed, short bare fits")
    args = parser.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    long_epochs = 20 if args.quick else 200
    folder = WORK / "tabular"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    import tomli_w

    from search.data import load_raw_splits
    from search.spec import load_spec

    before_code = worktree(args.before)
    rows, raw = [], {}
    for name, data in datasets(folder, args.quick).items():
        spec = folder / f"{name}.toml"
        doc = spec_document(data=data)
        doc.pop("evaluation", None)  # a table the pinned commits do not know
        spec.write_text(tomli_w.dumps(doc))
        loaded = load_spec(spec)
        n_val = len(load_raw_splits(loaded.data, seeds[0]).y_val)
        training = loaded.training
        runs = {
            "before": regsearch_runs(before_code, spec, seeds),
            "after": regsearch_runs(worktree(args.after), spec, seeds),
            "bare": [bare_keras(spec, s, batch=training.batch_size, epochs=training.max_epochs,
                                patience=training.patience) for s in seeds],
            "bare_long": [bare_keras(spec, s, batch=32, epochs=long_epochs, patience=20)
                          for s in seeds],
        }
        raw[name] = {"n_val": n_val, **runs}
        figures = {k: {m: mean([r[m] for r in v]) for m in ("val_accuracy", "test_accuracy",
                                                           "train_accuracy", "epochs")}
                   for k, v in runs.items()}
        se = binomial_se(figures["bare"]["val_accuracy"], n_val)
        diff = figures["after"]["val_accuracy"] - figures["bare"]["val_accuracy"]
        paired = [a["val_accuracy"] - b["val_accuracy"] for a, b in zip(runs["after"],
                                                                        runs["bare"])]
        seeds_se = float(np.std(paired, ddof=1) / math.sqrt(len(paired))) if len(paired) > 1 \
            else float("nan")
        test_diff = figures["after"]["test_accuracy"] - figures["bare"]["test_accuracy"]
        rows.append((name, n_val, figures, se, diff, seeds_se, test_diff))
        print(name, json.dumps(figures), flush=True)

    lines = [
        "# Baseline on data regsearch was never tuned on: before and after issue 12",
        "",
        f"`benchmarks/tabular.py{' --quick' if args.quick else ''}`, {date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {time.time() - started:.0f} s wall. "
        f"Seeds {', '.join(map(str, seeds))} (each fixes the split and the model's "
        f"initialization); mean over seeds. Before: the code of commit {args.before}; after: "
        "this checkout. Both: the default spec with only `[data]` changed, the unregularized "
        "baseline trained on train and measured with dropout off (`holdout.evaluate_setting`). "
        "Bare Keras: the same MLP on StandardScaler inputs (fitted on the train part), the same "
        "split and seed, EarlyStopping on val_accuracy with best weights restored, figures by "
        "`model.evaluate`; *same settings*: batch 100, 30 epochs, patience 6 (the spec's); "
        f"*long*: Keras' default batch 32, {long_epochs} epochs, patience 20.",
        "",
        "| data | n_val | before val / test | after val / test | bare Keras (same settings) "
        "val / test | bare Keras (long) val / test | after - bare val | 1 SE (binomial; "
        "seeds) | within 1 SE (not below) | after - bare test |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n_val, f, se, diff, seeds_se, test_diff in rows:
        cell = lambda k: f"{f[k]['val_accuracy']:.3f} / {f[k]['test_accuracy']:.3f}"  # noqa: E731
        lines.append(f"| {name} | {n_val} | {cell('before')} | {cell('after')} | {cell('bare')} "
                     f"| {cell('bare_long')} | {diff:+.3f} | {se:.3f}; {seeds_se:.3f} | "
                     f"{'yes' if diff >= -se else 'no'} | {test_diff:+.3f} |")
    lines += [
        "",
        "1 SE: the binomial standard error of the bare fit's validation accuracy on a split of "
        "this size. The target reads \"within one standard error of the bare fit\"; the last "
        "column asks whether regsearch's baseline is not below it by more than that (above it "
        "is better, not worse). *seeds*: the standard error of the paired (same seed) "
        "differences over the seeds. The bare fit's validation figure is the best over its "
        "epochs of the very quantity its EarlyStopping watches, so it leans high; regsearch's "
        "baseline stops on the score (validation accuracy minus half the gap). The test split "
        "is touched by neither choice: the last column compares them there.",
        "",
        "Epochs run (mean): "
        + "; ".join(f"{name}: after {f['after']['epochs']:.0f}, bare {f['bare']['epochs']:.0f}, "
                    f"long {f['bare_long']['epochs']:.0f}" for name, _, f, *_ in rows) + ".",
    ]
    write_result("tabular", "\n".join(lines) + "\n", raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
