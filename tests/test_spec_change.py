"""A stored study continues only under a spec that keeps what its trials mean
(``study.spec_changes``); ``regsearch run --restart`` starts it afresh. Nothing is trained."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import optuna
import pytest

from search import commands
from search.cli import main
from search.errors import RegsearchError
from search.spec import load_spec
from search.study import open_study, spec_changes, stored_spec

from .conftest import write_tiny_spec


@pytest.fixture
def spec(tmp_path):
    return load_spec(write_tiny_spec(tmp_path, "change", trials=5))


def changed(doc: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A copy of a spec document with dotted keys (``model__hidden``) set."""
    doc = copy.deepcopy(doc)
    for dotted, value in values.items():
        *path, last = dotted.split("__")
        table = doc
        for part in path:
            table = table.setdefault(part, {})
        table[last] = value
    return doc


@pytest.mark.parametrize("values, expected", [
    ({"model__hidden": [64]}, ["model.hidden: [50, 50] -> [64]"]),
    ({"data__limit": 500, "model__hidden": [64]},
     ["data.limit: 0 -> 500", "model.hidden: [50, 50] -> [64]"]),
    ({"data__dataset": "mnist"}, ['data.dataset: "digits" -> "mnist"']),
    ({"training__learning_rate": 0.01}, ["training.learning_rate: 0.001 -> 0.01"]),
    ({"evaluation__folds": 3}, ["evaluation.folds: 2 -> 3"]),
    ({"study__seed": 4}, ["study.seed: 3 -> 4"]),
    ({"search__gap_weight": 1.0}, ["search.gap_weight: 0.0 -> 1.0"]),
    ({"study__space__dropout__high": 0.9}, ["study.space.dropout.high: 0.5 -> 0.9"]),
    ({"study__space__extra": {"type": "float", "low": 0.0, "high": 1.0}},
     ['study.space.extra: (none) -> {"type": "float", "low": 0.0, "high": 1.0}']),
])
def test_a_change_in_what_a_trial_means_is_named_key_by_key(spec, values, expected):
    old = spec.to_document()
    assert spec_changes(old, changed(old, **values)) == expected


@pytest.mark.parametrize("values", [
    {"search__trials": 50}, {"search__max_failures": 9}, {"search__sampler": "random"},
    {"search__sampler_startup": 1}, {"search__pruner": "none"}, {"search__pruner_warmup": 3},
    {"search__pruner_percentile": 50.0}, {"search__pruner_patience": 4},
    {"evaluation__racing": False}, {"evaluation__screen": 0.5}, {"training__reuse_model": False},
    {"keras_tuner__tuner": "random"}, {"workers__max_retry": 0}, {"confirm__seeds": 7},
    {"confirm__gap_weight": 0.0},
    {"selection__tolerance": 0.01}, {"study__storage": "sqlite:////elsewhere.db"},
    {"study__backend": "keras-tuner"},
])
def test_a_change_in_how_the_search_goes_on_continues(spec, values):
    old = spec.to_document()
    assert spec_changes(old, changed(old, **values)) == []


def test_a_key_an_older_spec_did_not_store_counts_as_its_default(spec):
    new = spec.to_document()
    old = copy.deepcopy(new)
    del old["training"]["min_steps"]  # a regsearch before min_steps: the default, 300
    assert spec_changes(old, changed(new, training__min_steps=300)) == []
    assert spec_changes(old, changed(new, training__min_steps=0)) == [
        "training.min_steps: 300 -> 0"]


def test_open_refuses_a_changed_meaning_and_keeps_the_stored_spec(spec):
    study = open_study(spec, name=spec.name, backend="optuna")
    study.add_trial(optuna.trial.create_trial(value=0.5))
    stored = study.user_attrs["spec"]
    other = dataclasses.replace(spec, model=dataclasses.replace(spec.model, hidden=(64,)),
                                data=dataclasses.replace(spec.data, limit=500))
    with pytest.raises(RegsearchError) as info:
        open_study(other, name=spec.name, backend="optuna")
    assert str(info.value) == (
        f"study 'change' in {spec.storage} cannot continue under this spec: data.limit: 0 -> "
        "500; model.hidden: [50, 50] -> [64] would change what its trials mean. Give the spec a "
        "new [study] name to start another study, or pass --restart to `regsearch run` to "
        "delete this one (1 stored trial) and start afresh")
    assert optuna.load_study(study_name=spec.name,
                             storage=spec.storage).user_attrs["spec"] == stored


def test_open_continues_under_a_new_budget_and_stores_it(spec):
    open_study(spec, name=spec.name, backend="optuna").add_trial(
        optuna.trial.create_trial(value=0.5))
    more = dataclasses.replace(spec, search=dataclasses.replace(spec.search, trials=9))
    study = open_study(more, name=spec.name, backend="optuna")
    assert len(study.trials) == 1
    assert study.user_attrs["spec"]["search"]["trials"] == 9


def test_a_worker_reopening_with_the_stored_spec_continues(spec, tmp_path):
    """``regsearch worker`` opens the study with the spec parsed from it (search/workers.py)."""
    npz = dataclasses.replace(spec, data=dataclasses.replace(
        spec.data, dataset="npz", path=str(tmp_path / "d.npz")))
    open_study(npz, name=spec.name, backend="optuna").add_trial(
        optuna.trial.create_trial(value=0.5))
    stored = stored_spec(optuna.load_study(study_name=spec.name, storage=spec.storage))
    assert len(open_study(stored, name=spec.name, backend="optuna").trials) == 1


def test_open_with_restart_deletes_the_old_study(spec):
    open_study(spec, name=spec.name, backend="optuna").add_trial(
        optuna.trial.create_trial(value=0.5))
    other = dataclasses.replace(spec, model=dataclasses.replace(spec.model, hidden=(64,)))
    study = open_study(other, name=spec.name, backend="optuna", restart=True)
    assert study.trials == [] and study.user_attrs["spec"]["model"]["hidden"] == [64]
    # Restarting a study not stored yet just creates it.
    fresh = open_study(spec, name="never-stored", backend="optuna", restart=True)
    assert fresh.trials == []


def test_run_restart_reaches_the_study_and_keras_tuners_project(spec, monkeypatch):
    """``--restart`` is threaded from the command line to the open; Keras Tuner's project of
    the study goes too, or it would reload the old trials."""
    seen = {}
    monkeypatch.setattr(commands, "run_study", lambda **kwargs: seen.update(kwargs))
    assert main(["run", spec.path, "--restart"]) == 0
    assert seen["restart"] is True
    assert main(["run", spec.path]) == 0
    assert seen["restart"] is False

    kt = dataclasses.replace(spec, backend="keras-tuner")
    from search.backends.keras_tuner_backend import work_dir

    project = work_dir(kt) / "change-keras-tuner"
    commands._open_backend_study(kt, 1).add_trial(optuna.trial.create_trial(value=0.5))
    project.mkdir(parents=True)
    (project / "oracle.json").write_text("{}")
    kept = commands._open_backend_study(kt, 1)
    assert len(kept.trials) == 1 and project.exists()
    assert commands._open_backend_study(kt, 1, restart=True).trials == []
    assert not project.exists()
    commands._open_backend_study(spec, 1).add_trial(optuna.trial.create_trial(value=0.5))
    assert commands._open_backend_study(spec, 1, restart=True).trials == []
