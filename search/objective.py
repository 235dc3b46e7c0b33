"""What a trial scores, and which setting the study recommends.

Two different questions, deliberately:

* The **objective** (one number per epoch, so Optuna can prune; its fold mean is the trial's
  value) is ``val_accuracy - gap_weight * |gap|``. By default ``search.gap_weight`` is 0, so
  the sampler, the pruner and EarlyStopping follow validation accuracy: a weight above 0 pulls
  the sampler towards settings that close the gap most, and at 0.5 it answered below plain
  Optuna more often (``search/spec.py``, ``SearchSpec.gap_weight``). The gap is not dropped:
  the selection rule below is where it decides. One number, not two objectives: Optuna cannot
  prune a multi-objective study.
* The **selection rule** decides what is recommended, on the cross-validation folds, every
  comparison paired on the same folds and judged by its standard error (``search/paired.py``),
  with the unregularized baseline as a competitor:

  1. a setting is a *candidate* when its mean validation accuracy is not below the best
     setting's, nor below the baseline's, by more than one standard error of the paired
     difference (``selection.tolerance`` replaces this standard error when set): regularizing
     must not cost accuracy beyond noise;
  2. a regularized candidate must also close the gap against the baseline by more than one
     standard error, or it is not better than doing nothing. The gap here is the signed one
     (train minus validation), paired per fold: its fold mean is what estimates the gap, and a
     setting that closes it scatters around zero from fold to fold, so per-fold absolute gaps
     would count that scatter as gap left. Measured on breast cancer (recommendation
     benchmark, search seed 2): a setting with fold gaps -0.017, +0.007, +0.010 (mean 0.000)
     against the baseline's 0.007, 0.013, 0.046 failed this rule on absolute gaps (-0.011,
     standard error 0.013) and passed it on signed ones (-0.022, 0.009). Its |mean gap| must
     also be below the baseline's: a gap overshot past zero (validation accuracy above train
     by more than the baseline's gap) is not closed;
  3. among those the smallest |mean gap| wins (ties: higher validation accuracy, then the
     earlier trial); when none is left, the answer is no regularization: the baseline.

  Measured on digits and MNIST, a gap often shrinks because train accuracy drops while
  validation accuracy stays within noise; rule 1 keeps such settings out. The best regularized
  setting is worked out too (``alternative``: the smallest-gap setting within noise of the best
  validation accuracy), so that an answer of "no regularization" can say what the best
  regularized setting would have cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .paired import Paired

if TYPE_CHECKING:
    from .data import Splits
    from .evaluation import Evaluator
    from .spec import StudySpec
    from .trainer import Trainer

RULE = ("paired on the folds: candidates are within one standard error of the best and of the "
        "baseline in validation accuracy; a regularized candidate must close the gap against "
        "the baseline by more than one standard error; the smallest mean |gap| wins, else no "
        "regularization")

#: The trial attribute that marks the unregularized baseline's trial.
BASELINE_ROLE = "baseline"


def score(val_accuracy: float, gap: float, gap_weight: float) -> float:
    """The objective to maximize: validation accuracy minus a weighted absolute gap."""
    return val_accuracy - gap_weight * abs(gap)


def trainer_for(spec: StudySpec, splits: Splits) -> Trainer:
    """The study's trainer: its data, model and training settings, scored by ``score`` with
    the study's ``gap_weight``. A context: use it ``with`` it, so its model is released."""
    from .trainer import Trainer

    weight = spec.search.gap_weight
    return Trainer(splits, model=spec.model, training=spec.training,
                   score=lambda val_accuracy, gap: score(val_accuracy, gap, weight),
                   searched=tuple(p.name for p in spec.space.params))


def evaluator_for(spec: StudySpec, folds: Sequence[Splits]) -> Evaluator:
    """The study's evaluator: its trainer (``trainer_for``, on the first fold's shape) over the
    study's cross-validation ``folds``. A context: use it ``with`` it, so its model is
    released."""
    from .evaluation import Evaluator

    return Evaluator(trainer_for(spec, folds[0]), folds, spec.seed)


def per_fold(record: Mapping[str, Any], key: str) -> list[float]:
    """A record's per-fold values of ``key`` (a record without folds counts as one fold)."""
    folds = record.get("folds")
    if isinstance(folds, list) and folds:
        return [float(f[key]) for f in folds]
    return [float(record[key])]


def paired(a: Mapping[str, Any], b: Mapping[str, Any], key: str, floor: float) -> Paired:
    """``a`` minus ``b`` on ``key``, paired on their folds."""
    return Paired.of(per_fold(a, key), per_fold(b, key), floor)


def is_baseline(record: Mapping[str, Any]) -> bool:
    return record.get("role") == BASELINE_ROLE


@dataclass(frozen=True)
class Selection:
    """What the rule recommends (``chosen``: a trial, or the baseline's), against what."""

    chosen: Mapping[str, Any]
    best: Mapping[str, Any]
    baseline: Mapping[str, Any] | None
    alternative: Mapping[str, Any] | None
    candidates: int
    tolerance: float | None
    floor: float

    @property
    def regularizes(self) -> bool:
        """Whether the answer is a regularized setting (not the baseline)."""
        return not is_baseline(self.chosen)

    def versus_baseline(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """``record`` against the baseline on the folds: validation accuracy and gap."""
        if self.baseline is None:
            return None
        return {key: paired(record, self.baseline, key, self.floor).to_dict()
                for key in ("val_accuracy", "gap")}

    def describe(self) -> dict[str, Any]:
        """Plain data for study attributes and exports."""
        margin = (self.tolerance if self.tolerance is not None else
                  paired(self.chosen, self.best, "val_accuracy", self.floor).se)
        return {
            "rule": RULE, "tolerance": margin,
            "tolerance_source": ("spec: selection.tolerance" if self.tolerance is not None else
                                 "one standard error of the paired difference on the folds"),
            "chosen_trial": int(self.chosen["number"]), "regularizes": self.regularizes,
            "best_trial": int(self.best["number"]),
            "best_val_accuracy": float(self.best["val_accuracy"]),
            "baseline_trial": None if self.baseline is None else int(self.baseline["number"]),
            "alternative_trial": (None if self.alternative is None
                                  else int(self.alternative["number"])),
            "candidates": self.candidates,
            "versus_baseline": self.versus_baseline(self.chosen) if self.regularizes else None,
        }


def near(record: Mapping[str, Any], other: Mapping[str, Any], *, floor: float,
         tolerance: float | None = None) -> bool:
    """Rule 1 against one other record: ``record``'s validation accuracy, paired on the folds,
    is not below ``other``'s by more than one standard error (or ``tolerance``)."""
    d = paired(record, other, "val_accuracy", floor)
    # A tiny epsilon so a setting exactly at the edge is not lost to float rounding.
    return d.mean >= -((tolerance if tolerance is not None else d.se) + 1e-12)


def select(records: Iterable[Mapping[str, Any]], *, floor: float,
           tolerance: float | None = None,
           prefer: Literal["gap", "accuracy"] = "gap") -> Selection | None:
    """Apply the selection rule to completed-trial records (``number``, ``val_accuracy``,
    ``gap``, per-fold ``folds``, and ``role`` for the baseline's). None when there is none.

    ``floor`` is the smallest standard error believed (one validation sample of a fold);
    ``tolerance`` from the spec replaces the standard error as the margin. Among the settings
    that qualify, ``prefer="gap"`` (the rule) takes the smallest mean |gap|;
    ``"accuracy"`` the most accurate, which ``benchmarks/selection.py`` measures against it
    (``Selection.describe`` states the rule as ``RULE``, the smallest gap).
    """
    if prefer not in ("gap", "accuracy"):
        raise ValueError(f"prefer: {prefer!r}; allowed: 'gap', 'accuracy'")
    rows = [r for r in records if _finite(r.get("val_accuracy")) and _finite(r.get("gap"))]
    if not rows:
        return None
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["number"]))
    base = next((r for r in rows if is_baseline(r)), None)

    def within(r: Mapping[str, Any], other: Mapping[str, Any] | None) -> bool:
        return other is None or r is other or near(r, other, floor=floor, tolerance=tolerance)

    def closes(r: Mapping[str, Any]) -> bool:
        # Always the standard error: ``tolerance`` is a margin of validation accuracy.
        if base is None:
            return True
        # Signed, so that noise around a closed gap is not counted as gap left; and smaller
        # in size than the baseline's, so that a gap overshot past zero is not a closed one.
        d = paired(r, base, "gap", floor)
        return d.mean < -d.se and abs(r["gap"]) < abs(base["gap"])

    def rank(r: Mapping[str, Any]) -> tuple[float, float, int]:
        if prefer == "accuracy":
            return -r["val_accuracy"], abs(r["gap"]), int(r["number"])
        return abs(r["gap"]), -r["val_accuracy"], int(r["number"])

    candidates = [r for r in rows if within(r, best) and within(r, base)]
    winners = [r for r in candidates if not is_baseline(r) and closes(r)]
    chosen = min(winners, key=rank) if winners else base if base is not None else \
        min(candidates, key=rank)
    regularized = [r for r in rows if not is_baseline(r)]
    near_best = [r for r in regularized if within(r, best)]
    alternative = (min(near_best, key=rank) if near_best else
                   max(regularized, key=lambda r: r["val_accuracy"]) if regularized else None)
    return Selection(chosen, best, base, alternative, len(candidates), tolerance, floor)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
