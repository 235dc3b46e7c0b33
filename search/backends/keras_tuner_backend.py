"""The Keras Tuner backend: the same study run by a Keras Tuner oracle, recorded in Optuna.

Keras Tuner decides which settings to try (Hyperband, Bayesian optimization or random search);
the shared trainer trains them (same model builder, same dropout-off measurements, same
EarlyStopping on the same ``score``, which is also the oracle's objective), and every Keras
Tuner trial is copied into the study's Optuna storage as an Optuna trial with the same params,
distributions, user attributes and per-epoch intermediate values. So the dashboard,
``regsearch export`` and the summary read it like any Optuna study.

Hyperband: the oracle hands each trial an epoch budget (``tuner/epochs``). A trial whose budget
is below ``max_epochs`` is a successive-halving rung and is recorded PRUNED (its figures kept,
its value its mean score over the folds); a trial trained with the
full ``max_epochs`` budget is COMPLETE. A promoted setting is trained again from scratch for its
larger budget rather than resumed from a Keras Tuner checkpoint (``tuner/initial_epoch`` and
``tuner/trial_id`` are ignored, and no checkpoint is written): the checkpoint would hold the last
epoch, not the weights EarlyStopping restored, and a COMPLETE trial trained from scratch is
exactly what the chosen setting's fresh test run reproduces (DESIGN.md: an exported setting must
be judged by a fresh run). It costs the epochs of the lower rungs once more.

Budget: the study's trial budget (``[keras_tuner].trials``, else ``[search].trials``) caps the
Keras Tuner trials for every tuner; Hyperband also stops after ``hyperband_iterations`` full
iterations. Resuming: Keras Tuner's project (``overwrite=False``) continues where it stopped,
and each copied Optuna trial carries its Keras Tuner ``trial_id`` (``kt_trial_id``), so a trial
is copied once, before Keras Tuner marks it ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from ..errors import RegsearchError
from ..guard import floor_for
from ..space import Choice, Float, Space
from ..spec import StudySpec
from ..study import WORKER, distribution, trial_attrs

if TYPE_CHECKING:
    import keras_tuner as kt

    from ..evaluation import Evaluator, FoldedResult

#: The Optuna user attribute that ties a copied trial to its Keras Tuner trial.
KT_ID = "kt_trial_id"

#: Keras Tuner reads ``seed=0`` as "draw a seed at random"; a study seeded 0 must still repeat.
_SEED_FOR_ZERO = 2**31 - 1


@dataclasses.dataclass
class Ran:
    """What ``run_trial`` saw of one trial: when it began, and its result or why it failed."""

    started: datetime
    result: FoldedResult | None = None
    reason: str | None = None


def hyperparameters(space: Space) -> kt.HyperParameters:
    """The space as Keras Tuner hyperparameters: log floats, a choice, conditional strengths."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for param in space.params:
        with contextlib.ExitStack() as stack:
            for name, values in param.when.items():
                stack.enter_context(hp.conditional_scope(name, list(values)))
            if isinstance(param, Float):
                hp.Float(param.name, param.low, param.high,
                         sampling="log" if param.log else "linear")
            elif isinstance(param, Choice):
                hp.Choice(param.name, list(param.choices))
    return hp


def params_of(hp: kt.HyperParameters, space: Space) -> dict[str, Any]:
    """A trial's values for the space's params (Keras Tuner keeps only active ones in
    ``values``; Hyperband's own ``tuner/*`` entries are left out)."""
    return {p.name: hp.values[p.name] for p in space.params if p.name in hp.values}


def make_oracle(spec: StudySpec, max_epochs: int) -> kt.Oracle:
    """The spec's Keras Tuner oracle over the translated space, maximizing ``score``."""
    import keras_tuner as kt

    common = {"objective": kt.Objective("score", "max"),
              "seed": spec.seed or _SEED_FOR_ZERO,
              "hyperparameters": hyperparameters(spec.space), "tune_new_entries": False,
              "allow_new_entries": False,
              "max_consecutive_failed_trials": spec.search.max_failures}
    kts = spec.keras_tuner
    if kts.tuner == "hyperband":
        return kt.oracles.HyperbandOracle(max_epochs=max_epochs, factor=kts.factor,
                                          hyperband_iterations=kts.hyperband_iterations,
                                          **common)
    if kts.tuner == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(
            num_initial_points=spec.search.sampler_startup or None, **common)
    return kt.oracles.RandomSearchOracle(**common)


def trials_to_first_full_run(oracle: kt.oracles.HyperbandOracle) -> int:
    """How many trials Hyperband runs up to and including its first full-``max_epochs`` one.

    Its first bracket is the most aggressive: every rung below ``max_epochs`` is filled before
    one setting is trained for all of them. Keras Tuner 1.4 exposes that schedule only through
    these helpers; computing it here would be a second copy of it.
    """
    bracket = oracle._get_num_brackets() - 1
    return sum(oracle._get_size(bracket, r) for r in range(bracket)) + 1


def work_dir(spec: StudySpec) -> Path:
    """Keras Tuner's working directory, ``keras-tuner/`` beside the spec (git-ignored under
    ``studies/``); the project inside it is named after the study."""
    return Path(spec.path).resolve().parent / "keras-tuner"


def copied_ids(study: optuna.Study) -> set[str]:
    """Keras Tuner trial ids already copied into the Optuna study."""
    return {t.user_attrs[KT_ID] for t in study.get_trials(deepcopy=False) if KT_ID in t.user_attrs}


def copy_trial(study: optuna.Study, space: Space, kt_trial: kt.engine.trial.Trial,
               ran: Ran | None, max_epochs: int, floor: float) -> None:
    """Add one finished Keras Tuner trial to the Optuna study, once (keyed by its trial id).

    ``floor`` is the validation split's no-learning threshold (``guard.floor_for``)."""
    import keras_tuner as kt

    if kt_trial.trial_id in copied_ids(study):
        return
    params = params_of(kt_trial.hyperparameters, space)
    budget = int(kt_trial.hyperparameters.values.get("tuner/epochs", max_epochs))
    attrs: dict[str, Any] = {KT_ID: kt_trial.trial_id, "kt_epoch_budget": budget,
                             "worker": WORKER}
    values: dict[int, float] = {}
    value = None
    result = ran.result if ran else None
    if kt_trial.status == kt.engine.trial.TrialStatus.COMPLETED and result is not None:
        attrs.update(trial_attrs(result, floor))
        values = result.values
        if budget >= max_epochs:
            state, value = optuna.trial.TrialState.COMPLETE, result.score
        else:  # a Hyperband rung: stopped by successive halving, as a pruner would
            attrs["stopped"] = "pruned"
            state, value = optuna.trial.TrialState.PRUNED, result.score
    else:  # our own reason, else the last line of Keras Tuner's traceback
        lines = (kt_trial.message or "").strip().splitlines()
        attrs["fail_reason"] = (ran.reason if ran and ran.reason
                                else lines[-1] if lines else "failed")
        state = optuna.trial.TrialState.FAIL
    trial = optuna.trial.create_trial(
        params=params, distributions={k: distribution(space[k]) for k in params}, value=value,
        state=state, user_attrs=attrs, intermediate_values=values)
    if ran is not None:  # the real duration, not the instant of copying
        trial.datetime_start = ran.started
    study.add_trial(trial)


def _check_in_step(study: optuna.Study, oracle: kt.Oracle, folder: Path) -> None:
    """Refuse to go on when Keras Tuner's project and the Optuna study disagree.

    Trial ids restart at 0 in a new project, so copying would silently skip new trials whose
    ids an older project already used, or leave ended trials out of the study.
    """
    import keras_tuner as kt

    ended = {i for i, t in oracle.trials.items()
             if t.status in (kt.engine.trial.TrialStatus.COMPLETED,
                             kt.engine.trial.TrialStatus.FAILED)}
    copied = copied_ids(study)
    if copied - set(oracle.trials) or ended - copied:
        raise RegsearchError(
            f"Keras Tuner's project {folder} and study {study.study_name!r} disagree "
            f"({len(ended)} trials ended there, {len(copied)} copied here): one was deleted or "
            "made with another storage; remove the project folder and the study "
            "(optuna delete-study) to start over, or give the study another name")


def run(study: optuna.Study, spec: StudySpec, evaluator: Evaluator, *,
        extra_trials: int | None = None, progress: bool = True) -> optuna.Study:
    """Run (or continue) the Keras Tuner search up to the study's trial budget, or
    ``extra_trials`` more than it has, scoring each trial over the folds with ``evaluator``
    (``objective.evaluator_for``) and mirroring every trial into ``study``."""
    import keras_tuner as kt
    from tqdm import tqdm

    max_epochs = spec.keras_tuner.max_epochs or spec.training.max_epochs
    space = spec.space
    floor = floor_for(evaluator.validated_labels)

    class SharedTrainerTuner(kt.Tuner):
        """A Keras Tuner whose trials are trained by regsearch's trainer."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.ran: dict[str, Ran] = {}
            self.last_reason = ""
            self.bar: tqdm | None = None

        def run_trial(self, trial: kt.engine.trial.Trial, *args: Any,
                      **kwargs: Any) -> dict[str, float]:
            ran = self.ran[trial.trial_id] = Ran(started=datetime.now())
            epochs = int(trial.hyperparameters.values.get("tuner/epochs", max_epochs))
            try:
                ran.result = evaluator.evaluate(
                    params_of(trial.hyperparameters, space),
                    # A Hyperband rung trains exactly its epochs; only a full run waits for
                    # training.min_steps before EarlyStopping may stop it.
                    training=dataclasses.replace(
                        spec.training, max_epochs=epochs,
                        min_steps=spec.training.min_steps if epochs >= max_epochs else 0))
            except Exception as exc:  # one trial's failure is that trial's, not the search's
                ran.reason = self.last_reason = f"{type(exc).__name__}: {exc}"
                raise kt.errors.FailedTrialError(ran.reason) from exc
            return {"score": ran.result.score}

        def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
            # Copy first: if the process dies in between, Keras Tuner re-runs the trial on
            # resume and the copy is not made twice.
            copy_trial(study, space, trial, self.ran.pop(trial.trial_id, None), max_epochs,
                       floor)
            super().on_trial_end(trial)
            if self.bar is not None:
                self.bar.update(1)

    folder = work_dir(spec)
    with contextlib.redirect_stdout(io.StringIO()):  # "Reloading Tuner from ..." on resume
        tuner = SharedTrainerTuner(oracle=make_oracle(spec, max_epochs), directory=str(folder),
                                   project_name=study.study_name, overwrite=False)
    oracle = tuner.oracle
    _check_in_step(study, oracle, folder / study.study_name)
    done = len(oracle.trials)
    budget = done + extra_trials if extra_trials is not None else \
        spec.keras_tuner.trials or spec.search.trials
    # Set after the tuner reloads its project: only then is the trial count known, and a
    # reloaded Hyperband oracle brings back the iteration count it was saved with.
    oracle.max_trials = budget
    if spec.keras_tuner.tuner == "hyperband":
        _check_hyperband(oracle, spec, max_epochs, done, budget, extra_trials)
        oracle.hyperband_iterations = spec.keras_tuner.hyperband_iterations
    tuner.bar = tqdm(total=budget, initial=done, desc="keras-tuner trials",
                     disable=not progress)
    try:
        with tuner.bar:
            tuner.search(verbose=0)
    except RuntimeError as exc:
        if not str(exc).startswith("Number of consecutive failures"):
            raise
        raise RegsearchError(
            f"study {study.study_name!r} stopped: {spec.search.max_failures} trials in a row "
            f"failed (search.max_failures = {spec.search.max_failures}); last reason: "
            f"{tuner.last_reason}") from None
    if extra_trials is not None and len(oracle.trials) == done:
        raise RegsearchError(
            f"--trials {extra_trials}: the {spec.keras_tuner.tuner} oracle has no trial left to "
            "give (Hyperband stops after keras_tuner.hyperband_iterations = "
            f"{spec.keras_tuner.hyperband_iterations}); raise that to go on")
    return study


def check_budget(spec: StudySpec, extra_trials: int | None = None) -> None:
    """Refuse, before any data is read or any storage touched, a Hyperband study whose budget
    (the spec's, or ``extra_trials`` for a study with no Keras Tuner trial yet) ends before one
    setting is trained for ``max_epochs``. ``--trials`` on a study under way depends on the
    trials already run, which only ``run`` knows."""
    if spec.keras_tuner.tuner != "hyperband":
        return
    max_epochs = spec.keras_tuner.max_epochs or spec.training.max_epochs
    budget = extra_trials or spec.keras_tuner.trials or spec.search.trials
    _check_first_full_run(make_oracle(spec, max_epochs), spec, 0, budget, extra_trials)


def _check_hyperband(oracle: kt.oracles.HyperbandOracle, spec: StudySpec, max_epochs: int,
                     done: int, budget: int, extra_trials: int | None) -> None:
    """Refuse a Hyperband run whose schedule changed mid-search, or whose trial budget ends
    before any setting is trained for ``max_epochs`` (nothing could then be chosen)."""
    kts = spec.keras_tuner
    if (oracle.max_epochs, oracle.factor) != (max_epochs, kts.factor):
        raise RegsearchError(
            f"Hyperband's schedule cannot change mid-search: its project was started with "
            f"max_epochs {oracle.max_epochs} and factor {oracle.factor}, the spec now says "
            f"{max_epochs} and {kts.factor}; put them back or give the study another name")
    _check_first_full_run(oracle, spec, done, budget, extra_trials)


def _check_first_full_run(oracle: kt.oracles.HyperbandOracle, spec: StudySpec, done: int,
                          budget: int, extra_trials: int | None) -> None:
    kts = spec.keras_tuner
    needed = trials_to_first_full_run(oracle)
    if budget < needed:
        raise_ = f"--trials to at least {needed - done}" if extra_trials is not None else \
            f"{'keras_tuner' if kts.trials else 'search'}.trials to at least {needed}"
        raise RegsearchError(
            f"{spec.path}: Hyperband (max_epochs {oracle.max_epochs}, factor {kts.factor}) "
            f"trains its first setting for all {oracle.max_epochs} epochs at trial {needed}, but "
            f"the budget stops at {budget} trials, so no trial would complete and nothing could "
            f"be chosen: raise {raise_}, or raise keras_tuner.factor, or lower "
            "keras_tuner.max_epochs")
