"""The Keras Tuner backend: one space, one trainer, trials mirrored into the Optuna storage."""

from __future__ import annotations

import json
import shutil

import optuna
import pytest

from search.backends.keras_tuner_backend import KT_ID, hyperparameters, params_of
from search.study import baseline_trial, distribution
from search.cli import main
from search.space import load_space

from .conftest import ROOT, SPACE, write_tiny_spec
from .test_cli import check_confirmed

KT_RANDOM = '\n[keras_tuner]\ntuner = "random"\n'
HYPERBAND = '\n[keras_tuner]\ntuner = "hyperband"\nfactor = 3\n'


def test_translated_space_has_the_same_bounds_scales_and_conditions():
    import keras_tuner as kt

    space = load_space(SPACE)
    hp = hyperparameters(space)
    by_name = {h.name: h for h in hp.space}
    assert list(by_name) == [p.name for p in space.params]
    for param in space.params:
        dist, h = distribution(param), by_name[param.name]
        if isinstance(dist, optuna.distributions.FloatDistribution):
            assert (h.min_value, h.max_value) == (dist.low, dist.high)
            assert h.sampling == ("log" if dist.log else "linear")
        else:
            assert list(h.values) == list(dist.choices)
        assert {c.name: tuple(c.values) for c in h.conditions} == param.when
    assert by_name["l1"].sampling == "log" and by_name["dropout"].sampling == "linear"

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "max"), seed=0,
                                           hyperparameters=hp, max_trials=300)
    seen = set()
    for i in range(300):
        trial_hp = hp.copy()
        trial_hp.values = oracle.populate_space(str(i))["values"]
        params = params_of(trial_hp, space)
        kind = params["regularizer"]
        seen.add(kind)
        assert ("l1" in params) == (kind in ("l1", "l1_l2"))
        assert ("l2" in params) == (kind in ("l2", "l1_l2"))
        for name, value in params.items():  # in range for the Optuna distribution too
            dist = distribution(space[name])
            assert dist._contains(dist.to_internal_repr(value)), (name, value)
    assert seen == {"none", "l1", "l2", "l1_l2"}


@pytest.fixture(scope="module")
def kt_study(tmp_path_factory):
    spec = write_tiny_spec(tmp_path_factory.mktemp("kt"), "ktiny", trials=3, epochs=3,
                           extra=KT_RANDOM)
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress"]) == 0
    return spec


def load(spec, name="ktiny-keras-tuner"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{spec.parent / 'regsearch.db'}")


def kt_trials(study) -> list:
    """The trials copied from Keras Tuner (the baseline's is regsearch's own)."""
    trials = [t for t in study.trials if KT_ID in t.user_attrs]
    assert [t for t in study.trials if t not in trials] == [baseline_trial(study)]
    return trials


def kt_ids(study) -> list[str]:
    return [t.user_attrs[KT_ID] for t in kt_trials(study)]


def test_a_keras_tuner_run_lands_in_the_optuna_storage(kt_study, tmp_path):
    study = load(kt_study)
    assert study.user_attrs["backend"] == "keras-tuner"
    trials = kt_trials(study)
    assert len(trials) == 3
    for t in trials:
        assert t.state.name == "COMPLETE"
        assert {"dropout", "regularizer"} <= set(t.params)
        assert {"train_accuracy", "val_accuracy", "gap", "epochs", "worker", KT_ID, "folds"} \
            <= set(t.user_attrs)
        folds = t.user_attrs["folds"]
        assert len(folds) == 2  # Keras Tuner trials are scored on the folds as well
        # Every epoch of every fold at step fold * 3 + epoch; the first fold's is the curve.
        assert sorted(t.intermediate_values) == [
            i * 3 + e for i, f in enumerate(folds) for e in range(f["epochs"])]
        first = [v for step, v in sorted(t.intermediate_values.items()) if step < 3]
        assert first == pytest.approx(t.user_attrs["curves"]["score"], abs=1e-6)
        assert len(t.intermediate_values) == t.user_attrs["epochs"]
        assert t.value == pytest.approx(t.user_attrs["score"])
        assert t.value == pytest.approx(sum(f["score"] for f in folds) / 2)
        assert t.distributions["dropout"] == optuna.distributions.FloatDistribution(0.1, 0.5)
        assert t.duration.total_seconds() > 0.1  # the training time, not the copying instant
    check_confirmed(study)
    out = tmp_path / "kt.json"
    assert main(["export", str(kt_study), "--backend", "keras-tuner", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["backend"] == "keras-tuner" and doc["study"] == "ktiny-keras-tuner"
    assert (kt_study.parent / "keras-tuner" / "ktiny-keras-tuner").is_dir()  # not in the repo


def test_running_it_again_does_not_duplicate_trials(kt_study):
    before = kt_ids(load(kt_study))
    baseline = baseline_trial(load(kt_study))
    assert main(["run", str(kt_study), "--backend", "keras-tuner", "--no-progress"]) == 0
    after = kt_ids(load(kt_study))
    assert after == before and len(set(after)) == 3
    assert main(["run", str(kt_study), "--backend", "keras-tuner", "--trials", "1",
                 "--no-progress"]) == 0
    ids = kt_ids(load(kt_study))
    assert len(ids) == 4 and len(set(ids)) == 4
    again = baseline_trial(load(kt_study))  # the baseline is evaluated once per study
    assert (again.number, again.user_attrs) == (baseline.number, baseline.user_attrs)


def test_hyperband_rungs_are_pruned_and_the_full_budget_completes(tiny_spec, capsys):
    # max_epochs 3, factor 3: a bracket of three 1-epoch trials, the best retrained for 3
    # epochs, then (budget permitting) a bracket trained for 3 epochs straight away.
    spec = tiny_spec("hb", trials=4, epochs=3, extra=HYPERBAND)
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress"]) == 0
    trials = kt_trials(load(spec, "hb-keras-tuner"))
    assert [t.state.name for t in trials] == ["PRUNED"] * 3 + ["COMPLETE"]
    assert [t.user_attrs["kt_epoch_budget"] for t in trials] == [1, 1, 1, 3]
    pruned, full = trials[:3], trials[3]
    for t in pruned:  # one epoch on each fold: its value is the mean of those two scores
        assert t.user_attrs["stopped"] == "pruned" and len(t.intermediate_values) == 2
        assert t.value == pytest.approx(sum(t.intermediate_values.values()) / 2)
    best = max(pruned, key=lambda t: t.user_attrs["score"])  # promoted: trained anew for 3
    assert full.params == best.params
    assert [f["epochs"] <= 3 for f in full.user_attrs["folds"]] == [True, True]

    # Its project deleted, Keras Tuner would restart at trial 0 and the copies would clash.
    shutil.rmtree(spec.parent / "keras-tuner")
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress"]) != 0
    assert "disagree" in capsys.readouterr().err


@pytest.mark.parametrize("trials, extra, key", [(3, [], "search.trials to at least 4"),
                                                 (8, ["--trials", "2"], "--trials to at least 4")])
def test_a_hyperband_budget_too_small_to_complete_any_trial_is_refused(tiny_spec, capsys,
                                                                       trials, extra, key):
    spec = tiny_spec("hbshort", trials=trials, epochs=3, extra=HYPERBAND)
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress", *extra]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(spec) in err
    assert "trains its first setting for all 3 epochs at trial 4" in err
    assert f"raise {key}, or raise keras_tuner.factor" in err
    # Refused before the data is read or the baseline trained: no storage, no study.
    assert not (spec.parent / "regsearch.db").exists()
    assert not (spec.parent / "keras-tuner").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_study_runs_with_the_keras_tuner_backend_on_its_own_budget(path):
    from search.backends.keras_tuner_backend import check_budget
    from search.spec import load_spec

    check_budget(load_spec(path))  # raises where Hyperband could complete no trial in budget


def test_a_trial_interrupted_by_ctrl_c_runs_again_on_resume_and_is_copied_once(tiny_spec,
                                                                              monkeypatch):
    from search.trainer import Trainer

    real_fit, calls = Trainer.fit, []

    def interrupted_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # the baseline's 2 folds, trial 0's, then Ctrl-C in trial 1's 2nd
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", interrupted_fit)
    spec = tiny_spec("ktstop", trials=3, epochs=2, extra=KT_RANDOM)
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress"]) == 130
    assert kt_ids(load(spec, "ktstop-keras-tuner")) == ["0"]
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress"]) == 0
    trials = kt_trials(load(spec, "ktstop-keras-tuner"))
    assert sorted(t.user_attrs[KT_ID] for t in trials) == ["0", "1", "2"]
    assert all(t.state.name == "COMPLETE" and len(t.user_attrs["folds"]) == 2 for t in trials)


def test_a_crashing_trial_is_failed_and_the_search_goes_on(tiny_spec, monkeypatch):
    from search.trainer import Trainer

    real_fit, calls = Trainer.fit, []

    def flaky_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # calls 1 and 2 train the baseline's folds; 3 is the first trial
            raise RuntimeError("simulated crash")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", flaky_fit)
    # keras_tuner.max_epochs (2) overrides [training] (3) for the whole study, baseline included.
    spec = tiny_spec("ktcrash", trials=3, epochs=3,
                     extra=KT_RANDOM + "max_epochs = 2\n")
    assert main(["run", str(spec), "--backend", "keras-tuner", "--no-progress"]) == 0
    study = load(spec, "ktcrash-keras-tuner")
    trials = kt_trials(study)
    assert [t.state.name for t in trials].count("FAIL") == 1
    failed = next(t for t in trials if t.state.name == "FAIL")
    assert failed.user_attrs["fail_reason"] == "RuntimeError: simulated crash"
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 2 and all(t.user_attrs["kt_epoch_budget"] == 2 for t in done)
    assert all(f["epochs"] <= 2 for f in baseline_trial(study).user_attrs["folds"])
    confirmation = check_confirmed(study)
    assert all(s["epochs"] <= 2 for s in confirmation["settings"])
