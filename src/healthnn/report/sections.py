"""Task-specific report sections as plain data (stored in report.json, drawn by the renderer).

A task contributes sections through :meth:`healthnn.tasks.base.Task.report_sections` (or, for
any task that predicts class probabilities, :meth:`Task.class_probabilities` and the generic
:func:`probability_sections`). A section is a dict::

    {"id": "calibration", "title": "Calibration", "text": "...", "notes": ["..."],
     "plots": [PLOT, ...], "tables": [TABLE, ...]}

    PLOT  = {"kind": "lines", "title", "xlabel", "ylabel", "xlim": [a, b] | None,
             "ylim": [a, b] | None, "diagonal": bool,
             "series": [{"label", "x": [...], "y": [...], "lo": [...]?, "hi": [...]?,
                         "style": "line" | "step" | "dashed" | "points"}],
             "hist": {"edges": [...], "counts": [...], "label"}?}     # drawn under the lines
          | {"kind": "bars", "title", "xlabel", "bars": [{"label", "value", "lo"?, "hi"?}],
             "reference": float?}
          | {"kind": "image", "title", "png_base64" | "svg_base64": "..."}  # example saliency
          | {"kind": "tokens", "title", "tokens": [[token, weight], ...]}    # highlighted text
    TABLE = {"title", "columns": [...], "rows": [[cell, ...], ...]}   # cells: str, int, float

Only aggregates go in: curves, bins, counts. No row of a patient is ever stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthnn.metrics import evaluate_step_function, kaplan_meier, time_dependent_auc
from healthnn.metrics.curves import (
    calibration_bins,
    curve_bands,
    decision_curve,
    survival_decision_curve,
    threshold_table,
)

__all__ = ["probability_sections", "regression_sections", "survival_sections", "wilson",
           "time_label", "interval_label"]


def _l(a: Any) -> list:
    return [None if (isinstance(v, float) and not np.isfinite(v)) else v
            for v in np.asarray(a, dtype=float).tolist()]


def time_label(t: float, unit: str | None = None) -> str:
    """A time as a reader writes it, with its unit (``[data] time_unit``).

    >>> time_label(1180.4, "days"), time_label(110.0), time_label(20.5), time_label(0.25, "years")
    ('1,180 days', '110', '20.5', '0.25 years')
    """
    t = float(t)
    text = f"{t:,.0f}" if abs(t) >= 100 else f"{t:.3g}"
    return f"{text} {unit}" if unit else text


def interval_label(lo: float, hi: float, digits: int = 3) -> str:
    """An interval of a proportion: ``[0.000, 0.215]`` (never ``-0.000-0.215``).

    >>> interval_label(-1e-17, 0.2149)
    '[0.000, 0.215]'
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    lo, hi = min(max(float(lo), 0.0), 1.0), min(max(float(hi), 0.0), 1.0)
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def wilson(k: np.ndarray, n: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion k/n.

    >>> lo, hi = wilson(np.array([5]), np.array([10]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.237, 0.763)
    """
    k, n = np.asarray(k, float), np.asarray(n, float)
    p = k / n
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return centre - half, centre + half


def _hist(values: np.ndarray, edges: np.ndarray, label: str) -> dict[str, Any]:
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": _l(edges), "counts": counts.astype(int).tolist(), "label": label}


def probability_sections(
    codes: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    *,
    thresholds: list[float],
    n_resamples: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    title_suffix: str = "",
) -> list[dict[str, Any]]:
    """Discrimination (ROC, PR with bootstrap bands), calibration (reliability curve and
    histogram), decision curve and threshold table for class probabilities."""
    codes = np.asarray(codes)
    probs = np.asarray(probs, dtype=float)
    if probs.shape[1] == 2:
        return _binary_sections(codes == 1, probs[:, 1], classes[1], thresholds=thresholds,
                                n_resamples=n_resamples, ci=ci, seed=seed, suffix=title_suffix)
    return _multiclass_sections(codes, probs, classes, suffix=title_suffix)


def _binary_sections(y, p, positive, *, thresholds, n_resamples, ci, seed, suffix):
    pct = f"{ci:.0%}"
    prevalence = float(y.mean())
    roc = curve_bands(y, p, kind="roc", n_points=101, n_resamples=n_resamples, ci=ci, seed=seed)
    pr = curve_bands(y, p, kind="pr", n_points=101, n_resamples=n_resamples, ci=ci, seed=seed)
    discrimination = {
        "id": "discrimination", "title": "Discrimination" + suffix,
        "text": f"ROC and precision-recall curves on the test data for the positive class "
                f"{positive!r}; shaded: pointwise {pct} bootstrap band ({n_resamples} "
                "resamples, stratified by outcome).",
        "plots": [
            {"kind": "lines", "title": "ROC curve", "xlabel": "1 - specificity",
             "ylabel": "sensitivity", "xlim": [0, 1], "ylim": [0, 1.01], "diagonal": True,
             "series": [{"label": "model", "x": _l(roc["x"]), "y": _l(roc["y"]),
                         "lo": _l(roc["lo"]), "hi": _l(roc["hi"]), "style": "line"}]},
            {"kind": "lines", "title": "Precision-recall curve", "xlabel": "recall (sensitivity)",
             "ylabel": "precision (PPV)", "xlim": [0, 1], "ylim": [0, 1.01], "diagonal": False,
             "series": [{"label": "model", "x": _l(pr["x"]), "y": _l(pr["y"]),
                         "lo": _l(pr["lo"]), "hi": _l(pr["hi"]), "style": "line"},
                        {"label": f"prevalence {prevalence:.3f}", "x": [0, 1],
                         "y": [prevalence, prevalence], "style": "dashed"}]},
        ],
        "tables": [],
    }
    bins = calibration_bins(y, p, n_bins=10)
    lo, hi = wilson(bins["observed"] * bins["count"], bins["count"])
    calibration = {
        "id": "calibration", "title": "Calibration" + suffix,
        "text": "Observed fraction of positives against the mean predicted probability in ten "
                "equal-width bins (bars: 95% Wilson intervals); below, the histogram of "
                "predicted probabilities. Calibration slope and intercept are in the metrics "
                "table.",
        "plots": [{"kind": "lines", "title": "Calibration (reliability) curve",
                   "xlabel": "predicted probability", "ylabel": "observed fraction",
                   "xlim": [0, 1], "ylim": [0, 1.01], "diagonal": True,
                   "series": [{"label": "model", "x": _l(bins["mean_predicted"]),
                               "y": _l(bins["observed"]), "lo": _l(lo), "hi": _l(hi),
                               "style": "points"}],
                   "hist": _hist(p, np.linspace(0, 1, 21), "predictions")}],
        "tables": [{"title": "Calibration bins",
                    "columns": ["bin", "n", "mean predicted", "observed", "95% CI"],
                    "rows": [[f"{a:.1f} to {b:.1f}", int(n), float(mp), float(ob),
                              interval_label(lw, hg)]
                             for a, b, n, mp, ob, lw, hg in zip(
                                 bins["lower"], bins["upper"], bins["count"],
                                 bins["mean_predicted"], bins["observed"], lo, hi, strict=True)]}],
    }
    dc = decision_curve(y, p)
    top = max(prevalence, float(np.nanmax(dc["model"])))
    decision = {
        "id": "decision_curve", "title": "Decision curve" + suffix,
        "text": "Net benefit = TP/n - FP/n x t/(1-t) of acting on the model at threshold "
                "probability t, against treating everyone and treating no one. The model is "
                "useful where its curve lies above both.",
        "plots": [{"kind": "lines", "title": "Decision curve", "xlabel": "threshold probability",
                   "ylabel": "net benefit", "xlim": [0, 1],
                   "ylim": [-0.05 * max(top, 0.1), top * 1.1 + 0.01], "diagonal": False,
                   "series": [{"label": "model", "x": _l(dc["threshold"]), "y": _l(dc["model"]),
                               "style": "line"},
                              {"label": "treat all", "x": _l(dc["threshold"]),
                               "y": _l(dc["treat_all"]), "style": "dashed"},
                              {"label": "treat none", "x": _l(dc["threshold"]),
                               "y": _l(dc["treat_none"]), "style": "dashed"}]}],
        "tables": [{"title": "Net benefit at selected thresholds",
                    "columns": ["threshold", "model", "treat all", "treat none"],
                    "rows": [[float(t), float(m), float(a), 0.0]
                             for t, m, a in zip(dc["threshold"], dc["model"], dc["treat_all"],
                                                strict=True)
                             if round(float(t), 2) in {round(x, 2) for x in thresholds}]}],
    }
    rows = threshold_table(y, p, sorted(set(thresholds)))
    table = {
        "id": "thresholds", "title": "Threshold table" + suffix,
        "text": "Positive means predicted probability >= threshold.",
        "plots": [],
        "tables": [{"title": "Operating points",
                    "columns": ["threshold", "flagged", "sensitivity", "specificity", "PPV",
                                "NPV", "TP", "FP", "TN", "FN"],
                    "rows": [[r["threshold"], r["flagged"], r["sensitivity"], r["specificity"],
                              r["ppv"], r["npv"], r["tp"], r["fp"], r["tn"], r["fn"]]
                             for r in rows]}],
    }
    return [discrimination, calibration, decision, table]


def _multiclass_sections(codes, probs, classes, *, suffix):
    from healthnn.metrics.curves import roc_curve

    grid = np.linspace(0, 1, 101)
    series = []
    for c, name in enumerate(classes):
        y = codes == c
        if y.all() or not y.any():
            continue
        r = roc_curve(y, probs[:, c])
        idx = np.searchsorted(r["fpr"], grid, side="right") - 1
        series.append({"label": f"{name} vs rest", "x": _l(grid),
                       "y": _l(r["tpr"][np.clip(idx, 0, None)]), "style": "line"})
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == codes
    bins = calibration_bins(correct, conf, n_bins=10)
    lo, hi = wilson(bins["observed"] * bins["count"], bins["count"])
    return [
        {"id": "discrimination", "title": "Discrimination" + suffix,
         "text": "One-vs-rest ROC curves on the test data.",
         "plots": [{"kind": "lines", "title": "ROC curves (one vs rest)",
                    "xlabel": "1 - specificity", "ylabel": "sensitivity", "xlim": [0, 1],
                    "ylim": [0, 1.01], "diagonal": True, "series": series}],
         "tables": []},
        {"id": "calibration", "title": "Calibration" + suffix,
         "text": "Top-label calibration: accuracy against confidence (the highest class "
                 "probability) in ten equal-width bins.",
         "plots": [{"kind": "lines", "title": "Top-label calibration",
                    "xlabel": "confidence", "ylabel": "accuracy", "xlim": [0, 1],
                    "ylim": [0, 1.01], "diagonal": True,
                    "series": [{"label": "model", "x": _l(bins["mean_predicted"]),
                                "y": _l(bins["observed"]), "lo": _l(lo), "hi": _l(hi),
                                "style": "points"}],
                    "hist": _hist(conf, np.linspace(0, 1, 21), "confidence")}],
         "tables": []},
    ]


def regression_sections(y: np.ndarray, pred: np.ndarray) -> list[dict[str, Any]]:
    """Predicted against observed (in deciles of the prediction, no individual rows) and the
    distribution of residuals."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    edges = np.unique(np.quantile(pred, np.linspace(0, 1, 11)))
    idx = np.clip(np.searchsorted(edges[1:-1], pred, side="right"), 0, max(edges.size - 2, 0))
    rows, mp, mo, q1, q3 = [], [], [], [], []
    for b in np.unique(idx):
        sel = idx == b
        a, c = np.quantile(y[sel], [0.25, 0.75])
        mp.append(pred[sel].mean())
        mo.append(y[sel].mean())
        q1.append(a)
        q3.append(c)
        rows.append([int(b) + 1, int(sel.sum()), float(pred[sel].mean()), float(y[sel].mean()),
                     float(a), float(c)])
    lim = [float(min(np.min(mp), np.min(q1))), float(max(np.max(mp), np.max(q3)))]
    pad = 0.05 * (lim[1] - lim[0] or 1.0)
    lim = [lim[0] - pad, lim[1] + pad]
    resid = y - pred
    r_edges = np.histogram_bin_edges(resid, bins=20)
    return [{
        "id": "predicted_observed", "title": "Predicted against observed",
        "text": "Mean observed outcome (band: interquartile range) against mean prediction in "
                "deciles of the prediction on the test data; the dashed diagonal is perfect "
                "calibration. Below: residuals (observed - predicted).",
        "plots": [{"kind": "lines", "title": "Predicted vs observed (deciles)",
                   "xlabel": "mean predicted", "ylabel": "mean observed", "xlim": lim,
                   "ylim": lim, "diagonal": True,
                   "series": [{"label": "model", "x": _l(mp), "y": _l(mo), "lo": _l(q1),
                               "hi": _l(q3), "style": "points"}]},
                  {"kind": "lines", "title": "Residuals", "xlabel": "observed - predicted",
                   "ylabel": "rows", "xlim": None, "ylim": None, "diagonal": False,
                   "series": [], "hist": _hist(resid, r_edges, "residuals")}],
        "tables": [{"title": "Deciles of the prediction",
                    "columns": ["decile", "n", "mean predicted", "mean observed",
                                "observed Q1", "observed Q3"], "rows": rows}],
    }]


def _survival_decision(time, event, horizons, surv_at_horizons, unit=None) -> dict[str, Any]:
    """Decision curves at each horizon: acting when the predicted risk by then is >= t."""
    plots, rows = [], []
    marks = [0.05, 0.1, 0.2, 0.3, 0.5]
    for j, h in enumerate(horizons):
        risk = np.clip(1.0 - surv_at_horizons[:, j], 0.0, 1.0)
        dc = survival_decision_curve(time, event, risk, float(h))
        top = max(float(np.nanmax(dc["model"])), float(dc["treat_all"][0]), 0.02)
        x = _l(dc["threshold"])
        plots.append({"kind": "lines", "title": f"Decision curve at t = {time_label(h, unit)}",
                      "xlabel": "threshold risk by t", "ylabel": "net benefit", "xlim": [0, 1],
                      "ylim": [-0.05 * max(top, 0.1), top * 1.1 + 0.01], "diagonal": False,
                      "series": [{"label": "model", "x": x, "y": _l(dc["model"]),
                                  "style": "line"},
                                 {"label": "treat all", "x": x, "y": _l(dc["treat_all"]),
                                  "style": "dashed"},
                                 {"label": "treat none", "x": x, "y": _l(dc["treat_none"]),
                                  "style": "dashed"}]})
        at = survival_decision_curve(time, event, risk, float(h), marks)
        rows += [[time_label(h, unit), t, float(m), float(a)]
                 for t, m, a in zip(marks, at["model"], at["treat_all"], strict=True)]
    return {
        "id": "survival_decision_curve", "title": "Decision curves at horizons",
        "text": "Net benefit of acting on the predicted risk of an event by each horizon, "
                "against treating everyone and no one; event probabilities are Kaplan-Meier "
                "estimates, so censored patients count for as long as they were followed "
                "(Vickers et al. 2008).",
        "plots": plots,
        "tables": [{"title": "Net benefit at selected thresholds",
                    "columns": ["horizon", "threshold", "model", "treat all"], "rows": rows}],
    }


def survival_sections(time, event, risk, horizons, surv_at_horizons, times, train_time,
                      train_event, n_groups: int = 3, unit: str | None = None
                      ) -> list[dict[str, Any]]:
    """Kaplan-Meier curves by predicted risk group, calibration at the horizons and the
    time-dependent AUC; times shown with ``unit`` (``[data] time_unit``), if given."""
    xlabel = f"time ({unit})" if unit else "time"
    time, event, risk = np.asarray(time, float), np.asarray(event, bool), np.asarray(risk, float)
    sections = []
    cuts = np.quantile(risk, np.linspace(0, 1, n_groups + 1)[1:-1])
    group = np.searchsorted(cuts, risk, side="right")
    names = (["low", "middle", "high"] if n_groups == 3
             else [f"group {g + 1}" for g in range(n_groups)])
    grid = np.linspace(0, float(time.max()), 120)
    series, at_risk_rows = [], []
    marks = np.quantile(time, [0, 0.25, 0.5, 0.75])
    for g in range(n_groups):
        sel = group == g
        if not sel.any():
            continue
        t_g, s_g = kaplan_meier(time[sel], event[sel])
        s = evaluate_step_function(t_g, s_g, grid)
        s[grid > time[sel].max()] = np.nan
        series.append({"label": f"{names[g]} risk (n={int(sel.sum())}, "
                                f"events={int(event[sel].sum())})",
                       "x": _l(grid), "y": _l(s), "style": "step"})
        at_risk_rows.append([names[g], int(sel.sum()), int(event[sel].sum()),
                             *[int((time[sel] >= m).sum()) for m in marks]])
    sections.append({
        "id": "km_risk_groups", "title": "Kaplan-Meier curves by predicted risk group",
        "text": f"Test rows split into {n_groups} equal-sized groups by predicted risk; "
                "well-separated curves mean good discrimination.",
        "plots": [{"kind": "lines", "title": "Kaplan-Meier by risk group", "xlabel": xlabel,
                   "ylabel": "survival probability", "xlim": None, "ylim": [0, 1.01],
                   "diagonal": False, "series": series}],
        "tables": [{"title": "Numbers at risk",
                    "columns": ["risk group", "n", "events",
                                *[f"at risk at {time_label(m, unit)}" for m in marks]],
                    "rows": at_risk_rows}],
    })
    if len(horizons):
        surv_at_horizons = np.asarray(surv_at_horizons, float)
        cal_series, rows = [], []
        for j, h in enumerate(horizons):
            s = surv_at_horizons[:, j]
            edges = np.unique(np.quantile(s, np.linspace(0, 1, 6)))
            b = np.clip(np.searchsorted(edges[1:-1], s, side="right"), 0, max(edges.size - 2, 0))
            xs, ys = [], []
            for k in np.unique(b):
                sel = b == k
                t_k, s_k = kaplan_meier(time[sel], event[sel])
                obs = float(evaluate_step_function(t_k, s_k, [h])[0])
                if h > time[sel].max():
                    obs = float("nan")  # follow-up of this group ends before the horizon
                xs.append(float(s[sel].mean()))
                ys.append(obs)
                rows.append([time_label(h, unit), int(k) + 1, int(sel.sum()), xs[-1], obs])
            cal_series.append({"label": f"t = {time_label(h, unit)}", "x": _l(xs), "y": _l(ys),
                               "style": "points"})
        sections.append({
            "id": "survival_calibration", "title": "Calibration at horizons",
            "text": "Mean predicted survival against the Kaplan-Meier estimate at each horizon, "
                    "in quintiles of the prediction.",
            "plots": [{"kind": "lines", "title": "Calibration at horizons",
                       "xlabel": "predicted survival", "ylabel": "observed (Kaplan-Meier)",
                       "xlim": [0, 1], "ylim": [0, 1.01], "diagonal": True,
                       "series": cal_series}],
            "tables": [{"title": "Calibration bins",
                        "columns": ["horizon", "quintile", "n", "mean predicted",
                                    "observed (KM)"], "rows": rows}],
        })
    if len(horizons):
        sections.append(_survival_decision(time, event, horizons,
                                           np.asarray(surv_at_horizons, float), unit))
    times = np.asarray(times, float)
    if times.size >= 1 and event.any():
        try:
            aucs, mean_auc = time_dependent_auc(time, event, risk, times, train_time, train_event)
        except Exception as exc:  # noqa: BLE001 - shown as a note, the report goes on
            sections.append({"id": "td_auc", "title": "Time-dependent AUC", "plots": [],
                             "tables": [], "notes": [f"not available: {exc}"]})
        else:
            sections.append({
                "id": "td_auc", "title": "Time-dependent AUC",
                "text": "Cumulative/dynamic AUC at each evaluation time (cases: events by t, "
                        "controls: still event-free at t; inverse-probability-of-censoring "
                        "weights from the training data). Its weighted mean is td_auc in the "
                        "metrics table.",
                "plots": [{"kind": "lines", "title": "Time-dependent AUC", "xlabel": xlabel,
                           "ylabel": "AUC(t)", "xlim": None, "ylim": [0, 1.01],
                           "diagonal": False,
                           "series": [{"label": "model", "x": _l(times), "y": _l(aucs),
                                       "style": "line"},
                                      {"label": "chance", "x": [float(times[0]), float(times[-1])],
                                       "y": [0.5, 0.5], "style": "dashed"}]}],
                "tables": [{"title": "AUC(t)", "columns": ["time", "AUC"],
                            "rows": [[time_label(t, unit), float(a)]
                                     for t, a in zip(times, aucs, strict=True)]}],
            })
    return sections


_RULE_TEXT = {
    "prevalence": "flag as many validation rows as the training prevalence (the top q of the "
                  "validation probabilities, q = share of positives in the training split)",
    "min_se_ppv": "maximise min(sensitivity, PPV) on the validation split",
    "youden": "maximise sensitivity + specificity - 1 on the validation split",
}


def operating_point_section(op: dict[str, Any]) -> dict[str, Any]:
    """The decision threshold of ``[eval] operating_point`` (chosen on the validation split,
    saved in the bundle): the rule, and what it gives on the validation and the test split."""
    val, test = op, op.get("test", {})
    if op.get("kind") == "ner":  # issue 3: task 'ner', the operating point of deid --ner
        return {
            "id": "operating_point", "title": "Operating point (healthnn deid --ner)",
            "text": (f"Chosen on the validation documents before the test split was scored: "
                     f"{'rules ∪ NER' if op['combine'] == 'union' else 'the NER alone'}, NER "
                     f"spans scoring at least {op['min_score']:.2f}: the highest validation "
                     f"token recall at token precision ≥ {op['target_precision']:g}"
                     + ("" if op.get("met") else " (not reached on validation: the most "
                        "precise choice is kept)") + ". healthnn deid --ner uses it unless "
                     "--ner-min-score or --ner-combine say otherwise."),
            "plots": [],
            "tables": [{"title": "At the operating point (tokens, any label)",
                        "columns": ["split", "token precision", "token recall"],
                        "rows": [["validation (chosen on)", val.get("precision"),
                                  val.get("recall")],
                                 ["test", test.get("precision"), test.get("recall")]]}],
        }

    def row(name: str, r: dict[str, Any]) -> list[Any]:
        return [name, r.get("flagged"), r.get("sensitivity"), r.get("specificity"),
                r.get("ppv"), r.get("min_se_ppv")]

    return {
        "id": "operating_point", "title": "Operating point (decision threshold)",
        "text": (f"Threshold {op['threshold']:.4g} on the predicted probability, chosen on the "
                 f"validation split before the test split was scored; rule '{op['rule']}': "
                 f"{_RULE_TEXT.get(op['rule'], op['rule'])}. Predictions carry it as "
                 "'decision'. Test-split values are point estimates."),
        "plots": [],
        "tables": [{"title": "At the operating point",
                    "columns": ["split", "flagged", "sensitivity", "specificity", "PPV",
                                "min(Se, PPV)"],
                    "rows": [row("validation (chosen on)", val), row("test", test)]}],
    }


def learning_curve_section(curve: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The report section (see :mod:`healthnn.report.sections`) of a learning curve."""
    if not curve or not curve.get("points"):
        return []
    points = curve["points"]
    names = [m for m in points[-1]["test"] if all(m in p["test"] for p in points)][:3]
    plots, rows = [], []
    for name in names:
        plots.append({
            "kind": "lines", "title": f"Learning curve: test {name}",
            "xlabel": "training rows", "ylabel": name, "xlim": None, "ylim": None,
            "diagonal": False,
            "series": [{"label": f"test {name}", "style": "line",
                        "x": [p["train_rows"] for p in points],
                        "y": [p["test"][name]["value"] for p in points],
                        "lo": [p["test"][name]["ci_low"] for p in points],
                        "hi": [p["test"][name]["ci_high"] for p in points]}],
        })
    for p in points:
        rows.append([f"{p['fraction']:.0%}", p["train_rows"]] + [
            f"{_fmt3(p['test'][n]['value'])} [{_fmt3(p['test'][n]['ci_low'])}, "
            f"{_fmt3(p['test'][n]['ci_high'])}]" for n in names])
    return [{
        "id": "learning_curve", "title": "Learning curve",
        "text": "Test metrics (with intervals) of models trained on fractions of the training "
                "rows, with the same validation and test rows. A curve still rising at 100% "
                "suggests that more labelled data would help.",
        "notes": [], "plots": plots,
        "tables": [{"title": "Learning curve", "columns": ["fraction", "training rows", *names],
                    "rows": rows}],
    }]


def _fmt3(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"
