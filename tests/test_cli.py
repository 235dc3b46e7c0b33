"""The CLI end to end on digits: run, export, continue; help stays fast; bad specs write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import optuna
import pytest

from search.cli import main

from .conftest import ROOT


def storage_of(spec_path) -> str:
    return f"sqlite:///{spec_path.parent / 'regsearch.db'}"


def states(study) -> list[str]:
    return [t.state.name for t in study.trials]


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    """One real study (8 trials, up to 6 epochs) shared by the tests that only read it."""
    from .conftest import write_tiny_spec

    # An aggressive pruner so a study this small prunes for sure; the default spec is gentler.
    spec = write_tiny_spec(tmp_path_factory.mktemp("cli"), "e2e", trials=8, epochs=6,
                           extra='pruner = "median"\n')
    assert main(["run", str(spec), "--no-progress"]) == 0
    return spec


def test_run_leaves_completed_and_pruned_trials_with_their_figures(finished_study, capsys):
    study = optuna.load_study(study_name="e2e", storage=storage_of(finished_study))
    s = states(study)
    assert len(s) == 8 and "COMPLETE" in s and "PRUNED" in s, s
    for t in study.trials:
        assert set(t.params) <= {"dropout", "regularizer", "l1", "l2"} and "dropout" in t.params
        assert {"train_accuracy", "val_accuracy", "gap", "epochs", "best_epoch"} <= set(t.user_attrs)
        assert t.user_attrs["gap"] == pytest.approx(
            t.user_attrs["train_accuracy"] - t.user_attrs["val_accuracy"])
        # The intermediate values are the per-epoch scores the pruner saw.
        assert list(t.intermediate_values.values()) == pytest.approx(
            t.user_attrs["curves"]["score"], abs=1e-6)
        if t.state.name == "PRUNED":
            assert t.user_attrs["stopped"] == "pruned"
            assert t.user_attrs["epochs"] == len(t.intermediate_values) < 6
    assert "baseline" in study.user_attrs and "test_accuracy" in study.user_attrs["baseline"]
    chosen = study.user_attrs["chosen"]
    assert study.trials[chosen["trial"]].state.name == "COMPLETE"
    assert chosen["reproduced"], "retraining the chosen setting must reproduce its figures"


def test_export_writes_the_chosen_setting(finished_study, tmp_path, capsys):
    out = tmp_path / "best.json"
    assert main(["export", str(finished_study), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    study = optuna.load_study(study_name="e2e", storage=storage_of(finished_study))
    chosen = study.user_attrs["chosen"]
    assert doc["study"] == "e2e" and doc["backend"] == "optuna" and doc["trial"] == chosen["trial"]
    assert set(doc["params"]) == {"dropout", "regularizer", "l1", "l2"}
    assert doc["params"]["dropout"] == pytest.approx(study.trials[doc["trial"]].params["dropout"])
    assert set(doc["metrics"]) == set(doc["baseline"]) == {
        "train_accuracy", "val_accuracy", "test_accuracy", "gap"}
    assert doc["selection"]["tolerance"] > 0 and "smallest |gap|" in doc["selection"]["rule"]
    assert doc["spec"]["study"]["name"] == "e2e"
    printed = capsys.readouterr().out
    assert "keras.layers.Dropout(rate=" in printed or doc["params"]["dropout"] == 0
    assert "kernel_regularizer=" in printed

    toml_out = tmp_path / "best.toml"
    assert main(["export", "e2e", "--storage", storage_of(finished_study), "-o", str(toml_out)]) == 0
    assert tomllib.loads(toml_out.read_text())["params"] == doc["params"]


def test_second_run_continues_the_study_and_trials_adds_more(tiny_spec, capsys):
    spec = tiny_spec("again", trials=2, epochs=2)
    assert main(["run", str(spec), "--no-progress"]) == 0
    assert main(["run", str(spec), "--no-progress"]) == 0  # budget reached: nothing new
    study = optuna.load_study(study_name="again", storage=storage_of(spec))
    assert len(study.trials) == 2
    baseline = study.user_attrs["baseline"]
    assert main(["run", str(spec), "--trials", "1", "--no-progress"]) == 0
    study = optuna.load_study(study_name="again", storage=storage_of(spec))
    assert len(study.trials) == 3 and study.user_attrs["baseline"] == baseline
    out = capsys.readouterr().out
    assert "baseline" in out and "chosen" in out and "epochs in total" in out


def test_export_without_a_completed_trial_fails_clearly(tiny_spec, capsys):
    spec = tiny_spec("empty", trials=1, epochs=2)
    storage = storage_of(spec)
    optuna.create_study(study_name="empty", storage=storage)
    assert main(["export", "empty", "--storage", storage]) == 1
    err = capsys.readouterr().err
    assert "study 'empty' has no completed trial yet" in err
    assert not (spec.parent / "studies").exists()


def test_export_of_an_unknown_study_names_what_is_there(tiny_spec, capsys):
    spec = tiny_spec("known", trials=1, epochs=2)
    optuna.create_study(study_name="known", storage=storage_of(spec))
    assert main(["export", "nope", "--storage", storage_of(spec)]) == 1
    err = capsys.readouterr().err
    assert "no study named 'nope'" in err and "studies there: known" in err


def test_bad_spec_exits_non_zero_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('[study]\nname = "bad"\nspace = "nowhere.toml"\n[search]\ntrials = 0\n')
    assert main(["run", str(spec)]) == 1
    err = capsys.readouterr().err
    assert str(spec) in err and "search.trials: must be > 0, got 0" in err
    assert "study.space" in err and "space file not found" in err
    assert list(tmp_path.iterdir()) == [spec]


def test_help_answers_without_importing_tensorflow():
    code = ("import sys\nfrom search.cli import main\n"
            "for argv in (['--help'], ['run', '--help'], ['export', '--help'], "
            "['summary', '--help'], ['dashboard', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'optuna', 'pandas', 'sklearn') "
            "if m in sys.modules]\nassert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert "regsearch" in proc.stdout and "export" in proc.stdout
