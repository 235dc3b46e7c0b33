"""When a trial stops early: within a fold (an Optuna pruner on per-epoch values), between
folds (racing, and screening after the first), and replaying recorded curves to judge a
pruner configuration.

* ``FoldPruner`` applies a per-epoch pruner (``PatientPruner`` over ``PercentilePruner``, as the
  spec configures) within the first fold, which every trial runs: the evaluator reports step
  ``fold * stride + epoch``, and the wrapped pruner sees only the first fold's values. Later
  folds are run only by the trials that survived the first, so at a later fold's epoch there
  are few values to take a percentile of: measured on the default study, per-epoch pruning
  in every fold cut its two best trials (validation accuracy 0.984 and 0.978) at epochs 51-63
  of their third fold, below the 10th percentile of the four or five trials that had got that
  far. Between folds, racing decides instead, paired.
* ``race`` stops a trial after a fold once it is significantly below the best so far, paired
  on the folds done (a one-sided paired t test on validation accuracy). Optuna's
  ``WilcoxonPruner`` is the library's rule for this, but an exact signed-rank test on n pairs
  can never reach a p-value below 2**-n: with the default 3 folds it could not stop anything
  before the last fold at any usual threshold (1/4 after two folds), while the t test can when
  the difference is large against its spread, as it is for settings that learn poorly
  (benchmarks/results/racing.md replays both, and a rule that may stop after the first fold).

* ``screen`` stops a trial after its first fold when its validation accuracy there is below
  the best ``evaluation.screen`` share of the earlier trials' first folds: successive halving
  with folds as the resource, so that the same epochs look at more settings. Optuna's
  ``SuccessiveHalvingPruner`` and ``PercentilePruner`` compare values reported at the same
  step, but EarlyStopping ends each trial's first fold at another epoch, so the first folds'
  end figures are compared here.

The replay (``replay``) is used by the pruner benchmark and its test: given full (unpruned)
per-epoch curves of real trials, in the order they ran, which trials would a pruner stop,
after how many epochs, and would it have stopped a trial the selection rule wants? Optuna does the pruning itself
(``trial.report`` / ``should_prune`` on an in-memory study); only the replay loop is ours,
because Optuna has no "what if" mode for a pruner over recorded values.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import optuna

from .paired import CONFIDENCE, Paired


class FoldPruner(optuna.pruners.BasePruner):
    """Per-epoch pruning inside the first cross-validation fold (see the module's docstring)."""

    def __init__(self, inner: optuna.pruners.BasePruner, *, stride: int, warmup: int) -> None:
        self.inner = inner
        self.stride = stride
        self.warmup = warmup

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        fold, epoch = divmod(step, self.stride)
        if fold > 0 or epoch < self.warmup:
            return False
        view = copy.copy(trial)  # shallow: only the values dict is replaced, never mutated
        view.intermediate_values = {s: v for s, v in trial.intermediate_values.items()
                                    if s <= step}
        return self.inner.prune(study, view)


def race(mine: Sequence[float], best: Sequence[float], *, best_trial: int, floor: float,
         confidence: float = CONFIDENCE) -> str | None:
    """Why a trial should stop now, or None: its validation accuracy on the folds done
    (``mine``) against the best trial's on the same folds (``best``), paired, is significantly
    lower at ``confidence`` (one-sided). ``floor`` is the smallest standard error believed (one
    validation sample of a fold). Needs two folds: one pair has no spread to judge."""
    if len(mine) < 2:
        return None
    d = Paired.of(mine, best, floor)
    if not d.below(confidence):
        return None
    return (f"raced after {d.n} folds: validation accuracy {d.mean:+.4f} (standard error "
            f"{d.se:.4f}) against trial {best_trial} on the same folds, significantly lower "
            f"(one-sided {confidence:.0%})")


def screen(mine: float, earlier: Sequence[float], *, keep: float,
           startup: int) -> str | None:
    """Why a trial should stop after its first fold, or None: its validation accuracy there
    (``mine``) is below the ``1 - keep`` quantile of the ``earlier`` trials' first folds. It
    screens nothing until ``startup`` earlier first folds are known, or when ``keep`` is 1."""
    if keep >= 1 or not earlier or len(earlier) < startup:
        return None
    cut = float(np.quantile(earlier, 1 - keep))
    if mine >= cut:
        return None
    return (f"screened after fold 1: validation accuracy {mine:.4f}, below {cut:.4f}, the "
            f"best {keep:.0%} of {len(earlier)} earlier trials' first folds")


@dataclass(frozen=True)
class Replayed:
    """One trial as the pruner would have left it."""

    number: int
    pruned_at: int | None  # epochs run before it was pruned; None when it ran to the end
    epochs: int


def replay(curves: Sequence[Sequence[float]], pruner: optuna.pruners.BasePruner) -> list[Replayed]:
    """Feed each curve, in order, to ``pruner`` as a study would; say where each one stops."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    out = []
    for number, curve in enumerate(curves):
        trial = study.ask()
        stopped = None
        for step, value in enumerate(curve):
            trial.report(value, step)
            if step + 1 < len(curve) and trial.should_prune():
                stopped = step + 1
                break
        if stopped is None:
            study.tell(trial, curve[-1])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        out.append(Replayed(number, stopped, stopped or len(curve)))
    return out
