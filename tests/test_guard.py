"""The no-learning guard, and a model that does learn tabular data on wildly different scales.

Tabular data the tests make: a few hundred rows, columns on scales from 1e-3 to 1e4, three
classes. With per-feature scaling fitted on each fold's training part and BatchNormalization
statistics that are right on a few optimizer steps per epoch, the baseline learns it about as
well as a bare Keras fit on standardized inputs on the same folds; with the labels shuffled the
guard fires and the run stops before the search with its message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from search.cli import main
from search.guard import LearningGuard, majority_rate, threshold
from search.study import baseline_trial

from .conftest import SPACE

SCALES = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4]


def tabular_csv(path: Path, *, shuffle_labels: bool = False, rows: int = 360) -> Path:
    """Three classes, eight informative columns, each on its own scale; written as CSV."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=len(SCALES), n_informative=6,
                               n_redundant=0, n_classes=3, n_clusters_per_class=1,
                               class_sep=1.5, random_state=11)
    x = x * np.array(SCALES) + np.array(SCALES)  # offsets on the same scales as the spreads
    if shuffle_labels:
        y = np.random.default_rng(5).permutation(y)
    header = ",".join([f"f{i}" for i in range(len(SCALES))] + ["label"])
    rows_text = [",".join([*(f"{v:.6g}" for v in xi), str(int(c))]) for xi, c in zip(x, y)]
    path.write_text(header + "\n" + "\n".join(rows_text) + "\n")
    return path


def tabular_spec(folder: Path, csv: Path, name: str = "tab", trials: int = 1,
                 min_steps: int = 300) -> Path:
    """A study of ``csv``; ``min_steps`` is the default (300 steps before EarlyStopping, what
    tabular data needs to converge) unless a test needs no convergence."""
    spec = folder / f"{name}.toml"
    spec.write_text(f"""\
[study]
name = "{name}"
space = "{SPACE.as_posix()}"
seed = 4

[data]
dataset = "csv"
path = "{csv.as_posix()}"

[training]
batch_size = 32         # 6 steps an epoch of a 180-row fold: min_steps in 50 epochs, not 150
max_epochs = 40
patience = 8
min_steps = {min_steps}

[search]
trials = {trials}
sampler_startup = 2
pruner = "none"

[evaluation]
folds = 2

[confirm]
seeds = 2
""")
    return spec


def bare_keras_val_accuracy(csv: Path, seed: int = 4) -> float:
    """The same MLP fitted the plain Keras way on StandardScaler inputs, on regsearch's
    cross-validation folds (each fold's scaler fitted on its train part): the mean validation
    accuracy over the folds, as the baseline's is."""
    import keras
    from sklearn.preprocessing import StandardScaler

    from search.data import load_raw
    from search.folds import fold_splits
    from search.spec import load_spec

    spec = load_spec(tabular_spec(csv.parent, csv, name="bare"))
    raw, _ = load_raw(spec.data, spec.seed)
    accuracies = []
    for s in fold_splits(raw, "none", "none", spec.evaluation, spec.seed):
        scaler = StandardScaler().fit(s.x_train)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input(shape=(s.n_features,))] + [
            layer for _ in range(2) for layer in (keras.layers.Dense(50, activation="relu"),
                                                  keras.layers.BatchNormalization(momentum=0.9))
        ] + [keras.layers.Dense(s.n_classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(scaler.transform(s.x_train), s.y_train, batch_size=16, epochs=60, verbose=0,
                  validation_data=(scaler.transform(s.x_val), s.y_val),
                  callbacks=[keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=15,
                                                           restore_best_weights=True)])
        accuracies.append(float(model.evaluate(scaler.transform(s.x_val), s.y_val,
                                               verbose=0)[1]))
    return float(np.mean(accuracies))


def test_threshold_is_the_majority_rate_plus_two_standard_errors():
    assert majority_rate(np.array([0, 0, 0, 1])) == 0.75
    assert threshold(0.5, 100) == pytest.approx(0.5 + 2 * 0.05)
    guard = LearningGuard.of(np.array([0] * 60 + [1] * 40), baseline_val_accuracy=0.69)
    assert guard.fires and "does not learn this data" in guard.message()
    assert not LearningGuard.of(np.array([0] * 60 + [1] * 40), 0.71).fires
    assert LearningGuard.from_dict(json.loads(json.dumps(guard.to_dict()))) == guard


def test_baseline_learns_scaled_tabular_data_like_a_bare_keras_fit(tmp_path, capsys):
    csv = tabular_csv(tmp_path / "tab.csv")
    spec = tabular_spec(tmp_path, csv)
    assert main(["run", str(spec), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "data scaling: standard" in out
    study = optuna.load_study(study_name="tab", storage=f"sqlite:///{tmp_path / 'regsearch.db'}")
    guard = study.user_attrs["guard"]
    trial = baseline_trial(study)
    assert trial.params == {} and trial.user_attrs["role"] == "baseline"
    baseline = trial.user_attrs
    assert not guard["fires"]
    assert guard["n_val"] == 288  # every row of train + validation is validated once
    assert guard["baseline_val_accuracy"] == baseline["val_accuracy"]
    # Far above always answering the majority class (about 1/3 here), on every fold ...
    assert baseline["val_accuracy"] > guard["majority_rate"] + 0.4
    assert all(f["val_accuracy"] > guard["majority_rate"] + 0.3 for f in baseline["folds"])
    # ... and within noise of the same MLP fitted the plain way on standardized inputs, on the
    # same folds: two binomial standard errors over the rows validated, plus one fold sample.
    bare = bare_keras_val_accuracy(csv)
    n_val, n_fold = guard["n_val"], len(trial.user_attrs["folds"])
    se = math.sqrt(bare * (1 - bare) / n_val) + n_fold / n_val
    assert baseline["val_accuracy"] >= bare - 2 * se, (baseline["val_accuracy"], bare)
    # The train figure is the dropout-off one and agrees with validation: no constant classifier.
    assert baseline["train_accuracy"] > guard["majority_rate"] + 0.4


def test_guard_stops_a_model_that_learns_nothing(tmp_path, capsys):
    csv = tabular_csv(tmp_path / "shuffled.csv", shuffle_labels=True)
    spec = tabular_spec(tmp_path, csv, name="noise", min_steps=0)  # noise: nothing to converge
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the model does not learn this data" in err
    assert "check the data" in err and "--allow-no-learning" in err
    url = f"sqlite:///{tmp_path / 'regsearch.db'}"
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == []  # nothing kept

    # With the flag it searches, flags its trials, and every read-out carries the warning.
    assert main(["run", str(spec), "--no-progress", "--allow-no-learning"]) == 0
    out = capsys.readouterr().out
    assert out.count("the model does not learn this data") >= 2  # the run's line, the summary
    study = optuna.load_study(study_name="noise", storage=url)
    assert all(t.user_attrs["learns_nothing"] for t in study.trials
               if t.state == optuna.trial.TrialState.COMPLETE)
    assert main(["summary", str(spec)]) == 0
    assert "WARNING: the model does not learn this data" in capsys.readouterr().out

    target = tmp_path / "best.json"
    assert main(["export", str(spec), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "nothing was written" in err and "--force" in err and not target.exists()
    assert main(["export", str(spec), "-o", str(target), "--force"]) == 0
    document = json.loads(target.read_text())
    assert document["warning"].startswith("the model does not learn this data")
