"""The report page and the dashboard note show stored strings as text, never as markup.

The study is built from stored attributes alone (``optuna.trial.create_trial``), nothing is
trained: every string the page shows (study name, backend, data sizes, scaling, trial params
and user attributes, the confirmation's labels, notes, seeds and epochs, figure problems, the
snippet) holds a hostile string.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from search.objective import BASELINE_ROLE
from search.report import FIGURES, dashboard_note, render_html
from search.spec import load_spec
from search.study import Snapshot

from .conftest import write_tiny_spec


def hostile(where: str) -> str:
    """A string that would run script if it reached the page or the note unescaped."""
    return (f'"><img src=x onerror=alert(1)><script>alert("{where}")</script>'
            f"'><svg onload=alert(2)>&lt;b&gt;</td></tr>")


REGULARIZERS = CategoricalDistribution(["none", "l2", hostile("param")])
DISTRIBUTIONS = {"dropout": FloatDistribution(0.0, 0.5), "regularizer": REGULARIZERS,
                 "l2": FloatDistribution(1e-6, 1e-1, log=True)}


def _folds(val: float, gap: float) -> list[dict]:
    return [{"train_accuracy": val + gap, "val_accuracy": val + d, "gap": gap, "score": val,
             "epochs": 4, "best_epoch": 3, "stopped": "complete"} for d in (-0.01, 0.01)]


def _figures(val: float, gap: float) -> dict:
    return {"val_accuracy": val, "train_accuracy": val + gap, "gap": gap,
            "val_accuracy_se": 0.01, "train_accuracy_se": 0.01, "gap_se": 0.01,
            "epochs": 8, "best_epoch": 3, "folds": _folds(val, gap)}


def _run(seed: object) -> dict:
    return {"seed": seed, "train_accuracy": 0.99, "test_accuracy": 0.95, "gap": 0.04,
            "seconds": 1.5}


def _setting(label: str, trial: int, params: dict) -> dict:
    figures = {"train_accuracy": 0.99, "test_accuracy": 0.95, "gap": 0.04}
    return {"label": label, "trial": trial, "params": params, "epochs": hostile("epochs"),
            "runs": [_run(hostile("run seed")), _run(7)], "mean": figures,
            "std": dict.fromkeys(figures, 0.01)}


@pytest.fixture(scope="module")
def hostile_study(tmp_path_factory):
    """An in-memory study whose every shown string is hostile; (snapshot, confirmation)."""
    spec = load_spec(write_tiny_spec(tmp_path_factory.mktemp("escaping"), "esc"))
    study = optuna.create_study(study_name=hostile("study name"), direction="maximize")
    for key, value in {
        "spec": spec.to_document(), "backend": hostile("backend"),
        "data_sizes": {hostile("size key"): 7, "fold_train": 100, "fold_val": 50},
        "data_scaling": {"method": hostile("scaling"), "requested": hostile("requested")},
    }.items():
        study.set_user_attr(key, value)
    study.add_trial(create_trial(params={}, distributions={}, value=0.8, state=TrialState.COMPLETE,
                                 user_attrs={"role": BASELINE_ROLE, **_figures(0.8, 0.2)}))
    study.add_trial(create_trial(
        params={"dropout": 0.3, "regularizer": "l2", "l2": 1e-4}, distributions=DISTRIBUTIONS,
        value=0.85, state=TrialState.COMPLETE,
        user_attrs={**_figures(0.85, 0.05), "note": hostile("trial attr"),
                    hostile("trial attr key"): 1}))
    study.add_trial(create_trial(
        params={"dropout": 0.1, "regularizer": hostile("param"), "l2": 1e-3},
        distributions=DISTRIBUTIONS, value=0.5, state=TrialState.PRUNED,
        user_attrs={"stop_reason": hostile("stop reason")}))
    study.add_trial(create_trial(state=TrialState.FAIL,
                                 user_attrs={"fail_reason": hostile("fail reason")}))
    confirmation = {
        "seeds": [hostile("seed"), 6], "baseline_trial": 0, "trial": 1,
        "search_regularizes": True, "verdict": "helps", "regularize": True, "gap_weight": 0.5,
        "params": {"dropout": 0.3, "regularizer": "l2", "l2": 1e-4}, "answer_trial": 1,
        "difference": {k: {"mean": 0.02, "low": 0.01, "high": 0.03, "confidence": 0.95}
                       for k in ("test_accuracy", "train_accuracy", "gap", "score")},
        "settings": [_setting(hostile("baseline label"), 0, {}),
                     _setting(hostile("setting label"), 1,
                              {"dropout": 0.3, "regularizer": "l2", "l2": 1e-4})],
        "notes": [hostile("note")], "seconds": 6.0,
    }
    return Snapshot(study), confirmation


class Markup(HTMLParser):
    """Every tag with its attributes, and all the text a browser would show."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_page_shows_every_stored_string_as_text(hostile_study, tmp_path: Path):
    snap, confirmation = hostile_study
    (tmp_path / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # one figure drawn
    figures = {name: None if name == "curves.png" else hostile(f"figure {name}")
               for name in FIGURES}
    page = render_html(snap, confirmation, hostile("snippet"), tmp_path, figures)

    markup = Markup()
    markup.feed(page)
    tags = [tag for tag, _ in markup.tags]
    assert "svg" not in tags
    assert tags.count("script") == 1  # the page's own table sorter
    assert [a["src"][:22] for tag, a in markup.tags if tag == "img"] == ["data:image/png;base64,"]
    assert not [(tag, name) for tag, a in markup.tags for name in a if name.startswith("on")]
    text = "".join(markup.text)
    assert repr(hostile("requested")) in text  # the scaling line quotes it
    for where in ("study name", "backend", "size key", "scaling", "param",
                  "trial attr", "trial attr key", "stop reason", "fail reason", "seed",
                  "run seed", "epochs", "baseline label", "setting label", "note", "snippet",
                  *(f"figure {name}" for name in FIGURES if name != "curves.png")):
        assert hostile(where) in text, where
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page and '<script>alert("' not in page


def test_dashboard_note_shows_every_stored_string_as_text(hostile_study):
    snap, confirmation = hostile_study
    note = dashboard_note(snap, confirmation, {"curves.png": "/artifacts/1/curves.png"})
    # Markdown's raw HTML starts at "<" and an entity at "&": every one is backslash-escaped.
    assert not re.findall(r"(?<!\\)[<&]", note)
    shown = re.sub(r"\\(.)", r"\1", note)  # the text the escapes stand for
    for where in ("study name", "seed", "epochs", "baseline label", "setting label", "note"):
        assert hostile(where) in shown, where
