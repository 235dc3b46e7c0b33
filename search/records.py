"""Reading a study back: its trials as a pandas frame, counts, the baseline and the selection.

Every backend writes the same user attributes, so this is the one reader for the summary
table, the export and the report.
"""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd

from .errors import RegsearchError
from .objective import Selection, select
from .spec import StudySpec, spec_from_dict

PARAMS = ("dropout", "regularizer", "l1", "l2")
METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "gap")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, params, the trainer's figures, duration."""
    frame = study.trials_dataframe(attrs=("number", "state", "params", "user_attrs", "duration"))
    if frame.empty:
        return frame
    frame = frame.rename(columns=lambda c: c.removeprefix("params_").removeprefix("user_attrs_"))
    frame = frame.drop(columns=[c for c in ("curves",) if c in frame.columns])
    for name in PARAMS:
        if name not in frame.columns:
            frame[name] = None
    return frame


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    """The COMPLETE trials that carry the figures selection needs."""
    if frame.empty:
        return frame
    done = frame[frame["state"] == "COMPLETE"]
    return done.dropna(subset=[c for c in ("val_accuracy", "gap") if c in done.columns])


def counts(frame: pd.DataFrame) -> dict[str, int]:
    """Trials by state, the epochs spent over all of them, and how many trials sat at the
    majority-class level (``learns_nothing``, ``search/guard.py``)."""
    states = frame["state"].value_counts() if not frame.empty else pd.Series(dtype=int)
    epochs = int(frame["epochs"].fillna(0).sum()) if "epochs" in frame.columns else 0
    flagged = (int(frame["learns_nothing"].eq(True).sum())
               if "learns_nothing" in frame.columns else 0)
    return {"trials": int(len(frame)), "complete": int(states.get("COMPLETE", 0)),
            "pruned": int(states.get("PRUNED", 0)), "failed": int(states.get("FAIL", 0)),
            "running": int(states.get("RUNNING", 0)), "epochs": epochs,
            "learns_nothing": flagged}


def stored_spec(study: optuna.Study) -> StudySpec:
    """The spec a study was run with, from its ``spec`` attribute."""
    doc = study.user_attrs.get("spec")
    if doc is None:
        raise RegsearchError(f"study {study.study_name!r} was not made by regsearch (no spec "
                             "attribute)")
    return spec_from_dict(doc, f"<study {study.study_name}>")


def selection(study: optuna.Study, frame: pd.DataFrame | None = None) -> Selection | None:
    """Apply the selection rule to the study's completed trials (None when there are none)."""
    frame = trials_frame(study) if frame is None else frame
    done = completed(frame)
    if done.empty:
        return None
    spec = stored_spec(study)
    n_val = int(study.user_attrs.get("data_sizes", {}).get("val", 0)) or 1
    return select(done.to_dict("records"), n_val=n_val, tolerance=spec.tolerance)


def setting(row: dict[str, Any]) -> dict[str, Any]:
    """The params of a record, with the ones a trial did not sample filled in (0 / none)."""
    from .models import effective_params

    return effective_params({k: row[k] for k in PARAMS if _present(row.get(k))})


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))
