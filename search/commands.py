"""What each CLI command does, as keyword-only functions that raise ``RegsearchError``.

The CLI parses arguments and maps errors to exit codes; everything else is here, so tests can
call the commands in-process.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

from .errors import RegsearchError
from .spec import (BACKENDS, DEFAULT_STORAGE, StudySpec, load_spec, name_problem,
                   study_file)


class Interrupted(RegsearchError):
    """The user pressed Ctrl-C; the summary so far was printed."""


def study_name(spec: StudySpec, backend: str | None = None) -> str:
    """The stored study's name: the spec's, suffixed by the backend unless it is Optuna."""
    backend = backend or spec.backend
    return spec.name if backend == "optuna" else f"{spec.name}-{backend}"


def resolve_study(study: str, storage: str | None,
                  backend: str | None = None) -> tuple[str, str]:
    """A study named by its spec file (``studies/default.toml``) or by name plus storage; a
    name keeps the rule a spec's ``[study] name`` keeps (``spec.name_problem``)."""
    if study.endswith(".toml"):
        spec = load_spec(study)
        return study_name(spec, backend), storage or spec.storage
    problem = name_problem(study)
    if problem is not None:
        raise RegsearchError(f"study name {study!r}: {problem}; or give a spec file ending "
                             "in .toml")
    return study, storage or DEFAULT_STORAGE


def run_study(*, spec_path: str, trials: int | None = None, backend: str | None = None,
              workers: int = 1, progress: bool = True, allow_no_learning: bool = False,
              restart: bool = False, out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch run``: run or continue a study with ``workers`` processes, then print and
    return its summary. A stored study continues only under a spec that keeps what its trials
    mean (``study.spec_changes``); ``restart`` deletes it first and starts afresh.

    When the baseline does not beat the majority class by more than noise (``search/guard.py``)
    the run stops before any trial, unless ``allow_no_learning``; a study that has no trial yet
    is then removed, so fixing the data and running again starts clean.
    """
    out = out or sys.stdout
    spec = load_spec(spec_path)
    if backend is not None:
        if backend not in BACKENDS:
            raise RegsearchError(f"--backend: unknown backend {backend!r}; allowed: "
                                 f"{', '.join(BACKENDS)}")
        spec = dataclasses.replace(spec, backend=backend)
    if spec.backend == "keras-tuner" and spec.keras_tuner.max_epochs:
        # A complete Keras Tuner trial trains keras_tuner.max_epochs: so do the baseline and the
        # chosen setting's test run, or the fresh run would not reproduce the trial it stands for.
        spec = dataclasses.replace(spec, training=dataclasses.replace(
            spec.training, max_epochs=spec.keras_tuner.max_epochs))
    if trials is not None and trials <= 0:
        raise RegsearchError(f"--trials must be a positive integer, got {trials}")
    if workers <= 0:
        raise RegsearchError(f"--workers must be a positive integer, got {workers}")
    if workers > 1 and spec.backend != "optuna":
        raise RegsearchError(f"--workers {workers}: only the optuna backend runs several "
                             f"workers; {spec.backend} runs in one process")
    if workers > 1 and spec.storage.endswith(":memory:"):
        raise RegsearchError(f"--workers {workers}: an in-memory storage cannot be shared "
                             "between processes; give study.storage a file or a server")
    if spec.backend == "keras-tuner":
        from .backends.keras_tuner_backend import check_budget, work_dir

        # A budget that can complete no trial fails before anything runs; --trials on a study
        # under way is judged against the trials it has, once its project is loaded.
        if trials is None or restart or not (work_dir(spec) / study_name(spec)).exists():
            check_budget(spec, trials)
    from . import usermodel
    from .confirm import ensure_confirmation, most_seeds
    from .folds import pooled, study_data
    from .objective import evaluator_for
    from .storage import display_url
    from .study import Snapshot
    from .trainer import configure_tensorflow

    folds, refit = study_data(spec)  # bad data fails before the storage is touched
    configure_tensorflow()
    usermodel.check(spec, refit)  # and a model that cannot be searched
    with evaluator_for(spec, folds) as evaluator:  # one compiled model for the whole run
        study = _open_backend_study(spec, evaluator.stride, restart=restart)
        if restart:
            print(f"--restart: study {study.study_name} starts afresh under this spec; "
                  "whatever was stored under its name is deleted", file=out)
        study.set_user_attr("data_sizes", _sizes(folds, refit))
        study.set_user_attr("data_shape", [refit.n_features, refit.n_classes])
        study.set_user_attr("input_shape", list(refit.input_shape))
        study.set_user_attr("data_scaling", refit.scaling.to_dict())
        ev = spec.evaluation
        print(f"study {study.study_name} ({spec.backend}) in {display_url(spec.storage)}",
              file=out)
        print(f"data {refit.name}: {len(refit.y_train)} rows scored by {ev.folds}-fold "
              f"cross-validation" + (f" x {ev.repeats}" if ev.repeats > 1 else "")
              + f", {len(refit.y_test)} test rows held out until the search is over; "
              "evaluating the unregularized baseline on the folds...", file=out, flush=True)
        baseline = _ensure_baseline(study, spec.storage, evaluator)
        _check_learning(study, spec.storage, pooled(refit)[1], baseline, allow_no_learning, out)
        try:
            if spec.backend == "keras-tuner":
                from .backends import keras_tuner_backend

                keras_tuner_backend.run(study, spec, evaluator, extra_trials=trials,
                                        progress=progress)
            else:
                from .workers import fill

                fill(study, spec, evaluator, url=spec.storage, extra_trials=trials,
                     workers=workers, progress=progress, out=out)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {_interrupted_fate(study, spec.backend)}; run the same "
                  "command again to continue", file=out)
            print(_summary(Snapshot(study)), file=out)
            raise Interrupted("interrupted by the user") from None
        snap = Snapshot(study)
        if snap.selection is not None:
            print(f"confirming the answer: it and the baseline retrained on train+validation "
                  f"with {spec.confirm.seeds} fresh seeds each (up to {most_seeds(spec)} if "
                  f"they accept it while its test accuracy leans below the baseline's), "
                  f"tested once...", file=out, flush=True)
            try:
                ensure_confirmation(snap, lambda: refit, evaluator.trainer, out=out)
            except KeyboardInterrupt:
                print("\ninterrupted during the confirmation: the search is stored; run the "
                      "same command again, or `regsearch report`, to confirm its answer",
                      file=out)
                raise Interrupted("interrupted by the user") from None
    text = _summary(snap)
    print(text, file=out)
    return {"study": study.study_name, "confirmation": snap.confirmation,
            "selection": snap.selection.describe() if snap.selection else None}


def _interrupted_fate(study, backend: str) -> str:
    """What became of the trials a Ctrl-C stopped: queued to run again first, costing no slot
    of the budget (``study.requeue_interrupted``; Keras Tuner reruns its unfinished trial)."""
    if backend == "keras-tuner":
        return "Keras Tuner will run the unfinished trial again"
    from optuna.trial import TrialState

    from .study import counted_trials

    queued = [t for t in counted_trials(study) if t.state == TrialState.WAITING]
    if not queued:
        return "no trial was running"
    return (f"{len(queued)} unfinished trial(s) queued to run again first, costing no slot of "
            "the budget")


def _sizes(folds, refit) -> dict[str, int]:
    """Rows in train+validation, in the test split, and in one fold's two parts (the first)."""
    return {"train+val": len(refit.y_train), "test": len(refit.y_test),
            "fold_train": len(folds[0].y_train), "fold_val": len(folds[0].y_val)}


def _ensure_baseline(study, url: str, evaluator) -> float:
    """The baseline's mean validation accuracy over the folds, evaluating it once per study
    (``study.add_baseline``). A baseline that cannot be trained leaves no empty study behind."""
    import optuna

    from .errors import TrialFailure
    from .guard import floor_for
    from .study import add_baseline, baseline_trial

    trial = baseline_trial(study)
    if trial is None:
        try:
            result = evaluator.evaluate({})
        except TrialFailure as exc:
            kept = "the study keeps its trials"
            if not study.get_trials(deepcopy=False):
                optuna.delete_study(study_name=study.study_name, storage=url)
                kept = "the study was not kept"
            raise RegsearchError(f"the unregularized baseline could not be trained ({exc}): "
                                 "the [training] settings do not work even without "
                                 f"regularization; {kept}") from None
        add_baseline(study, result, floor_for(evaluator.validated_labels))
        trial = baseline_trial(study)
    return float(trial.user_attrs["val_accuracy"])


def _check_learning(study, url: str, labels, baseline_val_accuracy: float, allow: bool,
                    out: TextIO) -> None:
    """Record the study's no-learning guard; stop before the budget is spent when it fires.

    ``labels`` are the rows the folds validate on (train + validation, each once)."""
    import optuna

    from .guard import ALLOW_FLAG, LearningGuard
    from .study import counted_trials

    guard = LearningGuard.of(labels, baseline_val_accuracy)
    study.set_user_attr("majority_rate", guard.majority_rate)
    study.set_user_attr("guard", guard.to_dict())
    if not guard.fires:
        return
    if allow:
        print(f"warning: {guard.message()}; searching anyway ({ALLOW_FLAG})", file=out)
        return
    kept = "the study keeps its trials"
    if not counted_trials(study):
        optuna.delete_study(study_name=study.study_name, storage=url)
        kept = "nothing was searched and the study was not kept"
    raise RegsearchError(f"{guard.message()}. Stopped before the search: {kept}; pass "
                         f"{ALLOW_FLAG} to search anyway")


def run_worker(*, study: str, storage: str | None = None, trials: int | None = None,
               threads: int | None = None, progress: bool = True,
               out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch worker``: join an existing study (by spec file, or by name and storage URL)
    and run its trials until its budget is started, or ``trials`` of them."""
    for flag, value in (("--trials", trials), ("--threads", threads)):
        if value is not None and value <= 0:
            raise RegsearchError(f"{flag} must be a positive integer, got {value}")
    name, url = resolve_study(study, storage)
    from .storage import load_study

    load_study(name, url)  # the study must exist: say so before TensorFlow takes seconds to load
    from .workers import work

    try:
        return work(name=name, url=url, trials=trials, threads=threads, progress=progress,
                    out=out)
    except KeyboardInterrupt:
        print("\ninterrupted: the running trial is queued to run again first; start the worker "
              "again to continue", file=out or sys.stdout)
        raise Interrupted("interrupted by the user") from None


def _open_backend_study(spec: StudySpec, stride: int, *, restart: bool = False):
    """Optuna's study gets the backend's sampler and pruner (``stride``: the evaluator's steps
    per fold); Keras Tuner's needs neither. ``restart`` deletes the stored study first, and
    Keras Tuner's project of it, which would otherwise reload its old trials."""
    if spec.backend == "optuna":
        from .backends import optuna_backend

        return optuna_backend.open_study(spec, stride=stride, name=study_name(spec),
                                         restart=restart)
    from .backends.keras_tuner_backend import work_dir
    from .study import open_study

    study = open_study(spec, name=study_name(spec), backend=spec.backend, restart=restart)
    project = work_dir(spec) / study.study_name
    if restart and project.exists():
        shutil.rmtree(project)
    return study


def _summary(snap) -> str:
    from .summary import format_summary

    return format_summary(snap)


def load_results(*, study: str, storage: str | None = None, backend: str | None = None,
                 out: TextIO | None = None):
    """One snapshot of a study with its answer confirmed (retraining only if the stored
    confirmation is not of the present answer); ``(snapshot, confirmation)``."""
    from . import confirm
    from .storage import load_study
    from .study import Snapshot

    name, url = resolve_study(study, storage, backend)
    snap = Snapshot(load_study(name, url))
    if snap.selection is None:
        c = snap.counts
        raise RegsearchError(f"study {name!r} has no completed trial yet ({c['pruned']} pruned, "
                             f"{c['failed']} failed, {c['running']} running): nothing to "
                             f"export; run more trials with `regsearch run`")
    if confirm.contenders(snap) is None:
        why = ("it has no baseline trial (made by an older regsearch: run it again under "
               "another study.name)" if snap.selection.baseline is None
               else "no regularized trial has completed yet; run more trials with "
                    "`regsearch run`")
        raise RegsearchError(f"study {name!r} cannot be confirmed: {why}")
    confirmation = confirm.current(snap)
    if confirmation is None:
        from .folds import study_data
        from .trainer import configure_tensorflow

        configure_tensorflow()
        _, refit = study_data(snap.spec)
        if out is not None:
            print("confirming the answer on train+validation and the test split...", file=out,
                  flush=True)
        confirmation = confirm.ensure_confirmation(snap, lambda: refit, out=out)
    return snap, confirmation


def export_study(*, study: str, storage: str | None = None, backend: str | None = None,
                 output: str | None = None, fmt: str | None = None, force: bool = False,
                 out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch export``: write the confirmed answer, print where, why and the Keras snippet.

    A study whose baseline learns nothing (``search/guard.py``) has no setting worth reusing:
    it is refused unless ``force``, and then written with the warning in it.
    """
    out = out or sys.stdout
    from .export import FORMATS, build_export, dumps, write_atomic

    if fmt is None:
        fmt = Path(output).suffix.lstrip(".") if output and Path(output).suffix else "json"
    if fmt not in FORMATS:
        raise RegsearchError(f"--format: unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    name, _ = resolve_study(study, storage, backend)  # a bad default target fails before work
    target = output or study_file("studies/exports", f"{name}.{fmt}", study=name)
    if Path(target).is_dir():  # before a confirmation may train for minutes
        raise RegsearchError(f"cannot write {target}: it is a folder; give a file path")
    snap, confirmation = load_results(study=study, storage=storage, backend=backend, out=out)
    warning = snap.warning
    if warning and not force:
        raise RegsearchError(f"study {snap.name!r}: {warning}. Its chosen setting is noise, "
                             "not a regularization worth reusing, so nothing was written; pass "
                             "--force to export it anyway")
    snippet = study_snippet(snap, confirmation)
    document = build_export(snap, confirmation, snippet, warning=warning)
    model_path = Path(target).with_suffix(".keras")
    document["model_file"] = model_path.name  # beside the export
    text = dumps(document, fmt)
    _export_model(snap, confirmation, model_path, out)
    try:
        write_atomic(target, text)
    except BaseException:
        model_path.unlink(missing_ok=True)  # nothing half-written: no model without its JSON
        raise
    if warning:
        print(f"WARNING: {warning}", file=out)
    print(f"exported the answer of study {snap.name} to {target}, its trained model to "
          f"{model_path}", file=out)
    print(f"  {document['statement']}", file=out)
    for note in confirmation["notes"]:
        print(f"  note: {note}", file=out)
    print("\n" + snippet, file=out)
    return document


def _export_model(snap, confirmation: dict[str, Any], path: Path, out: TextIO) -> None:
    """Train the answer as its first confirmation run was and save it to ``path``
    (``search/model_file.py``)."""
    from .folds import study_data
    from .model_file import save_atomic, train_answer
    from .trainer import configure_tensorflow

    print(f"training the answer once more for {path}...", file=out, flush=True)
    configure_tensorflow()
    _, refit = study_data(snap.spec)
    save_atomic(train_answer(snap, confirmation, refit), path)


def study_snippet(snap, confirmation: dict[str, Any]) -> str:
    """The Keras snippet for the confirmed answer on this study's data, scaling and training
    settings: the MLP's own code, or for a preset's or the user's model the code that builds
    it, applies the setting with ``search.apply`` and trains as the first confirmation run."""
    from .snippet import keras_snippet, model_snippet

    spec = snap.spec
    if not spec.model.wants_vectors:
        from .model_file import answer_run

        params, epochs, run = answer_run(confirmation)
        input_shape = snap.attrs.get("input_shape") or [_shape(snap)[0]]
        return model_snippet(params, model=spec.model, input_shape=tuple(input_shape),
                             n_classes=_shape(snap)[1], training=spec.training,
                             seed=int(run["seed"]), epochs=epochs, scaling=snap.scaling)
    n_features, n_classes = _shape(snap)
    return keras_snippet(
        confirmation["params"], n_features=n_features, n_classes=n_classes, model=spec.model,
        training=spec.training, gap_weight=spec.search.gap_weight, seed=spec.seed,
        scaling=snap.scaling)


def report_study(*, study: str, storage: str | None = None, backend: str | None = None,
                 output: str | None = None, out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch report``: write the HTML report and its figures, put the headline in the
    dashboard, and print a short summary (confirming the answer first if needed)."""
    out = out or sys.stdout
    from . import report
    from .storage import artifact_dir

    name, url = resolve_study(study, storage, backend)
    out_dir = Path(output) if output else report.default_dir(name)  # checked before any work
    snap, confirmation = load_results(study=study, storage=storage, backend=backend, out=out)
    figures = report.write_figures(snap, out_dir)
    snippet = study_snippet(snap, confirmation)
    page = report.render_html(snap, confirmation, snippet, out_dir, figures)
    target = report.write_report(out_dir, page)
    published = report.publish_to_dashboard(snap, confirmation, out_dir, figures,
                                            artifact_dir(url))
    text = report.terminal_summary(snap, confirmation, target, figures, published)
    print(text, file=out)
    return {"study": snap.name, "report": str(target), "figures": figures,
            "confirmation": confirmation, "summary": text}


def _shape(snap) -> tuple[int, int]:
    shape = snap.attrs.get("data_shape")
    if shape:
        return int(shape[0]), int(shape[1])
    from .data import load_splits

    splits = load_splits(snap.spec.data, snap.spec.seed)
    return splits.n_features, splits.n_classes


def summarize(*, study: str, storage: str | None = None, backend: str | None = None,
              out: TextIO | None = None) -> str:
    """``regsearch summary``: the run's closing table, for a study already in storage."""
    out = out or sys.stdout
    from .storage import load_study

    from .study import Snapshot

    name, url = resolve_study(study, storage, backend)
    snap = Snapshot(load_study(name, url))
    text = _summary(snap)
    print(text, file=out)
    return text
