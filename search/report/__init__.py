"""``regsearch report``: a page people would rather look at than read.

One module per output, each leading with the confirmed answer (``confirm.statement``) and saying
the rest with the sentences of ``verdicts``:

* ``figures``: the PNG figures (Optuna's plots where it has one);
* ``page``: ``report.html``, self-contained;
* ``dashboard``: the answer as the study's note in optuna-dashboard, figures attached;
* ``terminal``: the short text the command prints.
"""

from .dashboard import dashboard_note, publish_to_dashboard
from .figures import FIGURES, pareto_front, setting_label, write_figures
from .page import HTML_NAME, default_dir, render_html, trials_table, write_report
from .terminal import confirmation_text, terminal_summary
from .verdicts import (DIFFERENCES, confirmed_role, counts_line, describe_params,
                       difference_text, interval_text, search_seconds, selection_line,
                       significant, timing_line, verdict_line)

__all__ = [
    "DIFFERENCES", "FIGURES", "HTML_NAME", "confirmation_text", "confirmed_role", "counts_line",
    "dashboard_note", "default_dir", "describe_params", "difference_text", "interval_text",
    "pareto_front", "publish_to_dashboard", "render_html", "search_seconds", "selection_line",
    "setting_label", "significant", "terminal_summary", "timing_line", "trials_table",
    "verdict_line", "write_figures", "write_report",
]
