"""The study's one owner, for both backends: opening it, what it records, reading it back.

* **Opening**: ``open_study`` creates or loads the Optuna study and records the spec and the
  backend; each backend hands it its sampler and pruner (Keras Tuner needs neither: its trials
  are added whole).
* **The schema**: every trial carries the same user attributes (``trial_attrs``: the trainer's
  figures, ``learns_nothing``, the curves), and each param the same Optuna distribution
  (``distribution``), whichever backend ran it; the study carries ``STUDY_ATTRS``.
* **The budget**: which trials count (``counted_trials``: a re-queued retry stands for the trial
  it replaces) and how many a run fills up to (``budget``).
* **Reading back**: ``Snapshot(study)`` reads the study attributes, parses the stored spec,
  builds the trials frame and applies the selection rule once, for a whole command; the summary,
  the export and the report read that snapshot.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import socket
import warnings
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from .errors import RegsearchError, SpecError
from .guard import LearningGuard, learns_nothing
from .objective import BASELINE_ROLE, Selection, select
from .space import PARAM_NAMES, Float, Param
from .spec import StudySpec, spec_from_dict

if TYPE_CHECKING:
    from .evaluation import FoldedResult

#: The params a trial can record: every name the space allows.
PARAMS = PARAM_NAMES
METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "gap")

#: The study's user attributes: what regsearch records beside the trials.
STUDY_ATTRS = ("spec", "backend", "budget", "data_sizes", "data_shape", "data_scaling",
               "majority_rate", "guard", "confirmation")

#: Which process ran a trial (``host:pid``), stored as its ``worker`` user attribute.
WORKER = f"{socket.gethostname()}:{os.getpid()}"

#: What the dashboard calls the objective (its history plot read "Objective 0" without it).
METRIC_NAME = "score = val_accuracy - gap_weight x |gap|"


def open_study(spec: StudySpec, *, name: str, backend: str,
               sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None,
               storage: Any = None, restart: bool = False) -> optuna.Study:
    """Create the study, or load it to continue; records the spec and backend as attributes.

    It continues only under a spec that keeps what its trials mean (``spec_changes``);
    other changes (the budget, the sampler...) replace the stored spec. ``restart`` deletes the
    stored study first, trials and all, so it starts afresh under this spec.
    """
    from .storage import display_url, open_storage

    storage = storage or open_storage(spec.storage, workers=spec.workers)
    if restart:
        try:
            optuna.delete_study(study_name=name, storage=storage)
        except KeyError:  # not stored yet: nothing to delete
            pass
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    attrs = study.user_attrs
    if attrs.get("backend", backend) != backend:
        raise RegsearchError(f"study {study.study_name!r} in {spec.storage} was run with backend "
                             f"{attrs['backend']!r}, not {backend!r}; give it another "
                             "study.name")
    document = spec.to_document()
    changes = spec_changes(attrs["spec"], document) if "spec" in attrs else []
    if changes:
        n = len(study.get_trials(deepcopy=False))
        raise RegsearchError(
            f"study {name!r} in {display_url(spec.storage)} cannot continue under this spec: "
            f"{'; '.join(changes)} would change what its trials mean. Give the spec a new "
            f"[study] name to start another study, or pass --restart to `regsearch run` to "
            f"delete this one ({n} stored trial{'' if n == 1 else 's'}) and start afresh")
    if "backend" not in attrs:
        study.set_user_attr("backend", backend)
    if study.metric_names != [METRIC_NAME]:
        with warnings.catch_warnings():  # set_metric_names is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([METRIC_NAME])
    study.set_user_attr("spec", document)
    return study


#: The keys of ``StudySpec.to_document()`` that say what a trial means (dotted prefixes), and
#: the keys among them that do not change a trial's result (``spec_changes`` says why).
MEANING = ("data", "model", "training", "evaluation", "study.space", "study.seed",
           "search.gap_weight")
NEUTRAL = ("training.reuse_model", "evaluation.racing", "evaluation.screen")


def spec_changes(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> list[str]:
    """The changes from a study's stored spec document to a new one that change what a trial
    means, each as ``key: old -> new`` (dotted key, JSON values, ``(none)`` for a key one side
    lacks); empty when the study may continue under the new spec.

    Trials compare only if each was scored the same way: on the same data, splits and folds
    (``[data]``, ``[evaluation]``, ``study.seed``), with the same model and training
    (``[model]``, ``[training]``), over the same space (``study.space``) and by the same
    objective (``search.gap_weight``); the baseline was scored so too. Everything else changes
    how the search goes on, not what a trial measures: the budget and failure limit, sampler
    and pruner settings, racing and screening (they stop a losing trial between folds, as a
    pruner does), ``training.reuse_model`` (the same computation, ``search/reuse.py``),
    ``[keras_tuner]``, ``[workers]``, ``[confirm]``, ``[selection]``, the storage and the
    backend (a study of another backend is another study).

    The stored document is read back as a spec first, so a key an older regsearch did not
    write counts as its default, as every command reading the study takes it.
    """
    try:
        old_doc = spec_from_dict(old_doc, "<stored spec>").to_document()
    except SpecError:  # no longer a valid spec: compare what was stored, key by key
        pass
    absent, changes = object(), []

    def means(key: str) -> bool:
        def under(prefixes: tuple[str, ...]) -> bool:
            return any(key == p or key.startswith(p + ".") for p in prefixes)

        return under(MEANING) and not under(NEUTRAL)

    def shown(value: Any) -> str:
        return "(none)" if value is absent else json.dumps(value, ensure_ascii=False)

    def walk(old: Any, new: Any, key: str) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for k in [*old, *(k for k in new if k not in old)]:
                walk(old.get(k, absent), new.get(k, absent), f"{key}.{k}" if key else k)
        elif old != new and means(key):
            changes.append(f"{key}: {shown(old)} -> {shown(new)}")

    walk(old_doc, new_doc, "")
    return changes


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one space param, as every backend records it."""
    if isinstance(param, Float):
        return optuna.distributions.FloatDistribution(param.low, param.high, log=param.log)
    return optuna.distributions.CategoricalDistribution(list(param.choices))


def trial_attrs(result: FoldedResult, floor: float) -> dict[str, Any]:
    """The user attributes every trial carries for a ``FoldedResult``: fold means with their
    standard errors, each fold's figures, the first fold's curves, and ``learns_nothing`` when
    its mean validation accuracy is at the majority-class ``floor`` (``guard.floor_for``)."""
    metrics = result.metrics()
    return {**metrics, "learns_nothing": learns_nothing(metrics["val_accuracy"], floor),
            "curves": {k: [round(x, 6) for x in v] for k, v in result.curves.items()}}


def baseline_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's unregularized baseline, evaluated on the folds like any trial."""
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                 if t.user_attrs.get("role") == BASELINE_ROLE), None)


def add_baseline(study: optuna.Study, result: FoldedResult, floor: float) -> None:
    """Record the baseline (no dropout, no penalty) as a COMPLETE trial with no params.

    It is a trial so that it competes: the selection rule, racing and the pruner compare the
    search's trials with it on the same folds, and the dashboard shows it beside them. It does
    not count against the budget (``counted_trials``).
    """
    study.add_trial(optuna.trial.create_trial(
        params={}, distributions={}, value=result.score, state=TrialState.COMPLETE,
        user_attrs={"role": BASELINE_ROLE, "worker": WORKER, **trial_attrs(result, floor)},
        intermediate_values=result.values))


def counted_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that count against the budget: all but those re-queued after a worker died.

    ``RetryHeartbeatStaleTrialCallback.retry_history`` names the trials a retry stands for; the
    retry counts in their place, so a crash costs no slot of the budget and no trial is counted
    twice.
    """
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("role") != BASELINE_ROLE]
    replaced = {n for t in trials for n in _retry_history(t)}
    return [t for t in trials if t.number not in replaced]


#: The ``fail_reason`` of a trial stopped by Ctrl-C; ``requeue_interrupted`` runs it again.
INTERRUPTED = "interrupted by the user (Ctrl-C)"


def _retry_history(trial: optuna.trial.FrozenTrial) -> list[int]:
    with warnings.catch_warnings():  # retry_history is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)


def requeue_interrupted(study: optuna.Study, worker: str) -> list[int]:
    """Queue again the setting of each trial ``worker`` lost to Ctrl-C; their numbers.

    The retry is the one a killed worker's trial gets (``RetryHeartbeatStaleTrialCallback``,
    unbounded: an interrupt is the user's, not a crash), so ``counted_trials`` counts it in the
    interrupted trial's place and the next run asks it first. Its user attributes start empty:
    the interrupted trial's ``fail_reason`` is not the retry's.
    """
    trials = study.get_trials(deepcopy=False)
    replaced = {n for t in trials for n in _retry_history(t)}
    lost = [t for t in trials if t.state == TrialState.FAIL and t.number not in replaced
            and t.user_attrs.get("worker") == worker
            and t.user_attrs.get("fail_reason") == INTERRUPTED]
    with warnings.catch_warnings():  # the callback is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)
        for trial in lost:
            clean = copy.copy(trial)
            clean.user_attrs = {}
            clean.system_attrs = copy.deepcopy(trial.system_attrs)  # the callback appends to it
            retry(study, clean)
    return [t.number for t in lost]


def started(study: optuna.Study) -> int:
    """Counted trials that have begun; a WAITING one (a queued retry) still holds a slot to run."""
    return sum(t.state != optuna.trial.TrialState.WAITING for t in counted_trials(study))


def budget(study: optuna.Study, spec: StudySpec, extra_trials: int | None = None) -> int:
    """How many counted trials ``regsearch run`` fills the study up to: ``extra_trials`` more
    than it has started, else the spec's budget."""
    return spec.search.trials if extra_trials is None else started(study) + extra_trials


def record_budget(study: optuna.Study, spec: StudySpec, target: int) -> None:
    """Record what ``regsearch worker`` fills up to: a short ``--trials`` run does not shrink
    the study below the spec's budget."""
    study.set_user_attr("budget", max(target, spec.search.trials))


def worker_budget(study: optuna.Study, spec: StudySpec) -> int:
    """What a worker joining the study fills it up to (``record_budget``)."""
    return int(study.user_attrs.get("budget", spec.search.trials))


class Snapshot:
    """One command's read of a study: attributes, spec, trials frame and selection, once each.

    Optuna fetches ``study.user_attrs`` and the trials from storage on every access, and the
    spec is validated when parsed; a report used to do each 5 to 10 times. The spec and the
    selection are worked out when first asked for, so a study with nothing to read says so
    before its spec is needed.
    """

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.attrs: dict[str, Any] = study.user_attrs
        self.frame: pd.DataFrame = trials_frame(study)
        self.counts: dict[str, int] = counts(self.frame)

    @functools.cached_property
    def spec(self) -> StudySpec:
        return _parse_spec(self.study.study_name, self.attrs)

    @property
    def params(self) -> tuple[str, ...]:
        """The param names the study's space searches, in ``PARAMS`` order: the rows a table
        of its settings shows (the others are off in every trial)."""
        return tuple(k for k in PARAMS if k in self.spec.space)

    @functools.cached_property
    def selection(self) -> Selection | None:
        """The selection rule applied to the completed trials (None when there are none)."""
        done = self.completed
        if done.empty:
            return None
        return select(done.to_dict("records"), floor=1 / self.n_val,
                      tolerance=self.spec.tolerance)

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def sizes(self) -> dict[str, int]:
        return dict(self.attrs.get("data_sizes", {}))

    @property
    def n_val(self) -> int:
        """Rows in one fold's validation part (a study made before folds: its validation split)."""
        sizes = self.sizes
        return int(sizes.get("fold_val", sizes.get("val", 0))) or 1

    @property
    def backend(self) -> str:
        return str(self.attrs.get("backend", "optuna"))

    @property
    def scaling(self) -> dict[str, Any] | None:
        """The fitted feature scaling the study recorded (``Scaling.to_dict``)."""
        return self.attrs.get("data_scaling")

    @property
    def confirmation(self) -> dict[str, Any] | None:
        """The stored confirmation (``confirm.ensure_confirmation``), current or not."""
        return self.attrs.get("confirmation")

    @property
    def guard(self) -> LearningGuard | None:
        doc = self.attrs.get("guard")
        return LearningGuard.from_dict(doc) if doc else None

    @property
    def warning(self) -> str | None:
        """The no-learning guard's warning when it fired for this study."""
        guard = self.guard
        return guard.message() if guard is not None and guard.fires else None

    @property
    def completed(self) -> pd.DataFrame:
        return completed(self.frame)


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
    """The search's trials by state (the baseline's trial aside; a trial stopped by Ctrl-C is
    ``interrupted``, not ``failed``: its setting is re-queued), how many of the pruned were
    stopped by racing between folds, the epochs spent over all trials and the baseline, and how
    many trials sat at the majority-class level (``learns_nothing``, ``search/guard.py``)."""
    epochs = int(frame["epochs"].fillna(0).sum()) if "epochs" in frame.columns else 0
    if "role" in frame.columns:
        frame = frame[frame["role"] != BASELINE_ROLE]
    states = frame["state"].value_counts() if not frame.empty else pd.Series(dtype=int)
    flagged = (int(frame["learns_nothing"].eq(True).sum())
               if "learns_nothing" in frame.columns else 0)
    raced = int(frame["stopped"].eq("raced").sum()) if "stopped" in frame.columns else 0
    interrupted = (int(frame["fail_reason"].eq(INTERRUPTED).sum())
                   if "fail_reason" in frame.columns else 0)
    return {"trials": int(len(frame)), "complete": int(states.get("COMPLETE", 0)),
            "pruned": int(states.get("PRUNED", 0)), "raced": raced,
            "failed": int(states.get("FAIL", 0)) - interrupted, "interrupted": interrupted,
            "running": int(states.get("RUNNING", 0)),
            "waiting": int(states.get("WAITING", 0)), "epochs": epochs, "learns_nothing": flagged}


def stored_spec(study: optuna.Study) -> StudySpec:
    """The spec a study was run with, from its ``spec`` attribute."""
    return _parse_spec(study.study_name, study.user_attrs)


def _parse_spec(name: str, attrs: dict[str, Any]) -> StudySpec:
    doc = attrs.get("spec")
    if doc is None:
        raise RegsearchError(f"study {name!r} was not made by regsearch (no spec attribute)")
    return spec_from_dict(doc, f"<study {name}>")


def setting(row: dict[str, Any]) -> dict[str, Any]:
    """The params of a record, with the ones a trial did not sample filled in (0 / none)."""
    from .models import effective_params

    return effective_params({k: row[k] for k in PARAMS if _present(row.get(k))})


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))
