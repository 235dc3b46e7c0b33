"""The terminal summary: baseline and chosen setting side by side, plus trial counts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .guard import LearningGuard
from .study import METRICS, PARAMS


def side_by_side(baseline: dict[str, Any] | None, chosen: dict[str, Any] | None) -> pd.DataFrame:
    """A table with one column per setting and one row per param and metric."""
    columns = {}
    for label, entry in (("baseline", baseline), ("chosen", chosen)):
        if entry is None:
            continue
        col: dict[str, Any] = {"trial": entry.get("trial", "-")}
        col.update({k: entry["params"].get(k) for k in PARAMS})
        col.update({k: entry.get(k) for k in METRICS})
        columns[label] = col
    return pd.DataFrame(columns)


def format_summary(name: str, baseline: dict[str, Any] | None, chosen: dict[str, Any] | None,
                   counts: dict[str, int], *, guard: LearningGuard | None = None,
                   scaling: dict[str, Any] | None = None) -> str:
    """The text printed at the end of ``regsearch run`` and by ``regsearch summary``.

    ``guard`` (the study's no-learning check) puts its warning first when it fires;
    ``scaling`` (the study's ``data_scaling``) says how the features were scaled.
    """
    table = side_by_side(baseline, chosen)
    shown = table.map(fmt) if not table.empty else table
    lines = [f"study {name}"]
    if guard is not None and guard.fires:
        lines.append(f"WARNING: {guard.message()}")
    if scaling is not None:
        lines.append(scaling_line(scaling))
    lines += [shown.to_string() if not table.empty else "(no results yet)",
              f"trials: {counts['complete']} completed, {counts['pruned']} pruned, "
              f"{counts['failed']} failed"
              + (f", {counts['running']} running" if counts.get("running") else "")
              + f"; {counts['epochs']} epochs in total"
              + (f"; {counts['learns_nothing']} at the majority-class level (learns_nothing)"
                 if counts.get("learns_nothing") else "")]
    if chosen is not None:
        sel = chosen["selection"]
        lines.append(f"selection: {sel['rule']}; tolerance {sel['tolerance']:.4f} "
                     f"({sel['tolerance_source']}); {sel['candidates']} candidates")
        if baseline is not None:
            lines.append(_verdict(baseline, chosen))
        if not chosen.get("reproduced", True):
            lines.append("note: retraining the chosen setting did not reproduce its validation "
                         "accuracy exactly; test accuracy comes from the retrained model")
    else:
        lines.append("no completed trial yet: nothing to choose")
    return "\n".join(lines)


def scaling_line(scaling: dict[str, Any]) -> str:
    """How the features were scaled, in one line (the study's ``data_scaling`` attribute)."""
    method, requested = scaling.get("method", "?"), scaling.get("requested", "?")
    how = {"standard": "per-feature standardization", "minmax": "per-feature min-max to [0, 1]",
           "range": "one range for all features (pixels)", "none": "none"}.get(method, method)
    chosen_by = f", chosen by scaling = {requested!r}" if requested != method else ""
    return (f"data scaling: {method} ({how}{chosen_by}), fitted on the training split only"
            if method != "none" else "data scaling: none (features used as they are)")


def costs_accuracy(baseline: dict[str, Any], chosen: dict[str, Any]) -> str | None:
    """The verdict when the chosen setting loses more validation accuracy than the selection's
    tolerance allows, in plain words (None when it does not).

    The one wording of it: this summary, the report page, the report's terminal text and the
    dashboard note all show this text.
    """
    dval = chosen["val_accuracy"] - baseline["val_accuracy"]
    if dval >= -chosen["selection"]["tolerance"]:
        return None
    return ("the chosen setting is below the baseline's validation accuracy by more than the "
            "tolerance: regularization in this space costs accuracy here")


def _verdict(baseline: dict[str, Any], chosen: dict[str, Any]) -> str:
    closed = baseline["gap"] - chosen["gap"]
    dval = chosen["val_accuracy"] - baseline["val_accuracy"]
    text = (f"gap {baseline['gap']:+.4f} -> {chosen['gap']:+.4f} ({closed:+.4f} closed); "
            f"val accuracy {dval:+.4f}, test accuracy "
            f"{chosen['test_accuracy'] - baseline['test_accuracy']:+.4f} vs baseline")
    cost = costs_accuracy(baseline, chosen)
    return f"{text}\nwarning: {cost}" if cost else text


def fmt(value: Any) -> str:
    """A table cell: 4 decimals, small numbers in exponent form, None as a dash."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return "-" if value is None else str(value)
