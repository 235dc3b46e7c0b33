"""The short text ``regsearch report`` prints: the headline, the confirmation, where things are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import confirm
from ..study import Snapshot
from ..summary import costs_accuracy, scaling_line
from .verdicts import against_baseline, confirmation_verdict, describe_params, search_seconds


def confirmation_text(confirmation: dict[str, Any]) -> str:
    """The confirmation table as text: mean ± std per setting, the confirmed best marked."""
    lines = []
    for s in confirmation["settings"]:
        mark = " *" if s["trial"] == confirmation["best"] else ""
        figures = "  ".join(f"{k.removesuffix('_accuracy')} {s['mean'][k]:.4f}±{s['std'][k]:.4f}"
                            for k in confirm.FIGURES)
        lines.append(f"  {s['label'] + mark:<12} {figures}")
    best = confirm.best_setting(confirmation)
    return "\n".join([f"confirmation ({len(confirmation['seeds'])} seeds "
                      f"{', '.join(map(str, confirmation['seeds']))}; mean±std; "
                      f"* = confirmed best):", *lines,
                      f"confirmed best: {best['label']} ({describe_params(best['params'])}): "
                      f"{confirmation_verdict(confirmation)}",
                      f"on the means against the baseline: {against_baseline(confirmation)}"])


def terminal_summary(snap: Snapshot, baseline: dict[str, Any], chosen: dict[str, Any],
                     confirmation: dict[str, Any] | None, target: Path,
                     figures: dict[str, str | None], dashboard: str) -> str:
    """The short text ``regsearch report`` prints."""
    c, cost = snap.counts, costs_accuracy(baseline, chosen)
    lines = [
        *([f"WARNING: {snap.warning}"] if snap.warning else []),
        f"report for study {snap.name}: {target}",
        *([f"  {scaling_line(snap.scaling)}"] if snap.scaling else []),
        f"  {c['trials']} trials ({c['complete']} completed, {c['pruned']} pruned, "
        f"{c['failed']} failed)",
        f"  gap {baseline['gap']:+.4f} -> {chosen['gap']:+.4f} (baseline -> chosen trial "
        f"{chosen['trial']}: {describe_params(chosen['params'])})",
        f"  val accuracy {baseline['val_accuracy']:.4f} -> {chosen['val_accuracy']:.4f}, "
        f"test accuracy {baseline['test_accuracy']:.4f} -> {chosen['test_accuracy']:.4f}",
        *([f"  warning: {cost}"] if cost else []),
    ]
    if confirmation is not None:
        lines.append(confirmation_text(confirmation))
        search = search_seconds(snap)
        if search:
            runs = sum(len(s["runs"]) for s in confirmation["settings"])
            lines.append(f"time: search {search:.0f} s over {c['trials']} trials; confirmation "
                         f"{confirmation['seconds']:.0f} s over {runs} runs "
                         f"({confirmation['seconds'] / search:.2f}x the search)")
    lines.append(f"figures in {target.parent}: "
                 f"{', '.join(k for k, v in figures.items() if not v)}")
    lines += [f"  not drawn: {k}: {v}" for k, v in figures.items() if v]
    lines.append(dashboard)
    return "\n".join(lines)
