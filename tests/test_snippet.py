"""The exported Keras snippet reproduces the trial: pasted into a fresh process and trained on the
study's first cross-validation fold (features as they are in the data file), it gets the
answer's figures on that fold back within noise, because it carries the fitted scaling, the
exact BatchNormalization statistics, the optimizer, batch size, epochs and early stopping."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from search.cli import main
from search.data import load_raw
from search.folds import fold_splits
from search.models import build_model, compile_model, effective_params
from search.snippet import keras_snippet
from search.spec import load_spec

from .test_guard import tabular_csv, tabular_spec

RUN_SNIPPET = textwrap.dedent("""\
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    data = np.load(sys.argv[1])
    x_train, y_train, x_val, y_val = (data[k] for k in ("x_train", "y_train", "x_val", "y_val"))
    exec(open(sys.argv[2]).read())
    figures = {k: float(model.evaluate(x, y, verbose=0)[1])
               for k, x, y in (("train_accuracy", x_train, y_train),
                               ("val_accuracy", x_val, y_val))}
    figures["epochs"] = len(model.history.history["loss"])
    print(json.dumps(figures))
""")


@pytest.mark.parametrize("params", [
    {"dropout": 0.25, "regularizer": "l2", "l2": 3e-4},
    {"dropout": 0.1, "regularizer": "none"},
    {},
    {"dropout": 0.2, "regularizer": "l2", "l2": 1e-3, "weight_decay": 1e-4, "max_norm": 3.0},
    {"weight_decay": 2.5e-3},
])
def test_snippet_builds_the_same_model(params, tiny_spec):
    spec = load_spec(tiny_spec(epochs=1))
    namespace: dict = {"x_train": np.zeros((4, 64), "float32"), "y_train": np.arange(4),
                       "x_val": np.zeros((4, 64), "float32"), "y_val": np.arange(4)}
    scaling = {"method": "range", "offset": [0.0] * 64, "scale": [16.0] * 64}
    code = keras_snippet(params, n_features=64, n_classes=10, model=spec.model,
                         training=spec.training, gap_weight=0.5, seed=3, scaling=scaling)
    exec(code, namespace)  # noqa: S102 - our own generated code
    pasted, built = namespace["model"], build_model(params, 64, 10, spec.model)
    assert isinstance(pasted.layers[0], keras.layers.Rescaling)
    assert pasted.layers[0].scale == pytest.approx(1 / 16)
    assert [type(x).__name__ for x in pasted.layers[1:]] == [type(x).__name__
                                                            for x in built.layers]
    for a, b in zip(pasted.layers[1:], built.layers):
        ca, cb = a.get_config(), b.get_config()
        ca.pop("name"), cb.pop("name")
        # The builder seeds kernels and dropout masks from the trial's seed (so the reused model
        # can repeat a fresh one); a pasted model draws its own: the only allowed difference.
        for config in (ca, cb):
            config.pop("seed", None)
            if "kernel_initializer" in config:
                config["kernel_initializer"]["config"].pop("seed")
        assert ca == cb
    # The same optimizer, weight decay included; the constraint and decay are named only when on.
    p = effective_params(params)
    compiled = compile_model(built, spec.training.optimizer, spec.training.learning_rate,
                             p["weight_decay"])
    ca, cb = pasted.optimizer.get_config(), compiled.optimizer.get_config()
    ca.pop("name"), cb.pop("name")
    assert ca == cb
    assert (f"weight_decay={p['weight_decay']:.6g})" in code) == (p["weight_decay"] > 0)
    assert code.count("kernel_constraint=keras.constraints.MaxNorm(") == \
        (len(spec.model.hidden) + 1 if p["max_norm"] > 0 else 0)


def _study_and_fold(kind: str, tmp_path: Path, tiny_spec) -> tuple[Path, Path]:
    """The study's spec and its first fold's train and validation parts, unscaled (the rows the
    search trained fold 0 on, as they are in the data file)."""
    if kind == "digits":
        spec = tiny_spec(name="snip", trials=2, epochs=20)
    else:
        # 60 steps (10 epochs) before EarlyStopping: enough to check that the snippet keeps the
        # schedule's start_from_epoch; the convergence itself is test_guard's.
        spec = tabular_spec(tmp_path, tabular_csv(tmp_path / "tab.csv"), name="snip",
                            min_steps=60)
    loaded = load_spec(spec)
    raw, _ = load_raw(loaded.data, loaded.seed)
    fold = fold_splits(raw, "none", "none", loaded.evaluation, loaded.seed)[0]
    arrays = tmp_path / "fold.npz"
    np.savez(arrays, x_train=fold.x_train, y_train=fold.y_train, x_val=fold.x_val,
             y_val=fold.y_val)
    return spec, arrays


@pytest.mark.parametrize("kind", ["digits", "tabular"])
def test_exported_snippet_reproduces_the_trial_in_a_fresh_process(kind, tmp_path, tiny_spec,
                                                                   capsys):
    spec, arrays = _study_and_fold(kind, tmp_path, tiny_spec)
    assert main(["run", str(spec), "--no-progress"]) == 0
    target = tmp_path / "best.json"
    assert main(["export", str(spec), "-o", str(target)]) == 0
    capsys.readouterr()
    document = json.loads(target.read_text())
    snippet = tmp_path / "snippet.py"
    snippet.write_text(document["keras_snippet"])
    layer = "Rescaling" if kind == "digits" else "Normalization"
    assert f"keras.layers.{layer}(" in document["keras_snippet"]
    # The snippet trains the exported answer (a regularized trial, or the baseline's trial).
    import optuna

    study = optuna.load_study(study_name="snip",
                              storage=f"sqlite:///{tmp_path / 'regsearch.db'}")
    trial = study.trials[document["trial"]]
    assert (f"Dropout(rate={document['params']['dropout']:.6g})" in document["keras_snippet"]) \
        == (document["params"]["dropout"] > 0)
    recorded = trial.user_attrs["folds"][0]  # the answer's figures on fold 0
    runner = tmp_path / "run_snippet.py"
    runner.write_text(RUN_SNIPPET)
    done = subprocess.run([sys.executable, str(runner), str(arrays), str(snippet)],
                          capture_output=True, text=True, timeout=600, check=True)
    pasted = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(arrays) as split:
        sizes = {"train_accuracy": len(split["y_train"]), "val_accuracy": len(split["y_val"])}
    # The same schedule as the trainer's: EarlyStopping acts only once training.min_steps
    # optimizer steps are done (TrainingSpec.schedule), and the run may last that long.
    epochs, start = load_spec(spec).training.schedule(sizes["train_accuracy"])
    assert start <= pasted["epochs"] <= epochs, (pasted["epochs"], (epochs, start), recorded)
    for key, n in sizes.items():
        # Same seed and batches, but the snippet scores train accuracy on the first rows where
        # regsearch draws a sample, so EarlyStopping may restore another epoch: two runs of
        # one setting, whose difference has sqrt(2) binomial standard errors; within noise is
        # three of those, plus one sample. A figure of 0 or 1 has no binomial spread, so the
        # proportion is kept one sample inside them (train accuracy 1.0 against 0.986 is noise).
        p = recorded[key]
        q = min(max(p, 1 / n), 1 - 1 / n)
        noise = 3 * math.sqrt(2 * q * (1 - q) / n) + 1 / n
        assert abs(pasted[key] - p) <= noise, (key, pasted, recorded)
