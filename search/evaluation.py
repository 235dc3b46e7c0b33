"""A setting's score over the cross-validation folds: what one trial is worth, with its noise.

``Evaluator.evaluate`` trains the setting once per fold (``search/folds.py``) with the study's
trainer, each fold with EarlyStopping and the dropout-off measurements, and averages: the
trial's figures are the fold means, each with its standard error, and the per-fold figures
are kept so that the dashboard shows them and selection can compare trials paired.

Two early stops, both given from outside (each backend decides what they mean):

* ``report(step, value) -> bool`` is asked after every epoch of every fold, with the step
  ``fold * stride + epoch``, so a pruner compares a trial with others at the same epoch of the
  same fold (``pruning.FoldPruner``);
* ``race(folds_done) -> reason | None`` is asked after each fold but the last: a trial already
  significantly below the best so far on the folds done stops there (``pruning.race``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Splits
from .folds import fold_seed
from .spec import TrainingSpec
from .trainer import Report, Trainer, TrainResult, interruptible

#: The per-fold figures averaged into a trial's figures; each gets a standard error too.
FIGURES = ("train_accuracy", "val_accuracy", "gap", "score")
#: What each fold keeps, in the trial's ``folds`` attribute.
FOLD_KEYS = (*FIGURES, "epochs", "best_epoch", "stopped")

Race = Callable[[list[TrainResult]], "str | None"]


@dataclass
class FoldedResult:
    """One setting over the folds it ran (all of them unless it was stopped early)."""

    params: dict[str, Any]
    folds: list[TrainResult]
    planned: int
    stopped: str = "complete"  # or "pruned" (within a fold) or "raced" (between folds)
    reason: str | None = None
    #: Every per-epoch score, keyed by its step ``fold * stride + epoch``.
    values: dict[int, float] = field(default_factory=dict)

    def mean(self, key: str) -> float:
        return statistics.fmean(getattr(f, key) for f in self.folds)

    def se(self, key: str) -> float:
        """Standard error of the fold mean (0 for a single fold: no spread to measure)."""
        xs = [getattr(f, key) for f in self.folds]
        return statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0

    @property
    def score(self) -> float:
        """The trial's value: the mean per-fold objective."""
        return self.mean("score")

    @property
    def curves(self) -> dict[str, list[float]]:
        """The first fold's learning curves (the figures draw one curve per trial)."""
        return self.folds[0].curves

    def metrics(self) -> dict[str, Any]:
        """The scalar figures, as stored in trial user attributes: fold means and standard
        errors, epochs over all folds, the median best epoch (what a refit on all the data
        trains for), how the trial stopped, and each fold's own figures."""
        out: dict[str, Any] = {}
        for key in FIGURES:
            out[key] = self.mean(key)
            out[f"{key}_se"] = self.se(key)
        out["train_loss"] = self.mean("train_loss")
        out["val_loss"] = self.mean("val_loss")
        out["epochs"] = sum(f.epochs for f in self.folds)
        out["best_epoch"] = int(round(statistics.median(f.best_epoch for f in self.folds)))
        out["stopped"] = self.stopped if self.stopped != "complete" else self.folds[-1].stopped
        out["folds_done"] = len(self.folds)
        out["folds_planned"] = self.planned
        if self.reason:
            out["stop_reason"] = self.reason
        out["folds"] = [{k: getattr(f, k) for k in FOLD_KEYS} for f in self.folds]
        return out


class Evaluator:
    """Scores settings on a study's folds with one trainer (one compiled model for all)."""

    def __init__(self, trainer: Trainer, folds: Sequence[Splits], seed: int) -> None:
        self.trainer = trainer
        self.folds = list(folds)
        self.seed = seed
        # Steps are fold * stride + epoch: the stride is the most epochs any fold can run.
        self.stride = max(trainer.training.schedule(len(f.y_train))[0] for f in self.folds)

    @property
    def validated_labels(self) -> np.ndarray:
        """The labels of every row the folds validate on (train + validation, each once a
        repeat): what the majority-class floor of a trial's mean accuracy is taken over."""
        return np.concatenate([f.y_val for f in self.folds])

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.trainer.close()

    def evaluate(self, params: dict[str, Any], *, report: Report | None = None,
                 race: Race | None = None, training: TrainingSpec | None = None) -> FoldedResult:
        """Train ``params`` on each fold in turn (fold ``i`` with ``folds.fold_seed``) and
        collect the figures; stop early when ``report`` or ``race`` says so."""
        with interruptible():
            return self._evaluate(params, report, race, training)

    def _evaluate(self, params: dict[str, Any], report: Report | None, race: Race | None,
                  training: TrainingSpec | None) -> FoldedResult:
        result = FoldedResult(params={}, folds=[], planned=len(self.folds))
        for i, fold in enumerate(self.folds):
            def fold_report(epoch: int, value: float, i: int = i) -> bool:
                step = i * self.stride + epoch
                result.values[step] = value
                return report(step, value) if report is not None else False

            trained, _ = self.trainer.fit(params, seed=fold_seed(self.seed, i),
                                          report=fold_report, training=training, splits=fold)
            result.params = trained.params
            result.folds.append(trained)
            if trained.stopped == "pruned":
                result.stopped = "pruned"
                result.reason = (f"pruned at epoch {trained.epochs} of fold {i + 1}: below the "
                                 "pruner's cut at that epoch and no longer improving")
                break
            if race is not None and i + 1 < len(self.folds):
                reason = race(result.folds)
                if reason:
                    result.stopped, result.reason = "raced", reason
                    break
        return result
