"""The report in optuna-dashboard: the answer as the study's note, the figures as artifacts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from .. import confirm
from ..study import Snapshot
from ..summary import ROWS, fmt, settings
from .figures import FIGURES
from .verdicts import (DIFFERENCES, confirmed_role, counts_line, describe_params, interval_text,
                       selection_line, significant, timing_line, verdict_line)


def _md(text: object) -> str:
    """Plain text as Markdown that renders as itself (CommonMark backslash escapes): every
    stored string goes through it, so none can open raw HTML ("<", which optuna-dashboard
    renders under ``--allow-unsafe``), an entity ("&"), a link or a table cell."""
    return re.sub(r"([\\`*_\[\]<>|#&])", r"\\\1", str(text))


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def dashboard_note(snap: Snapshot, confirmation: Mapping[str, Any],
                   images: Mapping[str, str]) -> str:
    """The answer in Markdown, for the study's note in optuna-dashboard: the same sentences as
    the page, in the same order.

    ``images`` maps figure file names to the dashboard's URL paths of their artifacts.
    """
    other = confirmation["settings"][1]
    answer = describe_params(confirmation["params"])
    n = len(confirmation["seeds"])
    level = confirmation["difference"]["test_accuracy"].get("confidence", 0.95)
    lines = [f"## {_md(snap.name)}: use {_md(answer)}", ""]
    if snap.warning:
        lines += [f"**Warning:** {_md(snap.warning)}.", ""]
    lines += [f"**Answer:** {_md(confirm.statement(confirmation))}", "",
              f"**Verdict:** {_md(verdict_line(confirmation))}.", ""]
    if confirmation["notes"]:
        lines += ["**Notes, read the figures with care:**", "",
                  *(f"- **{_md(note)}**" for note in confirmation["notes"]), ""]
    lines += [f"Confirmed against no regularization: {_md(other['label'])}, "
              f"{_md(confirmed_role(confirmation))}: {_md(describe_params(other['params']))}.",
              "", _row(f"{_md(other['label'])} minus baseline", "mean",
                       f"{level:.0%} interval", ""), "|---|---|---|---|"]
    for k, label in DIFFERENCES:
        d = confirmation["difference"][k]
        mean, interval = interval_text(d).split(" ", 1)
        lines.append(_row(_md(label), mean, _md(interval), significant(d)))
    lines += ["", f"**Confirmation**: retrained on train+validation with {n} fresh seeds "
                  f"({_md(', '.join(map(str, confirmation['seeds'])))}), tested once; mean ± std.",
              "", _row("setting", "params", "epochs", *(k.removesuffix("_accuracy")
                                                        for k in confirm.FIGURES)),
              "|---|---|---|---|---|---|"]
    for s in confirmation["settings"]:
        mark = " (the answer)" if s["trial"] == confirmation["answer_trial"] else ""
        lines.append(_row(_md(s["label"] + mark), _md(describe_params(s["params"])),
                          _md(s["epochs"]),
                          *(f"{s['mean'][k]:.4f} ± {s['std'][k]:.4f}" for k in confirm.FIGURES)))
    entries = settings(snap)
    if entries:
        lines += ["", "**The search**, on the cross-validation folds (mean ± SE), with the "
                      "confirmed test figures:", "",
                  _row("", *(_md(e["label"]) for e in entries)),
                  "|---|" + "---|" * len(entries), _row("trial", *(str(e["trial"])
                                                                  for e in entries))]
        lines += [_row(k, *(_md(fmt(e["params"][k])) for e in entries)) for k in snap.params]
        for label, k in ROWS:
            lines.append(_row(label, *(fmt(e.get(k)) + (f" ± {e[k + '_se']:.4f}"
                                                        if e.get(k + "_se") is not None else "")
                                       for e in entries)))
    timing = timing_line(snap, confirmation)
    lines += ["", f"{_md(selection_line(snap))}.", "", f"{_md(counts_line(snap))}.", "",
              *([f"{_md(timing)}.", ""] if timing else [])]
    lines += [f"![{FIGURES[name]}]({url})" for name, url in images.items()]
    lines += ["", "Written by `regsearch report`; the full report is `report.html`."]
    return "\n".join(lines)


def publish_to_dashboard(snap: Snapshot, confirmation: Mapping[str, Any], out_dir: Path,
                         figures: Mapping[str, str | None], artifacts: Path) -> str:
    """Attach the figures as study artifacts and save the answer as the study's note.

    A figure already attached under the same file name is overwritten in place, so running the
    report again does not pile up copies; the note is replaced, hand edits included. Returns a
    line saying what was done.
    """
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact
    from optuna_dashboard import save_note
    from optuna_dashboard.artifact import get_artifact_path

    artifacts.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(artifacts)
    study = snap.study
    existing = _attached(study)
    images = {}
    for name, problem in figures.items():
        if problem:
            continue
        path = out_dir / name
        if name in existing:
            with path.open("rb") as f:
                store.write(existing[name], f)
            artifact_id = existing[name]
        else:
            artifact_id = upload_artifact(artifact_store=store, file_path=str(path),
                                          study_or_trial=study)
        images[name] = get_artifact_path(study, artifact_id)
    save_note(study, dashboard_note(snap, confirmation, images))
    return (f"dashboard: answer saved as the study's note, {len(images)} figures attached "
            f"(`regsearch dashboard` serves them from {artifacts})")


def _attached(study: optuna.Study) -> dict[str, str]:
    """File name -> artifact id of the artifacts attached to the study and not deleted since.

    The one private access left: Optuna 5 removed ``Study.system_attrs`` and has no other public
    reader of them, and ``optuna.artifacts.get_all_artifact_meta`` cannot parse the null that
    optuna-dashboard writes there for an artifact deleted in its UI. optuna-dashboard's own
    ``save_note`` and artifact routes read the storage this way.
    """
    attrs = study._storage.get_study_system_attrs(study._study_id)
    metas = (json.loads(v) for k, v in attrs.items() if k.startswith("artifacts:"))
    return {meta["filename"]: meta["artifact_id"] for meta in metas if meta}
