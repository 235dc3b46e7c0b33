"""The Optuna adapter: space translation, the objective over the folds, a crashing trial marks
that trial only, and the search never reads the test split."""

from __future__ import annotations

import contextlib
import dataclasses

import optuna
import pytest

from search.backends import optuna_backend
from search.folds import study_data
from search.objective import evaluator_for
from search.space import load_space
from search.spec import load_spec
from search.trainer import Trainer

from .conftest import SPACE


def test_suggest_follows_bounds_scales_and_conditions():
    space = load_space(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(200):
        trial = study.ask()
        params = optuna_backend.suggest(trial, space)
        study.tell(trial, 0.0)
        assert 0.1 <= params["dropout"] <= 0.5
        kind = params["regularizer"]
        assert ("l1" in params) == (kind in ("l1", "l1_l2"))
        assert ("l2" in params) == (kind in ("l2", "l1_l2"))
        for name in ("l1", "l2"):
            if name in params:
                assert 1e-6 <= params[name] <= 1e-1
                dist = trial.distributions[name]
                assert dist.log and (dist.low, dist.high) == (1e-6, 1e-1)


@contextlib.contextmanager
def searching(spec):
    """The study's Optuna study (sampler, fold pruner) and its evaluator over the folds."""
    folds, _ = study_data(spec)
    with evaluator_for(spec, folds) as evaluator:
        yield optuna_backend.open_study(spec, stride=evaluator.stride), evaluator


def test_the_objective_scores_a_setting_by_its_mean_over_the_folds(tiny_spec):
    spec = load_spec(tiny_spec("objective", epochs=2))
    with searching(spec) as (study, evaluator):
        study.enqueue_trial({"dropout": 0.2, "regularizer": "l2", "l2": 1e-4})
        study.optimize(optuna_backend.make_objective(spec, evaluator), n_trials=1)
        stride = evaluator.stride
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE"
    folds = trial.user_attrs["folds"]
    assert len(folds) == trial.user_attrs["folds_done"] == trial.user_attrs["folds_planned"] == 2
    assert trial.value == pytest.approx(sum(f["score"] for f in folds) / 2)
    assert 0.0 < trial.value <= 1.0
    for key in ("train_accuracy", "val_accuracy", "gap"):
        assert trial.user_attrs[key] == pytest.approx(sum(f[key] for f in folds) / 2)
        assert trial.user_attrs[f"{key}_se"] >= 0
    # Every epoch of every fold was reported, at step fold * stride + epoch.
    steps = sorted(trial.intermediate_values)
    assert steps == [i * stride + e for i, f in enumerate(folds) for e in range(f["epochs"])]
    assert trial.user_attrs["epochs"] == sum(f["epochs"] for f in folds)


def test_a_crashing_trial_is_failed_with_its_reason_and_the_study_goes_on(tiny_spec, monkeypatch):
    spec = load_spec(tiny_spec("crash", trials=3, epochs=2))
    real_fit, calls = Trainer.fit, []

    def flaky_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second fold of the first trial
            raise RuntimeError("simulated crash inside training")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", flaky_fit)
    with searching(spec) as (study, evaluator):
        optuna_backend.run(study, spec, evaluator, progress=False)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1 and len(states) == 3
    failed = study.trials[0]
    assert failed.state == optuna.trial.TrialState.FAIL
    assert failed.user_attrs["fail_reason"] == "RuntimeError: simulated crash inside training"


def test_failures_in_a_row_stop_the_study_with_a_clear_message(tiny_spec, monkeypatch):
    from search.errors import RegsearchError

    spec = load_spec(tiny_spec("broken", trials=10, epochs=2))
    spec = dataclasses.replace(spec, search=dataclasses.replace(spec.search, max_failures=2))

    def broken_fit(*args, **kwargs):
        raise ValueError("bad setup")

    monkeypatch.setattr(Trainer, "fit", broken_fit)
    with pytest.raises(RegsearchError, match=r"2 trials in a row failed \(search.max_failures = 2\)"
                                             r"; last reason: ValueError: bad setup"):
        with searching(spec) as (study, evaluator):
            optuna_backend.run(study, spec, evaluator, progress=False)
    assert len(study.trials) == 2


class Untouchable:
    """Stands in for the test split: any use of it is an error. ``size`` lets its length be
    read (how many test rows there are, which the run records, says nothing of them)."""

    def __init__(self, size: int | None = None):
        self.size = size

    def __getattr__(self, name):
        raise AssertionError(f"the search touched the test split (.{name})")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the search touched the test split (as an array)")

    def __len__(self):
        if self.size is None:
            raise AssertionError("the search touched the test split (len)")
        return self.size


def test_the_search_never_touches_the_test_split_and_confirmation_reads_it_once(
        tiny_spec, monkeypatch, capsys):
    """``regsearch run`` end to end: the folds' test parts are empty and sealed, the refit
    splits' test part is sealed until the search is over; confirmation is its only reader."""
    import numpy as np

    from search import commands, confirm, folds as folds_module

    spec_path = tiny_spec("sealed", trials=3, epochs=2)
    real_study_data = folds_module.study_data
    sealed: dict = {}

    def sealed_study_data(spec):
        folds, refit = real_study_data(spec)
        assert all(len(f.x_test) == len(f.y_test) == 0 for f in folds)  # no test rows at all
        folds = [dataclasses.replace(f, x_test=Untouchable(), y_test=Untouchable())
                 for f in folds]
        sealed["x"], sealed["y"] = refit.x_test, refit.y_test
        n = len(refit.y_test)
        return folds, dataclasses.replace(refit, x_test=Untouchable(n), y_test=Untouchable(n))

    real_ensure, readers = confirm.ensure_confirmation, []

    def unsealing_ensure(snap, refit, *args, **kwargs):
        # Reached once the search is over: every counted trial has finished.
        assert all(t.state.is_finished() for t in snap.study.trials)
        readers.append(snap.study.study_name)
        opened = dataclasses.replace(refit(), x_test=sealed["x"], y_test=sealed["y"])
        return real_ensure(snap, lambda: opened, *args, **kwargs)

    monkeypatch.setattr(folds_module, "study_data", sealed_study_data)
    monkeypatch.setattr(confirm, "ensure_confirmation", unsealing_ensure)
    result = commands.run_study(spec_path=str(spec_path), progress=False)
    assert readers == ["sealed"]
    confirmation = result["confirmation"]
    assert confirmation is not None
    for setting in confirmation["settings"]:
        assert len(setting["runs"]) == 2
        assert all(0 < r["test_accuracy"] <= 1 for r in setting["runs"])
    # The test accuracy is on the real test rows (a multiple of one row of them).
    n_test = len(sealed["y"])
    for r in confirmation["settings"][0]["runs"]:
        assert np.isclose(r["test_accuracy"] * n_test, round(r["test_accuracy"] * n_test),
                          atol=1e-3)
    capsys.readouterr()
