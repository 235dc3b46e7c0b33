"""The report page: ``report.html``, self-contained.

Figures are embedded as base64, a few lines of inline JS sort the trials table, and nothing is
fetched from a CDN, so the file can be mailed or opened offline. Every cell that shows a number
carries its exact value in ``data-value``, which the tests compare with the export.
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
from ..study import METRICS, PARAMS, Snapshot
from ..summary import costs_accuracy, fmt, scaling_line
from .figures import FIGURES
from .verdicts import against_baseline, confirmation_verdict, describe_params, search_seconds

HTML_NAME = "report.html"

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .meta{color:#666} .big{font-size:1.5em;margin:.3em 0}
table{border-collapse:collapse;margin:.5em 0} th,td{padding:3px 8px;border-bottom:1px solid #ddd;
text-align:right;white-space:nowrap} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
table.fit{width:100%;table-layout:fixed} table.fit td,table.fit th{white-space:normal;
overflow-wrap:anywhere} table.fit .text{text-align:left}
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

#: Caption of each figure on the page, beside its title in ``FIGURES``.
_CAPTIONS = {
    "pareto.png": ("Green: the trials no other trial beats on both validation accuracy and "
                   "|gap|. Above the dotted line lie the candidates of the selection rule; "
                   "the star is the chosen trial."),
    "slice_gap.png": ("optuna.visualization.matplotlib.plot_slice: lambda is the L1 or L2 "
                      "strength on a log axis, each trial shown where it sampled that strength; "
                      "colour is the trial number, the star the chosen trial."),
    "slice_val_accuracy.png": "The same, for validation accuracy.",
    "importances.png": "optuna.visualization.matplotlib.plot_param_importances.",
    "history.png": ("optuna.visualization.matplotlib.plot_optimization_history "
                    "(objective = val accuracy - gap_weight x |gap|)."),
}


def default_dir(study_name: str) -> Path:
    """Where a study's report goes unless ``-o`` says otherwise."""
    return Path("studies") / "reports" / study_name


def _value(key: str, value: Any, tag: str = "td") -> str:
    """An element that carries its exact value (``data-value``) beside the shown text."""
    return (f'<{tag} data-key="{html.escape(key)}" data-value="{html.escape(json.dumps(value))}">'
            f"{html.escape(fmt(value))}</{tag}>")


def _warning(element_id: str, text: str) -> str:
    return f'<p class="warn" id="{element_id}">Warning: {html.escape(text)}.</p>'


def _headline_html(baseline: dict[str, Any], chosen: dict[str, Any], snippet: str,
                   tolerance_note: str) -> str:
    rows = ['<tr><th></th><th>baseline</th><th>chosen</th></tr>',
            f'<tr><td>trial</td><td>-</td>{_value("chosen.trial", chosen["trial"])}</tr>']
    for k in (*PARAMS, *METRICS):
        b = baseline["params"][k] if k in PARAMS else baseline[k]
        c = chosen["params"][k] if k in PARAMS else chosen[k]
        rows.append(f"<tr><td>{k}</td>{_value('baseline.' + k, b)}"
                    f"{_value('chosen.' + k, c)}</tr>")
    cost = costs_accuracy(baseline, chosen)
    return (f'<p class="big" id="headline-numbers">gap <b>{baseline["gap"]:+.4f} → '
            f'{chosen["gap"]:+.4f}</b>; validation accuracy {baseline["val_accuracy"]:.4f} → '
            f'{chosen["val_accuracy"]:.4f}; test accuracy {baseline["test_accuracy"]:.4f} → '
            f'{chosen["test_accuracy"]:.4f}</p>'
            + (_warning("costs-accuracy", cost) if cost else "")
            + f'<p>Chosen: trial {chosen["trial"]}, <span id="chosen-params">'
            f'{html.escape(describe_params(chosen["params"]))}</span>.</p>'
            f'<table id="headline-table">{"".join(rows)}</table>'
            f"<p>{html.escape(tolerance_note)}</p>"
            f"<h3>Keras snippet</h3><pre>{html.escape(snippet)}</pre>")


def _confirmation_html(confirmation: dict[str, Any] | None, search: float) -> str:
    if confirmation is None:
        return "<p>No confirmation yet.</p>"
    short = [k.removesuffix("_accuracy") for k in confirm.FIGURES]
    rows, runs = [], []
    for s in confirmation["settings"]:
        cls = ' class="best"' if s["trial"] == confirmation["best"] else ""
        key = f"confirm.{s['label'].replace(' ', '_')}"
        cells = "".join(f"<td>{_value(f'{key}.mean.{k}', s['mean'][k], 'span')} ± "
                        f"{_value(f'{key}.std.{k}', s['std'][k], 'span')}</td>"
                        for k in confirm.FIGURES)
        rows.append(f"<tr{cls}><td>{html.escape(s['label'])}</td>"
                    f'<td class="text">{html.escape(describe_params(s["params"]))}</td>'
                    f"{cells}</tr>")
        for r in s["runs"]:
            runs.append(f"<tr><td>{html.escape(s['label'])}</td><td>{r['seed']}</td>"
                        + "".join(_value(f"{key}.seed{r['seed']}.{k}", r[k])
                                  for k in confirm.FIGURES)
                        + f"<td>{r['epochs']}</td><td>{r['seconds']:.1f}</td></tr>")
    best = confirm.best_setting(confirmation)
    flag = "" if confirmation["agrees"] else ' class="warn"'
    verdict = (f'<span id="confirmation-verdict"{flag}>'
               f"{html.escape(confirmation_verdict(confirmation))}</span>")
    timing = (f" Confirmation took {confirmation['seconds']:.0f} s, "
              f"{confirmation['seconds'] / search:.2f}x the search's {search:.0f} s."
              if search else "")
    sel = confirmation["selection"]
    widths = "".join(f'<col style="width:{w}%">' for w in (10, 30, *[15] * len(short)))
    return (f"<p>The top {len(confirmation['settings']) - 1} settings by the selection rule and "
            f"the baseline, each retrained with {len(confirmation['seeds'])} seeds the search "
            f"never used ({', '.join(map(str, confirmation['seeds']))}), and evaluated on "
            f"train, validation and test: mean ± sample standard deviation. The same rule "
            f"applied to the means (tolerance {sel['tolerance']:.4f}, "
            f"{html.escape(sel['tolerance_source'])}) picks the confirmed best: "
            f"<b id='confirmed-best'>{html.escape(best['label'])}</b>; {verdict}. "
            f"On the means against the baseline: "
            f"{html.escape(against_baseline(confirmation))}.{timing}</p>"
            f'<table id="confirmation-table" class="fit"><colgroup>{widths}</colgroup>'
            f'<tr><th>setting</th><th class="text">params</th>'
            + "".join(f"<th>{k}</th>" for k in short)
            + f'</tr>{"".join(rows)}</table>'
            f"<details><summary>every run</summary><table><tr><th>setting</th><th>seed</th>"
            + "".join(f"<th>{k}</th>" for k in short)
            + f"<th>epochs</th><th>seconds</th></tr>{''.join(runs)}</table></details>")


def _figure_html(out_dir: Path, name: str, problem: str | None, caption: str) -> str:
    if problem:
        return f"<p>{html.escape(FIGURES[name])}: not drawn ({html.escape(problem)}).</p>"
    data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
    return (f'<figure id="fig-{name.removesuffix(".png")}"><img alt="{html.escape(FIGURES[name])}" '
            f'src="data:image/png;base64,{data}"><figcaption>{caption} '
            f'(<a href="{name}">{name}</a>)</figcaption></figure>')


def trials_table(snap: Snapshot) -> str:
    """Every trial as a sortable HTML table (pandas), durations in seconds."""
    frame = snap.frame.copy()
    if "duration" in frame.columns:
        frame["seconds"] = frame.pop("duration").dt.total_seconds().round(1)
    return frame.to_html(index=False, na_rep="", border=0, table_id="trials",
                         classes="sortable", float_format=fmt)


def render_html(snap: Snapshot, baseline: dict[str, Any], chosen: dict[str, Any],
                confirmation: dict[str, Any] | None, snippet: str, out_dir: Path,
                figures: Mapping[str, str | None]) -> str:
    """The whole report page, self-contained."""
    c, sizes, spec = snap.counts, snap.sizes, snap.spec
    sel = chosen["selection"]
    tolerance_note = (f"Selection rule: {sel['rule']}; tolerance {sel['tolerance']:.4f} "
                      f"({sel['tolerance_source']}), {sel['candidates']} candidates. Test "
                      "accuracy comes from a fresh run of each setting after the search.")
    n_sample = min(spec.training.train_eval_samples, sizes.get("train", math.inf))
    captions = {**_CAPTIONS, "curves.png": (
        f"Train accuracy is measured with dropout off, every epoch, on a fixed sample of "
        f"{n_sample} training examples (training.train_eval_samples = "
        f"{spec.training.train_eval_samples}; the train split has {sizes.get('train', '?')}), so "
        "it compares with validation accuracy. The training loss is Keras' own: dropout on, "
        "penalty included, averaged over the epoch.")}

    def shown(*names: str) -> str:
        return "".join(_figure_html(out_dir, n, figures[n], captions[n]) for n in names)

    sections = [
        ("headline", "Headline", _headline_html(baseline, chosen, snippet, tolerance_note)),
        ("confirmation", "Confirmation", _confirmation_html(confirmation, search_seconds(snap))),
        ("curves", "Learning curves", shown("curves.png")),
        ("trade-off", "Gap vs validation accuracy",
         shown("pareto.png", "slice_gap.png", "slice_val_accuracy.png")),
        ("optuna", "Importances and history", shown("importances.png", "history.png")),
        ("all-trials", "All trials", "<p>Click a column header to sort.</p>"
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
            f'<p class="meta"><span id="trial-count">{c["trials"]}</span> trials '
            f"({c['complete']} completed, {c['pruned']} pruned, {c['failed']} failed; "
            f"{c['epochs']} epochs), backend {html.escape(snap.backend)}, "
            f"data {html.escape(spec.data.dataset)} ("
            f"{', '.join(f'{k} {v}' for k, v in sizes.items())}); "
            f"generated {generated}.{scaled}</p>{body}<script>{_SORT_JS}</script></body></html>\n")


def write_report(out_dir: Path, page: str) -> Path:
    """Write the page atomically into ``out_dir``; returns its path."""
    target = out_dir / HTML_NAME
    write_atomic(target, page)
    return target
