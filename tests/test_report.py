"""``regsearch report`` on a small real study: the page, its figures, and the confirmation."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import optuna
import pytest

from search import holdout
from search.cli import main
from search.confirm import FIGURES as CONFIRM_FIGURES
from search.objective import select
from search.records import METRICS, PARAMS
from search.report import FIGURES, HTML_NAME, pareto_front

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

    def spy(params, spec_, splits, seed=None):
        result = real(params, spec_, splits, seed=seed)
        calls.append({"params": dict(result["params"]), "seed": seed, "result": result})
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
    from html import escape

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
