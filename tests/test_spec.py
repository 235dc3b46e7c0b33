"""The study spec: the default loads, round-trips, and every bad input gets a clear error."""

from __future__ import annotations

import dataclasses

import pytest

from search.errors import SpecError
from search.spec import (ConfirmSpec, DataSpec, EvaluationSpec, KerasTunerSpec, ModelSpec,
                         SearchSpec, TrainingSpec, WorkersSpec, load_spec, spec_from_dict)

from .conftest import ROOT, SPACE

DEFAULT = ROOT / "studies" / "default.toml"


def test_default_study_describes_the_lecture_notes_setup():
    spec = load_spec(DEFAULT)
    assert spec.name == "default" and spec.backend == "optuna"
    assert spec.data.dataset == "digits"
    assert spec.model.hidden == (50, 50) and spec.model.batch_norm
    t = spec.training
    assert (t.optimizer, t.batch_size, t.max_epochs) == ("adam", 100, 150)  # to convergence
    assert (spec.evaluation.folds, spec.evaluation.repeats, spec.evaluation.racing) == \
        (3, 1, True)
    assert (spec.confirm.seeds, spec.confirm.max_seeds) == (5, 20)
    assert spec.storage.startswith("sqlite:///") and spec.storage.endswith("studies/regsearch.db")
    assert spec.search.pruner_warmup > 0 and spec.tolerance is None


def test_spec_round_trips_as_a_self_contained_document():
    spec = load_spec(DEFAULT)
    again = spec_from_dict(spec.to_document(), "elsewhere.toml")
    assert again == spec
    assert isinstance(spec.to_document()["study"]["space"], dict)  # no file needed to reload


HEAD = f'[study]\nname = "s"\nspace = "{SPACE.as_posix()}"\n'

BAD = [
    (HEAD + "[study2]\n", "study2", "unknown section; allowed: study, data, model"),
    (HEAD + "[training]\nepochs = 3\n", "training.epochs", "unknown key; allowed keys:"),
    (HEAD + '[training]\nbatch_size = "100"\n', "training.batch_size",
     "must be an integer, got string '100'"),
    (HEAD + "[training]\nbatch_size = 0\n", "training.batch_size", "must be > 0, got 0"),
    (HEAD + "[search]\ntrials = 0\n", "search.trials", "must be > 0, got 0"),
    (HEAD + "[search]\ntrials = -3\n", "search.trials", "must be > 0, got -3"),
    (HEAD + '[search]\nsampler = "grid"\n', "search.sampler",
     "must be one of 'tpe', 'random', 'qmc', got 'grid'"),
    (HEAD + "[search]\npruner_percentile = 100\n", "search.pruner_percentile",
     "must be in (0, 100): the share of trials kept, got 100.0"),
    (HEAD + '[search]\npruner = "hyperband"\n', "search.pruner",
     "must be one of 'median', 'percentile', 'none'"),
    (HEAD + '[data]\ndataset = "imagenet"\n', "data.dataset",
     "must be one of 'digits', 'npz', 'csv', 'parquet', 'mnist', 'fashion_mnist', 'images', "
     "'imdb', 'synthetic_text', got 'imagenet'"),
    (HEAD + '[data]\ndataset = "npz"\n', "data.path", "is required for dataset = 'npz'"),
    (HEAD + "[data]\nvalidation = 0.5\ntest = 0.45\n", "data", "validation + test must be < 0.9"),
    (HEAD + "[data]\ntest = 1.5\n", "data.test", "must be in (0, 1), got 1.5"),
    (HEAD + "[model]\nhidden = []\n", "model.hidden", "must be a non-empty array of positive"),
    (HEAD + "[selection]\ntolerance = 2.0\n", "selection.tolerance", "must be in (0, 1)"),
    (HEAD.replace('name = "s"', 'name = "has space"'), "study.name", "must be letters, digits"),
    (HEAD + 'storage = "redis://localhost/0"\n', "study.storage",
     "unknown storage scheme 'redis'; allowed: sqlite, postgresql"),
    (HEAD + 'storage = "studies.db"\n', "study.storage", "must be a database URL"),
    (HEAD + 'backend = "ray"\n', "study.backend", "must be one of 'optuna', 'keras-tuner'"),
    (HEAD.replace(SPACE.as_posix(), "missing.toml"), "study.space", "space file not found"),
    ('[study]\nname = "s"\n', "study.space", "is required"),
    ("[data]\n", "study", "is required"),
    (HEAD + '[keras_tuner]\ntuner = "grid"\n', "keras_tuner.tuner",
     "must be one of 'hyperband', 'bayesian', 'random'"),
    (HEAD + "[keras_tuner]\nhyperband_iterations = 0\n", "keras_tuner.hyperband_iterations",
     "must be > 0, got 0"),
    (HEAD + "[keras_tuner]\nfactor = 1\n", "keras_tuner.factor", "must be >= 2, got 1"),
    (HEAD + "[keras_tuner]\nmax_epochs = -1\n", "keras_tuner.max_epochs", "must be >= 0, got -1"),
    (HEAD + "[keras_tuner]\niterations = 2\n", "keras_tuner.iterations",
     "unknown key; allowed keys: factor, hyperband_iterations, max_epochs, trials, tuner"),
    (HEAD + "[workers]\nheartbeat_interval = 0\n", "workers.heartbeat_interval",
     "must be > 0, got 0"),
    (HEAD + "[workers]\nheartbeat_interval = 1.5\n", "workers.heartbeat_interval",
     "must be an integer, got float 1.5"),
    (HEAD + "[workers]\nheartbeat_interval = 10\ngrace_period = 10\n", "workers.grace_period",
     "must be longer than workers.heartbeat_interval (10 s), or a live worker's trial looks "
     "dead between two heartbeats, got 10"),
    (HEAD + "[workers]\nmax_retry = -1\n", "workers.max_retry", "must be >= 0, got -1"),
    (HEAD + "[workers]\nretries = 3\n", "workers.retries",
     "unknown key; allowed keys: grace_period, heartbeat_interval, max_retry"),
    # Found by tests/test_properties.py: a NUL (TOML's \u0000) in a path, an infinite number.
    (HEAD.replace(SPACE.as_posix(), "a\\u0000b"), "study.space",
     "must not contain a NUL character"),
    (HEAD + "[training]\nlearning_rate = inf\n", "training.learning_rate",
     "must be finite, got inf"),
    # [confirm] top_k is gone: confirmation retrains only the answer and the baseline.
    (HEAD + "[confirm]\ntop_k = 3\n", "confirm.top_k",
     "unknown key; allowed keys: gap_weight, max_seeds, seeds"),
    (HEAD + '[confirm]\nseeds = "3"\n', "confirm.seeds", "must be an integer, got string '3'"),
    (HEAD + "[confirm]\ngap_weight = -1\n", "confirm.gap_weight", "must be >= 0, got -1.0"),
    (HEAD + "[confirm]\nseeds = 1\n", "confirm.seeds",
     "must be >= 2 (a confidence interval needs two paired runs), got 1"),
    (HEAD + "[confirm]\nmax_seeds = 1\n", "confirm.max_seeds",
     "must be >= 2 (a confidence interval needs two paired runs), got 1"),
    (HEAD + "[confirm]\nrepeats = 3\n", "confirm.repeats",
     "unknown key; allowed keys: gap_weight, max_seeds, seeds"),
    (HEAD + "[evaluation]\nfolds = 1\n", "evaluation.folds",
     "must be >= 2 (one fold would leave nothing to validate on), got 1"),
    (HEAD + '[evaluation]\nfolds = "3"\n', "evaluation.folds",
     "must be an integer, got string '3'"),
    (HEAD + "[evaluation]\nrepeats = 0\n", "evaluation.repeats", "must be > 0, got 0"),
    (HEAD + '[evaluation]\nracing = "yes"\n', "evaluation.racing",
     "must be a boolean, got string 'yes'"),
    (HEAD + "[evaluation]\nscreen = 1.5\n", "evaluation.screen",
     "must be in (0, 1]: the share of trials kept after the first fold, got 1.5"),
    (HEAD + "[evaluation]\nk = 5\n", "evaluation.k",
     "unknown key; allowed keys: folds, racing, repeats, screen"),
]


@pytest.mark.parametrize("text,key,allowed", BAD, ids=[b[1] for b in BAD])
def test_bad_spec_names_file_key_and_what_is_allowed(tmp_path, text, key, allowed):
    path = tmp_path / "study.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    assert any(p.key == key for p in info.value.problems), message
    assert allowed in message


def test_bad_space_inside_a_spec_is_reported_with_its_own_file(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[dropout]\ntype = "float"\nlow = 0.2\nhigh = 1.5\n')
    path = tmp_path / "study.toml"
    path.write_text('[study]\nname = "s"\nspace = "space.toml"\n')
    with pytest.raises(SpecError, match=r"study\.space: bad space file .*space\.toml: dropout: "
                                        r"dropout bounds must lie in \[0, 1\)"):
        load_spec(path)


def test_malformed_and_missing_spec(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname=")
    with pytest.raises(SpecError, match=r"bad\.toml.*malformed TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"nope\.toml.*study spec not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match=r"is a directory, expected a \.toml study spec"):
        load_spec(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(SpecError, match=r"latin1\.toml.*cannot read the file \('utf-8' codec"):
        load_spec(tmp_path / "latin1.toml")


def test_a_file_that_leaves_keys_out_gets_the_dataclass_defaults(tmp_path):
    """Each key is declared once, as a field of its section's dataclass: the default a file
    gets for a key it leaves out is that field's default."""
    path = tmp_path / "study.toml"
    path.write_text(HEAD)
    spec = load_spec(path)
    assert (spec.data, spec.model, spec.training, spec.search, spec.evaluation, spec.keras_tuner,
            spec.confirm, spec.workers) == (DataSpec(), ModelSpec(), TrainingSpec(), SearchSpec(),
                                            EvaluationSpec(), KerasTunerSpec(), ConfirmSpec(),
                                            WorkersSpec())
    # The defaults of the new tables: 3 folds once, racing on; 5 confirmation seeds.
    assert (spec.evaluation.folds, spec.evaluation.repeats, spec.evaluation.racing) == (3, 1, True)
    assert spec.confirm.seeds == 5


def test_relative_sqlite_storage_is_taken_from_the_spec_folder(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(HEAD + 'storage = "sqlite:///db/s.db"\n')
    assert load_spec(path).storage == f"sqlite:///{tmp_path / 'db' / 's.db'}"


def test_schedule_waits_for_min_steps_before_early_stopping():
    t = TrainingSpec(optimizer="adam", learning_rate=1e-3, batch_size=100, max_epochs=30,
                     patience=6, train_eval_samples=2000, reuse_model=True, min_steps=300)
    assert t.schedule(106) == (156, 150)     # 2 steps an epoch: 150 epochs, then the patience
    assert t.schedule(1078) == (34, 28)      # digits: 11 steps an epoch
    assert t.schedule(7000) == (30, 5)       # the MNIST sample: max_epochs already suffices
    assert dataclasses.replace(t, min_steps=0).schedule(106) == (30, 0)
