"""``regsearch report`` on a small real study: the page, its figures, and the confirmation."""

from __future__ import annotations

import json
from html import escape
from html.parser import HTMLParser

import numpy as np
import optuna
import pytest

from search import holdout
from search.cli import main
from search.confirm import FIGURES as CONFIRM_FIGURES
from search.objective import select
from search.study import METRICS, PARAMS, Snapshot
from search.report import (FIGURES, HTML_NAME, confirmation_verdict, dashboard_note, pareto_front,
                           render_html, terminal_summary)
from search.summary import costs_accuracy, format_summary

from .conftest import write_tiny_spec

CONFIRM = "\n[confirm]\ntop_k = 2\nseeds = 2\n"
SEED = 3  # TINY_STUDY's study seed


class Cells(HTMLParser):
    """Collects ``data-key`` -> ``data-value`` (parsed as JSON) of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, object] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-key" in a:
            self.values[a["data-key"]] = json.loads(a["data-value"])


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A 5-trial study, exported before and after ``regsearch report`` (which is spied on)."""
    folder = tmp_path_factory.mktemp("report")
    spec = write_tiny_spec(folder, "rep", trials=5, epochs=4, extra=CONFIRM)
    assert main(["run", str(spec), "--no-progress"]) == 0
    assert main(["export", str(spec), "-o", str(folder / "before.json")]) == 0

    calls = []
    real = holdout.evaluate_setting

    def spy(params, spec_, splits, **kwargs):
        result = real(params, spec_, splits, **kwargs)
        calls.append({"params": dict(result["params"]), "seed": kwargs.get("seed"),
                      "result": result})
        return result

    out = folder / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(holdout, "evaluate_setting", spy)
        assert main(["report", str(spec), "-o", str(out)]) == 0
    assert main(["export", str(spec), "-o", str(folder / "after.json")]) == 0
    study = optuna.load_study(study_name="rep", storage=f"sqlite:///{folder / 'regsearch.db'}")
    page = (out / HTML_NAME).read_text()
    cells = Cells()
    cells.feed(page)
    return {"spec": spec, "out": out, "calls": calls, "study": study, "page": page,
            "cells": cells.values, "folder": folder,
            "before": json.loads((folder / "before.json").read_text()),
            "after": json.loads((folder / "after.json").read_text())}


def test_report_writes_a_self_contained_page_and_every_figure(reported):
    out, page = reported["out"], reported["page"]
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f'id="fig-{name.removesuffix(".png")}"' in page, name
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    table = page[page.index('id="trials"'):]
    assert table.count("<tr>") == len(reported["study"].trials)  # the header row has a style
    assert "table.sortable" in page and "fixed sample of" in page  # sorting JS; the caveat


def test_headline_numbers_equal_the_exports(reported):
    export, cells, page = reported["after"], reported["cells"], reported["page"]
    assert cells["chosen.trial"] == export["trial"]
    for k in METRICS:
        assert cells[f"chosen.{k}"] == export["metrics"][k], k
        assert cells[f"baseline.{k}"] == export["baseline"][k], k
    assert {k: cells[f"chosen.{k}"] for k in PARAMS} == export["params"]
    assert escape(export["keras_snippet"]) in page


def test_confirmation_retrains_with_distinct_fresh_seeds_and_shows_their_means(reported):
    calls, study, cells = reported["calls"], reported["study"], reported["cells"]
    confirmation = study.user_attrs["confirmation"]
    settings = confirmation["settings"]
    assert [s["label"] for s in settings][0] == "baseline" and len(settings) == 1 + 2
    assert settings[1]["trial"] == study.user_attrs["chosen"]["trial"]  # rank 1 = the choice
    assert len(calls) == len(settings) * 2
    for s in settings:
        mine = [c for c in calls if c["params"] == s["params"]]
        seeds = [c["seed"] for c in mine]
        assert len(seeds) == 2 and len(set(seeds)) == 2 and SEED not in seeds, seeds
        assert [r["seed"] for r in s["runs"]] == seeds
        key = f"confirm.{s['label'].replace(' ', '_')}"
        for k in CONFIRM_FIGURES:
            values = [c["result"][k] for c in mine]
            assert [r[k] for r in s["runs"]] == values
            assert s["mean"][k] == pytest.approx(np.mean(values))
            assert s["std"][k] == pytest.approx(np.std(values, ddof=1))
            assert cells[f"{key}.mean.{k}"] == s["mean"][k]  # what the page shows
    best = select([{"number": s["trial"], **s["mean"]} for s in settings[1:]],
                  n_val=study.user_attrs["data_sizes"]["val"], tolerance=None)
    assert confirmation["best"] == best.chosen["number"]
    assert confirmation["agrees"] == (best.chosen["number"] == settings[1]["trial"])


def test_export_carries_the_confirmation_once_it_exists(reported):
    assert "confirmation" not in reported["before"]
    block = reported["after"]["confirmation"]
    confirmation = reported["study"].user_attrs["confirmation"]
    assert block["best_trial"] == confirmation["best"]
    assert block["seeds"] == confirmation["seeds"] == [SEED + 1, SEED + 2]
    assert [s["mean"] for s in block["settings"]] == [s["mean"] for s in
                                                      confirmation["settings"]]
    assert "trial" not in block["settings"][0]  # the baseline: TOML has no null
    assert main(["export", str(reported["spec"]), "-o",
                 str(reported["folder"] / "after.toml")]) == 0


def test_report_again_reuses_the_confirmation_and_the_dashboard_artifacts(reported, capsys,
                                                                        monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("nothing should be retrained")

    monkeypatch.setattr(holdout, "evaluate_setting", fail)
    assert main(["report", str(reported["spec"]), "-o", str(reported["out"])]) == 0
    text = capsys.readouterr().out
    assert "confirmed best: trial" in text and "x the search)" in text
    study = reported["study"]
    metas = optuna.artifacts.get_all_artifact_meta(study)
    assert sorted(m.filename for m in metas) == sorted(FIGURES)  # overwritten, not piled up
    from optuna_dashboard import get_note

    note = get_note(study)
    assert note.startswith("## rep: gap") and "5 trials" in note
    assert all(f"/artifacts/{study._study_id}/{m.artifact_id}" in note for m in metas)


def test_each_verdict_reads_the_same_on_the_page_in_the_terminal_and_in_the_note(reported):
    snap, out = Snapshot(reported["study"]), reported["out"]
    baseline, chosen = snap.attrs["baseline"], snap.attrs["chosen"]
    confirmation = snap.attrs["confirmation"]
    worse = {**chosen, "val_accuracy": baseline["val_accuracy"] - 0.5}  # beyond any tolerance
    figures = {name: "not drawn in this test" for name in FIGURES}
    shown = {
        "page": render_html(snap, baseline, worse, confirmation, "", out, figures),
        "terminal": terminal_summary(snap, baseline, worse, confirmation, out / HTML_NAME,
                                     figures, ""),
        "note": dashboard_note(snap, baseline, worse, confirmation, {}),
        "summary": format_summary("rep", baseline, worse, snap.counts),
    }

    def says(where: str, sentence: str) -> bool:
        return (escape(sentence) if where == "page" else sentence) in shown[where]

    cost, verdict = costs_accuracy(baseline, worse), confirmation_verdict(confirmation)
    assert cost and all(says(where, cost) for where in shown)
    # `regsearch summary` says nothing of the confirmation.
    assert all(says(where, verdict) for where in ("page", "terminal", "note"))


VERDICTS = [  # (val accuracy chosen - baseline, tolerance, costs accuracy?); exact in binary
    (-0.375, 0.25, True),
    (-0.25, 0.25, False),
    (-0.125, 0.25, False),
    (0.125, 0.25, False),
]


@pytest.mark.parametrize("dval,tolerance,costs", VERDICTS)
def test_costs_accuracy_only_beyond_the_tolerance(dval, tolerance, costs):
    baseline = {"val_accuracy": 0.5}
    chosen = {"val_accuracy": 0.5 + dval, "selection": {"tolerance": tolerance}}
    verdict = costs_accuracy(baseline, chosen)
    assert (verdict is not None) == costs
    assert verdict is None or verdict.endswith("costs accuracy here")


def test_confirmation_verdict_names_both_trials_when_it_disagrees():
    settings = [{"label": "baseline", "trial": None}, {"label": "trial 4", "trial": 4},
                {"label": "trial 7", "trial": 7}]
    agree = {"agrees": True, "search_chosen": 4, "best": 4, "settings": settings}
    disagree = {"agrees": False, "search_chosen": 4, "best": 7, "settings": settings}
    assert confirmation_verdict(agree) == "it agrees with the search's choice"
    assert confirmation_verdict(disagree) == "the search chose trial 4; on the means trial 7 wins"


def test_report_of_a_study_with_no_completed_trial_says_so(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(study_name="empty", storage=storage)
    assert main(["report", "empty", "--storage", storage]) == 1
    assert "no completed trial yet" in capsys.readouterr().err


PARETO = [
    ([(0.9, 0.05)], [0]),
    ([(0.9, 0.05), (0.8, 0.01), (0.85, 0.02)], [0, 2, 1]),
    ([(0.9, 0.05), (0.8, 0.06)], [0]),                     # worse on both: dominated
    ([(0.9, 0.05), (0.9, 0.03)], [1]),                     # same accuracy, smaller gap wins
    ([], []),
]


@pytest.mark.parametrize("points,front", PARETO)
def test_pareto_front_keeps_the_points_nothing_beats_on_both(points, front):
    assert pareto_front(points) == front


def test_one_report_builds_the_trials_frame_once_and_parses_the_stored_spec_once(reported,
                                                                                  monkeypatch):
    """Issue 13: the report reads one snapshot. Counted where Optuna builds the frame and where
    the stored spec is parsed; the confirmation is already stored, so nothing retrains."""
    from search import study as study_module

    frames, parses = [], []
    real_frame = optuna.Study.trials_dataframe
    real_parse = study_module.spec_from_dict

    def counted_frame(self, *args, **kwargs):
        frames.append(1)
        return real_frame(self, *args, **kwargs)

    def counted_parse(doc, path):
        parses.append(str(path))
        return real_parse(doc, path)

    monkeypatch.setattr(optuna.Study, "trials_dataframe", counted_frame)
    monkeypatch.setattr(study_module, "spec_from_dict", counted_parse)
    assert main(["report", str(reported["spec"]), "-o", str(reported["folder"] / "again")]) == 0
    assert len(frames) == 1, frames
    assert parses == ["<study rep>"]
