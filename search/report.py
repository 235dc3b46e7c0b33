"""``regsearch report``: a page people would rather look at than read.

Writes ``report.html`` (self-contained: figures embedded as base64, a few lines of inline JS to
sort the trials table, no CDN) beside the PNG figures, builds the short text printed in the
terminal, and publishes the headline to optuna-dashboard as the study's note with the figures
attached as study artifacts. Optuna draws what it already draws (importances, optimization
history); the figures it has no function for in a single-objective study (learning curves,
the gap/accuracy Pareto front, figures against dropout and lambda) are drawn here.
"""

from __future__ import annotations

import base64
import html
import json
import math
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from . import confirm, records
from .export import write_atomic
from .records import METRICS, PARAMS
from .spec import StudySpec
from .guard import stored
from .summary import fmt, scaling_line

#: The figures of a report, by file name, with their captions.
FIGURES = {
    "curves.png": "Learning curves of the baseline and the chosen setting",
    "pareto.png": "Gap against validation accuracy, every completed trial",
    "params.png": "Gap and validation accuracy against dropout and lambda",
    "importances.png": "Parameter importances for the objective (Optuna)",
    "history.png": "Optimization history (Optuna)",
}
HTML_NAME = "report.html"


def warning(study: optuna.Study) -> str | None:
    """The no-learning guard's warning when it fired for this study (``search/guard.py``)."""
    guard = stored(study.user_attrs)
    return guard.message() if guard is not None and guard.fires else None


def default_dir(study_name: str) -> Path:
    """Where a study's report goes unless ``-o`` says otherwise."""
    return Path("studies") / "reports" / study_name


def search_seconds(study: optuna.Study) -> float:
    """Wall time the search's trials took, summed (baseline and test evaluations excluded)."""
    return sum((t.datetime_complete - t.datetime_start).total_seconds()
               for t in study.get_trials(deepcopy=False)
               if t.datetime_complete is not None and t.datetime_start is not None)


# ---------------------------------------------------------------------------------- figures

def write_figures(study: optuna.Study, baseline: dict[str, Any], chosen: dict[str, Any],
                  out_dir: Path) -> dict[str, str | None]:
    """Draw every figure into ``out_dir``; map file name -> None, or why it could not be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    frame = records.trials_frame(study)
    done, sel = records.completed(frame), records.selection(study, frame)
    drawers = {
        "curves.png": lambda: _curves(baseline, chosen),
        "pareto.png": lambda: _pareto(done, baseline, chosen, sel),
        "params.png": lambda: _params(done, chosen),
        "importances.png": lambda: _optuna_figure("plot_param_importances", study),
        "history.png": lambda: _optuna_figure("plot_optimization_history", study),
    }
    problems: dict[str, str | None] = {}
    for name, draw in drawers.items():
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


def _pareto(done: pd.DataFrame, baseline: dict[str, Any], chosen: dict[str, Any], sel):
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


def _params(done: pd.DataFrame, chosen: dict[str, Any]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey="row")
    colors = {"none": "tab:gray", "l1": "tab:red", "l2": "tab:blue", "l1_l2": "tab:purple"}
    penalized = done[done["regularizer"].fillna("none") != "none"]
    for row, (metric, label) in enumerate((("gap", "gap (train - val)"),
                                           ("val_accuracy", "validation accuracy"))):
        by_dropout, by_lambda = axes[row]
        for kind, group in done.groupby(done["regularizer"].fillna("none")):
            by_dropout.scatter(group["dropout"], group[metric], s=18, color=colors.get(kind),
                               label=f"regularizer {kind}")
        for strength, marker in (("l1", "^"), ("l2", "o")):
            part = penalized[penalized[strength].fillna(0) > 0]
            by_lambda.scatter(part[strength], part[metric], s=18, marker=marker,
                              color=[colors.get(k) for k in part["regularizer"]],
                              label=f"{strength} strength")
        p = chosen["params"]
        by_dropout.scatter([p["dropout"]], [chosen[metric]], marker="*", s=220,
                           color="tab:orange", edgecolor="black", zorder=5, label="chosen")
        for strength in ("l1", "l2"):
            if p[strength] > 0:
                by_lambda.scatter([p[strength]], [chosen[metric]], marker="*", s=220,
                                  color="tab:orange", edgecolor="black", zorder=5)
        by_dropout.set(xlabel="dropout rate", ylabel=label)
        by_lambda.set(xlabel="lambda (L1 or L2 strength)", xscale="log")
        for ax in (by_dropout, by_lambda):
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    axes[0][1].legend(fontsize=8)
    unpenalized = len(done) - len(penalized)
    axes[0][1].set_title(f"against lambda ({unpenalized} trials without a penalty not shown)",
                         fontsize=10)
    axes[0][0].set_title("against dropout", fontsize=10)
    return fig


def _optuna_figure(name: str, study: optuna.Study):
    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = getattr(ovm, name)(study)
    return ax.figure


# ------------------------------------------------------------------------------------ text

def describe_params(params: Mapping[str, Any]) -> str:
    """``dropout 0.31, l2 3.1e-04`` (strengths shown only for the penalty in use)."""
    parts = [f"dropout {params['dropout']:.3g}"]
    if params["regularizer"] == "none":
        parts.append("no penalty")
    parts += [f"{k} {params[k]:.2g}" for k in ("l1", "l2") if params[k] > 0]
    return ", ".join(parts)


def against_baseline(confirmation: dict[str, Any]) -> str:
    """How much of the baseline's gap the confirmed best closes on the means, and at what cost.

    The honest answer can be "only part of it"; this says how much.
    """
    base, best = confirmation["settings"][0]["mean"], confirm.best_setting(confirmation)["mean"]
    closed = base["gap"] - best["gap"]
    share = f", {closed / base['gap']:.0%} of it" if base["gap"] > 0 else ""
    return (f"gap {base['gap']:+.4f} -> {best['gap']:+.4f} "
            f"({closed:+.4f} closed{share}); val accuracy "
            f"{best['val_accuracy'] - base['val_accuracy']:+.4f}, test accuracy "
            f"{best['test_accuracy'] - base['test_accuracy']:+.4f}")


def confirmation_text(confirmation: dict[str, Any]) -> str:
    """The confirmation table as text: mean ± std per setting, the confirmed best marked."""
    lines = []
    for s in confirmation["settings"]:
        mark = " *" if s["trial"] == confirmation["best"] else ""
        figures = "  ".join(f"{k.removesuffix('_accuracy')} {s['mean'][k]:.4f}±{s['std'][k]:.4f}"
                            for k in confirm.FIGURES)
        lines.append(f"  {s['label'] + mark:<12} {figures}")
    best = confirm.best_setting(confirmation)
    verdict = ("agrees with the search's choice" if confirmation["agrees"] else
               f"the search chose trial {confirmation['search_chosen']}; on the means trial "
               f"{confirmation['best']} wins")
    return "\n".join([f"confirmation ({len(confirmation['seeds'])} seeds "
                      f"{', '.join(map(str, confirmation['seeds']))}; mean±std; "
                      f"* = confirmed best):", *lines,
                      f"confirmed best: {best['label']} ({describe_params(best['params'])}): "
                      f"{verdict}",
                      f"on the means against the baseline: {against_baseline(confirmation)}"])


def terminal_summary(study: optuna.Study, baseline: dict[str, Any], chosen: dict[str, Any],
                     confirmation: dict[str, Any] | None, target: Path,
                     figures: dict[str, str | None], dashboard: str) -> str:
    """The short text ``regsearch report`` prints."""
    c = records.counts(records.trials_frame(study))
    lines = [
        *([f"WARNING: {warning(study)}"] if warning(study) else []),
        f"report for study {study.study_name}: {target}",
        *([f"  {scaling_line(study.user_attrs['data_scaling'])}"]
          if "data_scaling" in study.user_attrs else []),
        f"  {c['trials']} trials ({c['complete']} completed, {c['pruned']} pruned, "
        f"{c['failed']} failed)",
        f"  gap {baseline['gap']:+.4f} -> {chosen['gap']:+.4f} (baseline -> chosen trial "
        f"{chosen['trial']}: {describe_params(chosen['params'])})",
        f"  val accuracy {baseline['val_accuracy']:.4f} -> {chosen['val_accuracy']:.4f}, "
        f"test accuracy {baseline['test_accuracy']:.4f} -> {chosen['test_accuracy']:.4f}",
    ]
    if confirmation is not None:
        lines.append(confirmation_text(confirmation))
        search = search_seconds(study)
        if search:
            runs = sum(len(s["runs"]) for s in confirmation["settings"])
            lines.append(f"time: search {search:.0f} s over {c['trials']} trials; confirmation "
                         f"{confirmation['seconds']:.0f} s over {runs} runs "
                         f"({confirmation['seconds'] / search:.2f}x the search)")
    lines.append(f"figures in {target.parent}: "
                 f"{', '.join(k for k, v in figures.items() if not v)}")
    lines += [f"  not drawn: {k}: {v}" for k, v in figures.items() if v]
    lines.append(dashboard)
    return "\n".join(lines)


def dashboard_note(study: optuna.Study, baseline: dict[str, Any], chosen: dict[str, Any],
                   confirmation: dict[str, Any] | None, images: Mapping[str, str]) -> str:
    """The headline in Markdown, for the study's note in optuna-dashboard.

    ``images`` maps figure file names to the dashboard's URL paths of their artifacts.
    """
    rows = [("trial", "-", str(chosen["trial"]))]
    rows += [(k, fmt(baseline["params"][k]), fmt(chosen["params"][k])) for k in PARAMS]
    rows += [(k, fmt(baseline[k]), fmt(chosen[k])) for k in METRICS]
    n = records.counts(records.trials_frame(study))
    lines = [f"## {study.study_name}: gap {baseline['gap']:+.4f} → {chosen['gap']:+.4f}", "",
             *([f"**Warning:** {warning(study)}.", ""] if warning(study) else []),
             f"{n['trials']} trials ({n['complete']} completed, {n['pruned']} pruned, "
             f"{n['failed']} failed). The selection rule, not Optuna's best objective value, "
             f"picks the chosen trial.", "",
             f"Chosen: trial {chosen['trial']} ({describe_params(chosen['params'])}); "
             f"test accuracy {baseline['test_accuracy']:.4f} → {chosen['test_accuracy']:.4f}.",
             "", "| | baseline | chosen |", "|---|---|---|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows), ""]
    if confirmation is not None:
        best = confirm.best_setting(confirmation)
        lines += [f"**Confirmation** over {len(confirmation['seeds'])} fresh seeds: confirmed best "
                  f"{best['label']} (val {best['mean']['val_accuracy']:.4f} ± "
                  f"{best['std']['val_accuracy']:.4f}, test {best['mean']['test_accuracy']:.4f} ± "
                  f"{best['std']['test_accuracy']:.4f}, gap {best['mean']['gap']:+.4f}); "
                  + ("agrees with the search; " if confirmation["agrees"]
                     else f"the search chose trial {confirmation['search_chosen']}; ")
                  + f"on the means against the baseline: {against_baseline(confirmation)}.",
                  ""]
    lines += [f"![{FIGURES[name]}]({url})" for name, url in images.items()]
    lines += ["", "Written by `regsearch report`; the full report is `report.html`."]
    return "\n".join(lines)


def publish_to_dashboard(study: optuna.Study, baseline: dict[str, Any], chosen: dict[str, Any],
                         confirmation: dict[str, Any] | None, out_dir: Path,
                         figures: Mapping[str, str | None], artifacts: Path) -> str:
    """Attach the figures as study artifacts and save the headline as the study's note.

    A figure already attached under the same file name is overwritten in place, so running the
    report again does not pile up copies; the note is replaced, hand edits included. Returns a
    line saying what was done.
    """
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact
    from optuna_dashboard import save_note
    from optuna_dashboard.artifact import get_artifact_path

    artifacts.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(artifacts)
    # Read the metadata from the study's system attributes (as optuna-dashboard's save_note and
    # artifact routes do), not with optuna.artifacts.get_all_artifact_meta: the dashboard marks
    # an artifact deleted in its UI with a null there, which that function cannot parse.
    existing = {}
    for key, value in study._storage.get_study_system_attrs(study._study_id).items():
        meta = json.loads(value) if key.startswith("artifacts:") else None
        if meta:
            existing[meta["filename"]] = meta["artifact_id"]
    images = {}
    for name, problem in figures.items():
        if problem:
            continue
        path = out_dir / name
        if name in existing:
            with path.open("rb") as f:
                store.write(existing[name], f)
            artifact_id = existing[name]
        else:
            artifact_id = upload_artifact(artifact_store=store, file_path=str(path),
                                          study_or_trial=study)
        images[name] = get_artifact_path(study, artifact_id)
    save_note(study, dashboard_note(study, baseline, chosen, confirmation, images))
    return (f"dashboard: headline saved as the study's note, {len(images)} figures attached "
            f"(`regsearch dashboard` serves them from {artifacts})")


# ------------------------------------------------------------------------------------ html

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .meta{color:#666} .big{font-size:1.5em;margin:.3em 0}
table{border-collapse:collapse;margin:.5em 0} th,td{padding:3px 8px;border-bottom:1px solid #ddd;
text-align:right;white-space:nowrap} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
tr.best td{background:#fff3d6;font-weight:600} pre{background:#f6f8fa;padding:.8em;overflow:auto}
img{max-width:100%} figure{margin:1em 0} figcaption{color:#555;font-size:.9em}
table.sortable th{cursor:pointer} table.sortable th:hover{background:#e8e8e8}
.warn{color:#a33} .wide{overflow-x:auto}
"""

# Sorting by clicking a header: numbers as numbers, empty cells last.
_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.title = 'click to sort';
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir > 0 ? 'asc' : 'desc';
      var key = function (r) { var t = r.cells[col].textContent.trim(); var n = parseFloat(t);
        return t === '' ? null : (isNaN(n) || !/^[-+0-9.eE]+$/.test(t) ? t : n); };
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
        return (x < y ? -1 : x > y ? 1 : 0) * dir; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _cell(key: str, value: Any) -> str:
    """A table cell that carries its exact value (``data-value``) beside the shown text."""
    exact = json.dumps(value)
    return f'<td data-key="{html.escape(key)}" data-value="{html.escape(exact)}">' \
           f"{html.escape(fmt(value))}</td>"


def _headline_html(baseline: dict[str, Any], chosen: dict[str, Any], snippet: str,
                   tolerance_note: str) -> str:
    rows = ['<tr><th></th><th>baseline</th><th>chosen</th></tr>',
            f'<tr><td>trial</td><td>-</td>{_cell("chosen.trial", chosen["trial"])}</tr>']
    for k in (*PARAMS, *METRICS):
        b = baseline["params"][k] if k in PARAMS else baseline[k]
        c = chosen["params"][k] if k in PARAMS else chosen[k]
        rows.append(f"<tr><td>{k}</td>{_cell('baseline.' + k, b)}{_cell('chosen.' + k, c)}</tr>")
    costs = chosen["val_accuracy"] < baseline["val_accuracy"] - chosen["selection"]["tolerance"]
    warning = ('<p class="warn">The chosen setting is below the baseline\'s validation accuracy '
               "by more than the tolerance: regularization in this space costs accuracy here.</p>"
               if costs else "")
    return (f'<p class="big">gap <b>{baseline["gap"]:+.4f} → {chosen["gap"]:+.4f}</b>; '
            f'validation accuracy {baseline["val_accuracy"]:.4f} → {chosen["val_accuracy"]:.4f}; '
            f'test accuracy {baseline["test_accuracy"]:.4f} → {chosen["test_accuracy"]:.4f}</p>'
            f"{warning}"
            f'<p>Chosen: trial {chosen["trial"]}, <span id="chosen-params">'
            f'{html.escape(describe_params(chosen["params"]))}</span>.</p>'
            f'<table id="headline-table">{"".join(rows)}</table>'
            f"<p>{html.escape(tolerance_note)}</p>"
            f"<h3>Keras snippet</h3><pre>{html.escape(snippet)}</pre>")


def _confirmation_html(confirmation: dict[str, Any] | None, search: float) -> str:
    if confirmation is None:
        return "<p>No confirmation yet.</p>"
    head = "".join(f"<th>{k} mean</th><th>± std</th>" for k in confirm.FIGURES)
    rows, runs = [], []
    for s in confirmation["settings"]:
        cls = ' class="best"' if s["trial"] == confirmation["best"] else ""
        key = f"confirm.{s['label'].replace(' ', '_')}"
        cells = "".join(_cell(f"{key}.mean.{k}", s["mean"][k]) + _cell(f"{key}.std.{k}",
                                                                       s["std"][k])
                        for k in confirm.FIGURES)
        rows.append(f"<tr{cls}><td>{html.escape(s['label'])}</td>"
                    f"<td>{html.escape(describe_params(s['params']))}</td>{cells}</tr>")
        for r in s["runs"]:
            runs.append(f"<tr><td>{html.escape(s['label'])}</td><td>{r['seed']}</td>"
                        + "".join(_cell(f"{key}.seed{r['seed']}.{k}", r[k])
                                  for k in confirm.FIGURES)
                        + f"<td>{r['epochs']}</td><td>{r['seconds']:.1f}</td></tr>")
    best = confirm.best_setting(confirmation)
    verdict = ("It agrees with the search's choice." if confirmation["agrees"] else
               f"<span class='warn'>The search chose trial {confirmation['search_chosen']}; on "
               f"the means {html.escape(best['label'])} wins.</span>")
    timing = (f" Confirmation took {confirmation['seconds']:.0f} s, "
              f"{confirmation['seconds'] / search:.2f}x the search's {search:.0f} s."
              if search else "")
    sel = confirmation["selection"]
    return (f"<p>The top {len(confirmation['settings']) - 1} settings by the selection rule and "
            f"the baseline, each retrained with {len(confirmation['seeds'])} seeds the search "
            f"never used ({', '.join(map(str, confirmation['seeds']))}), and evaluated on "
            f"train, validation and test. Mean and sample standard deviation; the same rule "
            f"applied to the means (tolerance {sel['tolerance']:.4f}, {html.escape(sel['tolerance_source'])}) "
            f"picks the confirmed best: <b id='confirmed-best'>{html.escape(best['label'])}</b>. "
            f"{verdict} On the means against the baseline: "
            f"{html.escape(against_baseline(confirmation))}.{timing}</p>"
            f'<table id="confirmation-table"><tr><th>setting</th><th>params</th>{head}</tr>'
            f'{"".join(rows)}</table>'
            f"<details><summary>every run</summary><table><tr><th>setting</th><th>seed</th>"
            + "".join(f"<th>{k}</th>" for k in confirm.FIGURES)
            + f"<th>epochs</th><th>seconds</th></tr>{''.join(runs)}</table></details>")


def _figure_html(out_dir: Path, name: str, problem: str | None, caption: str) -> str:
    if problem:
        return f"<p>{html.escape(FIGURES[name])}: not drawn ({html.escape(problem)}).</p>"
    data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
    return (f'<figure id="fig-{name.removesuffix(".png")}"><img alt="{html.escape(FIGURES[name])}" '
            f'src="data:image/png;base64,{data}"><figcaption>{caption} '
            f'(<a href="{name}">{name}</a>)</figcaption></figure>')


def trials_table(study: optuna.Study) -> str:
    """Every trial as a sortable HTML table (pandas), durations in seconds."""
    frame = records.trials_frame(study)
    if "duration" in frame.columns:
        frame["seconds"] = frame.pop("duration").dt.total_seconds().round(1)
    return frame.to_html(index=False, na_rep="", border=0, table_id="trials",
                         classes="sortable", float_format=fmt)


def render_html(study: optuna.Study, spec: StudySpec, baseline: dict[str, Any],
                chosen: dict[str, Any], confirmation: dict[str, Any] | None, snippet: str,
                out_dir: Path, figures: Mapping[str, str | None]) -> str:
    """The whole report page, self-contained."""
    c = records.counts(records.trials_frame(study))
    sizes = study.user_attrs.get("data_sizes", {})
    sel = chosen["selection"]
    tolerance_note = (f"Selection rule: {sel['rule']}; tolerance {sel['tolerance']:.4f} "
                      f"({sel['tolerance_source']}), {sel['candidates']} candidates. Test "
                      "accuracy comes from a fresh run of each setting after the search.")
    n_sample = min(spec.training.train_eval_samples, sizes.get("train", math.inf))
    captions = {
        "curves.png": (f"Train accuracy is measured with dropout off, every epoch, on a fixed "
                       f"sample of {n_sample} training examples (training.train_eval_samples = "
                       f"{spec.training.train_eval_samples}; the train split has "
                       f"{sizes.get('train', '?')}), so it compares with validation accuracy. "
                       "The training loss is Keras' own: dropout on, penalty included, "
                       "averaged over the epoch."),
        "pareto.png": ("Green: the trials no other trial beats on both validation accuracy and "
                       "|gap|. Above the dotted line lie the candidates of the selection rule; "
                       "the star is the chosen trial."),
        "params.png": "Lambda is the L1 or L2 strength on a log axis; the star is the chosen trial.",
        "importances.png": "optuna.visualization.matplotlib.plot_param_importances.",
        "history.png": "optuna.visualization.matplotlib.plot_optimization_history "
                       "(objective = val accuracy - gap_weight x |gap|).",
    }
    sections = [
        ("headline", "Headline", _headline_html(baseline, chosen, snippet, tolerance_note)),
        ("confirmation", "Confirmation", _confirmation_html(confirmation, search_seconds(study))),
        ("curves", "Learning curves", _figure_html(out_dir, "curves.png", figures["curves.png"],
                                                   captions["curves.png"])),
        ("trade-off", "Gap vs validation accuracy",
         _figure_html(out_dir, "pareto.png", figures["pareto.png"], captions["pareto.png"])
         + _figure_html(out_dir, "params.png", figures["params.png"], captions["params.png"])),
        ("optuna", "Importances and history",
         _figure_html(out_dir, "importances.png", figures["importances.png"],
                      captions["importances.png"])
         + _figure_html(out_dir, "history.png", figures["history.png"], captions["history.png"])),
        ("all-trials", "All trials", "<p>Click a column header to sort.</p>"
                                     f'<div class="wide">{trials_table(study)}</div>'),
    ]
    body = "".join(f'<section id="{sid}"><h2>{title}</h2>{content}</section>'
                   for sid, title, content in sections)
    alarm = warning(study)
    if alarm:
        body = f'<p class="warn" id="no-learning">Warning: {html.escape(alarm)}.</p>' + body
    scaling = study.user_attrs.get("data_scaling")
    scaled = f" {html.escape(scaling_line(scaling))}." if scaling else ""
    name = html.escape(study.study_name)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>regsearch report: {name}</title><style>{_STYLE}</style></head><body>"
            f'<h1>Study <span id="study-name">{name}</span></h1>'
            f'<p class="meta"><span id="trial-count">{c["trials"]}</span> trials '
            f"({c['complete']} completed, {c['pruned']} pruned, {c['failed']} failed; "
            f"{c['epochs']} epochs), backend {html.escape(study.user_attrs.get('backend', '?'))}, "
            f"data {html.escape(spec.data.dataset)} ("
            f"{', '.join(f'{k} {v}' for k, v in sizes.items())}); "
            f"generated {generated}.{scaled}</p>{body}<script>{_SORT_JS}</script></body></html>\n")


def write_report(out_dir: Path, page: str) -> Path:
    """Write the page atomically into ``out_dir``; returns its path."""
    target = out_dir / HTML_NAME
    write_atomic(target, page)
    return target
