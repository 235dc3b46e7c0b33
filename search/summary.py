"""The terminal summary: the confirmed answer first, then the two settings side by side.

``regsearch run`` prints it at the end of a study and ``regsearch summary`` prints it for a
stored one. The answer (``confirm.statement``) leads; the table shows the baseline and the
confirmed setting with their cross-validation figures (mean and standard error over the folds)
and their confirmed test figures (mean over the confirmation seeds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .confirm import contenders, current, statement
from .study import PARAMS, Snapshot, setting

#: The table's figure rows: (label, where it comes from).
ROWS = (("cv val accuracy", "val_accuracy"), ("cv train accuracy", "train_accuracy"),
        ("cv gap", "gap"), ("test accuracy", "test_accuracy"), ("test gap", "test_gap"))


def settings(snap: Snapshot) -> list[dict[str, Any]]:
    """The baseline and the setting confirmation judges (the search's choice, or the best
    regularized setting when the search chose the baseline), each as plain figures: params,
    fold means with standard errors, and the confirmed test figures once there are some."""
    pair = contenders(snap)
    if pair is None:
        return []
    confirmation = current(snap)
    out = []
    for i, record in enumerate(pair):
        entry: dict[str, Any] = {"label": "baseline" if i == 0 else f"trial {record['number']}",
                                 "trial": int(record["number"]), "params": setting(record)}
        for key in ("train_accuracy", "val_accuracy", "gap"):
            entry[key] = float(record[key])
            se = record.get(f"{key}_se")
            entry[f"{key}_se"] = float(se) if se is not None and se == se else None
        if confirmation is not None:
            mean = confirmation["settings"][i]["mean"]
            entry["test_accuracy"], entry["test_gap"] = mean["test_accuracy"], mean["gap"]
            entry["confirmed_train_accuracy"] = mean["train_accuracy"]
        out.append(entry)
    return out


def side_by_side(entries: list[Mapping[str, Any]], params: tuple[str, ...] = PARAMS
                 ) -> pd.DataFrame:
    """One column per setting, one row per param (of ``params``: the study's, ``Snapshot.params``)
    and figure; figures with a standard error read ``0.9612 ± 0.0040``."""
    columns = {}
    for entry in entries:
        col: dict[str, Any] = {"trial": entry["trial"]}
        col.update({k: fmt(entry["params"].get(k)) for k in params})
        for label, key in ROWS:
            value, se = entry.get(key), entry.get(f"{key}_se")
            col[label] = fmt(value) + (f" ± {se:.4f}" if se is not None else "")
        columns[entry["label"]] = col
    return pd.DataFrame(columns)


def format_summary(snap: Snapshot) -> str:
    """The text printed at the end of ``regsearch run`` and by ``regsearch summary``."""
    lines = [f"study {snap.name}"]
    if snap.warning:
        lines.append(f"WARNING: {snap.warning}")
    confirmation = current(snap)
    sel = snap.selection
    if confirmation is not None:
        lines.append(f"ANSWER: {statement(confirmation)}")
        lines += [f"note: {n}" for n in confirmation["notes"]]
    elif sel is not None:
        lines.append("answer: not confirmed yet (no completed regularized trial, or the run was "
                     "interrupted); `regsearch report` confirms it")
    if snap.scaling is not None:
        lines.append(scaling_line(snap.scaling))
    entries = settings(snap)
    lines.append(side_by_side(entries, snap.params).to_string() if entries
                 else "(no results yet)")
    c = snap.counts
    lines.append(f"trials: {c['complete']} completed, {c['pruned']} pruned"
                 + (f" ({c['raced']} by racing between folds)" if c.get("raced") else "")
                 + f", {c['failed']} failed"
                 + (f", {c['interrupted']} interrupted by Ctrl-C (re-queued)"
                    if c.get("interrupted") else "")
                 + (f", {c['running']} running" if c.get("running") else "")
                 + (f", {c['waiting']} queued to run again" if c.get("waiting") else "")
                 + f"; {c['epochs']} epochs in total, the baseline's included"
                 + (f"; {c['learns_nothing']} at the majority-class level (learns_nothing)"
                    if c.get("learns_nothing") else ""))
    if sel is not None:
        ev = snap.spec.evaluation
        d = sel.describe()
        lines.append(f"selection ({ev.folds}-fold cross-validation"
                     + (f" x {ev.repeats}" if ev.repeats > 1 else "")
                     + f" of train+validation): {d['rule']}; {d['candidates']} candidate{'' if d['candidates'] == 1 else 's'}; "
                     + ("chose trial " + str(d["chosen_trial"]) if sel.regularizes
                        else "chose no regularization"))
    else:
        lines.append("no completed trial yet: nothing to choose")
    return "\n".join(lines)


def scaling_line(scaling: dict[str, Any]) -> str:
    """How the features were scaled, in one line (the study's ``data_scaling`` attribute)."""
    method, requested = scaling.get("method", "?"), scaling.get("requested", "?")
    how = {"standard": "per-feature standardization", "minmax": "per-feature min-max to [0, 1]",
           "range": "one range for all features (pixels)", "none": "none"}.get(method, method)
    chosen_by = f", chosen by scaling = {requested!r}" if requested != method else ""
    return (f"data scaling: {method} ({how}{chosen_by}), fitted on each training part only"
            if method != "none" else "data scaling: none (features used as they are)")


def fmt(value: Any) -> str:
    """A table cell: 4 decimals, small numbers in exponent form, None as a dash."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return "-" if value is None else str(value)
