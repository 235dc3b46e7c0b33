"""``regsearch report`` on a small real study: the page, its figures, and the confirmed answer."""

from __future__ import annotations

import copy
import json
import re
from html import escape
from html.parser import HTMLParser

import numpy as np
import optuna
import pytest

from search.cli import main
from search.confirm import FIGURES as CONFIRM_FIGURES
from search.confirm import VERDICTS, current, statement
from search.models import describe_params
from search.objective import score
from search.report import (DIFFERENCES, FIGURES, HTML_NAME, dashboard_note, pareto_front,
                           render_html, search_seconds, terminal_summary, verdict_line)
from search.study import PARAMS, Snapshot
from search.summary import format_summary, settings
from search.trainer import Trainer

from .conftest import write_tiny_spec

SEED = 3  # TINY_STUDY's study seed
FOLDS = 2  # TINY_STUDY's [evaluation] folds
CONFIRM_SEEDS = [SEED + FOLDS, SEED + FOLDS + 1]  # after the folds' seeds, 2 of them
KEYS = ("baseline", "setting")  # the page's data-key names of confirmation's two settings


class Cells(HTMLParser):
    """Collects ``data-key`` -> ``data-value`` (parsed as JSON) of every element, and the text
    of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, object] = {}
        self.text: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-key" in a:
            self.values[a["data-key"]] = json.loads(a["data-value"])
        if a.get("id"):
            self.text[a["id"]] = ""
            self.attrs[a["id"]] = a
        if tag not in ("img", "col", "meta", "br"):
            self._open.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element in self._open:
            if element:
                self.text[element] += data


def parse(page: str) -> Cells:
    cells = Cells()
    cells.feed(page)
    return cells


def unmark(note: str) -> str:
    """A Markdown note's text with CommonMark backslash escapes undone."""
    return re.sub(r"\\(.)", r"\1", note)


def _refits(calls: list[dict]):
    """A spy on ``Trainer.refit`` (confirmation's training) that records every call."""
    real = Trainer.refit

    def spy(self, params, *, seed, epochs, splits):
        train, model = real(self, params, seed=seed, epochs=epochs, splits=splits)
        calls.append({"params": dict(params), "seed": seed, "epochs": epochs, "train": train})
        return train, model

    return spy


def _no_refit(*args, **kwargs):
    raise AssertionError("nothing should be retrained")


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A 5-trial study run (its confirmation spied on), exported, then reported."""
    folder = tmp_path_factory.mktemp("report")
    spec = write_tiny_spec(folder, "rep", trials=5, epochs=4)
    calls: list[dict] = []
    out = folder / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "refit", _refits(calls))
        assert main(["run", str(spec), "--no-progress"]) == 0
        # run confirmed: export and report reuse it; the export trains only its .keras file
        export_calls: list[dict] = []
        mp.undo()  # the real refit back, then spied on apart
        mp.setattr(Trainer, "refit", _refits(export_calls))
        assert main(["export", str(spec), "-o", str(folder / "export.json")]) == 0
        assert len(export_calls) == 1
        mp.setattr(Trainer, "refit", _no_refit)
        assert main(["report", str(spec), "-o", str(out)]) == 0
    study = optuna.load_study(study_name="rep", storage=f"sqlite:///{folder / 'regsearch.db'}")
    page = (out / HTML_NAME).read_text()
    return {"spec": spec, "out": out, "calls": calls, "study": study, "page": page,
            "cells": parse(page), "folder": folder,
            "confirmation": study.user_attrs["confirmation"],
            "export": json.loads((folder / "export.json").read_text())}


def test_report_writes_a_self_contained_page_and_every_figure(reported):
    out, page = reported["out"], reported["page"]
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f'id="fig-{name.removesuffix(".png")}"' in page, name
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    table = page[page.index('id="trials"'):]
    # Every trial, the baseline's included (the header row has a style).
    assert table.count("<tr>") == len(reported["study"].trials)
    assert "table.sortable" in page and "fixed sample of" in page  # sorting JS; the caveat


def test_page_leads_with_the_confirmed_answer(reported):
    page, cells, confirmation = reported["page"], reported["cells"], reported["confirmation"]
    other = confirmation["settings"][1]
    assert cells.text["statement"] == statement(confirmation)
    assert cells.text["answer-params"] == describe_params(confirmation["params"])
    assert cells.text["chosen-params"] == describe_params(other["params"])
    assert cells.attrs["confirmation-verdict"]["data-verdict"] == confirmation["verdict"]
    assert cells.text["confirmation-verdict"] == verdict_line(confirmation)
    assert VERDICTS[confirmation["verdict"]] in cells.text["confirmation-verdict"]
    # Order: answer, notes, differences, confirmation, the search, figures, snippet, trials.
    order = ['id="statement"', 'id="notes"', 'id="differences"', 'id="confirmation-table"',
             'id="settings-table"', 'id="selection-rule"', 'id="counts"', 'id="fig-curves"',
             'id="snippet"', 'id="trials"']
    where = [page.index(marker) for marker in order]
    assert where == sorted(where), dict(zip(order, where))
    for note in confirmation["notes"]:
        assert note in cells.text["notes"]
    # The highlighted row of the confirmation table is the answer's.
    start = page.index('id="confirmation-table"')
    table = page[start:page.index("</table>", start)]
    answer = next(s for s in confirmation["settings"]
                  if s["trial"] == confirmation["answer_trial"])
    assert table.count('class="answer"') == 1
    assert re.search(r'<tr class="answer"><td>([^<]*)</td>', table).group(1) == answer["label"]


def test_page_numbers_are_the_confirmations_and_the_folds(reported):
    cells, confirmation, study = reported["cells"].values, reported["confirmation"], \
        reported["study"]
    for k, _ in DIFFERENCES:
        for part in ("mean", "low", "high"):
            assert cells[f"difference.{k}.{part}"] == confirmation["difference"][k][part]
    for key, s in zip(KEYS, confirmation["settings"]):
        assert cells[f"confirm.{key}.epochs"] == s["epochs"]
        for k in CONFIRM_FIGURES:
            assert cells[f"confirm.{key}.mean.{k}"] == s["mean"][k]
            assert cells[f"confirm.{key}.std.{k}"] == s["std"][k]
            for r in s["runs"]:
                assert cells[f"confirm.{key}.seed{r['seed']}.{k}"] == r[k]
    trials = {t.number: t for t in study.trials}
    for key, s in zip(KEYS, confirmation["settings"]):
        attrs = trials[s["trial"]].user_attrs
        assert cells[f"cv.{key}.trial"] == s["trial"]
        # the params the space searches; the others (weight decay, max-norm here) are off
        shown = ("dropout", "regularizer", "l1", "l2")
        assert {k: cells[f"cv.{key}.{k}"] for k in shown} == {k: s["params"][k] for k in shown}
        assert all(s["params"][k] == 0 for k in PARAMS if k not in shown)
        assert not any(f"cv.{key}.{k}" in cells for k in PARAMS if k not in shown)
        for k in ("train_accuracy", "val_accuracy", "gap"):  # the fold means, and their SE
            assert cells[f"cv.{key}.{k}"] == attrs[k], (key, k)
            assert cells[f"cv.{key}.{k}_se"] == attrs[f"{k}_se"], (key, k)
        assert cells[f"cv.{key}.test_accuracy"] == s["mean"]["test_accuracy"]
        assert cells[f"cv.{key}.test_gap"] == s["mean"]["gap"]
    assert trials[confirmation["settings"][0]["trial"]].user_attrs["role"] == "baseline"
    assert cells["cv.setting.trial"] == confirmation["trial"]


def test_page_agrees_with_the_export(reported):
    export, page, cells = reported["export"], reported["page"], reported["cells"]
    assert cells.text["statement"] == export["statement"]
    assert export["params"] == reported["confirmation"]["params"]
    assert escape(export["keras_snippet"]) in page
    # The snippet is of the answer, whichever it is.
    assert describe_params(export["params"]) in reported["cells"].text["snippet"]


def test_confirmation_trained_both_settings_with_the_same_fresh_seeds(reported):
    """The page's confirmation figures come from these refits: one per setting and seed, with
    seeds the folds did not use, for the epochs the folds chose."""
    calls, confirmation = reported["calls"], reported["confirmation"]
    assert confirmation["seeds"] == CONFIRM_SEEDS
    assert len(calls) == 2 * len(CONFIRM_SEEDS)
    for s in confirmation["settings"]:
        mine = [c for c in calls if c["params"] == s["params"]]
        assert [c["seed"] for c in mine] == CONFIRM_SEEDS
        assert {c["epochs"] for c in mine} == {s["epochs"]}
        assert [c["train"] for c in mine] == [r["train_accuracy"] for r in s["runs"]]
        for k in CONFIRM_FIGURES:
            values = [r[k] for r in s["runs"]]
            assert s["mean"][k] == pytest.approx(np.mean(values))
            assert s["std"][k] == pytest.approx(np.std(values, ddof=1))
    base, other = confirmation["settings"]

    def figure(run: dict, k: str) -> float:  # the score is the study's objective, on test
        return (score(run["test_accuracy"], run["gap"], confirmation["gap_weight"])
                if k == "score" else run[k])

    for k, _ in DIFFERENCES:
        paired = [figure(o, k) - figure(b, k) for o, b in zip(other["runs"], base["runs"])]
        assert confirmation["difference"][k]["mean"] == pytest.approx(np.mean(paired))


def test_report_again_reuses_the_confirmation_and_the_dashboard_artifacts(reported, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(Trainer, "refit", _no_refit)
    assert main(["report", str(reported["spec"]), "-o", str(reported["out"])]) == 0
    text = capsys.readouterr().out
    study, confirmation = reported["study"], reported["confirmation"]
    snap = Snapshot(study)
    # The terminal leads with the same answer line as `regsearch summary`.
    answer = next(line for line in format_summary(snap).splitlines()
                  if line.startswith("ANSWER: "))
    assert text.splitlines()[1] == answer == f"ANSWER: {statement(confirmation)}"
    assert "x the search)" in text and verdict_line(confirmation) in text
    metas = optuna.artifacts.get_all_artifact_meta(study)
    assert sorted(m.filename for m in metas) == sorted(FIGURES)  # overwritten, not piled up
    from optuna_dashboard import get_note

    note = get_note(study)
    assert unmark(note).startswith(f"## rep: use {describe_params(confirmation['params'])}\n")
    assert statement(confirmation) in unmark(note)
    assert f"{snap.counts['trials']} trials besides the baseline" in note
    assert all(f"/artifacts/{study._study_id}/{m.artifact_id}" in note for m in metas)


def _variants(confirmation: dict) -> dict[str, dict]:
    """The stored confirmation under each verdict, with a note that needs escaping."""
    base, other = confirmation["settings"]
    out = {}
    for verdict, search_regularizes in (("helps", True), ("no_cost", True),
                                        ("underfits", True), ("nothing", True),
                                        ("nothing", False)):
        c = copy.deepcopy(confirmation)
        regularize = search_regularizes and verdict in ("helps", "no_cost")
        c.update(verdict=verdict, search_regularizes=search_regularizes, regularize=regularize,
                 params=dict((other if regularize else base)["params"]),
                 answer_trial=(other if regularize else base)["trial"],
                 notes=["trial <b>7</b> & friends: seeds | disagree *widely* [sic]"])
        out[f"{verdict}-{search_regularizes}"] = c
    return out


def test_each_verdict_reads_the_same_on_the_page_in_the_terminal_and_in_the_note(reported):
    snap, out = Snapshot(reported["study"]), reported["out"]
    figures = {name: "not drawn in this test" for name in FIGURES}
    sentences = set()
    for name, confirmation in _variants(reported["confirmation"]).items():
        page = render_html(snap, confirmation, "", out, figures)
        cells = parse(page)
        shown = {
            "page": " ".join(cells.text.values()),
            "terminal": terminal_summary(snap, confirmation, out / HTML_NAME, figures, ""),
            "note": unmark(dashboard_note(snap, confirmation, {})),
        }
        answer, verdict = statement(confirmation), verdict_line(confirmation)
        sentences.add(answer)
        for where, text in shown.items():
            assert answer in text, (name, where)
            assert verdict in text, (name, where)
            assert confirmation["notes"][0] in text, (name, where)
            assert describe_params(confirmation["params"]) in text, (name, where)
        assert cells.text["statement"] == answer
        assert cells.text["answer-params"] == describe_params(confirmation["params"])
        assert "<b>7</b>" not in page  # the note is escaped, not markup
        assert "trial &lt;b&gt;7&lt;/b&gt; &amp; friends" in page
    assert len(sentences) == 5  # each verdict says something of its own


def test_figures_mark_the_confirmed_setting_and_draw_its_curves(reported):
    """The curves are the trials' own (the first fold's), the star sits on the setting that
    confirmation judged, the square on the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from search.report import figures

    snap = Snapshot(reported["study"])
    baseline, setting = settings(snap)
    assert setting["trial"] == reported["confirmation"]["trial"]
    trials = {t.number: t for t in snap.study.trials}
    fig = figures._curves(snap.study, (baseline, setting), "chosen")
    try:
        acc = fig.axes[0]
        lines = {line.get_label(): list(line.get_ydata()) for line in acc.get_lines()}
        assert lines["baseline: train, dropout off"] == \
            trials[baseline["trial"]].user_attrs["curves"]["train_accuracy"]
        assert lines[f"chosen (trial {setting['trial']}): validation"] == \
            trials[setting["trial"]].user_attrs["curves"]["val_accuracy"]
    finally:
        plt.close(fig)
    fig = figures._pareto(snap.completed, (baseline, setting), "chosen", snap.selection)
    try:
        ax = fig.axes[0]
        marks = {c.get_label(): tuple(c.get_offsets()[0]) for c in ax.collections
                 if c.get_label().startswith(("baseline", "chosen"))}
        assert marks[f"chosen (trial {setting['trial']})"] == \
            pytest.approx((abs(setting["gap"]), setting["val_accuracy"]))
        assert marks[f"baseline, no regularization (trial {baseline['trial']})"] == \
            pytest.approx((abs(baseline["gap"]), baseline["val_accuracy"]))
    finally:
        plt.close(fig)
    label = "chosen" if snap.selection.regularizes else "best regularized"
    assert figures.setting_label(snap) == label


def test_search_seconds_counts_the_search_trials_only():
    """The baseline's trial (its evaluation on the folds) is not search time."""
    import time

    study = optuna.create_study()
    for role, seconds in (("baseline", 0.3), (None, 0.02), (None, 0.05)):
        trial = study.ask()
        if role:
            trial.set_user_attr("role", role)
        time.sleep(seconds)
        study.tell(trial, 0.5)
    search = [t.duration.total_seconds() for t in study.trials if "role" not in t.user_attrs]
    assert search_seconds(Snapshot(study)) == pytest.approx(sum(search))
    assert sum(search) < 0.3  # the baseline's would show
    assert search_seconds(Snapshot(optuna.create_study())) == 0.0


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
    monkeypatch.setattr(Trainer, "refit", _no_refit)
    assert main(["report", str(reported["spec"]), "-o", str(reported["folder"] / "again")]) == 0
    assert len(frames) == 1, frames
    assert parses == ["<study rep>"]
    assert current(Snapshot(reported["study"])) == reported["confirmation"]
