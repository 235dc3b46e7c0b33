"""What a trial scores and which trial is reported as best.

Two different questions, deliberately:

* The **objective** (one number per epoch, so Optuna can prune) is
  ``val_accuracy - gap_weight * |gap|``: it pulls the sampler towards settings that close the
  train/validation gap but never pays a point of validation accuracy for more than
  ``1 / gap_weight`` points of gap.
* The **selection rule** decides what we report. Measured on digits and MNIST, a gap often
  shrinks because train accuracy drops (underfitting) while validation accuracy stays within
  noise, and such picks scored 1-2 points lower on test. So validation accuracy comes first,
  judged with its noise: among completed trials within ``tolerance`` of the best validation
  accuracy, the smallest absolute gap wins; ties go to the higher validation accuracy, then the
  earlier trial. Because every candidate is within tolerance of the best validation accuracy, a
  setting that "closes" the gap by collapsing both accuracies can never be chosen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import Splits
    from .spec import StudySpec
    from .trainer import Trainer

RULE = ("smallest |gap| among completed trials whose val_accuracy is within tolerance of the "
        "best val_accuracy; ties to the higher val_accuracy, then the earlier trial")


def score(val_accuracy: float, gap: float, gap_weight: float) -> float:
    """The objective to maximize: validation accuracy minus a weighted absolute gap."""
    return val_accuracy - gap_weight * abs(gap)


def trainer_for(spec: StudySpec, splits: Splits) -> Trainer:
    """The study's trainer: its data, model and training settings, scored by ``score`` with
    the study's ``gap_weight``. A context: use it ``with`` it, so its model is released."""
    from .trainer import Trainer

    weight = spec.search.gap_weight
    return Trainer(splits, model=spec.model, training=spec.training,
                   score=lambda val_accuracy, gap: score(val_accuracy, gap, weight))


def default_tolerance(best_val_accuracy: float, n_val: int) -> float:
    """One binomial standard error of the best validation accuracy (at least one sample).

    With a few hundred validation samples a point of accuracy is noise; this says how much.
    """
    p = min(max(best_val_accuracy, 0.0), 1.0)
    return max(math.sqrt(p * (1 - p) / n_val), 1.0 / n_val)


@dataclass(frozen=True)
class Selection:
    """The chosen record and how it was chosen."""

    chosen: Mapping[str, Any]
    tolerance: float
    tolerance_source: str
    best_val_accuracy: float
    candidates: int

    def describe(self) -> dict[str, Any]:
        return {"rule": RULE, "tolerance": self.tolerance, "tolerance_source": self.tolerance_source,
                "best_val_accuracy": self.best_val_accuracy, "candidates": self.candidates}


def select(records: Iterable[Mapping[str, Any]], *, n_val: int,
           tolerance: float | None = None) -> Selection | None:
    """Apply the selection rule to completed-trial records (``number``, ``val_accuracy``, ``gap``).

    Returns None when there is no record. ``tolerance`` from the spec wins over the default.
    """
    rows = [r for r in records if _finite(r.get("val_accuracy")) and _finite(r.get("gap"))]
    if not rows:
        return None
    best = max(r["val_accuracy"] for r in rows)
    if tolerance is None:
        tol = default_tolerance(best, n_val)
        source = f"one binomial standard error of the best val_accuracy ({best:.4f}, n_val={n_val})"
    else:
        tol, source = tolerance, "spec: selection.tolerance"
    # A tiny epsilon so a trial exactly at the tolerance edge is not lost to float rounding.
    near = [r for r in rows if r["val_accuracy"] >= best - tol - 1e-12]
    chosen = min(near, key=lambda r: (abs(r["gap"]), -r["val_accuracy"], r["number"]))
    return Selection(chosen, tol, source, best, len(near))


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
