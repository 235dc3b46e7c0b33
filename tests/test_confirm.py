"""Racing, the baseline as a competitor, and confirmation's last word (search/pruning.py,
search/objective.py, search/confirm.py, search/export.py), on real tiny digits studies.

* A setting that learns poorly is stopped between folds by racing: PRUNED, with its reason.
* When every regularized setting is worse, the baseline wins the selection and the export says
  "no regularization", with the best regularized setting's confirmed cost beside it.
* When confirmation disagrees with the search, the export holds the confirmed answer.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from search import cli, commands, confirm
from search.errors import RegsearchError
from search.spec import load_spec
from search.study import Snapshot, baseline_trial, counted_trials

from .conftest import SPACE, write_tiny_spec

NO_REGULARIZATION = {"dropout": 0.0, "regularizer": "none", "l1": 0.0, "l2": 0.0,
                     "weight_decay": 0.0, "max_norm": 0.0}

#: Settings that cannot learn digits in a few epochs: half the units dropped and an L1 penalty
#: that drives every weight to zero.
HARMFUL_SPACE = """\
[dropout]
type = "float"
low = 0.45
high = 0.5

[regularizer]
type = "choice"
choices = ["l1"]

[l1]
type = "float"
low = 0.03
high = 0.1
log = true
when = { regularizer = ["l1"] }
"""


def tiny(folder: Path, name: str, *, trials: int, epochs: int, folds: int = 2,
         space: Path | None = None, search: str = "") -> Path:
    """``write_tiny_spec`` with ``folds`` folds and, if given, another space file."""
    path = write_tiny_spec(folder, name, trials=trials, epochs=epochs, extra=search)
    text = path.read_text().replace("[evaluation]\nfolds = 2\n", f"[evaluation]\nfolds = {folds}\n")
    if space is not None:
        text = text.replace(SPACE.as_posix(), space.as_posix())
    path.write_text(text)
    return path


def storage_of(spec: Path) -> str:
    return f"sqlite:///{spec.parent / 'regsearch.db'}"


def test_a_setting_that_learns_poorly_is_raced_out_between_folds(tmp_path, capsys):
    spec = tiny(tmp_path, "race", trials=1, epochs=4, folds=3, search='pruner = "none"\n')
    # The study made ahead, so the poor setting is the one trial the run's budget takes.
    study = optuna.create_study(study_name="race", storage=storage_of(spec),
                                direction="maximize")
    study.enqueue_trial({"dropout": 0.5, "regularizer": "l1", "l1": 0.1})
    commands.run_study(spec_path=str(spec), progress=False)
    out = capsys.readouterr().out

    study = optuna.load_study(study_name="race", storage=storage_of(spec))
    baseline = baseline_trial(study)
    [trial] = counted_trials(study)
    assert trial.params == {"dropout": 0.5, "regularizer": "l1", "l1": 0.1}
    assert trial.state.name == "PRUNED"
    attrs = trial.user_attrs
    assert attrs["stopped"] == "raced"
    assert attrs["folds_done"] == len(attrs["folds"]) == 2 and attrs["folds_planned"] == 3
    reason = attrs["stop_reason"]
    assert reason.startswith("raced after 2 folds: validation accuracy -")
    assert f"against trial {baseline.number} on the same folds, significantly lower" in reason
    # The reason's figure is the paired difference with the baseline on the two folds done.
    mine = [f["val_accuracy"] for f in attrs["folds"]]
    best = [f["val_accuracy"] for f in baseline.user_attrs["folds"][:2]]
    mean = sum(a - b for a, b in zip(mine, best)) / 2
    assert f"validation accuracy {mean:+.4f}" in reason
    # Nothing of the third fold was trained: its steps (from 2 * 4, max_epochs being the
    # stride) were never reported; the baseline's were.
    assert max(trial.intermediate_values) < 8 <= max(baseline.intermediate_values)
    # The raced trial keeps its figures (the dashboard shows them), and the summary counts it.
    assert attrs["val_accuracy"] < baseline.user_attrs["val_accuracy"] - 0.2
    assert Snapshot(study).counts["raced"] == 1
    assert "1 pruned (1 by racing between folds)" in out
    # No regularized trial completed: there is nothing to confirm, and the export says so.
    assert study.user_attrs.get("confirmation") is None
    with pytest.raises(RegsearchError, match="no regularized trial has completed yet"):
        commands.export_study(study=str(spec), output=str(tmp_path / "x.json"))


def test_screening_stops_a_poor_first_fold_from_the_cli(tmp_path):
    spec = tiny(tmp_path, "screen", trials=1, epochs=4, folds=3, search='pruner = "none"\n')
    # Screening from the first trial on (the baseline's first fold is the one before it).
    spec.write_text(spec.read_text().replace("pruner_startup = 2", "pruner_startup = 1").replace(
        "[evaluation]\nfolds = 3\n", "[evaluation]\nfolds = 3\nracing = false\nscreen = 0.5\n"))
    study = optuna.create_study(study_name="screen", storage=storage_of(spec),
                                direction="maximize")
    study.enqueue_trial({"dropout": 0.5, "regularizer": "l1", "l1": 0.1})
    assert cli.main(["run", str(spec), "--no-progress"]) == 0

    study = optuna.load_study(study_name="screen", storage=storage_of(spec))
    baseline = baseline_trial(study)
    [trial] = counted_trials(study)
    assert trial.state.name == "PRUNED"
    attrs = trial.user_attrs
    # Racing is off and would need two folds: the screen alone stopped it, after one.
    assert attrs["stopped"] == "raced" and attrs["folds_done"] == 1
    first = baseline.user_attrs["folds"][0]["val_accuracy"]
    assert attrs["stop_reason"] == (
        f"screened after fold 1: validation accuracy {attrs['folds'][0]['val_accuracy']:.4f}, "
        f"below {first:.4f}, the best 50% of 1 earlier trials' first folds")


def test_the_baseline_wins_when_every_regularized_setting_is_worse(tmp_path, capsys):
    space = tmp_path / "harmful.toml"
    space.write_text(HARMFUL_SPACE)
    spec = tiny(tmp_path, "harm", trials=2, epochs=4, space=space, search='pruner = "none"\n')
    result = commands.run_study(spec_path=str(spec), progress=False)
    assert "chose no regularization" in capsys.readouterr().out
    selection = result["selection"]
    assert selection["regularizes"] is False and selection["chosen_trial"] == 0

    target = tmp_path / "answer.json"
    doc = commands.export_study(study=str(spec), output=str(target))
    assert json.loads(target.read_text()) == doc
    assert doc["answer"] == "no regularization" and doc["verdict"] == "nothing"
    assert doc["params"] == NO_REGULARIZATION and doc["trial"] == 0
    assert doc["statement"].startswith("Use no regularization: nothing in the space beats no "
                                       "regularization on the cross-validation folds.")
    assert "keras.layers.Dropout" not in doc["keras_snippet"]
    assert "kernel_regularizer=None" in doc["keras_snippet"]
    # What regularizing would have cost: the best regularized setting, confirmed beside it.
    study = optuna.load_study(study_name="harm", storage=storage_of(spec))
    c = doc["confirmation"]
    alternative = selection["alternative_trial"]
    assert c["setting"]["trial"] == alternative
    assert c["setting"]["params"]["dropout"] == pytest.approx(
        study.trials[alternative].params["dropout"])
    assert doc["search"]["selection"]["regularizes"] is False
    for trial in counted_trials(study):  # every regularized setting was worse on the folds
        assert trial.state.name == "COMPLETE"
        assert trial.user_attrs["val_accuracy"] < \
            baseline_trial(study).user_attrs["val_accuracy"]


def runs(test: list[float], train: list[float]) -> list[dict]:
    return [{"seed": 10 + i, "train_accuracy": tr, "test_accuracy": te, "gap": tr - te}
            for i, (tr, te) in enumerate(zip(train, test))]


BASE = {"label": "baseline", "trial": 0, "params": NO_REGULARIZATION,
        "runs": runs([0.95, 0.94, 0.96], [1.0, 1.0, 1.0])}
SETTING_PARAMS = {"dropout": 0.3, "regularizer": "l2", "l1": 0.0, "l2": 1e-3}


def judged(test: list[float], train: list[float], search_regularizes: bool = True) -> dict:
    other = {"label": "trial 4", "trial": 4, "params": SETTING_PARAMS, "runs": runs(test, train)}
    return confirm.judge(BASE, other, search_regularizes, gap_weight=0.5)


def test_a_setting_significantly_worse_on_test_is_rejected():
    # Test accuracy 6 points down on every seed, gap down only because train fell further.
    out = judged([0.89, 0.88, 0.90], [0.90, 0.89, 0.905])
    assert out["verdict"] == "underfits" and not out["regularize"]
    assert out["params"] == NO_REGULARIZATION and out["answer_trial"] == 0
    d = out["difference"]["test_accuracy"]
    assert d["mean"] == pytest.approx(-0.06) and d["high"] < 0 and d["n"] == 3
    # Worse on test without closing the gap: still rejected, as nothing.
    worse = judged([0.89, 0.88, 0.90], [1.0, 1.0, 1.0])
    assert worse["verdict"] == "nothing" and not worse["regularize"]
    assert worse["params"] == NO_REGULARIZATION


def test_a_setting_is_accepted_only_when_it_helps_or_closes_the_gap_at_no_cost():
    helps = judged([0.97, 0.96, 0.98], [0.99, 0.99, 0.995])
    assert helps["verdict"] == "helps" and helps["regularize"]
    assert helps["params"] == SETTING_PARAMS and helps["answer_trial"] == 4
    no_cost = judged([0.952, 0.938, 0.958], [0.97, 0.965, 0.975])
    assert no_cost["verdict"] == "no_cost" and no_cost["regularize"]
    assert no_cost["gap_significant"]
    # Within noise on both over the seeds, the gap down on average: the folds' evidence that
    # it closes the gap stands, and the answer says the confirmation alone is within noise.
    noise = judged([0.96, 0.93, 0.965], [1.0, 0.99, 1.0])
    assert noise["difference"]["gap"]["low"] < 0 < noise["difference"]["gap"]["high"]
    assert noise["difference"]["gap"]["mean"] < 0
    assert noise["verdict"] == "no_cost" and noise["regularize"]
    assert not noise["gap_significant"]
    said = confirm.statement({**noise, "seeds": [10, 11, 12], "search_regularizes": True,
                              "settings": [BASE, {"label": "trial 4", "params": SETTING_PARAMS}]})
    assert "at no cost in test accuracy (beyond noise on the cross-validation folds; within " \
           "noise over these 3 seeds)" in said
    # The gap not closed in confirmation (up on average), test within noise: rejected.
    wider = judged([0.955, 0.935, 0.955], [1.0, 1.0, 1.0])
    assert wider["difference"]["gap"]["mean"] > 0
    assert wider["verdict"] == "nothing" and not wider["regularize"]
    # Test within noise, the gap down, but by less than the study's gap_weight (0.5) asks for
    # the test accuracy it costs: a 1-point loss for 1 point of gap scores -0.005 on test.
    # Rejected, and the answer says why.
    dear = judged([0.945, 0.925, 0.95], [0.985, 0.975, 0.98])
    d = dear["difference"]
    assert d["test_accuracy"]["low"] < 0 < d["test_accuracy"]["high"]
    assert d["gap"]["mean"] == pytest.approx(-0.01) and d["score"]["mean"] == pytest.approx(-0.005)
    assert dear["verdict"] == "nothing" and not dear["regularize"]
    assert dear["params"] == NO_REGULARIZATION
    said = confirm.statement({**dear, "seeds": [10, 11, 12], "search_regularizes": True,
                              "settings": [BASE, {"label": "trial 4", "params": SETTING_PARAMS}]})
    assert "rejected in confirmation: the gap it closed is worth less than the test accuracy it " \
           "cost at gap_weight 0.5" in said
    # The same trade at gap_weight 2 (a point of gap worth two of accuracy) is accepted.
    assert confirm.judge(BASE, {"label": "trial 4", "trial": 4, "params": SETTING_PARAMS,
                                "runs": runs([0.945, 0.925, 0.95], [0.985, 0.975, 0.98])},
                         True, gap_weight=2.0)["verdict"] == "no_cost"
    # When the search chose no regularization, confirmation cannot promote the setting.
    vetoed = judged([0.97, 0.96, 0.98], [0.99, 0.99, 0.995], search_regularizes=False)
    assert vetoed["verdict"] == "nothing" and not vetoed["regularize"]
    assert vetoed["params"] == NO_REGULARIZATION


def record(params: dict, trains: list[float], vals: list[float]) -> dict:
    """A trial's user attributes as the evaluator stores them, for two folds."""
    folds = [{"train_accuracy": t, "val_accuracy": v, "gap": t - v, "score": v - 0.5 * (t - v),
              "epochs": 3, "best_epoch": 3, "stopped": "max_epochs"}
             for t, v in zip(trains, vals)]
    mean = {k: sum(f[k] for f in folds) / 2 for k in ("train_accuracy", "val_accuracy", "gap",
                                                      "score")}
    return {**mean, "epochs": 6, "best_epoch": 3, "folds": folds, "stopped": "max_epochs",
            "folds_done": 2, "folds_planned": 2, "learns_nothing": False}


def chosen_setting_study(folder: Path, name: str, confirm_section: str) -> tuple[Path, Any]:
    """A tiny digits study whose search (its records made here) chose a harmful setting,
    trial 1, as closing the gap within noise; trial 0 is the baseline. ``confirm_section``
    replaces the spec's ``[confirm]`` table."""
    from search.backends import optuna_backend
    from search.folds import study_data
    from search.study import distribution

    path = tiny(folder, name, trials=1, epochs=3)
    path.write_text(path.read_text().replace("[confirm]\nseeds = 2\n", confirm_section))
    spec = load_spec(path)
    folds, refit = study_data(spec)
    study = optuna_backend.open_study(spec, stride=3, name=name)
    study.set_user_attr("data_sizes", {"train+val": len(refit.y_train), "test": len(refit.y_test),
                                       "fold_train": len(folds[0].y_train),
                                       "fold_val": len(folds[0].y_val)})
    study.set_user_attr("data_shape", [refit.n_features, refit.n_classes])
    study.set_user_attr("data_scaling", refit.scaling.to_dict())
    study.add_trial(optuna.trial.create_trial(
        params={}, distributions={}, value=0.9, user_attrs={
            "role": "baseline", **record({}, [1.0, 1.0], [0.90, 0.91])}))
    harmful = {"dropout": 0.5, "regularizer": "l1", "l1": 0.1}
    study.add_trial(optuna.trial.create_trial(
        params=harmful, distributions={k: distribution(spec.space[k]) for k in harmful},
        value=0.9, user_attrs=record(harmful, [0.93, 0.945], [0.905, 0.912])))
    return path, study


def test_the_export_holds_the_confirmed_answer_when_confirmation_rejects_the_search(
        tmp_path, monkeypatch, capsys):
    """Confirmation retrains the search's harmful choice and the baseline for real, on
    train + validation, finds it far worse on the test split, and the export says no
    regularization."""
    # Three paired seeds: with two, a 95% interval is 12.7 standard errors wide.
    path, study = chosen_setting_study(tmp_path, "veto", "[confirm]\nseeds = 3\n")
    assert load_spec(path).confirm.seeds == 3

    snap = Snapshot(study)
    assert snap.selection.regularizes and snap.selection.chosen["number"] == 1

    target = tmp_path / "answer.json"
    doc = commands.export_study(study=str(path), output=str(target))
    stored = optuna.load_study(study_name="veto", storage=storage_of(path)).user_attrs[
        "confirmation"]
    assert stored["search_regularizes"] and not stored["regularize"]
    assert stored["difference"]["test_accuracy"]["high"] < 0  # significantly worse on test
    # "underfits" when the gap closed with it, else "nothing": rejected either way.
    assert stored["verdict"] in ("underfits", "nothing")
    # The export holds the confirmation's answer, not the search's choice.
    assert doc["answer"] == "no regularization" and doc["verdict"] == stored["verdict"]
    assert doc["params"] == stored["params"] == NO_REGULARIZATION
    assert doc["trial"] == stored["answer_trial"] == 0
    assert doc["confirmation"]["setting"]["trial"] == 1
    assert doc["search"]["selection"]["chosen_trial"] == 1
    assert doc["statement"].startswith("Use no regularization: the search's choice, ")
    assert "was rejected in confirmation" in doc["statement"]
    assert "keras.layers.Dropout" not in doc["keras_snippet"]
    assert json.loads(target.read_text()) == doc

    # Exporting again reads the stored confirmation: the only training is the answer's first
    # confirmation run once more, for the .keras file beside the export.
    from search.trainer import Trainer

    refits = []
    real = Trainer.refit

    def one_refit(self, params, *, seed, epochs, splits):
        refits.append((dict(params), seed))
        return real(self, params, seed=seed, epochs=epochs, splits=splits)

    monkeypatch.setattr(Trainer, "refit", one_refit)
    again = commands.export_study(study=str(path), output=str(tmp_path / "again.toml"))
    assert refits == [(NO_REGULARIZATION, doc["confirmation"]["seeds"][0])]
    assert (tmp_path / "again.keras").is_file()
    assert again == {**doc, "model_file": "again.keras"}
    capsys.readouterr()


def test_only_an_acceptance_leaning_below_the_baseline_asks_for_more_seeds():
    gap_closed = [0.975, 0.96, 0.985]  # train accuracy: the gap falls by 3 points on average
    leaning = judged([0.955, 0.93, 0.96], gap_closed)  # test -0.0017 on average, within noise
    assert leaning["verdict"] == "no_cost" and confirm.needs_more(leaning)
    level = judged([0.95, 0.94, 0.965], gap_closed)  # test +0.0017 on average
    assert level["verdict"] == "no_cost" and not confirm.needs_more(level)
    helps = judged([0.97, 0.96, 0.98], [0.99, 0.99, 0.995])
    assert helps["verdict"] == "helps" and not confirm.needs_more(helps)
    rejected = judged([0.89, 0.88, 0.90], [0.90, 0.89, 0.905])
    assert not rejected["regularize"] and not confirm.needs_more(rejected)


def scripted(monkeypatch, first: int, setting_tests: list[float]) -> list[tuple[str, int]]:
    """Trainer.refit and Trainer.accuracy replaced by a script: the baseline scores test
    0.95/0.94/0.96 in turn at train 1.0, the regularized setting ``setting_tests[i]`` on
    confirmation seed ``first + i`` at train 0.97. Returns the (setting, seed) pairs trained."""
    from search.trainer import Trainer

    trained: list[tuple[str, int]] = []

    def refit(self, params, *, seed, epochs, splits):
        who = "setting" if params.get("dropout") else "baseline"
        trained.append((who, seed))
        return (0.97 if who == "setting" else 1.0), (who, seed - first)

    def accuracy(self, model, x, y):
        who, i = model
        return setting_tests[i] if who == "setting" else (0.95, 0.94, 0.96)[i % 3]

    monkeypatch.setattr(Trainer, "refit", refit)
    monkeypatch.setattr(Trainer, "accuracy", accuracy)
    return trained


def test_a_thin_acceptance_grows_to_max_seeds_and_is_rejected_on_all_of_them(
        tmp_path, monkeypatch, capsys):
    """The first 3 seeds accept the setting as closing the gap at no cost while its test
    accuracy is below the baseline's on average; 5 more seeds each show it costs 3 points, so
    the verdict over all 8 rejects it, and the export holds that."""
    from search.folds import study_data

    path, study = chosen_setting_study(tmp_path, "grow",
                                       "[confirm]\nseeds = 3\nmax_seeds = 8\n")
    spec = load_spec(path)
    first = confirm.seeds(spec)
    assert first == confirm.seeds(spec, 8)[:3]
    trained = scripted(monkeypatch, first[0], [0.955, 0.93, 0.96] + [0.92, 0.91, 0.93] * 2)
    out = io.StringIO()
    c = confirm.ensure_confirmation(Snapshot(study), lambda: study_data(spec)[1], out=out)

    assert c["seeds"] == confirm.seeds(spec, 8) and c["first_seeds"] == first
    assert [s for who, s in trained if who == "setting"] == c["seeds"]
    assert [s for who, s in trained if who == "baseline"] == c["seeds"]
    assert c["grown"]["from"] == 3 and c["grown"]["test_accuracy"]["mean"] < 0
    assert c["difference"]["test_accuracy"]["n"] == 8
    assert c["difference"]["test_accuracy"]["high"] < 0
    assert c["verdict"] == "underfits" and not c["regularize"]
    assert "growing to 8" in out.getvalue()
    assert any("the first 3 seeds accepted the setting" in n and "over all 8" in n
               for n in c["notes"])
    assert all(len(s["runs"]) == 8 for s in c["settings"])

    # The stored confirmation is current: exporting trains only the answer's .keras file.
    monkeypatch.undo()
    doc = commands.export_study(study=str(path), output=str(tmp_path / "answer.json"))
    assert doc["answer"] == "no regularization" and doc["verdict"] == "underfits"
    assert doc["confirmation"]["seeds"] == c["seeds"]
    assert "over 8 paired seeds" in doc["statement"]
    capsys.readouterr()


def test_an_acceptance_not_leaning_below_the_baseline_keeps_its_first_seeds(
        tmp_path, monkeypatch):
    from search.folds import study_data

    path, study = chosen_setting_study(tmp_path, "keep",
                                       "[confirm]\nseeds = 3\nmax_seeds = 8\n")
    spec = load_spec(path)
    trained = scripted(monkeypatch, confirm.seeds(spec)[0], [0.95, 0.94, 0.965])
    c = confirm.ensure_confirmation(Snapshot(study), lambda: study_data(spec)[1],
                                    out=io.StringIO())
    assert c["seeds"] == confirm.seeds(spec) and c["grown"] is None
    assert len(trained) == 6
    assert c["verdict"] == "no_cost" and c["regularize"]
    # The stored answer is current for the same spec: asking again trains nothing.
    assert confirm.ensure_confirmation(Snapshot(study), lambda: study_data(spec)[1]) == c
    assert len(trained) == 6


def test_confirmation_judges_the_trade_at_its_own_gap_weight_and_again_when_it_changes(
        tmp_path, monkeypatch):
    """The verdict weighs the trade at ``[confirm] gap_weight``, not the search's weight. A
    setting 0.005 below the baseline on test that closes 0.025 of gap is no trade at weight 0
    and one at the default 0.5; changing the key continues the study and confirms it again."""
    from search.backends import optuna_backend
    from search.folds import study_data

    path, study = chosen_setting_study(tmp_path, "trade", "[confirm]\nseeds = 3\nmax_seeds = 3\n"
                                       "gap_weight = 0.0\n")
    spec = load_spec(path)
    assert spec.confirm.gap_weight == 0.0 and spec.search.gap_weight == 0.0
    trained = scripted(monkeypatch, confirm.seeds(spec)[0], [0.945, 0.935, 0.955])
    c = confirm.ensure_confirmation(Snapshot(study), lambda: study_data(spec)[1])
    assert c["gap_weight"] == 0.0 and c["verdict"] == "nothing" and not c["regularize"]
    assert "worth less than the test accuracy it cost at gap_weight 0" in confirm.statement(
        {**c, "search_regularizes": True})

    path.write_text(path.read_text().replace("gap_weight = 0.0\n", ""))
    spec = load_spec(path)
    study = optuna_backend.open_study(spec, stride=3, name="trade")
    c = confirm.ensure_confirmation(Snapshot(study), lambda: study_data(spec)[1])
    assert len(trained) == 12  # confirmed again: the stored one was judged at another weight
    assert c["gap_weight"] == 0.5 and c["verdict"] == "no_cost" and c["regularize"]
