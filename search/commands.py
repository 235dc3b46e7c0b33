"""What each CLI command does, as keyword-only functions that raise ``RegsearchError``.

The CLI parses arguments and maps errors to exit codes; everything else is here, so tests can
call the commands in-process.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, TextIO

from .errors import RegsearchError
from .spec import BACKENDS, DEFAULT_STORAGE, StudySpec, load_spec


class Interrupted(RegsearchError):
    """The user pressed Ctrl-C; the summary so far was printed."""


def study_name(spec: StudySpec, backend: str | None = None) -> str:
    """The stored study's name: the spec's, suffixed by the backend unless it is Optuna."""
    backend = backend or spec.backend
    return spec.name if backend == "optuna" else f"{spec.name}-{backend}"


def resolve_study(study: str, storage: str | None,
                  backend: str | None = None) -> tuple[str, str]:
    """A study named by its spec file (``studies/default.toml``) or by name plus storage."""
    if study.endswith(".toml"):
        spec = load_spec(study)
        return study_name(spec, backend), storage or spec.storage
    return study, storage or DEFAULT_STORAGE


def run_study(*, spec_path: str, trials: int | None = None, backend: str | None = None,
              workers: int = 1, progress: bool = True, allow_no_learning: bool = False,
              out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch run``: run or continue a study with ``workers`` processes, then print and
    return its summary.

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
    from . import holdout
    from .data import load_splits
    from .errors import TrialFailure
    from .objective import trainer_for
    from .storage import display_url
    from .study import Snapshot
    from .trainer import configure_tensorflow

    splits = load_splits(spec.data, spec.seed)  # bad data fails before the storage is touched
    configure_tensorflow()
    study = _open_backend_study(spec)
    study.set_user_attr("data_sizes", splits.sizes())
    study.set_user_attr("data_shape", [splits.n_features, splits.n_classes])
    study.set_user_attr("data_scaling", splits.scaling.to_dict())
    print(f"study {study.study_name} ({spec.backend}) in {display_url(spec.storage)}", file=out)
    print(f"data {splits.name}: {splits.sizes()}; training the unregularized baseline...",
          file=out)
    with trainer_for(spec, splits) as trainer:  # one compiled model for the whole run
        try:
            baseline = holdout.ensure_baseline(study, spec, trainer)
        except TrialFailure as exc:
            raise RegsearchError(f"the unregularized baseline could not be trained ({exc}): "
                                 "the [training] settings do not work even without "
                                 "regularization") from None
        _check_learning(study, spec.storage, splits, baseline, allow_no_learning, out)
        try:
            if spec.backend == "keras-tuner":
                from .backends import keras_tuner_backend

                keras_tuner_backend.run(study, spec, trainer, extra_trials=trials,
                                        progress=progress)
            else:
                from .workers import fill

                fill(study, spec, trainer, url=spec.storage, extra_trials=trials,
                     workers=workers, progress=progress, out=out)
        except KeyboardInterrupt:
            fate = ("Keras Tuner will run the unfinished trial again"
                    if spec.backend == "keras-tuner"
                    else "the running trial was recorded as FAILED")
            print(f"\ninterrupted: {fate}; run the same command again to continue", file=out)
            print(_summary(Snapshot(study), baseline, None), file=out)
            raise Interrupted("interrupted by the user") from None
        chosen = holdout.ensure_chosen(Snapshot(study), trainer)
    text = _summary(Snapshot(study), baseline, chosen)
    print(text, file=out)
    return {"study": study.study_name, "baseline": baseline, "chosen": chosen}


def _check_learning(study, url: str, splits, baseline: dict[str, Any], allow: bool,
                    out: TextIO) -> None:
    """Record the study's no-learning guard; stop before the budget is spent when it fires."""
    import optuna

    from .guard import ALLOW_FLAG, LearningGuard

    guard = LearningGuard.of(splits.y_val, baseline["val_accuracy"])
    study.set_user_attr("majority_rate", guard.majority_rate)
    study.set_user_attr("guard", guard.to_dict())
    if not guard.fires:
        return
    if allow:
        print(f"warning: {guard.message()}; searching anyway ({ALLOW_FLAG})", file=out)
        return
    kept = "the study keeps its trials"
    if not study.get_trials(deepcopy=False):
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
    from .workers import work

    try:
        return work(name=name, url=url, trials=trials, threads=threads, progress=progress,
                    out=out)
    except KeyboardInterrupt:
        print("\ninterrupted: the running trial was recorded as FAILED", file=out or sys.stdout)
        raise Interrupted("interrupted by the user") from None


def _open_backend_study(spec: StudySpec):
    """Optuna's study gets the backend's sampler and pruner; Keras Tuner's needs neither."""
    if spec.backend == "optuna":
        from .backends import optuna_backend

        return optuna_backend.open_study(spec, name=study_name(spec))
    from .study import open_study

    return open_study(spec, name=study_name(spec), backend=spec.backend)


def _summary(snap, baseline, chosen) -> str:
    from .summary import format_summary

    return format_summary(snap.name, baseline, chosen, snap.counts, guard=snap.guard,
                          scaling=snap.scaling)


def load_results(*, study: str, storage: str | None = None, backend: str | None = None):
    """One snapshot of a study with its baseline and chosen setting (evaluating test if not
    done yet): ``(snapshot, baseline, chosen)``."""
    from . import holdout
    from .storage import load_study
    from .study import Snapshot

    name, url = resolve_study(study, storage, backend)
    snap = Snapshot(load_study(name, url))
    if snap.selection is None:
        c = snap.counts
        raise RegsearchError(f"study {name!r} has no completed trial yet ({c['pruned']} pruned, "
                             f"{c['failed']} failed, {c['running']} running): nothing to "
                             f"export; run more trials with `regsearch run`")
    baseline = snap.baseline
    chosen = snap.chosen
    if baseline is None or not holdout.is_current(chosen, snap.selection):
        from .data import load_splits
        from .objective import trainer_for
        from .trainer import configure_tensorflow

        configure_tensorflow()
        spec = snap.spec
        with trainer_for(spec, load_splits(spec.data, spec.seed)) as trainer:
            baseline = holdout.ensure_baseline(snap.study, spec, trainer)
            chosen = holdout.ensure_chosen(snap, trainer)
    return snap, baseline, chosen


def export_study(*, study: str, storage: str | None = None, backend: str | None = None,
                 output: str | None = None, fmt: str | None = None, force: bool = False,
                 out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch export``: write the chosen setting, print where and the Keras snippet.

    A study whose baseline learns nothing (``search/guard.py``) has no setting worth reusing:
    it is refused unless ``force``, and then written with the warning in it.
    """
    out = out or sys.stdout
    from .confirm import current
    from .export import FORMATS, build_export, dumps, write_atomic

    if fmt is None:
        fmt = Path(output).suffix.lstrip(".") if output and Path(output).suffix else "json"
    if fmt not in FORMATS:
        raise RegsearchError(f"--format: unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    snap, baseline, chosen = load_results(study=study, storage=storage, backend=backend)
    warning = snap.warning
    if warning and not force:
        raise RegsearchError(f"study {snap.name!r}: {warning}. Its chosen setting is noise, "
                             "not a regularization worth reusing, so nothing was written; pass "
                             "--force to export it anyway")
    snippet = study_snippet(snap, chosen["params"])
    confirmation = current(snap)  # only if it still covers the study's top settings
    document = build_export(snap.name, snap.backend, chosen,
                            baseline, snap.attrs["spec"], snippet, confirmation,
                            warning=warning)
    text = dumps(document, fmt)
    target = output or f"studies/exports/{snap.name}.{fmt}"
    write_atomic(target, text)
    if warning:
        print(f"WARNING: {warning}", file=out)
    print(f"exported trial {chosen['trial']} of study {snap.name} to {target}", file=out)
    print(f"  val accuracy {chosen['val_accuracy']:.4f}, test accuracy "
          f"{chosen['test_accuracy']:.4f}, gap {chosen['gap']:+.4f} "
          f"(baseline gap {baseline['gap']:+.4f}; data {snap.sizes})", file=out)
    if confirmation is not None:
        block = document["confirmation"]
        print(f"  confirmed over seeds {block['seeds']}: best trial {block['best_trial']}"
              + (" (the chosen one)" if block["agrees_with_search"] else
                 " (not the chosen one: see the report)"), file=out)
    print("\n" + snippet, file=out)
    return document


def study_snippet(snap, params: dict[str, Any]) -> str:
    """The Keras snippet for ``params`` on this study's data, scaling and training settings."""
    from .snippet import keras_snippet

    spec = snap.spec
    n_features, n_classes = _shape(snap)
    return keras_snippet(
        params, n_features=n_features, n_classes=n_classes, model=spec.model,
        training=spec.training, gap_weight=spec.search.gap_weight, seed=spec.seed,
        scaling=snap.scaling)


def report_study(*, study: str, storage: str | None = None, backend: str | None = None,
                 output: str | None = None, out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch report``: confirm the top settings, write the HTML report and its figures,
    put the headline in the dashboard, and print a short summary."""
    out = out or sys.stdout
    from . import confirm, report
    from .storage import artifact_dir

    snap, baseline, chosen = load_results(study=study, storage=storage, backend=backend)
    spec = snap.spec

    def splits():
        from .data import load_splits
        from .trainer import configure_tensorflow

        configure_tensorflow()
        return load_splits(spec.data, spec.seed)

    if confirm.current(snap) is None:
        print(f"confirming the top {spec.confirm.top_k} settings and the baseline with "
              f"{spec.confirm.seeds} fresh seeds each...", file=out, flush=True)
    confirmation = confirm.ensure_confirmation(snap, splits, out=out)
    out_dir = Path(output) if output else report.default_dir(snap.name)
    figures = report.write_figures(snap, baseline, chosen, out_dir)
    snippet = study_snippet(snap, chosen["params"])
    page = report.render_html(snap, baseline, chosen, confirmation, snippet, out_dir, figures)
    target = report.write_report(out_dir, page)
    _, url = resolve_study(study, storage, backend)
    published = report.publish_to_dashboard(snap, baseline, chosen, confirmation, out_dir, figures,
                                            artifact_dir(url))
    text = report.terminal_summary(snap, baseline, chosen, confirmation, target, figures, published)
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
    text = _summary(snap, snap.baseline, snap.chosen)
    print(text, file=out)
    return text
