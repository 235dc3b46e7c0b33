"""The report page: ``report.html``, self-contained.

It leads with the confirmed answer (``confirm.statement``), the paired differences behind it
and the confirmation runs, then shows the search that led there: the baseline and the confirmed
setting side by side on the cross-validation folds, the selection rule, the figures, the Keras
snippet and every trial.

Figures are embedded as base64, a few lines of inline JS sort the trials table, and nothing is
fetched from a CDN, so the file can be mailed or opened offline. Every cell that shows a number
carries its exact value in ``data-value``, which the tests compare with the study.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import confirm
from ..export import write_atomic
from ..spec import study_file
from ..study import Snapshot
from ..summary import ROWS, fmt, scaling_line, settings
from .figures import FIGURES, setting_label
from .verdicts import (DIFFERENCES, confirmed_role, counts_line, describe_params, selection_line,
                       significant, timing_line, verdict_line)

HTML_NAME = "report.html"

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .meta{color:#666} .big{font-size:1.5em;margin:.3em 0}
table{border-collapse:collapse;margin:.5em 0} th,td{padding:3px 8px;border-bottom:1px solid #ddd;
text-align:right;white-space:nowrap} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
table.fit{width:100%;table-layout:fixed} table.fit td,table.fit th{white-space:normal;
overflow-wrap:anywhere} table.fit .text{text-align:left}
tr.answer td{background:#fff3d6;font-weight:600} pre{background:#f6f8fa;padding:.8em;overflow:auto}
img{max-width:100%} figure{margin:1em 0} figcaption{color:#555;font-size:.9em}
table.sortable th{cursor:pointer} table.sortable th:hover{background:#e8e8e8}
.warn{color:#a33} .wide{overflow-x:auto} ul.notes{border-left:4px solid #a33;padding:.4em 2em}
.verdict{font-size:1.15em}
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

#: Caption of each figure on the page, beside its title in ``FIGURES``.
_CAPTIONS = {
    "pareto.png": ("Each point is a completed trial's mean over the folds, its bars one standard "
                   "error. Green: the trials no other trial beats on both validation accuracy "
                   "and |gap|. The square is the baseline, the star the confirmed setting. The "
                   "selection rule compares settings paired on the folds, which is tighter "
                   "than these bars."),
    "slice_gap.png": ("optuna.visualization.matplotlib.plot_slice: lambda is the L1 or L2 "
                      "strength on a log axis, each trial shown where it sampled that strength; "
                      "colour is the trial number, the star the confirmed setting."),
    "slice_val_accuracy.png": "The same, for validation accuracy.",
    "importances.png": ("optuna.visualization.matplotlib.plot_param_importances, over the "
                        "params every completed trial sampled."),
    "history.png": ("optuna.visualization.matplotlib.plot_optimization_history "
                    "(objective = mean over the folds of val accuracy - gap_weight x |gap|; "
                    "the baseline's trial included)."),
}


def default_dir(study_name: str) -> Path:
    """Where a study's report goes unless ``-o`` says otherwise; a name that would put it
    anywhere else is refused (``spec.study_file``)."""
    return study_file(Path("studies") / "reports", study_name, study=study_name)


def _value(key: str, value: Any, tag: str = "td", text: str | None = None) -> str:
    """An element that carries its exact value (``data-value``) beside the shown text
    (``fmt(value)`` unless ``text`` is given)."""
    shown = fmt(value) if text is None else text
    return (f'<{tag} data-key="{html.escape(key)}" data-value="{html.escape(json.dumps(value))}">'
            f"{html.escape(shown)}</{tag}>")


def _warning(element_id: str, text: str) -> str:
    return f'<p class="warn" id="{element_id}">Warning: {html.escape(text)}.</p>'


#: The two settings' keys in ``data-key``: confirmation's ``settings`` order.
_KEYS = ("baseline", "setting")


def _answer_html(confirmation: dict[str, Any]) -> str:
    """The answer first: the statement, the verdict, the notes, the paired differences."""
    other = confirmation["settings"][1]
    notes = confirmation["notes"]
    notes_html = ('<p class="warn"><b>Read the confirmed figures with care:</b></p>'
                  '<ul class="notes warn" id="notes">'
                  + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
                  if notes else '<p id="notes">No seed collapsed to the majority class and no '
                                "setting's seeds disagree widely.</p>")
    rows = []
    for k, label in DIFFERENCES:
        d = confirmation["difference"][k]
        cells = "".join(_value(f"difference.{k}.{part}", d[part], text=f"{d[part]:+.4f}")
                        for part in ("mean", "low", "high"))
        rows.append(f"<tr><td>{html.escape(label)}</td>{cells}"
                    f"<td>{html.escape(significant(d))}</td></tr>")
    level = confirmation["difference"]["test_accuracy"].get("confidence", 0.95)
    return (f'<p class="big" id="statement">{html.escape(confirm.statement(confirmation))}</p>'
            f'<p class="verdict"><b>Verdict:</b> <span id="confirmation-verdict" data-verdict='
            f'"{html.escape(confirmation["verdict"])}">{html.escape(verdict_line(confirmation))}'
            f"</span></p>"
            f'<p>Use: <b id="answer-params">{html.escape(describe_params(confirmation["params"]))}'
            f"</b>. Confirmed against no regularization: {html.escape(other['label'])}, "
            f"{html.escape(confirmed_role(confirmation))}: "
            f'<span id="chosen-params">{html.escape(describe_params(other["params"]))}</span>.</p>'
            + notes_html
            + f"<h3>Paired differences, {html.escape(other['label'])} minus the baseline</h3>"
            f"<p>Over the {len(confirmation['seeds'])} confirmation seeds, the same for both "
            f"settings; {level:.0%} intervals (Student's t). Gap is train minus test accuracy, "
            f"dropout off.</p>"
            f'<table id="differences"><tr><th>figure</th><th>mean difference</th>'
            f"<th>{level:.0%} low</th><th>{level:.0%} high</th><th></th></tr>"
            + "".join(rows) + "</table>")


def _confirmation_html(snap: Snapshot, confirmation: dict[str, Any]) -> str:
    """Each setting retrained on train+validation with the confirmation seeds, tested once."""
    short = [k.removesuffix("_accuracy") for k in confirm.FIGURES]
    answer = confirmation["answer_trial"]
    rows, runs = [], []
    for key, s in zip(_KEYS, confirmation["settings"]):
        cls = ' class="answer"' if s["trial"] == answer else ""
        cells = "".join(f"<td>{_value(f'confirm.{key}.mean.{k}', s['mean'][k], 'span')} ± "
                        f"{_value(f'confirm.{key}.std.{k}', s['std'][k], 'span')}</td>"
                        for k in confirm.FIGURES)
        rows.append(f"<tr{cls}><td>{html.escape(s['label'])}</td>"
                    f'<td class="text">{html.escape(describe_params(s["params"]))}</td>'
                    f"{_value(f'confirm.{key}.epochs', s['epochs'])}{cells}</tr>")
        for r in s["runs"]:
            runs.append(f"<tr><td>{html.escape(s['label'])}</td>"
                        f"<td>{html.escape(str(r['seed']))}</td>"
                        + "".join(_value(f"confirm.{key}.seed{r['seed']}.{k}", r[k])
                                  for k in confirm.FIGURES)
                        + f"<td>{r['seconds']:.1f}</td></tr>")
    timing = timing_line(snap, confirmation)
    widths = "".join(f'<col style="width:{w}%">' for w in (12, 28, 9, *[17] * len(short)))
    return (f"<p>The baseline and {html.escape(confirmation['settings'][1]['label'])} "
            f"({html.escape(confirmed_role(confirmation))}), each retrained on all of "
            f"train+validation for the epochs its folds' EarlyStopping chose, with "
            f"{len(confirmation['seeds'])} seeds the search never used "
            f"({html.escape(', '.join(map(str, confirmation['seeds'])))}), and tested once on "
            f"the test split: mean ± sample standard deviation over the seeds. The highlighted "
            f"row is the answer.</p>"
            f'<table id="confirmation-table" class="fit"><colgroup>{widths}</colgroup>'
            f'<tr><th>setting</th><th class="text">params</th><th>epochs</th>'
            + "".join(f"<th>{k}</th>" for k in short)
            + f'</tr>{"".join(rows)}</table>'
            f"<details><summary>every run</summary><table><tr><th>setting</th><th>seed</th>"
            + "".join(f"<th>{k}</th>" for k in short)
            + f"<th>seconds</th></tr>{''.join(runs)}</table></details>"
            + (f'<p id="timing">{html.escape(timing)}.</p>' if timing else ""))


def _search_html(snap: Snapshot) -> str:
    """The baseline and the confirmed setting side by side: fold figures, confirmed figures."""
    entries = settings(snap)
    head = "".join(f"<th>{html.escape(e['label'])}</th>" for e in entries)
    rows = ["<tr><td>trial</td>"
            + "".join(_value(f"cv.{key}.trial", e["trial"]) for key, e in zip(_KEYS, entries))
            + "</tr>"]
    rows += [f"<tr><td>{k}</td>"
             + "".join(_value(f"cv.{key}.{k}", e["params"][k]) for key, e in zip(_KEYS, entries))
             + "</tr>" for k in snap.params]
    for label, k in ROWS:
        cells = []
        for key, e in zip(_KEYS, entries):
            se = e.get(f"{k}_se")
            cells.append(f"<td>{_value(f'cv.{key}.{k}', e.get(k), 'span')}"
                         + (f" ± {_value(f'cv.{key}.{k}_se', se, 'span')}"
                            if se is not None else "") + "</td>")
        rows.append(f"<tr><td>{html.escape(label)}</td>{''.join(cells)}</tr>")
    ev = snap.spec.evaluation
    return (f"<p>The search scored every trial on {ev.folds}-fold cross-validation"
            + (f" x {ev.repeats}" if ev.repeats > 1 else "")
            + " of train+validation (the test split unread): cv figures are the mean ± "
            "standard error over the folds; test figures are the confirmation's means.</p>"
            f'<table id="settings-table"><tr><th></th>{head}</tr>{"".join(rows)}</table>'
            f'<p id="selection-rule">{html.escape(selection_line(snap))}.</p>'
            f'<p id="counts">{html.escape(counts_line(snap))}.</p>')


def _figure_html(out_dir: Path, name: str, problem: str | None, caption: str) -> str:
    if problem:
        return f"<p>{html.escape(FIGURES[name])}: not drawn ({html.escape(problem)}).</p>"
    data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
    file = html.escape(name)
    return (f'<figure id="fig-{html.escape(name.removesuffix(".png"))}"><img alt="'
            f'{html.escape(FIGURES[name])}" src="data:image/png;base64,{data}"><figcaption>'
            f'{html.escape(caption)} (<a href="{file}">{file}</a>)</figcaption></figure>')


def trials_table(snap: Snapshot) -> str:
    """Every trial as a sortable HTML table (pandas), durations in seconds; each fold's
    validation accuracy in one cell."""
    frame = snap.frame.copy()
    if "duration" in frame.columns:
        frame["seconds"] = frame.pop("duration").dt.total_seconds().round(1)
    if "folds" in frame.columns:
        frame["val_accuracy per fold"] = [
            " / ".join(fmt(float(f["val_accuracy"])) for f in folds)
            if isinstance(folds, list) else "" for folds in frame.pop("folds")]
    return frame.to_html(index=False, na_rep="", border=0, table_id="trials",
                         classes="sortable", float_format=fmt)


def render_html(snap: Snapshot, confirmation: dict[str, Any], snippet: str, out_dir: Path,
                figures: Mapping[str, str | None]) -> str:
    """The whole report page, self-contained: the confirmed answer first."""
    c, sizes, spec = snap.counts, snap.sizes, snap.spec
    fold_train = sizes.get("fold_train", sizes.get("train", math.inf))
    n_sample = min(spec.training.train_eval_samples, fold_train)
    label = setting_label(snap)
    captions = {**_CAPTIONS, "curves.png": (
        f"The first fold's curves of the baseline and the {label} setting. Train accuracy is "
        f"measured with dropout off, every epoch, on a fixed sample of {n_sample} of the "
        f"fold's training examples (training.train_eval_samples = "
        f"{spec.training.train_eval_samples}; the fold trains on {fold_train}), so it compares "
        "with validation accuracy. The training loss is Keras' own: dropout on, penalty "
        "included, averaged over the epoch.")}

    def shown(*names: str) -> str:
        return "".join(_figure_html(out_dir, n, figures[n], captions[n]) for n in names)

    answer = describe_params(confirmation["params"])
    sections = [
        ("headline", "Answer", _answer_html(confirmation)),
        ("confirmation", "Confirmation on the test split", _confirmation_html(snap, confirmation)),
        ("search", "The search, on the cross-validation folds", _search_html(snap)),
        ("curves", "Learning curves", shown("curves.png")),
        ("trade-off", "Gap vs validation accuracy",
         shown("pareto.png", "slice_gap.png", "slice_val_accuracy.png")),
        ("optuna", "Importances and history", shown("importances.png", "history.png")),
        ("snippet", "Keras snippet",
         f"<p>The answer, {html.escape(answer)}, as Keras code:</p>"
         f"<pre>{html.escape(snippet)}</pre>"),
        ("all-trials", "All trials", "<p>Click a column header to sort. The baseline's trial "
                                     "has role baseline and no params.</p>"
                                     f'<div class="wide">{trials_table(snap)}</div>'),
    ]
    body = "".join(f'<section id="{sid}"><h2>{title}</h2>{content}</section>'
                   for sid, title, content in sections)
    if snap.warning:
        body = _warning("no-learning", snap.warning) + body
    scaling = snap.scaling
    scaled = f" {html.escape(scaling_line(scaling))}." if scaling else ""
    name = html.escape(snap.name)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>regsearch report: {name}</title><style>{_STYLE}</style></head><body>"
            f'<h1>Study <span id="study-name">{name}</span></h1>'
            f'<p class="meta"><span id="trial-count">{c["trials"]}</span> trials and the '
            f"baseline, backend {html.escape(snap.backend)}, "
            f"data {html.escape(spec.data.dataset)} ("
            f"{html.escape(', '.join(f'{k} {v}' for k, v in sizes.items()))}); "
            f"generated {generated}.{scaled}</p>{body}<script>{_SORT_JS}</script></body></html>\n")


def write_report(out_dir: Path, page: str) -> Path:
    """Write the page atomically into ``out_dir``; returns its path."""
    target = out_dir / HTML_NAME
    write_atomic(target, page)
    return target
