"""The report's "Model comparison" section: each baseline beside the network (issue 20).

Rendered from metrics.json alone (``test_baseline_<name>`` and the paired differences
``test_vs_baseline_<name>``, see :mod:`healthnn.baselines.run`); the verdicts are those of
:mod:`healthnn.baselines.compare`, the same words ``healthnn train`` prints.

>>> m = {"test": {"auroc": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}},
...      "test_baseline_logistic": {"auroc": {"value": 0.85, "ci_low": 0.75, "ci_high": 0.93}},
...      "test_vs_baseline_logistic": {"auroc": {"value": -0.05, "ci_low": -0.09,
...                                              "ci_high": -0.01}}}
>>> "the baseline is better" in comparison_html(m)
True
>>> "No baseline" in comparison_html({"test": {}})
True
"""

from __future__ import annotations

import html
import math
from typing import Any

from healthnn.baselines.compare import comparisons, direction

__all__ = ["comparison_html", "comparison_warnings", "MAX_METRICS"]

MAX_METRICS = 6  # directional metrics per baseline in the table (the network's first ones)


def _n(v: Any) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:.3f}" if math.isfinite(v) else "n/a"


def _m(m: dict[str, Any] | None, signed: bool = False) -> str:
    if not m:
        return "n/a"
    v = m.get("value")
    head = f"{float(v):+.3f}" if signed and v is not None and math.isfinite(float(v)) else _n(v)
    return f"{head} [{_n(m.get('ci_low'))}, {_n(m.get('ci_high'))}]"


def _rows(metrics: dict[str, Any]) -> list[list[str]]:
    test = metrics.get("test", {})
    names = [k for k in test if direction(k)][:MAX_METRICS]
    rows = []
    for name in names:
        for c in comparisons(metrics, name):
            d = c["delong"]
            rows.append([c["name"], name, _m(c["baseline"]), _m(c["network"]),
                         _m(c["difference"], signed=True),
                         "" if not d else f"{_m(d, signed=True)}, p = {d['p_value']:.3g}",
                         c["verdict"]])
    return rows


def comparison_html(metrics: dict[str, Any]) -> str:
    """The section's HTML (heading included)."""
    e = html.escape
    head = '<h2 id="comparison">Model comparison</h2>'
    summary = comparisons(metrics)
    if not summary:
        return head + ("<p class='muted'>No baseline was fitted in this run ([baseline] models "
                       "is empty, or the task has none).</p>")
    said = []
    for c in summary:
        if c["verdict"] == "the baseline is better":
            said.append(f"<p class='warn'><b>The baseline {e(c['name'])} is better than the "
                        f"network</b> on {e(c['metric'])}: the whole paired interval of the "
                        "difference favours it.</p>")
    if not said:
        said.append("<p>No baseline is better than the network on the headline metric "
                    f"({e(summary[0]['metric'])}) by the paired interval.</p>")
    cols = ["baseline", "metric", "baseline value", "network value",
            "network - baseline (paired bootstrap)", "DeLong (AUROC)", "verdict"]
    rows = _rows(metrics)
    if not any(r[5] for r in rows):  # no yes/no outcome: no DeLong column
        cols, rows = cols[:5] + cols[6:], [r[:5] + r[6:] for r in rows]
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    table = ("<table id='comparison-table'><thead><tr>" +
             "".join(f"<th>{e(c)}</th>" for c in cols) + f"</tr></thead><tbody>{body}"
             "</tbody></table>")
    note = ("<p class='muted'>Baselines are fitted on the network's training rows (validation "
            "rows for early stopping) and scored on its test rows. The difference is network "
            "minus baseline on the same bootstrap resamples; for error metrics (Brier, RMSE, "
            "IBS) a negative difference favours the network. DeLong's interval and p-value "
            "are for the AUROC difference.</p>")
    return head + "".join(said) + table + note


def comparison_warnings(metrics: dict[str, Any]) -> list[str]:
    """Model Facts warnings: one per baseline whose paired interval favours it.

    >>> comparison_warnings({"test": {"auroc": {"value": 0.8}},
    ...     "test_baseline_logistic": {"auroc": {"value": 0.9}},
    ...     "test_vs_baseline_logistic": {"auroc": {"value": -0.1, "ci_low": -0.15,
    ...                                             "ci_high": -0.05}}})
    ['The baseline logistic is better than the network on auroc (paired difference -0.100 [-0.150, -0.050]; see Model comparison).']
    """
    out = []
    for c in comparisons(metrics):
        if c["verdict"] == "the baseline is better":
            out.append(f"The baseline {c['name']} is better than the network on {c['metric']} "
                       f"(paired difference {_m(c['difference'], signed=True)}; see Model "
                       "comparison).")
    return out
