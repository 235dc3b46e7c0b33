"""The Optuna adapter: space translation, and a crashing trial marks that trial only."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

from search.objective import trainer_for
from search.trainer import Trainer
from search.backends import optuna_backend
from search.space import load_space
from search.spec import load_spec

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


def test_fixed_trial_runs_the_objective(tiny_spec):
    from search.data import load_splits

    spec = load_spec(tiny_spec(epochs=2))
    splits = load_splits(spec.data, spec.seed)
    with trainer_for(spec, splits) as trainer:
        objective = optuna_backend.make_objective(spec, trainer)
        value = objective(optuna.trial.FixedTrial({"dropout": 0.2, "regularizer": "l2",
                                                   "l2": 1e-4}))
    assert 0.0 < value <= 1.0


def test_a_crashing_trial_is_failed_with_its_reason_and_the_study_goes_on(tiny_spec, monkeypatch):
    from search.data import load_splits

    spec = load_spec(tiny_spec("crash", trials=3, epochs=2))
    splits = load_splits(spec.data, spec.seed)
    real_fit, calls = Trainer.fit, []

    def flaky_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash inside training")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", flaky_fit)
    study = optuna_backend.open_study(spec)
    with trainer_for(spec, splits) as trainer:
        optuna_backend.run(study, spec, trainer, progress=False)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1 and len(states) == 3
    failed = next(t for t in study.trials if t.state == optuna.trial.TrialState.FAIL)
    assert failed.user_attrs["fail_reason"] == "RuntimeError: simulated crash inside training"


def test_failures_in_a_row_stop_the_study_with_a_clear_message(tiny_spec, monkeypatch):
    from search.data import load_splits
    from search.errors import RegsearchError

    spec = load_spec(tiny_spec("broken", trials=10, epochs=2))
    spec = dataclasses.replace(spec, search=dataclasses.replace(spec.search, max_failures=2))
    splits = load_splits(spec.data, spec.seed)

    def broken_fit(*args, **kwargs):
        raise ValueError("bad setup")

    monkeypatch.setattr(Trainer, "fit", broken_fit)
    study = optuna_backend.open_study(spec)
    with pytest.raises(RegsearchError, match=r"2 trials in a row failed \(search.max_failures = 2\)"
                                             r"; last reason: ValueError: bad setup"):
        with trainer_for(spec, splits) as trainer:
            optuna_backend.run(study, spec, trainer, progress=False)
    assert len(study.trials) == 2


class Untouchable:
    """Stands in for the test split: any use of it during the search is an error."""

    def __getattr__(self, name):
        raise AssertionError(f"the search touched the test split (.{name})")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the search touched the test split (as an array)")

    def __len__(self):
        raise AssertionError("the search touched the test split (len)")


def test_the_search_never_touches_the_test_split(tiny_spec):
    from search.data import load_splits

    spec = load_spec(tiny_spec("sealed", trials=3, epochs=2))
    splits = dataclasses.replace(load_splits(spec.data, spec.seed), x_test=Untouchable(),
                                 y_test=Untouchable())
    study = optuna_backend.open_study(spec)
    with trainer_for(spec, splits) as trainer:
        optuna_backend.run(study, spec, trainer, progress=False)
    assert [t.state.name for t in study.trials].count("COMPLETE") >= 1
