"""The guard against a model that learns nothing.

Regularization can only be judged on a model that learns. When a model sits at the rate of
always answering the most common class, every trial "closes the gap" (both accuracies are the
majority rate) and the search would recommend noise: measured on two tabular CSVs whose columns
had been squashed by a bad scaling, every trial sat at 0.62 / 0.64 validation accuracy and the
run still reported a closed gap. So each study records the majority-class rate of its
validation split, and the unregularized baseline must beat it by more than noise before any
budget is spent.

"Within noise" is two binomial standard errors of the majority rate on the validation split:
a classifier that always answers the majority class scores that rate, give or take one
standard error, on a fresh validation split of the same size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: How many binomial standard errors above the majority rate a model must score to count as
#: learning something.
STANDARD_ERRORS = 2.0

#: The flag that lets a run go on when the guard fires.
ALLOW_FLAG = "--allow-no-learning"


def majority_rate(labels: np.ndarray) -> float:
    """The share of the most common class: the accuracy of always answering it."""
    counts = np.bincount(np.asarray(labels, dtype="int64"))
    return float(counts.max() / counts.sum())


def threshold(majority: float, n_val: int) -> float:
    """The validation accuracy at or below which a model is not told apart from the majority
    class: the majority rate plus ``STANDARD_ERRORS`` binomial standard errors."""
    return majority + STANDARD_ERRORS * math.sqrt(majority * (1 - majority) / max(n_val, 1))


def floor_for(y_val: np.ndarray) -> float:
    """The no-learning ``threshold`` of a validation split, from its labels."""
    return threshold(majority_rate(y_val), len(y_val))


def learns_nothing(val_accuracy: float, floor: float) -> bool:
    """Whether a validation accuracy is at the majority-class level (``floor`` from
    ``threshold``)."""
    return val_accuracy <= floor


@dataclass(frozen=True)
class LearningGuard:
    """The study's check of its baseline against the majority class, stored with the study."""

    majority_rate: float
    threshold: float
    n_val: int
    baseline_val_accuracy: float

    @classmethod
    def of(cls, y_val: np.ndarray, baseline_val_accuracy: float) -> LearningGuard:
        """The guard for a validation split's labels and the baseline's validation accuracy."""
        majority = majority_rate(y_val)
        return cls(majority, threshold(majority, len(y_val)), int(len(y_val)),
                   float(baseline_val_accuracy))

    @property
    def fires(self) -> bool:
        """True when the baseline is within noise of always answering the majority class."""
        return learns_nothing(self.baseline_val_accuracy, self.threshold)

    def message(self) -> str:
        """The plain-words warning, the same in the run, the summary, the report and export."""
        return (f"the model does not learn this data: the unregularized baseline's validation "
                f"accuracy {self.baseline_val_accuracy:.4f} is within noise of always answering "
                f"the most common class ({self.majority_rate:.4f} of the {self.n_val} "
                f"validation samples; anything up to {self.threshold:.4f} is within "
                f"{STANDARD_ERRORS:g} standard errors of it). Regularization cannot be judged on "
                f"such a model: check the data (labels, [data] label_column), the scaling "
                f"([data] scaling) and the model ([model], [training])")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fires": self.fires}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LearningGuard:
        return cls(float(doc["majority_rate"]), float(doc["threshold"]), int(doc["n_val"]),
                   float(doc["baseline_val_accuracy"]))
