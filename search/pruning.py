"""Replaying recorded learning curves through a pruner, to judge a pruner configuration.

Used by the pruner benchmark and its test: given full (unpruned) per-epoch curves of real
trials, in the order they ran, which trials would a pruner stop, after how many epochs, and
would it have stopped a trial the selection rule wants? Optuna does the pruning itself
(``trial.report`` / ``should_prune`` on an in-memory study); only the replay loop is ours,
because Optuna has no "what if" mode for a pruner over recorded values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import optuna


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
