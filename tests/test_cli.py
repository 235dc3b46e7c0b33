"""The CLI end to end on digits: run, export, continue; help stays fast; bad specs write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import optuna
import pytest

from search import confirm
from search.cli import main
from search.objective import RULE
from search.study import Snapshot, baseline_trial, counted_trials

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


def search_trials(study) -> list:
    """The trials of the budget: all but the unregularized baseline's."""
    return [t for t in study.trials if t.user_attrs.get("role") != "baseline"]


def test_run_leaves_completed_and_pruned_trials_with_their_figures(finished_study, capsys):
    study = optuna.load_study(study_name="e2e", storage=storage_of(finished_study))
    trials = search_trials(study)
    s = [t.state.name for t in trials]
    assert len(s) == 8 and "COMPLETE" in s and "PRUNED" in s, s
    for t in trials:
        assert set(t.params) <= {"dropout", "regularizer", "l1", "l2"} and "dropout" in t.params
        assert {"train_accuracy", "val_accuracy", "gap", "epochs", "best_epoch", "folds",
                "val_accuracy_se", "folds_done", "folds_planned"} <= set(t.user_attrs)
        folds = t.user_attrs["folds"]
        assert t.user_attrs["folds_planned"] == 2 and t.user_attrs["folds_done"] == len(folds)
        assert t.user_attrs["gap"] == pytest.approx(
            t.user_attrs["train_accuracy"] - t.user_attrs["val_accuracy"])
        assert t.user_attrs["val_accuracy"] == pytest.approx(
            sum(f["val_accuracy"] for f in folds) / len(folds))
        # The intermediate values are the per-epoch scores the pruner saw, every fold's (step
        # fold * 6 + epoch: 6 is max_epochs); the first fold's are the recorded curve.
        assert len(t.intermediate_values) == t.user_attrs["epochs"] == \
            sum(f["epochs"] for f in folds)
        first = [v for step, v in sorted(t.intermediate_values.items()) if step < 6]
        assert first == pytest.approx(t.user_attrs["curves"]["score"], abs=1e-6)
        if t.state.name == "PRUNED":
            assert t.user_attrs["stopped"] == "pruned"
            assert t.user_attrs["stop_reason"].startswith("pruned at epoch")
            assert folds[-1]["stopped"] == "pruned" and folds[-1]["epochs"] < 6
        else:
            assert t.value == pytest.approx(sum(f["score"] for f in folds) / 2)
    # The search never measured anything on the test split.
    assert not any("test_accuracy" in t.user_attrs for t in study.trials)

    # The baseline is a COMPLETE trial without params, outside the budget.
    baseline = baseline_trial(study)
    assert baseline.number == 0 and baseline.params == {} and baseline.state.name == "COMPLETE"
    assert len(baseline.user_attrs["folds"]) == 2
    assert len(counted_trials(study)) == 8 and baseline not in counted_trials(study)

    # The answer was confirmed after the search, with the seeds after the folds' (3 and 4).
    assert check_confirmed(study)["seeds"] == [5, 6]


def check_confirmed(study) -> dict:
    """The study's stored confirmation, checked against what the design promises: it is of the
    present answer (``confirm.current``), it judges the selection's setting (or, when the search
    chose no regularization, its best regularized alternative) against the baseline trial, each
    retrained for its folds' median best epoch with the same seeds, and its answer follows
    from its verdict. Returns it."""
    snap = Snapshot(study)
    confirmation = study.user_attrs["confirmation"]
    assert confirm.current(snap) == confirmation  # of the present answer, same seeds
    assert confirmation["seeds"] == confirm.seeds(snap.spec)
    sel = snap.selection
    other = sel.chosen if sel.regularizes else sel.alternative
    assert confirmation["search_regularizes"] == sel.regularizes
    base, setting_ = confirmation["settings"]
    assert base["trial"] == baseline_trial(study).number == int(sel.baseline["number"])
    assert setting_["trial"] == int(other["number"])
    assert base["params"] == {"dropout": 0.0, "regularizer": "none", "l1": 0.0, "l2": 0.0,
                              "weight_decay": 0.0, "max_norm": 0.0}
    trial = study.trials[setting_["trial"]]
    assert trial.state.name == "COMPLETE"
    assert setting_["params"]["dropout"] == pytest.approx(trial.params["dropout"])
    assert setting_["params"]["regularizer"] == trial.params.get("regularizer", "none")
    for kind in ("l1", "l2"):
        assert setting_["params"][kind] == pytest.approx(trial.params.get(kind, 0.0))
    assert setting_["epochs"] == trial.user_attrs["best_epoch"]
    assert base["epochs"] == baseline_trial(study).user_attrs["best_epoch"]
    for s_ in (base, setting_):  # paired: the same seeds for both
        assert [r["seed"] for r in s_["runs"]] == confirmation["seeds"]
        assert all(0 < r["test_accuracy"] <= 1 for r in s_["runs"])
    assert confirmation["verdict"] in confirm.VERDICTS
    assert confirmation["regularize"] == (sel.regularizes and
                                          confirmation["verdict"] in confirm.ACCEPTED)
    answer = setting_ if confirmation["regularize"] else base
    assert confirmation["params"] == answer["params"]
    assert confirmation["answer_trial"] == answer["trial"]
    return confirmation


def test_export_writes_the_confirmed_answer(finished_study, tmp_path, capsys):
    out = tmp_path / "best.json"
    assert main(["export", str(finished_study), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    study = optuna.load_study(study_name="e2e", storage=storage_of(finished_study))
    confirmation = study.user_attrs["confirmation"]
    assert doc["study"] == "e2e" and doc["backend"] == "optuna"
    assert doc["params"] == confirmation["params"] and doc["trial"] == confirmation["answer_trial"]
    assert set(doc["params"]) == {"dropout", "regularizer", "l1", "l2", "weight_decay",
                                  "max_norm"}
    assert doc["answer"] == ("regularize" if confirmation["regularize"] else "no regularization")
    assert doc["verdict"] == confirmation["verdict"]
    assert doc["statement"] == confirm.statement(confirmation)
    if confirmation["regularize"]:
        assert doc["params"]["dropout"] == pytest.approx(
            study.trials[doc["trial"]].params["dropout"])
    else:
        assert doc["params"]["dropout"] == 0 and doc["params"]["regularizer"] == "none"
    c = doc["confirmation"]
    assert c["seeds"] == [5, 6] and c["setting"]["trial"] == confirmation["trial"]
    assert set(c["difference"]) == {"train_accuracy", "test_accuracy", "gap", "score"}
    for d in c["difference"].values():
        assert d["low"] <= d["mean"] <= d["high"] and d["n"] == 2
    assert set(c["mean"]) == {"baseline", f"trial {confirmation['trial']}"}
    search = doc["search"]
    assert search["evaluation"]["folds"] == 2
    assert search["selection"]["rule"] == RULE and search["selection"]["tolerance"] > 0
    assert set(search["folds"]) == set(c["mean"])
    assert doc["spec"]["study"]["name"] == "e2e"
    printed = capsys.readouterr().out
    assert doc["statement"] in printed and doc["keras_snippet"] in printed
    assert ("keras.layers.Dropout(rate=" in printed) == (doc["params"]["dropout"] > 0)
    assert "kernel_regularizer=" in printed

    toml_out = tmp_path / "best.toml"
    assert main(["export", "e2e", "--storage", storage_of(finished_study), "-o", str(toml_out)]) == 0
    assert tomllib.loads(toml_out.read_text())["params"] == doc["params"]
    # Both exports read the stored confirmation: nothing was retrained.
    again = optuna.load_study(study_name="e2e", storage=storage_of(finished_study))
    assert again.user_attrs["confirmation"] == confirmation


def test_second_run_continues_the_study_and_trials_adds_more(tiny_spec, capsys):
    spec = tiny_spec("again", trials=2, epochs=2)
    assert main(["run", str(spec), "--no-progress"]) == 0
    assert main(["run", str(spec), "--no-progress"]) == 0  # budget reached: nothing new
    study = optuna.load_study(study_name="again", storage=storage_of(spec))
    assert len(search_trials(study)) == 2 and len(study.trials) == 3  # and the baseline
    baseline = baseline_trial(study)
    assert main(["run", str(spec), "--trials", "1", "--no-progress"]) == 0
    study = optuna.load_study(study_name="again", storage=storage_of(spec))
    assert len(search_trials(study)) == 3 and len(study.trials) == 4
    again = baseline_trial(study)  # evaluated once per study, not again on continuing
    assert (again.number, again.user_attrs) == (baseline.number, baseline.user_attrs)
    snap = Snapshot(study)
    assert confirm.contenders(snap) is None or confirm.current(snap) is not None
    out = capsys.readouterr().out
    assert "baseline" in out and "epochs in total" in out
    assert "selection (2-fold cross-validation of train+validation)" in out


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
