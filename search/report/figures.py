"""The report's figures, as PNG files.

Optuna draws what it has a function for: the gap and validation accuracy against dropout and
lambda (``plot_slice`` with a user-attribute target, log axes from the distributions),
importances and the optimization history. The learning curves and the gap/accuracy Pareto front
are drawn here: a single-objective study gives Optuna nothing to draw them from.

The baseline and the setting confirmation judges (``summary.settings``: the search's choice, or
its best regularized alternative when it chose no regularization) are marked on each figure.
Every figure of the trials is drawn from the cross-validation folds, never the test split.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from ..objective import BASELINE_ROLE, Selection
from ..spec import study_file
from ..study import Snapshot
from ..summary import settings

#: The figures of a report, by file name, with their captions.
FIGURES = {
    "curves.png": "Learning curves of the baseline and the confirmed setting (first fold)",
    "pareto.png": "Gap against validation accuracy on the folds, every completed trial",
    "slice_gap.png": "Gap against dropout and each strength (Optuna)",
    "slice_val_accuracy.png": "Validation accuracy against dropout and each strength (Optuna)",
    "importances.png": "Parameter importances for the objective (Optuna)",
    "history.png": "Optimization history (Optuna)",
}
#: The params the slice plots show: the dropout rate, lambda (the L1 and L2 strengths), and the
#: weight decay and max-norm bound where the space searches them.
SLICED = ("dropout", "l1", "l2", "weight_decay", "max_norm")


def write_figures(snap: Snapshot, out_dir: Path) -> dict[str, str | None]:
    """Draw every figure into ``out_dir``; map file name -> None, or why it could not be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    # Checked before any is drawn: a link in the folder must not make a figure land outside it.
    targets = {name: study_file(out_dir, name, study=snap.name) for name in FIGURES}
    study = snap.study
    entries = settings(snap)
    label = setting_label(snap)
    drawers = {
        "curves.png": lambda: _curves(study, _pair(entries), label),
        "pareto.png": lambda: _pareto(snap.completed, _pair(entries), label, snap.selection),
        "slice_gap.png": lambda: _slice(study, _pair(entries)[1], label, "gap",
                                        "gap (train - val)"),
        "slice_val_accuracy.png": lambda: _slice(study, _pair(entries)[1], label,
                                                 "val_accuracy", "validation accuracy"),
        "importances.png": lambda: _importances(study),
        "history.png": lambda: _optuna_axes("plot_optimization_history", study)[0].figure,
    }
    problems: dict[str, str | None] = {}
    for name, draw in drawers.items():
        # Optuna's plots switch matplotlib's global style to ggplot: keep that to their figures.
        with matplotlib.rc_context():
            try:
                fig = draw()
            except (ValueError, RuntimeError) as exc:  # e.g. too few completed trials for Optuna
                problems[name] = f"{type(exc).__name__}: {exc}"
                targets[name].unlink(missing_ok=True)
                continue
            fig.savefig(targets[name], dpi=110, bbox_inches="tight")
            plt.close(fig)
        problems[name] = None
    return problems


def setting_label(snap: Snapshot) -> str:
    """What the marked regularized setting is, for legends: chosen, or only the best one."""
    sel = snap.selection
    return "chosen" if sel is not None and sel.regularizes else "best regularized"


def _pair(entries: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(entries) != 2:
        raise ValueError("no baseline or no completed regularized trial to mark")
    return entries[0], entries[1]


def _trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def _curves(study: optuna.Study, pair: tuple[dict[str, Any], dict[str, Any]], label: str):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    baseline, setting = pair
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(11, 4))
    for entry, name, color in ((baseline, "baseline", "tab:blue"),
                               (setting, f"{label} (trial {setting['trial']})", "tab:orange")):
        c = _trial(study, entry["trial"]).user_attrs.get("curves") or {}
        if not c.get("loss"):
            raise ValueError(f"trial {entry['trial']} recorded no learning curves")
        epochs = range(1, len(c["loss"]) + 1)
        acc.plot(epochs, c["train_accuracy"], color=color, label=f"{name}: train, dropout off")
        acc.plot(epochs, c["val_accuracy"], color=color, ls="--", label=f"{name}: validation")
        loss.plot(epochs, c["loss"], color=color, label=f"{name}: train (Keras, dropout on)")
        loss.plot(epochs, c["val_loss"], color=color, ls="--", label=f"{name}: validation")
    acc.set(xlabel="epoch", ylabel="accuracy",
            title="Accuracy on the first fold: the gap opening or not")
    loss.set(xlabel="epoch", ylabel="loss (with penalty)", title="Loss on the first fold")
    for ax in (acc, loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both max val accuracy and min |gap|.

    Hand-written: Optuna's Pareto helpers work on multi-objective studies, and this study has
    one objective; the two figures selection weighs are user attributes.
    """
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], points[i][1]))
    front, best_gap = [], math.inf
    for i in order:
        if points[i][1] < best_gap:
            front.append(i)
            best_gap = points[i][1]
    return front


def _pareto(done: pd.DataFrame, pair: tuple[dict[str, Any], dict[str, Any]], label: str,
            sel: Selection | None):
    import matplotlib.pyplot as plt

    baseline, setting = pair
    fig, ax = plt.subplots(figsize=(7, 5))
    gaps = done["gap"].abs().tolist()
    vals = done["val_accuracy"].tolist()
    xerr = _se(done, "gap_se")
    yerr = _se(done, "val_accuracy_se")
    ax.errorbar(gaps, vals, xerr=xerr, yerr=yerr, fmt="o", ms=4, color="tab:gray", alpha=0.6,
                elinewidth=0.8, label="completed trial, ± one standard error over the folds")
    front = sorted(pareto_front(list(zip(vals, gaps))), key=lambda i: gaps[i])
    ax.step([gaps[i] for i in front], [vals[i] for i in front], where="post", color="tab:green",
            label="Pareto front (max val accuracy, min |gap|)")
    ax.scatter([gaps[i] for i in front], [vals[i] for i in front], s=40, color="tab:green")
    if sel is not None and sel.best["number"] not in (baseline["trial"], setting["trial"]):
        ax.scatter([abs(sel.best["gap"])], [sel.best["val_accuracy"]], marker="D", s=60,
                   color="tab:purple", label=f"best val accuracy (trial {sel.best['number']})")
    ax.scatter([abs(baseline["gap"])], [baseline["val_accuracy"]], marker="s", s=70,
               color="tab:blue", label=f"baseline, no regularization (trial {baseline['trial']})")
    ax.scatter([abs(setting["gap"])], [setting["val_accuracy"]], marker="*", s=260,
               color="tab:orange", edgecolor="black", zorder=5,
               label=f"{label} (trial {setting['trial']})")
    ax.set(xlabel="|gap| = |train accuracy - validation accuracy|, fold mean",
           ylabel="validation accuracy, fold mean", title="Gap vs validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _se(frame: pd.DataFrame, column: str) -> list[float] | None:
    """A column of standard errors for error bars (missing ones as 0), or None without it."""
    if column not in frame.columns:
        return None
    return [0.0 if x is None or x != x else float(x) for x in frame[column].tolist()]


def _slice(study: optuna.Study, setting: Mapping[str, Any], label: str, metric: str,
           name: str):
    """Optuna's slice plot of one trial figure against dropout and lambda, the confirmed setting
    starred. A trial appears on a lambda axis only where it sampled that strength; the baseline
    samples none, so it is on none of them."""
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    params = [p for p in SLICED if any(p in t.params for t in trials)]
    if not params:
        raise ValueError(f"no completed trial sampled any of {', '.join(SLICED)}")

    def target(trial: optuna.trial.FrozenTrial) -> float:
        value = trial.user_attrs.get(metric)
        return math.nan if value is None else float(value)  # NaN: Optuna leaves the trial out

    axes = _optuna_axes("plot_slice", study, params=params, target=target, target_name=name)
    # plot_slice has no way to single out a trial, so the star is drawn on its axes here.
    mine = _trial(study, setting["trial"])
    stars = [ax.scatter([mine.params[ax.get_xlabel()]], [target(mine)], marker="*", s=260,
                        color="tab:orange", edgecolor="black", zorder=5,
                        label=f"{label} (trial {setting['trial']})")
             for ax in axes if ax.get_xlabel() in mine.params]
    axes[0].legend(handles=stars[:1], fontsize=8)  # not Optuna's empty "Infeasible Trial"
    axes[0].set_title("")  # Optuna titles it "Slice Plot", on the axes when there is one
    axes[0].figure.suptitle(f"{name} against dropout and lambda (fold means)")
    return axes[0].figure


def _importances(study: optuna.Study):
    """Optuna's importances over the params every completed search trial sampled.

    The baseline's trial samples no param, so Optuna's default (the params all trials share)
    would be none at all; the strengths a trial samples only for some penalties are left out
    for the same reason.
    """
    trials = [t for t in study.get_trials(deepcopy=False,
                                          states=(optuna.trial.TrialState.COMPLETE,))
              if t.user_attrs.get("role") != BASELINE_ROLE]
    if not trials:
        raise ValueError("no completed trial besides the baseline")
    shared = set.intersection(*(set(t.params) for t in trials))
    if not shared:
        raise ValueError("the completed trials share no sampled param")
    return _optuna_axes("plot_param_importances", study, params=sorted(shared))[0].figure


def _optuna_axes(name: str, study: optuna.Study, **kwargs: Any) -> list:
    """Call ``optuna.visualization.matplotlib.<name>``; its axes as a flat list."""
    import numpy as np
    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = getattr(ovm, name)(study, **kwargs)
    return list(np.ravel(axes))
