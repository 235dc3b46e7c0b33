"""The only place the test split is read: the baseline and the chosen setting, after the search.

The search scores on validation only. Once a setting is chosen it is trained again with the
study's seed (op determinism makes that run the trial's own) and evaluated on the test split;
the unregularized baseline gets the same treatment once per study. Results live in the study's
user attributes so the summary, export and dashboard read them without retraining.
"""

from __future__ import annotations

from typing import Any

import optuna

from .data import Splits
from .objective import Selection, trainer_for
from .spec import StudySpec
from .study import Snapshot, setting
from .trainer import Trainer


def evaluate_setting(params: dict[str, Any], spec: StudySpec, splits: Splits,
                     seed: int | None = None, *,
                     trainer: Trainer | None = None) -> dict[str, Any]:
    """Train ``params`` on train/val (no pruning) and measure train, val and test accuracy.

    ``trainer`` (the command's, on these splits) reuses its compiled model; without one, a
    trainer is made for this run.
    """
    if trainer is None:
        with trainer_for(spec, splits) as own:
            return evaluate_setting(params, spec, splits, seed, trainer=own)
    result, model = trainer.fit(params, seed=spec.seed if seed is None else seed)
    test = trainer.accuracy(model, splits.x_test, splits.y_test)
    return {"params": result.params, **result.metrics(), "test_accuracy": test,
            "curves": result.curves}


def ensure_baseline(study: optuna.Study, spec: StudySpec, trainer: Trainer) -> dict[str, Any]:
    """The study's unregularized baseline (dropout 0, no penalty), trained once and stored."""
    if "baseline" not in study.user_attrs:
        study.set_user_attr("baseline", evaluate_setting({}, spec, trainer.splits,
                                                         trainer=trainer))
    return study.user_attrs["baseline"]


def is_current(chosen: dict[str, Any] | None, sel: Selection) -> bool:
    """Whether a stored chosen setting is still what the selection picks, by the same rule."""
    return bool(chosen) and chosen.get("trial") == int(sel.chosen["number"]) \
        and chosen.get("selection") == sel.describe()


def ensure_chosen(snap: Snapshot, trainer: Trainer) -> dict[str, Any] | None:
    """The chosen trial with its test accuracy; re-evaluated only when the choice changed."""
    sel = snap.selection
    if sel is None:
        return None
    stored = snap.chosen
    if is_current(stored, sel):
        return stored
    number = int(sel.chosen["number"])
    params = setting(sel.chosen)
    fresh = evaluate_setting(params, snap.spec, trainer.splits, trainer=trainer)
    chosen = {
        "trial": number, "params": params, "selection": sel.describe(),
        # The trial's own validation figures are what selection judged; the fresh run supplies
        # test accuracy and must reproduce them (flagged if it does not).
        "train_accuracy": float(sel.chosen["train_accuracy"]),
        "val_accuracy": float(sel.chosen["val_accuracy"]), "gap": float(sel.chosen["gap"]),
        "test_accuracy": fresh["test_accuracy"],
        "reproduced": abs(fresh["val_accuracy"] - float(sel.chosen["val_accuracy"])) < 1e-6,
        "curves": fresh["curves"],
    }
    snap.study.set_user_attr("chosen", chosen)
    return chosen
