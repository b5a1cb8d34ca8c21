"""Curves for the model report: ROC and precision-recall points (with bootstrap bands),
calibration bins, decision-curve net benefit, a threshold table and an operating point (a
decision threshold chosen on validation data by a stated rule).

All are pure functions of numpy arrays, like the rest of :mod:`healthnn.metrics`.

Definitions
-----------
* Net benefit at threshold probability ``t`` (Vickers & Elkin, 2006):
  ``NB(t) = TP/n - FP/n * t / (1 - t)``, where a row is "treated" when ``p >= t``.
  Treat-all: ``prevalence - (1 - prevalence) * t / (1 - t)``; treat-none: 0.
* Calibration bins: equal-width bins on [0, 1] (``strategy="uniform"``; bin ``k`` holds
  ``k/B <= p < (k+1)/B``, the last bin also ``p == 1``, as in
  :func:`~healthnn.metrics.expected_calibration_error`) or equal-count bins
  (``strategy="quantile"``); empty bins are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthnn.metrics._validation import as_binary, as_float_array, as_probability, check_same_length

__all__ = [
    "roc_curve",
    "pr_curve",
    "curve_bands",
    "calibration_bins",
    "net_benefit",
    "decision_curve",
    "survival_decision_curve",
    "threshold_table",
    "OPERATING_RULES",
    "operating_point",
]


def _inputs(y_true: Any, y_score: Any, *, prob: bool) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary(y_true, "y_true")
    s = as_probability(y_score, "y_prob") if prob else as_float_array(y_score, "y_score")
    check_same_length(y_true=y, y_score=s)
    return y, s


def _counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative true and false positives when predicting positive for ``s >= threshold``,
    one entry per distinct score (decreasing)."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted)[last].astype(float)
    fps = (last + 1.0) - tps
    return tps, fps, s_sorted[last]


def roc_curve(y_true: Any, y_score: Any) -> dict[str, np.ndarray]:
    """ROC points ``{"fpr", "tpr", "threshold"}``, starting at (0, 0) (threshold ``inf``).

    The same points as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.

    >>> c = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> c["fpr"].tolist(), c["tpr"].tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y, s = _inputs(y_true, y_score, prob=False)
    tps, fps, thr = _counts(y, s)
    n_pos, n_neg = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.full(tps.size + 1, np.nan)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.full(fps.size + 1, np.nan)
    return {"fpr": fpr, "tpr": tpr, "threshold": np.r_[np.inf, thr]}


def pr_curve(y_true: Any, y_score: Any) -> dict[str, np.ndarray]:
    """Precision-recall points ``{"recall", "precision", "threshold"}`` in order of increasing
    recall, starting at recall 0 with precision 1 (as scikit-learn's
    ``precision_recall_curve``, read backwards).

    >>> c = pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> c["recall"].tolist(), c["precision"].round(3).tolist()
    ([0.0, 0.5, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.667, 0.5])
    """
    y, s = _inputs(y_true, y_score, prob=False)
    tps, fps, thr = _counts(y, s)
    n_pos = tps[-1]
    recall = tps / n_pos if n_pos else np.full(tps.size, np.nan)
    precision = tps / (tps + fps)
    return {"recall": np.r_[0.0, recall], "precision": np.r_[1.0, precision],
            "threshold": np.r_[np.inf, thr]}


def _roc_at(y: np.ndarray, s: np.ndarray, grid: np.ndarray) -> np.ndarray:
    c = roc_curve(y, s)
    # the highest TPR reached at FPR <= grid value (step interpolation, monotone)
    idx = np.searchsorted(c["fpr"], grid, side="right") - 1
    return c["tpr"][np.clip(idx, 0, None)]


def _pr_at(y: np.ndarray, s: np.ndarray, grid: np.ndarray) -> np.ndarray:
    c = pr_curve(y, s)
    # interpolated precision: the best precision at recall >= grid value
    best = np.maximum.accumulate(c["precision"][::-1])[::-1]
    idx = np.searchsorted(c["recall"], grid, side="left")
    return best[np.clip(idx, 0, best.size - 1)]


def curve_bands(
    y_true: Any,
    y_score: Any,
    *,
    kind: str = "roc",
    n_points: int = 51,
    n_resamples: int = 200,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Pointwise percentile bootstrap band of a ROC curve (TPR at a grid of FPR) or of a
    precision-recall curve (interpolated precision at a grid of recall).

    Resamples are stratified by outcome (every resample keeps both classes). Returns
    ``{"x": grid, "y": curve on the full data, "lo", "hi"}``.

    >>> b = curve_bands([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], n_resamples=50)
    >>> bool(np.all(b["lo"] <= b["hi"])), float(b["x"].min()), float(b["x"].max())
    (True, 0.0, 1.0)
    """
    if kind not in ("roc", "pr"):
        raise ValueError(f"kind must be 'roc' or 'pr', got {kind!r}")
    y, s = _inputs(y_true, y_score, prob=False)
    at = _roc_at if kind == "roc" else _pr_at
    grid = np.linspace(0.0, 1.0, n_points)
    full = at(y, s, grid)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    curves = np.full((n_resamples, n_points), np.nan)
    if pos.size and neg.size:
        for b in range(n_resamples):
            idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
            curves[b] = at(y[idx], s[idx], grid)
    alpha = (1.0 - ci) / 2.0
    if np.isnan(curves).all():
        lo = hi = np.full(n_points, np.nan)
    else:
        lo, hi = np.nanquantile(curves, [alpha, 1.0 - alpha], axis=0)
    return {"x": grid, "y": full, "lo": lo, "hi": hi}


def calibration_bins(
    y_true: Any, y_prob: Any, n_bins: int = 10, strategy: str = "uniform"
) -> dict[str, np.ndarray]:
    """Reliability-diagram bins: ``{"lower", "upper", "count", "mean_predicted",
    "observed"}`` per non-empty bin (``observed`` = fraction of positives).

    >>> b = calibration_bins([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], n_bins=2)
    >>> b["count"].tolist(), b["mean_predicted"].round(3).tolist(), b["observed"].tolist()
    ([2, 2], [0.2, 0.85], [0.0, 1.0])
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    y, p = _inputs(y_true, y_prob, prob=True)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        edges[0], edges[-1] = min(edges[0], 0.0), max(edges[-1], 1.0)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    k = edges.size - 1
    idx = np.searchsorted(edges[1:-1], p, side="right")
    count = np.bincount(idx, minlength=k)
    sum_p = np.bincount(idx, weights=p, minlength=k)
    sum_y = np.bincount(idx, weights=y.astype(float), minlength=k)
    keep = count > 0
    return {
        "lower": edges[:-1][keep],
        "upper": edges[1:][keep],
        "count": count[keep],
        "mean_predicted": sum_p[keep] / count[keep],
        "observed": sum_y[keep] / count[keep],
    }


def net_benefit(y_true: Any, y_prob: Any, thresholds: Any) -> np.ndarray:
    """Net benefit of treating rows with ``y_prob >= t``, for each threshold ``t`` in (0, 1).

    >>> net_benefit([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.2], [0.5]).tolist()  # (2 - 1) / 4
    [0.25]
    """
    y, p = _inputs(y_true, y_prob, prob=True)
    t = np.atleast_1d(as_float_array(thresholds, "thresholds"))
    if np.any((t <= 0) | (t >= 1)):
        raise ValueError("thresholds must lie strictly between 0 and 1")
    treated = p[None, :] >= t[:, None]
    tp = (treated & y[None, :]).sum(axis=1)
    fp = (treated & ~y[None, :]).sum(axis=1)
    n = y.size
    return tp / n - fp / n * t / (1.0 - t)


def decision_curve(y_true: Any, y_prob: Any, thresholds: Any = None) -> dict[str, np.ndarray]:
    """Decision-curve analysis: net benefit of the model, of treating everyone and of
    treating no one at each threshold (default 0.01 to 0.99 by 0.01).

    >>> d = decision_curve([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.2], [0.5])
    >>> d["model"].tolist(), d["treat_all"].tolist(), d["treat_none"].tolist()
    ([0.25], [0.0], [0.0])
    """
    y, p = _inputs(y_true, y_prob, prob=True)
    t = np.round(np.arange(1, 100) / 100, 2) if thresholds is None else np.atleast_1d(
        as_float_array(thresholds, "thresholds"))
    prev = float(y.mean())
    return {
        "threshold": t,
        "model": net_benefit(y, p, t),
        "treat_all": prev - (1.0 - prev) * t / (1.0 - t),
        "treat_none": np.zeros_like(t),
    }


def survival_decision_curve(time: Any, event: Any, risk: Any, horizon: float,
                            thresholds: Any = None) -> dict[str, np.ndarray]:
    """Decision-curve analysis for a survival model at ``horizon`` (Vickers et al. 2008).

    ``risk`` is each patient's predicted probability of the event by ``horizon``
    (``1 - S(horizon)``). Patients with ``risk >= t`` are treated; the event probability among
    them is the Kaplan-Meier estimate by ``horizon`` in that group, so censored patients count
    for as long as they were followed. Net benefit = TP/n - FP/n * t / (1 - t) with
    ``TP = n_treated * P(event by horizon | treated)``; treating everyone uses the whole
    sample's Kaplan-Meier estimate. Without censoring before ``horizon`` this equals
    :func:`decision_curve` with ``y = event by horizon``.

    >>> d = survival_decision_curve([1, 2, 5, 6], [1, 1, 0, 0], [0.9, 0.6, 0.7, 0.2], 3, [0.5])
    >>> d["model"].tolist(), d["treat_all"].tolist()
    ([0.25], [0.0])
    """
    from healthnn.metrics.survival import evaluate_step_function, kaplan_meier

    time = as_float_array(time, "time")
    event = as_binary(event, "event")
    p = as_probability(risk, "risk")
    check_same_length(time=time, event=event, risk=p)
    t = np.round(np.arange(1, 100) / 100, 2) if thresholds is None else np.atleast_1d(
        as_float_array(thresholds, "thresholds"))

    def event_prob(sel: np.ndarray) -> float:
        km_t, km_s = kaplan_meier(time[sel], event[sel])
        return 1.0 - float(evaluate_step_function(km_t, km_s, [horizon])[0])

    n = time.size
    odds = t / (1.0 - t)
    model = np.empty_like(t)
    for k, thr in enumerate(t):
        sel = p >= thr
        if not sel.any():
            model[k] = 0.0
            continue
        pe = event_prob(sel)
        model[k] = (sel.sum() * pe - sel.sum() * (1.0 - pe) * odds[k]) / n
    prev = event_prob(np.ones(n, dtype=bool))
    return {"threshold": t, "model": model, "treat_all": prev - (1.0 - prev) * odds,
            "treat_none": np.zeros_like(t)}


def threshold_table(y_true: Any, y_prob: Any, thresholds: Any) -> list[dict[str, float]]:
    """Sensitivity, specificity, PPV, NPV and the share flagged at each threshold
    (positive means ``y_prob >= t``); 0/0 gives ``nan``.

    >>> row = threshold_table([0, 0, 1, 1, 1], [0.2, 0.6, 0.7, 0.4, 0.9], [0.5])[0]
    >>> row["tp"], row["fp"], row["sensitivity"], row["ppv"]
    (2, 1, 0.6666666666666666, 0.6666666666666666)
    """
    y, p = _inputs(y_true, y_prob, prob=True)
    rows = []
    for t in np.atleast_1d(as_float_array(thresholds, "thresholds")):
        pred = p >= t
        tp, fp = int(np.sum(pred & y)), int(np.sum(pred & ~y))
        fn, tn = int(np.sum(~pred & y)), int(np.sum(~pred & ~y))

        def r(a: int, b: int) -> float:
            return a / b if b else float("nan")

        rows.append({"threshold": float(t), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
                     "flagged": r(tp + fp, y.size), "sensitivity": r(tp, tp + fn),
                     "specificity": r(tn, tn + fp), "ppv": r(tp, tp + fp), "npv": r(tn, tn + fn)})
    return rows


OPERATING_RULES = ("min_se_ppv", "prevalence", "youden")


def operating_point(y_true: Any, y_score: Any, rule: str = "prevalence", *,
                    prevalence: float | None = None) -> dict[str, Any]:
    """A decision threshold (flag a row when ``y_score >= threshold``) chosen on ``(y_true,
    y_score)`` by ``rule``, with what it gives on that data.

    Rules:

    * ``"prevalence"``: flag the top ``q`` share of rows, ``q = prevalence`` (default: the
      share of positives in ``y_true``); the threshold lies halfway between the last flagged
      and the first unflagged score. When the flagged count equals the positive count,
      sensitivity equals PPV, so this targets the PhysioNet 2012 event-1 score
      ``min(Se, PPV)`` through one quantile of the scores (stable on small validation sets)
      rather than through the few positives;
    * ``"min_se_ppv"``: the score that maximises ``min(sensitivity, PPV)`` on this data (the
      lowest such threshold);
    * ``"youden"``: the score that maximises ``sensitivity + specificity - 1``.

    Choose it on validation data, never on the rows you report metrics on. Returns ``rule``,
    ``threshold``, the target share ``prevalence`` (``"prevalence"`` only), ``n``,
    ``positives``, ``flagged`` (share), ``sensitivity``, ``specificity``, ``ppv`` and
    ``min_se_ppv`` on this data (``nan`` for 0/0).

    >>> op = operating_point([0, 0, 0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4, 0.6, 0.9], "prevalence")
    >>> op["threshold"], op["flagged"], op["sensitivity"], op["ppv"]
    (0.5, 0.3333333333333333, 0.5, 0.5)
    >>> operating_point([0, 0, 0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4, 0.6, 0.9], "youden")["threshold"]
    0.4
    """
    if rule not in OPERATING_RULES:
        raise ValueError(f"unknown operating-point rule {rule!r}; one of {OPERATING_RULES}")
    y, s = _inputs(y_true, y_score, prob=False)
    if y.size == 0:
        raise ValueError("operating_point needs at least one row")
    n, pos = y.size, int(y.sum())
    out: dict[str, Any] = {"rule": rule}
    if rule == "prevalence":
        q = float(y.mean()) if prevalence is None else float(prevalence)
        if not 0.0 < q < 1.0:
            raise ValueError(f"prevalence must be strictly between 0 and 1, got {q!r}")
        desc = np.sort(s)[::-1]
        k = min(max(int(round(q * n)), 1), n)
        threshold = float(desc[k - 1]) if k == n else float((desc[k - 1] + desc[k]) / 2.0)
        out["prevalence"] = q
    else:
        if pos == 0 or pos == n:
            raise ValueError(f"rule {rule!r} needs both classes in y_true")
        tps, fps, thr = _counts(y, s)
        se = tps / pos
        if rule == "min_se_ppv":
            crit = np.minimum(se, tps / (tps + fps))
        else:
            crit = se - fps / (n - pos)
        best = np.flatnonzero(crit >= crit.max() - 1e-12)
        threshold = float(thr[best[-1]])  # thresholds decrease: the last is the lowest
    flag = s >= threshold
    tp, fp = int(np.sum(flag & y)), int(np.sum(flag & ~y))

    def r(a: float, b: float) -> float:
        return a / b if b else float("nan")

    se_, ppv_ = r(tp, pos), r(tp, tp + fp)
    out.update(threshold=threshold, n=int(n), positives=pos, flagged=r(tp + fp, n),
               sensitivity=se_, specificity=r(n - pos - fp, n - pos), ppv=ppv_,
               min_se_ppv=float(np.nanmin([se_, ppv_])) if tp + fp and pos else float("nan"))
    return out
