"""What the report says, each sentence written once.

The page, the terminal text and the dashboard note all show these (plain text; the page escapes
it). Two live upstream, because other commands say them too: the "costs accuracy" verdict is
``search.summary.costs_accuracy`` (``regsearch summary``), and the no-learning warning is
``Snapshot.warning`` (``search/guard.py``'s message; ``regsearch export`` and ``run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import confirm
from ..study import Snapshot


def describe_params(params: Mapping[str, Any]) -> str:
    """``dropout 0.31, l2 3.1e-04`` (strengths shown only for the penalty in use)."""
    parts = [f"dropout {params['dropout']:.3g}"]
    if params["regularizer"] == "none":
        parts.append("no penalty")
    parts += [f"{k} {params[k]:.2g}" for k in ("l1", "l2") if params[k] > 0]
    return ", ".join(parts)


def confirmation_verdict(confirmation: dict[str, Any]) -> str:
    """Whether the seeds-averaged confirmation agrees with the search's choice."""
    if confirmation["agrees"]:
        return "it agrees with the search's choice"
    return (f"the search chose trial {confirmation['search_chosen']}; on the means "
            f"{confirm.best_setting(confirmation)['label']} wins")


def against_baseline(confirmation: dict[str, Any]) -> str:
    """How much of the baseline's gap the confirmed best closes on the means, and at what cost.

    The honest answer can be "only part of it"; this says how much.
    """
    base, best = confirmation["settings"][0]["mean"], confirm.best_setting(confirmation)["mean"]
    closed = base["gap"] - best["gap"]
    share = f", {closed / base['gap']:.0%} of it" if base["gap"] > 0 else ""
    return (f"gap {base['gap']:+.4f} -> {best['gap']:+.4f} "
            f"({closed:+.4f} closed{share}); val accuracy "
            f"{best['val_accuracy'] - base['val_accuracy']:+.4f}, test accuracy "
            f"{best['test_accuracy'] - base['test_accuracy']:+.4f}")


def search_seconds(snap: Snapshot) -> float:
    """Wall time the search's trials took, summed (baseline and test evaluations excluded)."""
    if "duration" not in snap.frame.columns:  # no trial yet
        return 0.0
    return float(snap.frame["duration"].dt.total_seconds().sum())  # running trials: NaT, skipped
