"""What the report says, each sentence written once.

The page, the terminal text and the dashboard note all show these (plain text; the page escapes
it). The answer itself lives upstream, because other commands say it too: ``confirm.statement``
(``regsearch run``, ``summary`` and ``export`` print the same sentence), and the no-learning
warning is ``Snapshot.warning`` (``search/guard.py``'s message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..confirm import VERDICTS
from ..models import describe_params
from ..objective import BASELINE_ROLE
from ..paired import CONFIDENCE, interval_text
from ..study import Snapshot

__all__ = ["DIFFERENCES", "confirmed_role", "counts_line", "describe_params", "difference_text",
           "interval_text", "search_seconds", "selection_line", "significant", "timing_line",
           "verdict_line"]

#: The paired differences the report shows, in order: (key in ``difference``, label).
DIFFERENCES = (("test_accuracy", "test accuracy"), ("train_accuracy", "train accuracy"),
               ("gap", "gap (train - test)"),
               ("score", "score (test - gap_weight x |gap|)"))


def verdict_line(confirmation: Mapping[str, Any]) -> str:
    """Which kind of gap closing the confirmed setting is, against no regularization, and
    what became of the search's choice."""
    verdict = confirmation["verdict"]
    label = confirmation["settings"][1]["label"]
    if not confirmation["search_regularizes"]:
        return (f"{VERDICTS[verdict]} ({verdict}): the search chose no regularization; "
                f"{label} was confirmed only to show what regularizing would cost")
    fate = "accepted" if confirmation["regularize"] else "rejected"
    return f"{VERDICTS[verdict]} ({verdict}); the search's choice, {label}, is {fate}"


def confirmed_role(confirmation: Mapping[str, Any]) -> str:
    """What the confirmed regularized setting is: the search's choice or its best alternative."""
    if confirmation["search_regularizes"]:
        return "the search's choice"
    return "the best regularized setting, the search having chosen no regularization"


def significant(d: Mapping[str, Any]) -> str:
    """Whether the interval excludes 0, in words."""
    if d["low"] > 0:
        return "significantly up"
    if d["high"] < 0:
        return "significantly down"
    return "within noise"


def difference_text(confirmation: Mapping[str, Any]) -> list[str]:
    """The paired differences (setting minus baseline), one line each, with their intervals."""
    diff = confirmation["difference"]
    n = len(confirmation["seeds"])
    level = diff["test_accuracy"].get("confidence", CONFIDENCE)
    head = (f"{confirmation['settings'][1]['label']} minus the baseline, paired over {n} seeds "
            f"({level:.0%} intervals):")
    return [head, *(f"{label}: {interval_text(diff[k])}, {significant(diff[k])}"
                    for k, label in DIFFERENCES)]


def counts_line(snap: Snapshot) -> str:
    """The search's trials by state, the baseline's trial aside."""
    c = snap.counts
    return (f"{c['trials']} trials besides the baseline: {c['complete']} completed, "
            f"{c['pruned']} pruned ({c.get('raced', 0)} of them by racing between folds), "
            f"{c['failed']} failed"
            + (f", {c['interrupted']} interrupted by Ctrl-C (re-queued)"
               if c.get("interrupted") else "")
            + (f", {c['running']} running" if c.get("running") else "")
            + (f", {c['waiting']} queued" if c.get("waiting") else "")
            + f"; {c['epochs']} epochs in total, the baseline's included"
            + (f"; {c['learns_nothing']} at the majority-class level"
               if c.get("learns_nothing") else ""))


def selection_line(snap: Snapshot) -> str:
    """How the search chose, on the cross-validation folds."""
    sel = snap.selection
    if sel is None:
        return "no completed trial yet: nothing to choose"
    ev = snap.spec.evaluation
    d = sel.describe()
    chose = (f"chose trial {d['chosen_trial']}" if sel.regularizes
             else "chose no regularization (the baseline's trial)")
    return (f"selection on {ev.folds}-fold cross-validation"
            + (f" x {ev.repeats}" if ev.repeats > 1 else "")
            + f" of train+validation: {d['rule']}; margin {d['tolerance']:.4f} "
            f"({d['tolerance_source']}); {d['candidates']} candidate{'' if d['candidates'] == 1 else 's'}; {chose}")


def timing_line(snap: Snapshot, confirmation: Mapping[str, Any]) -> str | None:
    """The search's and the confirmation's wall time, side by side (None before any trial)."""
    search = search_seconds(snap)
    if not search:
        return None
    runs = sum(len(s["runs"]) for s in confirmation["settings"])
    return (f"time: search {search:.0f} s over {snap.counts['trials']} trials; confirmation "
            f"{confirmation['seconds']:.0f} s over {runs} runs "
            f"({confirmation['seconds'] / search:.2f}x the search)")


def search_seconds(snap: Snapshot) -> float:
    """Wall time the search's trials took, summed (baseline and confirmation excluded)."""
    frame = snap.frame
    if "duration" not in frame.columns:  # no trial yet
        return 0.0
    if "role" in frame.columns:
        frame = frame[frame["role"] != BASELINE_ROLE]
    return float(frame["duration"].dt.total_seconds().sum())  # running trials: NaT, skipped
