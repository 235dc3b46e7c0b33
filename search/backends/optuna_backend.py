"""The Optuna backend: translate the space, run the study, record every trial.

Optuna does the work (sampler, pruner, storage with heartbeats, progress bar, failure
catching); this module only adapts the trainer's ``report(step, value)``
to ``trial.report`` / ``trial.should_prune`` and writes what the trainer measured as user
attributes, so the dashboard, records and export read one format whichever backend ran.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from ..errors import RegsearchError, TrialFailure
from ..evaluation import Evaluator, FoldedResult, Race
from ..guard import floor_for
from ..pruning import FoldPruner
from ..pruning import race as race_rule
from ..pruning import screen as screen_rule
from ..trainer import TrainResult
from ..space import Choice, Float, Space
from ..spec import SearchSpec, StudySpec
from ..study import INTERRUPTED, WORKER, requeue_interrupted, started, trial_attrs
from ..study import budget as study_budget
from ..study import open_study as open_owned

def suggest(trial: optuna.trial.BaseTrial, space: Space) -> dict[str, Any]:
    """Sample the space in declaration order, skipping params whose condition does not hold."""
    values: dict[str, Any] = {}
    for param in space.params:
        if not space.is_active(param, values):
            continue
        if isinstance(param, Float):
            values[param.name] = trial.suggest_float(param.name, param.low, param.high,
                                                     log=param.log)
        elif isinstance(param, Choice):
            values[param.name] = trial.suggest_categorical(param.name, list(param.choices))
    return values


def make_sampler(search: SearchSpec, seed: int) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded. TPE is multivariate and grouped: l1/l2 are conditional."""
    if search.sampler == "tpe":
        with warnings.catch_warnings():  # `group` is marked experimental; it is what we need
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.sampler_startup,
                                              multivariate=True, group=True)
    if search.sampler == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(search: SearchSpec, stride: int) -> optuna.pruners.BasePruner:
    """The spec's pruner, configured so it does not kill slow-starting regularized models.

    Strongly regularized models learn slower in the first epochs, and on digits every sane
    setting is still improving at epoch 30, so the median at an early epoch mostly measures
    learning speed. Replaying 48 real unpruned digits trials (benchmarks/pruner.py), Optuna's
    default ``MedianPruner`` on val accuracy pruned 41 of them, including the trial the
    selection rule chooses. The default compares the per-epoch objective (what selection looks
    at), never prunes in the first ``pruner_warmup`` epochs, cuts only the bottom
    ``100 - pruner_percentile`` percent at an epoch, and, through ``PatientPruner``, only a
    trial that has also not improved for ``pruner_patience`` epochs: a slow starter that is
    still climbing is left alone. Without the patience the percentile cut the chosen trial and
    12 of 16 strongly regularized candidates (benchmarks/results/pruner.md).

    It acts within the first cross-validation fold, which every trial runs
    (``pruning.FoldPruner``); racing decides between folds. ``stride`` is the evaluator's
    steps per fold.
    """
    if search.pruner == "none":
        return optuna.pruners.NopPruner()
    percentile = search.pruner_percentile if search.pruner == "percentile" else 50.0
    # n_min_trials: a percentile of fewer trials' values at an epoch is not a percentile.
    base = optuna.pruners.PercentilePruner(percentile, n_startup_trials=search.pruner_startup,
                                           n_min_trials=max(search.pruner_startup, 1))
    if search.pruner_patience:
        with warnings.catch_warnings():  # PatientPruner is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            base = optuna.pruners.PatientPruner(base, patience=search.pruner_patience)
    return FoldPruner(base, stride=stride, warmup=search.pruner_warmup)


def open_study(spec: StudySpec, *, stride: int, name: str | None = None,
               backend: str = "optuna", storage: Any = None,
               restart: bool = False) -> optuna.Study:
    """The study (``study.open_study``, deleted first when ``restart``) with this backend's
    seeded sampler and pruner; ``stride`` is the evaluator's steps per fold
    (``Evaluator.stride``)."""
    return open_owned(spec, name=name or spec.name, backend=backend, storage=storage,
                      sampler=make_sampler(spec.search, spec.seed),
                      pruner=make_pruner(spec.search, stride), restart=restart)


def record(trial: optuna.trial.Trial, result: FoldedResult, floor: float) -> None:
    """Write a ``FoldedResult`` onto the trial as user attributes (dashboard, records, export)."""
    for key, value in trial_attrs(result, floor).items():
        trial.set_user_attr(key, value)


def first_folds(study: optuna.Study, number: int) -> list[float]:
    """The validation accuracy of every other finished trial's first fold (the baseline's
    included), where that fold ran to its end: a fold cut by the per-epoch pruner did not."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        folds = t.user_attrs.get("folds") or []
        if t.number != number and folds and folds[0].get("stopped") != "pruned":
            out.append(float(folds[0]["val_accuracy"]))
    return out


def racer(trial: optuna.trial.Trial, evaluator: Evaluator, spec: StudySpec) -> Race:
    """What stops ``trial`` between folds: after the first, screening (``pruning.screen``,
    when ``evaluation.screen`` is below 1; its start-up is the pruner's); after each fold, with
    ``evaluation.racing``, a comparison with the completed trial of best mean validation
    accuracy (the baseline included), paired on the folds done."""
    floor = 1 / min(len(f.y_val) for f in evaluator.folds)
    keep = spec.evaluation.screen

    def race(done: list[TrainResult]) -> str | None:
        if len(done) == 1 and keep < 1:
            reason = screen_rule(done[0].val_accuracy, first_folds(trial.study, trial.number),
                                 keep=keep, startup=spec.search.pruner_startup)
            if reason:
                return reason
        if not spec.evaluation.racing:
            return None
        full = [t for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if len(t.user_attrs.get("folds") or []) >= len(done)]
        if not full:
            return None
        best = max(full, key=lambda t: (t.user_attrs["val_accuracy"], -t.number))
        theirs = [f["val_accuracy"] for f in best.user_attrs["folds"][:len(done)]]
        return race_rule([r.val_accuracy for r in done], theirs, best_trial=best.number,
                         floor=floor)

    return race


@dataclass
class FailureBudget:
    """Stop the study after ``limit`` failed trials in a row (a broken setup, not bad luck)."""

    limit: int
    in_a_row: int = 0
    last_reason: str = ""
    tripped: bool = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state != optuna.trial.TrialState.FAIL:
            self.in_a_row = 0
            return
        self.in_a_row += 1
        self.last_reason = str(trial.user_attrs.get("fail_reason")
                               or trial.system_attrs.get("fail_reason", "unknown"))
        if self.in_a_row >= self.limit:
            self.tripped = True
            study.stop()


def make_objective(spec: StudySpec,
                   evaluator: Evaluator) -> Callable[[optuna.trial.Trial], float]:
    """The objective: sample, evaluate over the folds (``objective.evaluator_for``) with
    per-epoch pruning and racing, record; prune with the reason, or return the mean score."""
    floor = floor_for(evaluator.validated_labels)

    def objective(trial: optuna.trial.Trial) -> float:
        trial.set_user_attr("worker", WORKER)
        params = suggest(trial, spec.space)

        def report(step: int, value: float) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        try:
            result = evaluator.evaluate(
                params, report=report,
                race=racer(trial, evaluator, spec))
        except Exception as exc:
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
            raise TrialFailure(str(exc)) from exc
        except KeyboardInterrupt:  # Optuna records the trial FAILED and re-raises; run re-queues
            trial.set_user_attr("fail_reason", INTERRUPTED)
            raise
        record(trial, result, floor)
        if result.stopped != "complete":
            raise optuna.TrialPruned(result.reason)
        return result.score

    return objective


#: What the storage raises when it cannot write (Optuna wraps SQLAlchemy's errors, not all).
STORAGE_ERRORS = (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError)


class _QuietInterrupt(logging.Filter):
    """Drops Optuna's two warnings about a trial failed by Ctrl-C (a 50-line traceback and
    "failed with value None"): the trial is re-queued, and the command says so in one line.
    Optuna logs every failure with its traceback and has no switch for KeyboardInterrupt."""

    def __init__(self) -> None:
        super().__init__()
        self.trials: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("Trial "):
            return True
        number = message.split()[1]
        if "KeyboardInterrupt()" in message:
            self.trials.add(number)
        return number not in self.trials

    @classmethod
    @contextlib.contextmanager
    def installed(cls) -> Iterator[None]:
        # The logger Optuna's optimize loop writes trial failures to (its module's name).
        logger, quiet = logging.getLogger("optuna.study._optimize"), cls()
        logger.addFilter(quiet)
        try:
            yield
        finally:
            logger.removeFilter(quiet)


@dataclass
class TrialBudget:
    """Stop this worker once the study's budget is started, by whichever workers.

    ``optuna.study.MaxTrialsCallback(states=None)`` counts every trial, so a trial failed by its
    heartbeat and re-queued would count twice (the stale FAIL and its retry).
    """

    budget: int

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if started(study) >= self.budget:
            study.stop()


def run(study: optuna.Study, spec: StudySpec, evaluator: Evaluator, *, extra_trials: int | None = None,
        budget: int | None = None, progress: bool = True) -> optuna.Study:
    """Run trials in this process until the study's ``budget`` is started (default: the spec's),
    or ``extra_trials`` more if given (then the budget defaults to what that makes).

    Queued retries are asked first (Optuna pops WAITING trials before creating new ones), and a
    ``TrialBudget`` stops this worker as soon as other workers have used the budget.
    """
    done = started(study)
    if budget is None:
        budget = study_budget(study, spec, extra_trials)
    n_trials = budget - done if extra_trials is None else min(extra_trials, budget - done)
    if n_trials > 0:
        if progress:  # the bar says what the per-trial INFO lines would, without the clutter
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        failures = FailureBudget(spec.search.max_failures)
        unrecorded = None
        try:
            with _QuietInterrupt.installed():
                study.optimize(make_objective(spec, evaluator), n_trials=n_trials,
                               catch=(TrialFailure,), show_progress_bar=progress,
                               callbacks=[TrialBudget(budget), failures])
        except KeyboardInterrupt:
            requeue_interrupted(study, WORKER)
            raise
        except AssertionError as exc:
            # When the storage fails to record a trial's end (a full disk), Optuna's trial loop
            # replaces that error with its own "Should not reach" assertion: give the cause.
            if not isinstance(exc.__context__, STORAGE_ERRORS):
                raise
            unrecorded = exc.__context__
        if unrecorded is not None:
            raise unrecorded  # outside the handler, with its own cause (the database's reason)
        if failures.tripped:
            raise RegsearchError(f"study {spec.name!r} stopped: {failures.in_a_row} trials in a "
                                 f"row failed (search.max_failures = {failures.limit}); last "
                                 f"reason: {failures.last_reason}")
    return study
