"""Study names keep one rule wherever they come from (``spec.name_problem``), and a study's
default files stay inside their folder (``spec.study_file``). Nothing is trained."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.cli import main
from search.commands import export_study, resolve_study
from search.errors import RegsearchError
from search.report import FIGURES, default_dir, write_figures
from search.spec import load_spec, name_problem, study_file

from .conftest import write_tiny_spec

RULE = "must be letters, digits, '_', '.', '-' (starting with a letter or digit)"


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs", "a/b", ".", "..", ".hidden",
                                  "-x", "", "a b", "a\\b"])
def test_a_bad_name_on_the_command_line_is_refused(name):
    with pytest.raises(RegsearchError) as info:
        resolve_study(name, "sqlite:///x.db")
    assert str(info.value) == f"study name {name!r}: {RULE}; or give a spec file ending in .toml"


@pytest.mark.parametrize("name", ["default", "a..b", "x.", "run_2-keras-tuner", "0"])
def test_a_good_name_on_the_command_line_is_taken(name):
    assert resolve_study(name, "sqlite:///x.db") == (name, "sqlite:///x.db")


def test_the_spec_and_the_command_line_share_the_rule(tmp_path):
    spec = write_tiny_spec(tmp_path, "ok")
    spec.write_text(spec.read_text().replace('name = "ok"', 'name = "../up"'))
    with pytest.raises(RegsearchError, match=re.escape(f"study.name: {RULE}")):
        load_spec(spec)
    assert name_problem("../up") == RULE


@pytest.mark.parametrize("command", ["export", "report", "summary", "worker", "dashboard"])
@pytest.mark.parametrize("name", ["../../escaped", "/abs/study"])
def test_every_command_refuses_a_bad_name_before_touching_anything(command, name, tmp_path,
                                                                    monkeypatch, capsys):
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    assert main([command, name, "--storage", f"sqlite:///{tmp_path / 'x.db'}"]) == 1
    assert capsys.readouterr().err == (f"regsearch: error: study name {name!r}: {RULE}; or give "
                                       "a spec file ending in .toml\n")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        Path("a"), Path("a/b")]  # no storage, no export, no report anywhere


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True)
       | st.text(alphabet="a.-_", min_size=1, max_size=8).filter(lambda n: not name_problem(n)))
def test_every_name_the_rule_accepts_stays_inside_its_folder(name):
    folder = Path("studies") / "exports"
    for file in (name, f"{name}.json"):
        path = study_file(folder, file, study=name)
        assert path.parent == folder
        assert path.resolve().parent == folder.resolve()


def test_a_link_out_of_the_exports_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies" / "exports").mkdir(parents=True)
    (tmp_path / "studies" / "exports" / "x.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(RegsearchError) as info:
        export_study(study="x", storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert str(info.value) == (
        f"study 'x': refusing to write studies/exports/x.json: it resolves to "
        f"{tmp_path / 'outside.json'}, outside studies/exports (a link); a study's files stay "
        "inside their folder (studies/exports); -o chooses another")
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "outside.json").exists()


def test_the_report_folder_and_its_figures_stay_inside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "studies" / "reports"
    reports.mkdir(parents=True)
    assert default_dir("a..b") == Path("studies/reports/a..b")
    (reports / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(RegsearchError, match=r"^study 'linked': refusing to write "
                                             r"studies/reports/linked: it resolves to "):
        default_dir("linked")

    # A figure linked out of the report folder is refused before any figure is drawn.
    out = tmp_path / "report"
    out.mkdir()
    os.symlink(tmp_path / "stolen.png", out / "history.png")
    with pytest.raises(RegsearchError, match=r"^study 'x': refusing to write .*history\.png: it "
                                             r"resolves to .*stolen\.png"):
        write_figures(SimpleNamespace(name="x"), out)
    assert not (tmp_path / "stolen.png").exists()
    assert sorted(p.name for p in out.iterdir()) == ["history.png"]
    assert all(name_problem(name) is None for name in FIGURES)
