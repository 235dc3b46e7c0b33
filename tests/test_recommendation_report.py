"""The recommendation benchmark's pages are what their committed parts say.

``benchmarks/results/recommendation.md`` (and each kept run's page) is rebuilt by
``recommendation.py --report`` from the parts beside it, and ``selection.md``, ``recheck.md``,
``screening.md``, ``folds.md`` and ``causes.md`` by their scripts' ``--report``; a change to how
a page reads the parts (a new count, a different test) must come with the page rebuilt, or the
committed figures and the code that claims to make them disagree.
Also the family-wise reading of the targets (Holm) on p-values whose answer is known.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

BENCH = ROOT / "benchmarks"
#: The paragraph a kept run's page has under its title.
KEPT = re.compile(r"^Kept from .*\n\n", re.M)


def _recommendation():
    """``benchmarks/recommendation.py`` as a module (benchmarks/ is a folder of scripts)."""
    sys.path.insert(0, str(BENCH))
    try:
        loader = importlib.util.spec_from_file_location("bench_recommendation",
                                                        BENCH / "recommendation.py")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


#: What a results folder holds besides parts: the pages the reports write.
PAGES = shutil.ignore_patterns("*.md", "recommendation.json", "selection.json", "recheck.json")


def _report(script: str, page: str, results: Path, *options: str) -> str:
    """``page`` as ``script --report`` (with ``options``) writes it from the parts under
    ``results``."""
    env = {**os.environ, "REGSEARCH_BENCH_RESULTS": str(results)}
    done = subprocess.run([sys.executable, str(BENCH / script), *options, "--report"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return (results / page).read_text()


#: The pages of the gap-weight reruns (benchmarks/weight.py).
WEIGHT = ("gap-weight", "gap-weight-split")
#: Each results folder with the pages it holds: the committed run at the shipped default, the
#: same seeds at the earlier default (with its gap-weight reruns), the shipped default's run
#: again on another CPU, the earlier code's run on another CPU, the run before the signed-gap
#: selection rule, search seeds 3-5, 6-8, 9-11 and 12 (with their screened and 5-fold searches,
#: at the draw's trials and at its epochs, and their gap-weight reruns, which 6-8 has too),
#: 13-15 searched at gap_weight 0 (``--set``, with its reruns at 0.5), and the run with trials
#: valued by their fold means.
FOLDERS = {"results": ("recommendation", "recheck"),
           "results/recommendation-gap-weight-0.5": ("recommendation", "selection", "recheck",
                                                     *WEIGHT),
           "results/recommendation-replicate": ("recommendation", "selection", "recheck"),
           "results/recommendation-default-replicate": ("recommendation", "recheck"),
           "results/recommendation-absgap": ("recommendation", "recheck"),
           "results/recommendation-heldout": ("recommendation", "recheck"),
           "results/recommendation-heldout-2": ("recommendation", "recheck", *WEIGHT),
           "results/recommendation-heldout-3": ("recommendation", "selection", "recheck",
                                                "screening", "folds", "folds-equal-epochs",
                                                *WEIGHT),
           "results/recommendation-heldout-4": ("recommendation", "selection", "recheck",
                                                "screening", "folds", "folds-equal-epochs",
                                                "causes", *WEIGHT),
           "results/recommendation-heldout-5": ("recommendation", "recheck", "gap-weight"),
           "results/recommendation-value-of-means": ("recommendation", "recheck")}


#: Pages that a script makes under another name, with the options that make them.
SCRIPTS = {"folds-equal-epochs": ("folds.py", "--equal-epochs"), "gap-weight": ("weight.py",),
           "gap-weight-split": ("weight.py", "--confirm-weight", "0.5")}
#: Pages made from the recheck's runs too (selection.md's fresh rows and the reruns).
READ_RECHECK = {"selection", "screening", "folds", "folds-equal-epochs", *WEIGHT}


@pytest.mark.parametrize("results,name", [(f, n) for f, names in FOLDERS.items()
                                          for n in names])
def test_the_committed_pages_rebuild_from_their_parts(results: str, name: str, tmp_path: Path):
    folder = BENCH / results
    # The parts the page is made of.
    for sub in {"recommendation", name} | ({"recheck"} if name in READ_RECHECK else set()):
        shutil.copytree(folder / sub, tmp_path / "results" / sub)
    page = f"{name}.md"
    script, *options = SCRIPTS.get(name, (f"{name}.py",))
    assert _report(script, page, tmp_path / "results", *options) == (folder / page).read_text()


def test_the_kept_four_trial_page_rebuilds_from_its_parts(tmp_path: Path):
    kept = BENCH / "results" / "recommendation-4-trials"
    shutil.copytree(kept, tmp_path / "recommendation", ignore=PAGES)
    expected = (kept / "recommendation.md").read_text()
    # The kept page carries a paragraph under its title saying how to rebuild it.
    note = KEPT.search(expected)
    assert note, f"{kept} does not say how to rebuild its page"
    assert _report("recommendation.py", "recommendation.md", tmp_path) == \
        expected.replace(note[0], "", 1)


def test_holm_rejects_step_down_and_stops_at_the_first_kept():
    holm = _recommendation().holm
    # 0.01 <= 0.05/3, then 0.03 > 0.05/2: only the first, though 0.03 and 0.04 are below 0.05.
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == ["a"]
    assert holm({"a": 0.001, "b": 0.02, "c": 0.04}) == ["a", "b", "c"]
    # Fifteen runs at p = 0.04 each: every one significant alone, none as a family.
    assert holm({str(i): 0.04 for i in range(15)}) == []
    assert holm({"only": 0.04}) == ["only"]


@pytest.mark.parametrize("diffs", [[-0.01, -0.02, -0.015, -0.01, -0.02],
                                   [-0.005, 0.01, -0.02, 0.0, -0.01],
                                   [0.0, 0.0, 0.0, 0.0, 0.0], [-0.03]])
def test_the_one_sided_p_value_agrees_with_paireds_own_test(diffs: list[float]):
    from search.paired import Paired

    d = Paired.of(diffs, [0.0] * len(diffs), floor=0.001)
    assert (_recommendation()._p_below(d) < 0.05) == d.below()


def test_a_draw_with_set_writes_regsearchs_spec_with_the_changes(tmp_path: Path):
    from search.spec import load_spec

    rec = _recommendation()
    changes = rec.parse_sets(["search.gap_weight=1", "confirm.gap_weight=0.25",
                              "evaluation.folds=3"])
    assert changes == {"search": {"gap_weight": 1}, "confirm": {"gap_weight": 0.25},
                       "evaluation": {"folds": 3}}
    # On top of the problem's own sections, which stay (wine trains in batches of 32).
    sections = rec.problems(tmp_path)["wine"]
    spec = load_spec(rec.write_spec(tmp_path, "wine", sections, 13, 12, changes))
    assert (spec.search.gap_weight, spec.confirm.gap_weight, spec.evaluation.folds,
            spec.training.batch_size, spec.search.trials) == (1.0, 0.25, 3, 32, 12)
    # A rerun's None leaves a key as shipped: the default study's search 0, confirmation 0.5.
    back = rec.merged(changes, {"search": {"gap_weight": None}, "confirm": {"gap_weight": None}})
    spec = load_spec(rec.write_spec(tmp_path, "wine", sections, 13, 12, back))
    assert (spec.search.gap_weight, spec.confirm.gap_weight) == (0.0, 0.5)


def test_a_parts_gap_weights_are_its_record_else_the_earlier_default_under_its_changes():
    weights = _recommendation().part_weights
    # Made before parts recorded them, as shipped then: 0.5 for the search and confirmation.
    assert weights({"problem": "wine"}) == {"search": 0.5, "confirm": 0.5}
    # A --set draw of that time: confirmation followed the search unless it was set too.
    assert weights({"changes": {"search": {"gap_weight": 0}}}) == {"search": 0, "confirm": 0}
    assert weights({"changes": {"search": {"gap_weight": 0}, "confirm": {"gap_weight": 0.5}}}) \
        == {"search": 0, "confirm": 0.5}
    # A part that records them is taken at its word, whatever it set.
    assert weights({"changes": {"search": {"gap_weight": 1}},
                    "weights": {"search": 0.0, "confirm": 0.5}}) == {"search": 0.0, "confirm": 0.5}


@pytest.mark.parametrize("item", ["gap_weight=0", "search.gap_weight", "search.gap_weight=x"])
def test_a_bad_set_argument_stops_with_one_line(item: str):
    done = subprocess.run([sys.executable, str(BENCH / "recommendation.py"), "--set", item,
                           "--report"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "REGSEARCH_BENCH_RESULTS": "/nonexistent"})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"--set {item}:")


def test_a_part_made_with_other_settings_is_not_counted_as_done():
    rec = _recommendation()
    shipped = rec.asked_settings({})
    # Made before the default changed, as shipped then: stale for today's product...
    before = rec.part_settings({"problem": "wine"})
    assert before != shipped
    # ...and done for a draw that asks for those weights again.
    assert before == rec.asked_settings(rec.parse_sets(["search.gap_weight=0.5",
                                                       "confirm.gap_weight=0.5"]))
    # A --set that spelled out today's weights makes today's product; another key does not.
    today = {"changes": {"search": {"gap_weight": 0}, "confirm": {"gap_weight": 0.5}},
             "weights": {"search": 0.0, "confirm": 0.5}}
    assert rec.part_settings(today) == shipped
    assert rec.part_settings({**today, "changes": {"evaluation": {"folds": 5}}}) != shipped


def test_all_refuses_a_folder_of_parts_made_with_other_settings(tmp_path: Path):
    # A held-out draw's part, made at the earlier default (it records no weights).
    old = BENCH / "results" / "recommendation-heldout" / "recommendation" / "wine-3.json"
    (tmp_path / "recommendation").mkdir()
    shutil.copy(old, tmp_path / "recommendation" / "wine-3.json")
    done = subprocess.run([sys.executable, str(BENCH / "recommendation.py"), "--all",
                           "--seeds", "3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ,
                                            "REGSEARCH_BENCH_RESULTS": str(tmp_path),
                                            "REGSEARCH_BENCH_WORK": str(tmp_path / "work")})
    assert done.returncode != 0
    line = done.stderr.strip()
    assert line.splitlines() == [line]
    assert "wine-3.json" in line and "search.gap_weight = 0.5" in line, line
    assert "search.gap_weight = 0," in line, line
    # Refused before any part ran: nothing written beside the stale part.
    assert sorted(p.name for p in (tmp_path / "recommendation").iterdir()) == ["wine-3.json"]
    assert not (tmp_path / "work").exists()
