"""The report in optuna-dashboard: the headline as the study's note, the figures as artifacts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from .. import confirm
from ..study import METRICS, PARAMS, Snapshot
from ..summary import costs_accuracy, fmt
from .figures import FIGURES
from .verdicts import against_baseline, confirmation_verdict, describe_params


def dashboard_note(snap: Snapshot, baseline: dict[str, Any], chosen: dict[str, Any],
                   confirmation: dict[str, Any] | None, images: Mapping[str, str]) -> str:
    """The headline in Markdown, for the study's note in optuna-dashboard.

    ``images`` maps figure file names to the dashboard's URL paths of their artifacts.
    """
    rows = [("trial", "-", str(chosen["trial"]))]
    rows += [(k, fmt(baseline["params"][k]), fmt(chosen["params"][k])) for k in PARAMS]
    rows += [(k, fmt(baseline[k]), fmt(chosen[k])) for k in METRICS]
    n = snap.counts
    alarms = [a for a in (snap.warning, costs_accuracy(baseline, chosen)) if a]
    lines = [f"## {snap.name}: gap {baseline['gap']:+.4f} → {chosen['gap']:+.4f}", "",
             *(line for a in alarms for line in (f"**Warning:** {a}.", "")),
             f"{n['trials']} trials ({n['complete']} completed, {n['pruned']} pruned, "
             f"{n['failed']} failed). The selection rule, not Optuna's best objective value, "
             f"picks the chosen trial.", "",
             f"Chosen: trial {chosen['trial']} ({describe_params(chosen['params'])}); "
             f"test accuracy {baseline['test_accuracy']:.4f} → {chosen['test_accuracy']:.4f}.",
             "", "| | baseline | chosen |", "|---|---|---|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows), ""]
    if confirmation is not None:
        best = confirm.best_setting(confirmation)
        lines += [f"**Confirmation** over {len(confirmation['seeds'])} fresh seeds: confirmed best "
                  f"{best['label']} (val {best['mean']['val_accuracy']:.4f} ± "
                  f"{best['std']['val_accuracy']:.4f}, test {best['mean']['test_accuracy']:.4f} ± "
                  f"{best['std']['test_accuracy']:.4f}, gap {best['mean']['gap']:+.4f}); "
                  f"{confirmation_verdict(confirmation)}; on the means against the baseline: "
                  f"{against_baseline(confirmation)}.", ""]
    lines += [f"![{FIGURES[name]}]({url})" for name, url in images.items()]
    lines += ["", "Written by `regsearch report`; the full report is `report.html`."]
    return "\n".join(lines)


def publish_to_dashboard(snap: Snapshot, baseline: dict[str, Any], chosen: dict[str, Any],
                         confirmation: dict[str, Any] | None, out_dir: Path,
                         figures: Mapping[str, str | None], artifacts: Path) -> str:
    """Attach the figures as study artifacts and save the headline as the study's note.

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
    save_note(study, dashboard_note(snap, baseline, chosen, confirmation, images))
    return (f"dashboard: headline saved as the study's note, {len(images)} figures attached "
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
