"""The report's figures, as PNG files.

Optuna draws what it has a function for: the gap and validation accuracy against dropout and
lambda (``plot_slice`` with a user-attribute target, log axes from the distributions),
importances and the optimization history. The learning curves and the gap/accuracy Pareto front
are drawn here: a single-objective study gives Optuna nothing to draw them from.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from ..objective import Selection
from ..study import Snapshot

#: The figures of a report, by file name, with their captions.
FIGURES = {
    "curves.png": "Learning curves of the baseline and the chosen setting",
    "pareto.png": "Gap against validation accuracy, every completed trial",
    "slice_gap.png": "Gap against dropout and lambda (Optuna)",
    "slice_val_accuracy.png": "Validation accuracy against dropout and lambda (Optuna)",
    "importances.png": "Parameter importances for the objective (Optuna)",
    "history.png": "Optimization history (Optuna)",
}
#: The params the slice plots show: the dropout rate and lambda, the L1 and L2 strengths.
SLICED = ("dropout", "l1", "l2")


def write_figures(snap: Snapshot, baseline: dict[str, Any], chosen: dict[str, Any],
                  out_dir: Path) -> dict[str, str | None]:
    """Draw every figure into ``out_dir``; map file name -> None, or why it could not be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    study = snap.study
    drawers = {
        "curves.png": lambda: _curves(baseline, chosen),
        "pareto.png": lambda: _pareto(snap.completed, baseline, chosen, snap.selection),
        "slice_gap.png": lambda: _slice(study, chosen, "gap", "gap (train - val)"),
        "slice_val_accuracy.png": lambda: _slice(study, chosen, "val_accuracy",
                                                 "validation accuracy"),
        "importances.png": lambda: _optuna_axes("plot_param_importances", study)[0].figure,
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
                (out_dir / name).unlink(missing_ok=True)
                continue
            fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
            plt.close(fig)
        problems[name] = None
    return problems


def _curves(baseline: dict[str, Any], chosen: dict[str, Any]):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (acc, loss) = plt.subplots(1, 2, figsize=(11, 4))
    for entry, label, color in ((baseline, "baseline", "tab:blue"),
                                (chosen, f"chosen (trial {chosen['trial']})", "tab:orange")):
        c = entry["curves"]
        epochs = range(1, len(c["loss"]) + 1)
        acc.plot(epochs, c["train_accuracy"], color=color, label=f"{label}: train, dropout off")
        acc.plot(epochs, c["val_accuracy"], color=color, ls="--", label=f"{label}: validation")
        loss.plot(epochs, c["loss"], color=color, label=f"{label}: train (Keras, dropout on)")
        loss.plot(epochs, c["val_loss"], color=color, ls="--", label=f"{label}: validation")
    acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy: the gap opening or not")
    loss.set(xlabel="epoch", ylabel="loss (with penalty)", title="Loss")
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


def _pareto(done: pd.DataFrame, baseline: dict[str, Any], chosen: dict[str, Any],
            sel: Selection):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    gaps = done["gap"].abs().tolist()
    vals = done["val_accuracy"].tolist()
    ax.scatter(gaps, vals, s=22, color="tab:gray", alpha=0.7, label="completed trial")
    front = sorted(pareto_front(list(zip(vals, gaps))), key=lambda i: gaps[i])
    ax.step([gaps[i] for i in front], [vals[i] for i in front], where="post", color="tab:green",
            label="Pareto front (max val accuracy, min |gap|)")
    ax.scatter([gaps[i] for i in front], [vals[i] for i in front], s=40, color="tab:green")
    ax.axhline(sel.best_val_accuracy - sel.tolerance, color="tab:purple", ls=":",
               label=f"best val accuracy - tolerance ({sel.tolerance:.4f})")
    ax.scatter([abs(baseline["gap"])], [baseline["val_accuracy"]], marker="s", s=70,
               color="tab:blue", label="baseline (no regularization)")
    ax.scatter([abs(chosen["gap"])], [chosen["val_accuracy"]], marker="*", s=260,
               color="tab:orange", edgecolor="black", zorder=5,
               label=f"chosen (trial {chosen['trial']})")
    ax.set(xlabel="|gap| = |train accuracy - validation accuracy|",
           ylabel="validation accuracy", title="Gap vs validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _slice(study: optuna.Study, chosen: dict[str, Any], metric: str, label: str):
    """Optuna's slice plot of one trial figure against dropout and lambda, chosen trial starred.

    A trial appears on a lambda axis only where it sampled that strength.
    """
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    params = [p for p in SLICED if any(p in t.params for t in trials)]
    if not params:
        raise ValueError(f"no completed trial sampled any of {', '.join(SLICED)}")

    def target(trial: optuna.trial.FrozenTrial) -> float:
        value = trial.user_attrs.get(metric)
        return math.nan if value is None else float(value)  # NaN: Optuna leaves the trial out

    axes = _optuna_axes("plot_slice", study, params=params, target=target, target_name=label)
    # plot_slice has no way to single out a trial, so the star is drawn on its axes here.
    mine = next(t for t in trials if t.number == chosen["trial"])
    stars = [ax.scatter([mine.params[ax.get_xlabel()]], [target(mine)], marker="*", s=260,
                        color="tab:orange", edgecolor="black", zorder=5,
                        label=f"chosen (trial {chosen['trial']})")
             for ax in axes if ax.get_xlabel() in mine.params]
    axes[0].legend(handles=stars[:1], fontsize=8)  # not Optuna's empty "Infeasible Trial"
    axes[0].set_title("")  # Optuna titles it "Slice Plot", on the axes when there is one
    axes[0].figure.suptitle(f"{label} against dropout and lambda")
    return axes[0].figure


def _optuna_axes(name: str, study: optuna.Study, **kwargs: Any) -> list:
    """Call ``optuna.visualization.matplotlib.<name>``; its axes as a flat list."""
    import numpy as np
    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = getattr(ovm, name)(study, **kwargs)
    return list(np.ravel(axes))
