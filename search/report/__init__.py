"""``regsearch report``: a page people would rather look at than read.

One module per output, each saying the same things with the sentences of ``verdicts``:

* ``figures``: the PNG figures (Optuna's plots where it has one);
* ``page``: ``report.html``, self-contained;
* ``dashboard``: the headline as the study's note in optuna-dashboard, figures attached;
* ``terminal``: the short text the command prints.
"""

from .dashboard import dashboard_note, publish_to_dashboard
from .figures import FIGURES, pareto_front, write_figures
from .page import HTML_NAME, default_dir, render_html, trials_table, write_report
from .terminal import confirmation_text, terminal_summary
from .verdicts import against_baseline, confirmation_verdict, describe_params, search_seconds

__all__ = [
    "FIGURES", "HTML_NAME", "against_baseline", "confirmation_text", "confirmation_verdict",
    "dashboard_note", "default_dir", "describe_params", "pareto_front", "publish_to_dashboard",
    "render_html", "search_seconds", "terminal_summary", "trials_table",
    "write_figures", "write_report",
]
