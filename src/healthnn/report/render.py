"""report.json + metrics.json -> one self-contained report.html (inline CSS, inline PNG images,
no script, no external URL). Every number on the page comes from those two files."""

from __future__ import annotations

import html
import math
from typing import Any

from healthnn.report.comparison import comparison_html, comparison_warnings
from healthnn.report.plots import plot_png
from healthnn.report.tables import SMD_FLAG
from healthnn.report.tripod import TO_COMPLETE, checklist

__all__ = ["render_html", "fmt", "fmt_metric"]

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;max-width:1100px;
margin:0 auto;padding:16px 24px;line-height:1.4;font-size:14px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:2px solid #1f5f8b;padding-bottom:3px;
margin-top:32px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12.5px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef3f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.facts{border:3px solid #222;padding:10px 16px;max-width:720px;background:#fff}
.facts h2{margin-top:4px;border:none;font-size:20px}
.facts h3{border-top:1px solid #222;padding-top:6px;margin:10px 0 4px}
.todo{background:#fff3cd;color:#7a5a00;padding:0 4px;border-radius:3px;font-style:italic}
.flag{background:#fde2e1;color:#a0231a;font-weight:600;padding:0 4px;border-radius:3px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{border:1px solid #ddd;max-width:100%}
figure.example{margin:0;max-width:260px}figure.example img{width:240px;image-rendering:pixelated}
figure.example figcaption{font-size:12px;color:#555}
figure.tokens{margin:0 0 10px;max-width:100%}figure.tokens figcaption{font-size:12px;color:#555}
mark.up{background:#f4a3a3}mark.down{background:#a3c4f4}
.muted{color:#666;font-size:12px}.warn li{margin:2px 0}
nav a{margin-right:10px}
"""


# shown in Model Facts, in this order, when present
_KEY_METRICS = ("auroc", "auroc_macro", "auprc", "c_index", "uno_c", "td_auc", "ibs", "rmse",
                "mae", "r2", "brier", "calibration_slope", "calibration_intercept", "accuracy",
                "log_loss")


def fmt(v: Any, digits: int = 3) -> str:
    """How every number is shown: ints as they are, floats with ``digits`` decimals."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return "n/a"
        return f"{v:.{digits}f}"
    return str(v)


def fmt_metric(m: dict[str, Any] | None) -> str:
    """A metric with its interval: ``0.812 (0.751 to 0.869)``, or why the test rows cannot
    estimate it (:mod:`healthnn.metrics.estimable`)."""
    if not m:
        return "n/a"
    if m.get("estimable") is False:
        return f"not estimable: {m['note']}" if m.get("note") else "not estimable"
    if m.get("note"):
        return f"{fmt(m.get('value'))} (interval not estimable: {m['note']})"
    text = fmt(m.get("value"))
    if m.get("ci_low") is not None and m.get("ci_high") is not None:
        text += f" ({fmt(m['ci_low'])} to {fmt(m['ci_high'])})"
    return text


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _todo(text: str = TO_COMPLETE) -> str:
    return f'<span class="todo">{_e(text)}</span>'


def _table(columns: list[str], rows: list[list[Any]], attrs: str = "") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in row:
            if isinstance(c, tuple):  # (html, is_number) already formatted
                cells.append(f'<td class="num">{c[0]}</td>' if c[1] else f"<td>{c[0]}</td>")
            elif isinstance(c, (int, float)) and not isinstance(c, bool):
                cells.append(f'<td class="num">{_e(fmt(c))}</td>')
            else:
                cells.append(f"<td>{_e(fmt(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metric_cell(split: str, name: str, m: dict[str, Any]) -> tuple[str, bool]:
    attrs = (f'data-split="{_e(split)}" data-metric="{_e(name)}" '
             f'data-value="{_e(fmt(m.get("value")))}" data-ci-low="{_e(fmt(m.get("ci_low")))}" '
             f'data-ci-high="{_e(fmt(m.get("ci_high")))}"')
    return f'<span class="metric" {attrs}>{_e(fmt_metric(m))}</span>', True


def _plots(plots: list[dict[str, Any]]) -> str:
    out = []
    for p in plots:
        if p.get("kind") == "tokens":  # highlighted text: red pushes up, blue down
            top = max((abs(w) for _, w in p["tokens"]), default=0.0) or 1.0
            marks = "".join(
                f'<mark class="{"up" if w >= 0 else "down"}" '
                f'style="opacity:{0.2 + 0.8 * abs(w) / top:.2f}">{_e(t)}</mark> '
                for t, w in p["tokens"])
            out.append(f'<figure class="tokens"><p>{marks}</p><figcaption>'
                       f'{_e(p.get("title", ""))}</figcaption></figure>')
            continue
        if p.get("kind") == "image":
            mime, data = (("image/svg+xml", p["svg_base64"]) if p.get("svg_base64")
                          else ("image/png", p.get("png_base64")))
            if data:
                title = _e(p.get("title", "image"))
                out.append(f'<figure class="example"><img alt="{title}" '
                           f'src="data:{mime};base64,{data}"><figcaption>{title}</figcaption>'
                           "</figure>")
            continue
        png = plot_png(p)
        if png:
            alt = _e(p.get("title", "plot"))
            out.append(f'<img alt="{alt}" src="data:image/png;base64,{png}">')
    return f'<div class="plots">{"".join(out)}</div>' if out else ""


def _section(s: dict[str, Any]) -> str:
    parts = [f'<h3 id="{_e(s.get("id", ""))}">{_e(s.get("title", ""))}</h3>']
    if s.get("text"):
        parts.append(f"<p>{_e(s['text'])}</p>")
    parts.append(_plots(s.get("plots", [])))
    for t in s.get("tables", []):
        if t.get("title"):
            parts.append(f'<p class="muted">{_e(t["title"])}</p>')
        parts.append(_table(t["columns"], t["rows"]))
    for n in s.get("notes", []):
        parts.append(f'<p class="muted">{_e(n)}</p>')
    return "".join(parts)


def _events(split: dict[str, Any], task: str | None = None) -> int | None:
    """Events (survival) or the size of the smallest outcome class of a split."""
    for o in split.get("outcome", {}).values():
        if o["kind"] == "binary":
            if task == "survival":
                return o["positive"]
            return min(o["positive"], o["n"] - o["positive"])
        if o["kind"] == "categorical" and o["counts"]:
            return o.get("smallest", min(o["counts"].values()))
    return None


def _fingerprint_item(name: str, info: dict) -> str:
    """One data fingerprint line; a manifest's linked image files get their own hash."""
    text = f"<li>{_e(name)} data sha256 <code>{_e(info.get('sha256', ''))}</code>"
    linked = info.get("linked_files")
    if linked:
        text += (f"; the {linked.get('files')} files it names: sha256 "
                 f"<code>{_e(linked.get('sha256', ''))}</code>")
    return text + "</li>"


def _warnings(rep: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    w = []
    test = rep.get("splits", {}).get("test") or rep.get("splits", {}).get("evaluation")
    if test:
        ev = _events(test, rep.get("task"))
        if ev is not None and ev < 100:
            what = ("events" if rep.get("task") == "survival" else
                    f"row{'s' if ev != 1 else ''} in the smallest outcome class")
            w.append(f"Only {ev} {what} in the test data: performance "
                     "estimates are imprecise (see the interval widths).")
        if test["rows"] < 200:
            w.append(f"The test data has {test['rows']} rows: this is a small validation.")
    slope = metrics.get("test", {}).get("calibration_slope")
    if slope and slope.get("value") is not None and not 0.8 <= slope["value"] <= 1.2:
        w.append(f"Calibration slope {fmt(slope['value'])}: predictions are "
                 + ("too extreme (overfitting)." if slope["value"] < 1 else "too moderate."))
    for g in rep.get("subgroups", []):
        flagged = [lv["level"] for lv in g["levels"] if lv.get("flag")]
        if flagged:
            w.append(f"Subgroup gap in {g['primary']} for '{g['column']}': "
                     + ", ".join(flagged) + " (interval excludes the overall value).")
    shifted = [r for r in (rep.get("shift") or {}).get("rows", []) if r.get("flag")]
    if shifted:
        names = [f"{r['variable']} " + (str(r["level"]) if str(r["level"]).startswith("(")
                                        else f"({r['level']})") for r in shifted]
        w.append(f"{len(shifted)} characteristic{'s' if len(shifted) != 1 else ''} "
                 f"differ{'s' if len(shifted) == 1 else ''} between training and "
                 f"{rep['shift']['other']} data (|SMD| > {SMD_FLAG}): " + ", ".join(names[:12])
                 + (f" and {len(names) - 12} more" if len(names) > 12 else ""))
    for x in (rep.get("evaluation") or {}).get("warnings", []):  # training data evaluated
        w.append(f"Evaluation data: {x}.")
    for f in rep.get("data_checks") or []:  # healthnn.checks: leakage
        w.append(f"Possible leakage: {f['text']} (see Data checks).")
    for d in rep.get("facts", {}).get("dropped", []):
        w.append(f"Column dropped during preprocessing: {d}.")
    w.extend(comparison_warnings(metrics))  # issue 20: a baseline beats the network
    w.extend(rep.get("notes", []))
    return w


def _from_predictors(f: dict[str, Any]) -> str:
    """' from 13 predictors', or the one input itself (a note's tokens, say).

    >>> _from_predictors({"predictors": ["age (numeric)", "sex (categorical, 2 levels)"]})
    ' from 2 predictors'
    >>> _from_predictors({"predictors": ["wordpiece subword tokens of the note"]})
    ' from wordpiece subword tokens of the note'
    """
    predictors = f.get("predictors") or []
    if isinstance(predictors, str):
        predictors = [predictors]
    if len(predictors) == 1:
        return f" from {predictors[0]}"
    return f" from {len(predictors)} predictors" if predictors else ""


def _decision_aids(rep: dict[str, Any]) -> str:
    """Which of the decision curve and the threshold table this report has."""
    ids = {s.get("id") for s in rep.get("sections", [])}
    have = [name for key, name in (("decision_curve", "the decision curve"),
                                   ("survival_decision_curve", "the decision curves"),
                                   ("thresholds", "the threshold table"),
                                   ("operating_point", "the operating point")) if key in ids]
    if not have:
        return "not assessed in this report; "
    return "see " + (" and ".join(have) if len(have) < 3 else
                     ", ".join(have[:-1]) + " and " + have[-1]) + "; "


def _facts(rep: dict[str, Any], metrics: dict[str, Any]) -> str:
    f = rep.get("facts", {})
    b = rep.get("bundle", {})
    test_key = "test"
    test = metrics.get(test_key, {})
    key_metrics = [(n, test[n]) for n in _KEY_METRICS if n in test][:6] or \
        list(test.items())[:6]
    splits = rep.get("splits", {})
    summary = (f"Predicts the {f.get('output', 'outcome')}{_from_predictors(f)}"
               + f". Outcome: {f.get('outcome', '?')}.")
    if rep.get("kind") == "evaluation":
        valid = (f"Evaluated on {splits['evaluation']['rows']} rows of new labelled data "
                 f"({rep.get('evaluation', {}).get('rows_with_errors', 0)} rows could not be "
                 "used).")
    elif "test" in b.get("data", {}):
        valid = (f"Validation on a separate test file of {splits.get('test', {}).get('rows')} "
                 f"rows; trained on {splits.get('train', {}).get('rows')} rows with "
                 f"{splits.get('val', {}).get('rows')} for early stopping.")
    else:
        valid = ("Internal validation on a held-out test split of "
                 f"{splits.get('test', {}).get('rows')} rows; trained on "
                 f"{splits.get('train', {}).get('rows')} rows with "
                 f"{splits.get('val', {}).get('rows')} for early stopping.")
    perf = "".join(f"<li>{_e(n)}: {_metric_cell(test_key, n, m)[0]}</li>"
                   for n, m in key_metrics)
    warn = "".join(f"<li>{_e(x)}</li>" for x in _warnings(rep, metrics))
    data = b.get("data", {})
    items = list(data.items())
    if rep.get("kind") == "evaluation":
        items.append(("evaluation", rep.get("evaluation", {}).get("data", {})))
    prints = "".join(_fingerprint_item(k, v) for k, v in items)
    m = rep.get("model", {})
    return f"""
<div class="facts" id="model-facts">
<h2>Model Facts</h2>
<h3>Summary</h3><p>{_e(summary)} Intended use: {_todo()}</p>
<h3>Mechanism</h3><p>{_e(f.get('mechanism', ''))}; model '{_e(m.get('name'))}' with
{_e(m.get('n_parameters'))} parameters; input: {_e(f.get('input', 'see TRIPOD 9a'))}.
Output: {_e(f.get('output', ''))}.</p>
<h3>Validation and performance</h3><p>{_e(valid)}</p>
<ul>{perf}</ul>
<h3>Uses and directions</h3><p>Target population, setting and intended users: {_todo()}.
Benefits and appropriate decision thresholds: {_e(_decision_aids(rep))}clinical choice:
{_todo()}.</p>
<h3>Warnings</h3><ul class="warn">{warn or '<li>none found automatically</li>'}
<li>Known risks, out-of-scope use and clinical limitations: {_todo()}</li></ul>
<h3>Other information</h3><ul><li>healthnn {_e(rep.get('healthnn'))}; bundle created
{_e(b.get('created'))}; report generated {_e(rep.get('generated'))}</li>{prints}
<li>Contact and approval: {_todo()}</li></ul>
</div>"""


def _metrics_table(metrics: dict[str, Any]) -> str:
    names: list[str] = []
    for split in metrics.values():
        names += [n for n in split if n not in names]
    splits = list(metrics)
    rows = []
    for n in names:
        row: list[Any] = [n]
        for s in splits:
            m = metrics[s].get(n)
            row.append(_metric_cell(s, n, m) if m else ("n/a", False))
        rows.append(row)
    return _table(["metric", *splits], rows, ' id="metrics"')


def _split_cell(st: dict[str, Any], kind: str, binary: bool = False) -> str:
    if st is None:
        return "n/a"
    if kind == "numeric":
        miss = f"; missing {st['missing']} ({st['missing'] / st['n']:.1%})" if st["missing"] else ""
        if st.get("mean") is None:
            return f"all missing ({st['missing']})"
        if binary and st.get("binary"):  # a 0/1 column: n (%) of the non-missing rows
            return _pct(st["positive"], st["n"] - st["missing"]) + miss
        return (f"{fmt(st['mean'], 2)} ({fmt(st.get('sd'), 2)}); median {fmt(st['median'], 2)} "
                f"[{fmt(st['q1'], 2)}, {fmt(st['q3'], 2)}]{miss}")
    return ""


def _table1(rep: dict[str, Any]) -> str:
    splits = rep.get("splits", {})
    names = list(splits)
    rows: list[list[Any]] = [["rows", "", *[splits[s]["rows"] for s in names]]]
    first = splits[names[0]] if names else {}
    for var, o in first.get("outcome", {}).items():
        if o["kind"] == "binary":
            rows.append([f"{var} (outcome)", "= 1, n (%)", *[
                _pct(splits[s]["outcome"][var]["positive"], splits[s]["outcome"][var]["n"])
                for s in names]])
        elif o["kind"] == "numeric":
            rows.append([f"{var} (outcome)", "mean (SD); median [IQR]", *[
                _split_cell(splits[s]["outcome"][var], "numeric") for s in names]])
        else:
            levels = list(o["counts"])[:12]
            for lv in levels:
                rows.append([f"{var} (outcome)", f"{lv}, n (%)", *[
                    _pct(splits[s]["outcome"][var]["counts"].get(lv, 0),
                         splits[s]["outcome"][var]["n"]) for s in names]])
    for var in first.get("numeric", {}):
        stats = [splits[s]["numeric"].get(var) for s in names]
        # a 0/1 column (in every split that has values): n (%) of ones
        binary = (all(st is None or st.get("mean") is None or st.get("binary") for st in stats)
                  and any(st and st.get("binary") for st in stats))
        rows.append([var, "= 1, n (%)" if binary else "mean (SD); median [IQR]", *[
            _split_cell(st, "numeric", binary) for st in stats]])
    for var, st in first.get("categorical", {}).items():
        for lv in list(st["counts"])[:12]:
            rows.append([var, f"{lv}, n (%)", *[
                _pct(splits[s]["categorical"][var]["counts"].get(lv, 0),
                     splits[s]["categorical"][var]["n"]) for s in names]])
        if any(splits[s]["categorical"][var]["missing"] for s in names):
            rows.append([var, "missing, n (%)", *[
                _pct(splits[s]["categorical"][var]["missing"], splits[s]["categorical"][var]["n"])
                for s in names]])
    return _table(["characteristic", "statistic", *names], rows, ' id="table1"')


def _pct(k: int, n: int) -> str:
    return f"{k} ({k / n:.1%})" if n else str(k)


def _shift(rep: dict[str, Any]) -> str:
    sh = rep.get("shift")
    if not sh:
        return "<p class='muted'>not available</p>"
    rows = []
    for r in sorted(sh["rows"], key=lambda r: -abs(r["smd"] or 0)):
        smd = (f'<span class="flag">{_e(fmt(r["smd"]))}</span>' if r["flag"]
               else _e(fmt(r["smd"])))
        rows.append([r["variable"], r["level"], r["reference"], r["other"], (smd, True)])
    return (f"<p>Standardised mean differences, {_e(sh['other'])} against {_e(sh['reference'])} "
            f"data (numeric: difference in means over the pooled SD; levels and missingness: "
            f"difference in proportions); |SMD| &gt; {SMD_FLAG} is flagged.</p>"
            + _table(["characteristic", "level / statistic", sh["reference"], sh["other"],
                      "SMD"], rows, ' id="shift"'))


def _subgroups(rep: dict[str, Any], metrics: dict[str, Any]) -> str:
    groups = rep.get("subgroups") or []
    if not groups:
        return ("<p class='muted'>No subgroups configured. List columns in "
                "<code>[report] subgroups</code> (for example sex, age band) to get metrics "
                "with intervals for each level.</p>")
    out = []
    for g in groups:
        shown = g["shown"]
        rows = []
        bars = []
        for lv in g["levels"]:
            label = lv["level"] + (" " if not lv.get("flag") else "")
            cells: list[Any] = [(f'<span class="flag">{_e(lv["level"])}</span>' if lv.get("flag")
                                 else _e(lv["level"]), False), lv["n"],
                                 "" if lv.get("events") is None else lv["events"]]
            for n in shown:
                m = (lv.get("metrics") or {}).get(n)
                cells.append(_metric_cell(f"subgroup:{g['column']}={lv['level']}", n, m) if m
                             else ("n/a", True))
            cells.append(lv.get("note", ""))
            rows.append(cells)
            pm = (lv.get("metrics") or {}).get(g["primary"])
            if pm and pm.get("value") is not None:
                bars.append({"label": f"{label} (n={lv['n']})", "value": pm["value"],
                             "lo": pm.get("ci_low"), "hi": pm.get("ci_high")})
        overall = metrics.get("test", {}).get(g["primary"], {}).get("value")
        out.append(f"<h3>{_e(g['column'])} ({_e(g['grouping'])})</h3>")
        if bars:
            out.append(_plots([{"kind": "bars", "title": f"{g['primary']} by {g['column']}",
                                "xlabel": f"{g['primary']} (line: overall test value)",
                                "bars": bars, "reference": overall}]))
        gap = g.get("gap")
        out.append(f"<p>Largest gap in {_e(g['primary'])} between levels: {_e(fmt(gap))}. "
                   "Flagged: levels whose interval excludes the overall test value.</p>")
        out.append(_table(["level", "n", "events", *shown, "note"], rows))
    return "".join(out)


def _data_checks(rep: dict[str, Any]) -> str:
    """The leakage check of the training split (:mod:`healthnn.checks`), when it ran."""
    if rep.get("data_checks") is None:
        return ""
    from healthnn.checks import leakage_section

    return _section({**leakage_section(rep["data_checks"]), "id": "data-checks"})


def _importance(rep: dict[str, Any]) -> str:
    imp = rep.get("importance")
    if not imp:
        return ("<p class='muted'>Not available for this task (permutation importance needs "
                "table columns).</p>")
    bars = [{"label": r["column"], "value": r["mean"], "lo": r["mean"] - r["sd"],
             "hi": r["mean"] + r["sd"]} for r in imp["columns"][:25]]
    rows = [[r["column"], r["mean"], r["sd"]] for r in imp["columns"]]
    return (f"<p>Permutation importance on the test data: the drop in {_e(imp['metric'])} "
            f"(baseline {_e(fmt(imp['baseline']))}) when one input column is shuffled, mean "
            f"and SD over {_e(imp['repeats'])} shuffles. It measures how much the model relies "
            "on a column, not causation; correlated columns share importance.</p>"
            + _plots([{"kind": "bars", "title": "Permutation importance",
                       "xlabel": f"drop in {imp['metric']}", "bars": bars, "reference": 0.0}])
            + _table(["column", f"mean drop in {imp['metric']}", "SD"], rows,
                     ' id="importance"'))


def _recalibration(rep: dict[str, Any], metrics: dict[str, Any]) -> str:
    rc = rep.get("recalibration")
    if not rc:
        return ("<p class='muted'>No recalibration (set <code>[report] recalibrate</code> to "
                "temperature, platt or isotonic).</p>")
    st = rc["state"]
    detail = (f"temperature T = {fmt(st['temperature'])}" if st["method"] == "temperature"
              else ", ".join(f"a = {fmt(m['a'])}, b = {fmt(m['b'])}" for m in st["maps"])
              if st["method"] == "platt" else f"{len(st['maps'][0]['x'])} knots")
    before, after = metrics.get("test", {}), metrics.get("test_recalibrated", {})
    rows = [[n, _metric_cell("test", n, before[n]), _metric_cell("test_recalibrated", n, m)]
            for n, m in after.items() if n in before]
    return (f"<p>{_e(st['method'])} recalibration fitted on {_e(rc['fitted_on'])} outputs "
            f"({_e(detail)}). The model's predictions are unchanged; metrics of the test data "
            "before and after:</p>"
            + _table(["metric", "before", "after"], rows, ' id="recalibration"'))


def render_html(rep: dict[str, Any], metrics: dict[str, Any]) -> str:
    f = rep.get("facts", {})
    title = f"healthnn model report: {rep.get('task')}"
    kind = "evaluation on new data" if rep.get("kind") == "evaluation" else "development"
    sections = "".join(_section(s) for s in rep.get("sections", []))
    tripod = checklist(rep, metrics)
    trows = [[t["item"], t["topic"],
              (_todo() if t["status"] == TO_COMPLETE else
               _e(t["status"]), False),
              (_e(t["text"]).replace(TO_COMPLETE, _todo()), False)] for t in tripod]
    n_todo = sum(t["status"] != "filled" for t in tripod)
    nav = "".join(f'<a href="#{a}">{b}</a>' for a, b in [
        ("model-facts", "Model Facts"), ("performance", "Performance"),
        ("comparison", "Model comparison"), ("plots", "Plots"),
        ("subgroups", "Subgroups"), ("table-1", "Table 1"), ("explanations", "Explanations"),
        ("recal", "Recalibration"), ("tripod", "TRIPOD+AI")])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)} ({_e(kind)})</h1>
<p class="muted">Outcome: {_e(f.get('outcome', '?'))}. Generated {_e(rep.get('generated'))} by
healthnn {_e(rep.get('healthnn'))}. Aggregate statistics only: no patient-level rows.
Items marked {_todo()} need a person.</p>
<nav>{nav}</nav>
{_facts(rep, metrics)}
<h2 id="performance">Performance</h2>
<p>All metrics with {_e(f"{rep.get('config', {}).get('eval', {}).get('ci', 0.95):.0%}")}
percentile bootstrap intervals, as in metrics.json.</p>
{_metrics_table(metrics)}
{comparison_html(metrics)}
<h2 id="plots">Discrimination, calibration and clinical usefulness</h2>
{sections or "<p class='muted'>No task-specific plots for this task.</p>"}
<h2 id="subgroups">Subgroups and fairness</h2>
{_subgroups(rep, metrics)}
<h2 id="table-1">Table 1: characteristics by split</h2>
{_table1(rep)}
<h3>Shift between training and {_e((rep.get('shift') or {}).get('other', 'test'))} data</h3>
{_shift(rep)}
{_data_checks(rep)}
<h2 id="explanations">Explanations: global feature importance</h2>
{_importance(rep)}
<h2 id="recal">Recalibration</h2>
{_recalibration(rep, metrics)}
<h2 id="tripod">TRIPOD+AI checklist</h2>
<p>Filled from what the run knows; {n_todo} of {len(tripod)} items need a person (fully or
partly). Item numbers follow TRIPOD+AI (Collins et al., BMJ 2024); "-" marks topics of the
later items, grouped.</p>
{_table(["item", "topic", "status", "content"], trows, ' id="tripod-table"')}
</body></html>
"""
