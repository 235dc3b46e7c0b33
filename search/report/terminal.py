"""The short text ``regsearch report`` prints: the answer, the confirmation, where things are."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import confirm
from ..study import Snapshot
from ..summary import scaling_line, settings, side_by_side
from .verdicts import (confirmed_role, counts_line, describe_params, difference_text,
                       selection_line, timing_line, verdict_line)


def confirmation_text(confirmation: Mapping[str, Any]) -> str:
    """The confirmation table as text: mean ± std over the seeds per setting, the answer
    marked."""
    lines = []
    for s in confirmation["settings"]:
        mark = " *" if s["trial"] == confirmation["answer_trial"] else ""
        figures = "  ".join(f"{k.removesuffix('_accuracy')} {s['mean'][k]:.4f}±{s['std'][k]:.4f}"
                            for k in confirm.FIGURES)
        lines.append(f"  {s['label'] + mark:<12} {s['epochs']:>4} epochs  {figures}  "
                     f"({describe_params(s['params'])})")
    return "\n".join([f"confirmation on train+validation, tested once ("
                      f"{len(confirmation['seeds'])} seeds "
                      f"{', '.join(map(str, confirmation['seeds']))}; mean±std; "
                      f"* = the answer):", *lines])


def terminal_summary(snap: Snapshot, confirmation: Mapping[str, Any], target: Path,
                     figures: Mapping[str, str | None], published: str) -> str:
    """The short text ``regsearch report`` prints: the answer first."""
    other = confirmation["settings"][1]
    lines = [
        *([f"WARNING: {snap.warning}"] if snap.warning else []),
        f"report for study {snap.name}: {target}",
        f"ANSWER: {confirm.statement(confirmation)}",
        f"  verdict: {verdict_line(confirmation)}",
        *(f"  NOTE: {n}" for n in confirmation["notes"]),
        f"  confirmed: {other['label']}, {confirmed_role(confirmation)}",
        *(f"  {line}" for line in difference_text(confirmation)),
        confirmation_text(confirmation),
    ]
    entries = settings(snap)
    if entries:
        lines += ["cross-validation (mean ± SE over the folds) and confirmed test figures:",
                  side_by_side(entries, snap.params).to_string()]
    lines += [selection_line(snap), counts_line(snap),
              *([scaling_line(snap.scaling)] if snap.scaling else [])]
    timing = timing_line(snap, confirmation)
    if timing:
        lines.append(timing)
    lines.append(f"figures in {target.parent}: "
                 f"{', '.join(k for k, v in figures.items() if not v)}")
    lines += [f"  not drawn: {k}: {v}" for k, v in figures.items() if v]
    lines.append(published)
    return "\n".join(lines)
