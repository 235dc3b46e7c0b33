"""The user's own model and the CNN and text presets, through the CLI: studies complete, the
export's ``.keras`` file and snippet give the confirmation's figures back, bad models fail
before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest

from search.cli import main

from .conftest import write_tiny_spec

#: A Functional model with Conv2D, Dense and Dropout, for the digits kept as 8x8 images.
BUILDERS = """\
import keras


def build(input_shape, n_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Reshape((*input_shape, 1))(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dropout(0.25)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def plain(input_shape, n_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(n_classes, activation="softmax")])


def wrong_input(n_classes):
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(n_classes, activation="softmax")])


def broken(input_shape):
    raise ValueError("no such layer size")


def not_a_model():
    return "a string"


def nothing(input_shape, n_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                             keras.layers.Lambda(lambda x: x[:, :n_classes]),
                             keras.layers.Softmax()])
"""


def write(folder: Path, name: str, model: str, data: str = "limit = 360",
          trials: int = 2) -> Path:
    """The suite's tiny study (3 epochs, no pruner) on ``model`` and ``data``."""
    (folder / "mymodels.py").write_text(BUILDERS)
    return write_tiny_spec(folder, name, trials=trials, epochs=3,
                           extra=f'pruner = "none"\n\n[data]\n{data}\n\n[model]\n{model}\n')


def storage(spec: Path) -> str:
    return f"sqlite:///{spec.parent / 'regsearch.db'}"


@pytest.mark.slow
def test_a_builders_functional_model_is_searched_and_exported_with_a_reproducing_keras_file(
        tmp_path, capsys):
    import keras

    from search.data import load_raw_splits
    from search.spec import load_spec

    spec = write(tmp_path, "own", 'builder = "mymodels:build"')
    assert main(["run", str(spec), "--no-progress"]) == 0
    study = optuna.load_study(study_name="own", storage=storage(spec))
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 3 and study.user_attrs["input_shape"] == [8, 8]  # baseline + 2
    out = tmp_path / "own.json"
    assert main(["export", "own", "--storage", storage(spec), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["model_file"] == "own.keras"
    confirmation = study.user_attrs["confirmation"]
    chosen = confirmation["settings"][1 if confirmation["regularize"] else 0]
    # The file takes the data as it is (the scaling is its first layer) and is the answer's
    # first confirmation run: its test accuracy comes back.
    model = keras.models.load_model(tmp_path / "own.keras")
    raw = load_raw_splits(load_spec(spec).data, 3, flatten=False)
    probs = model.predict(raw.x_test, verbose=0)
    assert np.mean(probs.argmax(axis=1) == raw.y_test) == pytest.approx(
        chosen["runs"][0]["test_accuracy"], abs=1e-6)
    # The snippet calls the user's builder and search.apply, and trains the same run.
    snippet = doc["keras_snippet"]
    assert "from mymodels import build" in snippet and "apply(" in snippet
    check = textwrap.dedent(f"""\
        import numpy as np
        from search.data import load_raw_splits
        from search.folds import pooled
        from search.spec import load_spec
        raw = load_raw_splits(load_spec({str(spec)!r}).data, 3, flatten=False)
        x_train, y_train = pooled(raw)
        x_test, y_test = raw.x_test, raw.y_test
        """) + snippet + textwrap.dedent("""
        probs = model.predict(x_test, verbose=0)
        print("TEST", float(np.mean(probs.argmax(axis=1) == y_test)))
        """)
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    test = float(done.stdout.split("TEST")[-1])
    assert test == pytest.approx(chosen["runs"][0]["test_accuracy"], abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("model,data,training", [
    ('preset = "cnn"\nfilters = [8]\nhidden = [16]', "limit = 360", "max_epochs = 3\npatience = 2"),
    # 3 epochs of 2 steps leave the text model at the majority-class level (0.51-0.56 on
    # validation, by batch order), where the no-learning guard rightly stops the run; batches
    # of 20 for 10 epochs reach 0.69-0.77.
    ('preset = "text"\nembedding_dim = 8\nhidden = [8]',
     'dataset = "synthetic_text"\nsamples = 400\nnum_words = 500\nsequence_length = 40',
     "max_epochs = 10\npatience = 5\nbatch_size = 20"),
])
def test_a_short_study_completes_on_each_preset(tmp_path, capsys, model, data, training):
    spec = write(tmp_path, "preset", model, data, trials=1)
    text = spec.read_text()
    assert "max_epochs = 3\npatience = 3\n" in text  # the tiny study's training, replaced
    spec.write_text(text.replace("max_epochs = 3\npatience = 3\n", training + "\n"))
    assert main(["run", str(spec), "--no-progress"]) == 0
    study = optuna.load_study(study_name="preset", storage=storage(spec))
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 2
    assert "confirmation" in study.user_attrs
    assert "ANSWER:" in capsys.readouterr().out


def test_a_saved_keras_file_starts_from_its_weights_when_asked(tmp_path, capsys):
    import keras

    sys.path.insert(0, str(tmp_path))
    try:
        (tmp_path / "mymodels.py").write_text(BUILDERS)
        import importlib

        built = importlib.import_module("mymodels").build((8, 8), 10)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mymodels", None)
    built.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    built.save(tmp_path / "model.keras")
    from search.objective import trainer_for
    from search.folds import study_data
    from search.spec import load_spec

    spec = load_spec(write(tmp_path, "saved", 'path = "model.keras"\nstart_from = "saved"'))
    folds, _ = study_data(spec)
    with trainer_for(spec, folds[0]) as trainer:
        model = trainer._model_for({"dropout": 0.4}, spec.training, seed=1)
        # the user's weights, the user's optimizer, the trial's rate
        for a, b in zip(model.get_weights(), built.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert type(model.optimizer).__name__ == "SGD"
        assert [x.rate for x in model.layers if isinstance(x, keras.layers.Dropout)] == [0.4]


@pytest.mark.parametrize("model,message", [
    ('builder = "nowhere:build"', "model.builder = 'nowhere:build': cannot import module "
                                  "'nowhere'"),
    ('builder = "mymodels:missing"', "has no function 'missing'"),
    ('builder = "mymodels:broken"', "the builder raised ValueError: no such layer size"),
    ('builder = "mymodels:not_a_model"', "the builder returned str, not a Keras model"),
    ('builder = "mymodels:wrong_input"', "the model takes inputs of shape (28, 28) per sample, "
                                         "but the data's samples have shape (8, 8)"),
    ('builder = "mymodels:plain"', "add_dropout"),
    ('builder = "mymodels:nothing"', "the model has no layer to regularize"),
    ('path = "missing.keras"', "model.path = "),
])
def test_a_model_that_cannot_be_searched_fails_in_one_line_before_anything_is_written(
        tmp_path, capsys, model, message):
    spec = write(tmp_path, "bad", model)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == before


def test_a_subclassed_model_points_to_the_builder_form(tmp_path, capsys):
    (tmp_path / "sub.py").write_text(textwrap.dedent("""\
        import keras

        class Net(keras.Model):
            def __init__(self, n):
                super().__init__()
                self.dense = keras.layers.Dense(n, activation="softmax")

            def call(self, x):
                return self.dense(keras.ops.reshape(x, (-1, 64)))

        def build(n_classes):
            return Net(n_classes)
        """))
    spec = write(tmp_path, "sub", 'builder = "sub:build"')
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "builder" in err and "dropout" in err and "kernel_regularizer" in err


@pytest.mark.parametrize("model,data", [
    ('preset = "cnn"\nfilters = [8]\nhidden = [16]', "limit = 300"),
    ('preset = "text"\nembedding_dim = 8\nhidden = [8]',
     'dataset = "synthetic_text"\nsamples = 300\nnum_words = 300\nsequence_length = 30'),
])
def test_a_reused_clone_trains_exactly_as_a_fresh_clone(tmp_path, model, data):
    """The CNN shares one compiled clone, which trains exactly as a fresh clone; the text model
    (an Embedding) gets a fresh clone per trial (``reuse.ReusableClone``)."""
    import dataclasses

    from search.folds import study_data
    from search.spec import load_spec
    from search.trainer import Trainer

    spec = load_spec(write(tmp_path, "reuse", model, data))
    folds, _ = study_data(spec)
    training = dataclasses.replace(spec.training, max_epochs=2, patience=5)
    settings = [{"dropout": 0.3, "regularizer": "l1_l2", "l1": 1e-4, "l2": 1e-3},
                {"dropout": 0.1, "max_norm": 1.5, "weight_decay": 0.05}, {}]
    # Every param searched (the trainer's default), so the reused clone carries them all.
    with Trainer(folds[0], model=spec.model, training=training,
                 score=lambda val, gap: val - abs(gap)) as trainer:
        assert trainer._model_for({}, training, seed=0) is not None
        assert trainer._source.reuses(training) == ("cnn" in model)
        for params in settings if trainer._source.reuses(training) else ():
            reused, _ = trainer.fit(params, seed=11, training=training)
            fresh, _ = trainer.fit(params, seed=11,
                                   training=dataclasses.replace(training, reuse_model=False))
            assert reused.curves == fresh.curves, params
            assert reused.val_accuracy == fresh.val_accuracy
    # A study's trainer carries only what its space searches: here no max-norm, no decay.
    from search.objective import trainer_for

    with trainer_for(spec, folds[0]) as trainer:
        trainer._model_for({}, training, seed=0)
        if trainer._source.reuses(training):
            reused = trainer._source._reused[1]
            assert reused.weight_decay is None and not reused.bounds
            assert reused.model.optimizer.weight_decay is None


def test_a_builder_that_takes_the_setting_is_called_for_each_trial(tmp_path):
    """The documented form for a subclassed model, which cannot be cloned: the builder takes
    ``dropout`` and ``kernel_regularizer`` and regsearch calls it with each trial's."""
    (tmp_path / "subnet.py").write_text(textwrap.dedent("""\
        import keras

        class Net(keras.Model):
            def __init__(self, n, dropout, kernel_regularizer):
                super().__init__()
                self.rate = dropout
                self.drop = keras.layers.Dropout(dropout)
                self.dense = keras.layers.Dense(n, activation="softmax",
                                                kernel_regularizer=kernel_regularizer)

            def call(self, x, training=False):
                return self.dense(self.drop(keras.ops.reshape(x, (-1, 64)), training=training))

        def build(n_classes, dropout, kernel_regularizer):
            return Net(n_classes, dropout, kernel_regularizer)
        """))
    from search.folds import study_data
    from search.objective import trainer_for
    from search.spec import load_spec

    spec = load_spec(write(tmp_path, "subnet", 'builder = "subnet:build"'))
    folds, _ = study_data(spec)
    with trainer_for(spec, folds[0]) as trainer:
        model = trainer._model_for({"dropout": 0.2, "regularizer": "l2", "l2": 1e-3},
                                   spec.training, seed=1)
        assert trainer._source.per_trial and not trainer._source.reuses(spec.training)
        assert model.rate == 0.2 and model.dense.kernel_regularizer.l2 == pytest.approx(1e-3)
        result, _ = trainer.fit({"dropout": 0.1}, seed=1,
                                training=spec.training.__class__(max_epochs=1, min_steps=0))
        assert result.epochs == 1 and 0 <= result.val_accuracy <= 1


def test_a_model_keras_cannot_save_fails_the_export_in_one_line_with_nothing_written(tmp_path):
    from search.errors import RegsearchError
    from search.model_file import save_atomic

    class Unsaveable:
        def save(self, path):
            Path(path).write_bytes(b"half")
            raise NotImplementedError("Layer Net has no get_config\nmore detail")

    with pytest.raises(RegsearchError, match=r"cannot save the answer's trained model as .*"
                                             r"NotImplementedError: Layer Net has no get_config"):
        save_atomic(Unsaveable(), tmp_path / "answer.keras")
    assert list(tmp_path.iterdir()) == []
