"""Survival metrics for right-censored data as pure, vectorised numpy functions.

Conventions
-----------
* ``time``: follow-up time (non-negative floats); ``event``: 1/True for an observed
  event, 0/False for censoring; ``risk``: a score where *higher means an earlier
  event* (e.g. a Cox linear predictor, a cumulative hazard); ``surv_prob``: predicted
  survival probabilities ``S(t | x)``.
* Every metric reproduces the corresponding function of scikit-survival (definitions,
  tie handling with an absolute tolerance of ``1e-8`` on risk scores, and the inverse
  probability of censoring weights from a Kaplan-Meier estimate of the censoring
  distribution on the *training* data), without depending on it.
* Everything runs in O(n log n) (sorting, ``np.searchsorted``, cumulative sums), so the
  metrics can be bootstrapped.

Errors: a wrong call (arrays of different lengths, wrong dimensions, ``times`` not
strictly increasing) raises :class:`ValueError`; data that cannot give the metric (NaN,
negative times, no events, evaluation times outside the follow-up, no comparable pairs,
test times beyond the training follow-up) raises :class:`healthnn.errors.DataError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthnn.errors import DataError
from healthnn.metrics._validation import (
    as_events,
    as_float_array,
    as_probability,
    as_times,
    check_same_length,
    require_events,
)

__all__ = [
    "kaplan_meier",
    "evaluate_step_function",
    "harrell_c",
    "uno_c",
    "time_dependent_auc",
    "brier_scores",
    "integrated_brier_score",
    "survival_metrics",
]

TIED_TOL = 1e-8


# --------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------


def _survival_data(time: Any, event: Any, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    t = as_times(time, f"{prefix}time")
    e = as_events(event, f"{prefix}event")
    check_same_length(**{f"{prefix}time": t, f"{prefix}event": e})
    return t, e


def _test_data(time: Any, event: Any, risk: Any, *, risk_ndim: int | tuple[int, ...] = 1):
    t, e = _survival_data(time, event)
    r = as_float_array(risk, "risk", ndim=risk_ndim)
    check_same_length(time=t, event=e, risk=r)
    require_events(e)
    return t, e, r


def _eval_times(times: Any, test_time: np.ndarray) -> np.ndarray:
    ts = as_float_array(np.atleast_1d(times), "times")
    if ts.size == 0:
        raise ValueError("times must contain at least one time point")
    if ts.size > 1 and not np.all(np.diff(ts) > 0):
        raise ValueError("times must be strictly increasing")
    if ts[-1] >= test_time.max() or ts[0] < test_time.min():
        raise DataError(
            f"evaluation times must lie within the follow-up of the test data "
            f"[{test_time.min():.6g}, {test_time.max():.6g}), got [{ts[0]:.6g}, {ts[-1]:.6g}]",
            hint="choose times below the largest observed test time",
        )
    return ts


# --------------------------------------------------------------------------------------
# Kaplan-Meier and step functions
# --------------------------------------------------------------------------------------


def _km(time: np.ndarray, event: np.ndarray, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(time, return_inverse=True)
    n_total = np.bincount(inv, minlength=uniq.size)
    n_event = np.bincount(inv, weights=event.astype(float), minlength=uniq.size)
    at_risk = time.size - np.concatenate(([0], np.cumsum(n_total)[:-1]))
    if reverse:  # censoring distribution: censorings are the "events", events leave first
        at_risk = at_risk - n_event
        n_event = n_total - n_event
    ratio = np.divide(n_event, at_risk, out=np.zeros(uniq.size), where=n_event != 0)
    return uniq, np.cumprod(1.0 - ratio)


def kaplan_meier(time: Any, event: Any, *, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the survival function.

    Parameters
    ----------
    time, event : arrays of shape (n,)
        Follow-up times and event indicators.
    reverse : bool
        Estimate the *censoring* distribution ``G(t) = P(C > t)`` instead (censorings
        are treated as events; at tied times events are taken to happen first).

    Returns
    -------
    unique_times : ndarray of shape (m,)
        All distinct observed times (events and censorings), increasing.
    survival : ndarray of shape (m,)
        ``S(t)`` just after each unique time (right-continuous steps). Evaluate it at
        other times with :func:`evaluate_step_function`.

    Examples
    --------
    >>> t, s = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    >>> t.tolist(), s.round(3).tolist()
    ([1.0, 2.0, 3.0, 4.0], [0.8, 0.6, 0.3, 0.3])
    """
    t, e = _survival_data(time, event)
    return _km(t, e, reverse=reverse)


def evaluate_step_function(
    step_times: Any, values: Any, at: Any, *, initial: float = 1.0
) -> np.ndarray:
    """Evaluate a right-continuous step function at arbitrary times.

    The function equals ``values[k]`` on ``[step_times[k], step_times[k+1])``, ``initial``
    before ``step_times[0]`` and ``values[-1]`` after the last step; NaN maps to NaN.

    Examples
    --------
    >>> evaluate_step_function([1.0, 3.0], [0.8, 0.5], [0.5, 1.0, 2.0, 3.0, 9.0]).tolist()
    [1.0, 0.8, 0.8, 0.5, 0.5]
    """
    x = as_float_array(step_times, "step_times")
    y = as_float_array(values, "values")
    if x.shape != y.shape:
        raise ValueError(f"step_times and values must have the same shape, got {x.shape} and {y.shape}")
    if x.size > 1 and not np.all(np.diff(x) > 0):
        raise ValueError("step_times must be strictly increasing")
    a = np.asarray(at, dtype=float)
    if x.size == 0:
        return np.where(np.isnan(a), np.nan, float(initial))
    return np.where(np.isnan(a), np.nan, _step(x, y, a, initial))


def _step(x: np.ndarray, y: np.ndarray, at: np.ndarray, initial: float) -> np.ndarray:
    """Right-continuous step function: ``y[k]`` on ``[x[k], x[k+1])``, ``initial`` before."""
    idx = np.searchsorted(x, at, side="right") - 1
    return np.where(idx >= 0, y[np.maximum(idx, 0)], initial)


class _Censoring:
    """Kaplan-Meier censoring distribution ``G`` fitted on training data.

    Evaluating ``G`` beyond the last training time is refused when ``G`` is still
    positive there (the censoring distribution is unknown), as in scikit-survival.
    """

    def __init__(self, train_time: Any, train_event: Any) -> None:
        t, e = _survival_data(train_time, train_event, prefix="train_")
        require_events(e, "train_event")
        self.times, self.prob = _km(t, e, reverse=True)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        last = self.times[-1]
        if self.prob[-1] > 0 and t.size and t.max() > last:
            raise DataError(
                f"test times go up to {t.max():.6g}, beyond the last training time {last:.6g}: "
                "the censoring distribution is unknown there",
                hint="choose evaluation times (or tau) below the largest training time",
            )
        return _step(self.times, self.prob, t, 1.0)

    def inverse_weights(self, t: np.ndarray) -> np.ndarray:
        """``1 / G(t)`` (raising where ``G(t) == 0``)."""
        g = self(t)
        if np.any(g == 0.0):
            raise DataError(
                "the censoring survival function is zero at one or more test event times",
                hint="choose evaluation times (or tau) below the largest training time",
            )
        return 1.0 / g


# --------------------------------------------------------------------------------------
# concordance
# --------------------------------------------------------------------------------------


def _suffix_less_counts(v: np.ndarray, start: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``#{p >= start[i] : v[p] < q[i]}`` for every query ``i``, with ``v`` in ``[0, n)``.

    A wavelet matrix built with numpy: one stable partition and one cumulative sum per
    bit of ``n``, and O(1) array work per query and bit -- O(n log n) overall, with no
    Python loop over rows.
    """
    n = v.size
    cur = v
    lo = start.astype(np.int64)
    hi = np.full(start.size, n, dtype=np.int64)
    count = np.zeros(start.size, dtype=np.int64)
    zeros_before = np.zeros(n + 1, dtype=np.int64)
    for b in range(int(n).bit_length() - 1, -1, -1):
        is_zero = ((cur >> b) & 1) == 0
        np.cumsum(is_zero, out=zeros_before[1:])
        n_zero = zeros_before[-1]
        q_one = ((q >> b) & 1).astype(bool)
        z_lo = zeros_before[lo]
        z_hi = zeros_before[hi]
        # where q has a 1 at this bit, every value with a 0 here (and the same higher
        # bits) is smaller: count them and follow the ones; otherwise follow the zeros
        count += np.where(q_one, z_hi - z_lo, 0)
        lo = np.where(q_one, n_zero + lo - z_lo, z_lo)
        hi = np.where(q_one, n_zero + hi - z_hi, z_hi)
        cur = np.concatenate((cur[is_zero], cur[~is_zero]))
    return count


def _concordance(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, weights: np.ndarray, tol: float
) -> float:
    """Weighted concordance as in scikit-survival's ``_estimate_concordance_index``.

    For every event ``i`` with weight ``w_i`` the comparable ``j`` are those with
    ``time_j > time_i``, or ``time_j == time_i`` and ``j`` censored. The index is
    ``sum_i w_i (#{risk_j < risk_i} + #{|risk_j - risk_i| <= tol} / 2) / sum_i w_i #comparable``.
    """
    n = time.size
    ev = np.flatnonzero(event & (weights > 0))
    _, trank = np.unique(time, return_inverse=True)
    # events sort before censorings at the same time; comparable = strictly larger key
    key = 2 * trank + (~event)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    rorder = np.argsort(risk, kind="stable")
    sorted_risk = risk[rorder]
    rank = np.empty(n, dtype=np.int64)
    rank[rorder] = np.arange(n)

    start = np.searchsorted(sorted_key, 2 * trank[ev] + 1, side="left")
    lo = np.searchsorted(sorted_risk, risk[ev] - tol, side="left")  # risk_j < risk_i - tol
    hi = np.searchsorted(sorted_risk, risk[ev] + tol, side="right")  # risk_j <= risk_i + tol
    # comparable j with risk_j < risk_i - tol, and (only for events that have another
    # sample within tol) with risk_j <= risk_i + tol -- all queries in one pass
    m = ev.size
    tied = np.flatnonzero(hi - lo > 1)
    counts = _suffix_less_counts(rank[order], np.concatenate((start, start[tied])), np.concatenate((lo, hi[tied])))
    n_lo = counts[:m]
    n_tied = np.zeros(m, dtype=np.int64)
    n_tied[tied] = counts[m:] - n_lo[tied]
    w = weights[ev]
    num = float(np.sum(w * (n_lo + 0.5 * n_tied)))
    den = float(np.sum(w * (n - start)))
    if den == 0.0:
        raise DataError(
            "no comparable pairs: the concordance index is undefined",
            hint="a pair is comparable when the shorter time is an observed event",
        )
    return num / den


def harrell_c(time: Any, event: Any, risk: Any, *, tied_tol: float = TIED_TOL) -> float:
    """Harrell's concordance index.

    Same value as ``sksurv.metrics.concordance_index_censored(event, time, risk)[0]``: a
    pair is comparable when the shorter time is an event (an event and a censoring at
    the same time are comparable, two events at the same time are not); it is
    concordant when the earlier event has the higher risk; risks within ``tied_tol``
    count 1/2. O(n log n) up to a log factor, fully vectorised.

    Raises
    ------
    DataError
        NaN, negative times, no events, or no comparable pair.

    Examples
    --------
    >>> harrell_c([1, 2, 3, 4], [1, 1, 0, 1], [4.0, 1.0, 3.0, 2.0])
    0.6
    """
    t, e, r = _test_data(time, event, risk)
    return _concordance(t, e, r, np.ones(t.size), tied_tol)


def uno_c(
    time: Any,
    event: Any,
    risk: Any,
    train_time: Any,
    train_event: Any,
    tau: float | None = None,
    *,
    tied_tol: float = TIED_TOL,
) -> float:
    """Uno's IPCW concordance index, truncated at ``tau``.

    Same value as ``sksurv.metrics.concordance_index_ipcw(train, test, risk, tau)[0]``:
    Harrell's pairs, each weighted by ``1 / G(T_i)^2`` where ``T_i`` is the earlier
    (event) time and ``G`` the Kaplan-Meier censoring distribution of the training data;
    events at or after ``tau`` get weight 0.

    Raises
    ------
    DataError
        As :func:`harrell_c`, and when a test event before ``tau`` lies beyond the last
        training time (``G`` unknown) or where ``G`` is zero.

    Examples
    --------
    >>> t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    >>> round(uno_c(t, e, [5, 6, 3, 1, 2, 4], train_time=t, train_event=e), 4)
    0.5561
    """
    t, e, r = _test_data(time, event, risk)
    cens = _Censoring(train_time, train_event)
    use = e if tau is None else e & (t < float(tau))
    w = np.zeros(t.size)
    w[use] = cens.inverse_weights(t[use]) ** 2
    return _concordance(t, e, r, w, tied_tol)


# --------------------------------------------------------------------------------------
# time-dependent AUC
# --------------------------------------------------------------------------------------


def _tie_groups(score: np.ndarray, tol: float) -> np.ndarray:
    """Group ids (increasing with score); neighbours within ``tol`` share a group."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    gid_sorted = np.concatenate(([0], np.cumsum(np.diff(s) > tol)))
    gid = np.empty(score.size, dtype=np.int64)
    gid[order] = gid_sorted
    return gid


def time_dependent_auc(
    time: Any,
    event: Any,
    risk: Any,
    times: Any,
    train_time: Any,
    train_event: Any,
    *,
    tied_tol: float = TIED_TOL,
) -> tuple[np.ndarray, float]:
    """Cumulative/dynamic time-dependent AUC and its weighted mean.

    Same values as ``sksurv.metrics.cumulative_dynamic_auc(train, test, risk, times)``.
    At time ``t`` the cases are events with ``T_i <= t`` (weighted by ``1/G(T_i)``, ``G``
    the training Kaplan-Meier censoring distribution) and the controls are ``T_j > t``.
    The mean AUC weights each time by the drop of the test Kaplan-Meier survival curve.

    Parameters
    ----------
    risk : array of shape (n,) or (n, len(times))
        Risk scores (higher = earlier event); 2-D for time-dependent scores, column
        ``j`` belonging to ``times[j]``.
    times : array of shape (m,)
        Strictly increasing time points within ``[min(time), max(time))``.

    Returns
    -------
    auc : ndarray of shape (m,)
        AUC at each time (``nan`` where there is no case yet).
    mean_auc : float

    Examples
    --------
    >>> t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    >>> auc, mean_auc = time_dependent_auc(t, e, [5, 6, 3, 1, 2, 4], [2.5, 4.5], t, e)
    >>> auc.round(4).tolist(), round(mean_auc, 4)
    ([1.0, 0.4643], 0.6173)
    """
    t, e, r = _test_data(time, event, risk, risk_ndim=(1, 2))
    ts = _eval_times(times, t)
    m = ts.size
    if r.ndim == 2 and r.shape[1] != m:
        raise ValueError(f"risk has {r.shape[1]} columns but {m} times were given")
    cens = _Censoring(train_time, train_event)
    w = np.zeros(t.size)
    # only events up to the last time become cases: follow-up beyond it needs no weight
    # (as sksurv with the test data truncated there), even beyond the training follow-up
    need = e & (t <= ts[-1])
    w[need] = cens.inverse_weights(t[need])

    auc = np.empty(m)
    groups = _tie_groups(r, tied_tol) if r.ndim == 1 else None
    for j, tj in enumerate(ts):
        g = groups if groups is not None else _tie_groups(r[:, j], tied_tol)
        n_groups = int(g.max()) + 1
        control = t > tj
        case = e & ~control
        n_control = int(np.count_nonzero(control))
        cnt = np.bincount(g[control], minlength=n_groups)
        below = np.cumsum(cnt) - cnt
        wc = w[case]
        gc = g[case]
        den = wc.sum() * n_control
        auc[j] = np.sum(wc * (below[gc] + 0.5 * cnt[gc])) / den if den > 0 else np.nan
    if m == 1:
        return auc, float(auc[0])
    km_t, km_s = _km(t, e)
    s = _step(km_t, km_s, ts, 1.0)
    drop = -np.diff(np.concatenate(([1.0], s)))
    denom = 1.0 - s[-1]
    mean_auc = float(np.sum(auc * drop) / denom) if denom > 0 else float("nan")
    return auc, mean_auc


# --------------------------------------------------------------------------------------
# Brier score
# --------------------------------------------------------------------------------------


def _brier_inputs(time, event, surv_prob, times, train_time, train_event):
    t, e = _survival_data(time, event)
    require_events(e)
    ts = _eval_times(times, t)
    p = as_probability(surv_prob, "surv_prob", ndim=(1, 2))
    if p.ndim == 1:
        if ts.size != 1:
            raise ValueError(f"surv_prob must have shape (n, {ts.size}), got {p.shape}")
        p = p[:, None]
    check_same_length(time=t, surv_prob=p)
    if p.shape[1] != ts.size:
        raise ValueError(f"surv_prob has {p.shape[1]} columns but {ts.size} times were given")
    return t, e, p, ts, _Censoring(train_time, train_event)


def _brier(t, e, p, ts, cens) -> np.ndarray:
    g_t = cens(ts)
    # 1/G(T_i) is used for events up to the last time only, so later follow-up (even
    # beyond the training data) needs no censoring weight
    need = e & (t <= ts[-1])
    g_y = np.ones(t.size)
    g_y[need] = cens(t[need])
    inv_t = np.divide(1.0, g_t, out=np.zeros_like(g_t), where=g_t > 0)
    inv_y = np.divide(1.0, g_y, out=np.zeros_like(g_y), where=g_y > 0)
    control = t[:, None] > ts[None, :]
    case = ~control & e[:, None]
    terms = np.where(case, p**2 * inv_y[:, None], 0.0) + np.where(control, (1.0 - p) ** 2 * inv_t, 0.0)
    return terms.mean(axis=0)


def brier_scores(
    time: Any, event: Any, surv_prob: Any, times: Any, train_time: Any, train_event: Any
) -> np.ndarray:
    """IPCW time-dependent Brier score at each of ``times``.

    Same values as ``sksurv.metrics.brier_score(train, test, surv_prob, times)[1]``
    (Graf et al., 1999): events before ``t`` are weighted by ``1/G(T_i)``, subjects still
    at risk by ``1/G(t)``, censored-before-``t`` subjects contribute 0 (``G`` from the
    training data; where ``G`` is zero the weight is 0).

    Parameters
    ----------
    surv_prob : array of shape (n, len(times))
        Predicted survival probability of each subject at each time.
    times : array of shape (m,)
        Strictly increasing times within ``[min(time), max(time))`` and within the
        training follow-up; test times beyond ``max(times)`` need no censoring weight, so
        they may exceed the last training time (as sksurv's ``tau``: with the test data
        truncated at ``max(times)`` the values are sksurv's).

    Examples
    --------
    >>> t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    >>> p = [[0.5, 0.2], [0.9, 0.6], [0.8, 0.5], [0.9, 0.7], [0.95, 0.8], [0.9, 0.9]]
    >>> brier_scores(t, e, p, [2.5, 4.5], t, e).round(3).tolist()
    [0.055, 0.171]
    """
    return _brier(*_brier_inputs(time, event, surv_prob, times, train_time, train_event))


def integrated_brier_score(
    time: Any, event: Any, surv_prob: Any, times: Any, train_time: Any, train_event: Any
) -> float:
    """Integrated Brier score: trapezoidal mean of :func:`brier_scores` over ``times``.

    Same value as ``sksurv.metrics.integrated_brier_score``; needs at least two times.

    Examples
    --------
    >>> t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    >>> p = [[0.5, 0.2], [0.9, 0.6], [0.8, 0.5], [0.9, 0.7], [0.95, 0.8], [0.9, 0.9]]
    >>> round(integrated_brier_score(t, e, p, [2.5, 4.5], t, e), 4)
    0.113
    """
    t, e, p, ts, cens = _brier_inputs(time, event, surv_prob, times, train_time, train_event)
    if ts.size < 2:
        raise ValueError("the integrated Brier score needs at least two time points")
    bs = _brier(t, e, p, ts, cens)
    return float(np.trapezoid(bs, ts) / (ts[-1] - ts[0]))


def survival_metrics(
    time: Any,
    event: Any,
    risk: Any,
    surv_prob: Any,
    times: Any,
    train_time: Any,
    train_event: Any,
) -> dict[str, float]:
    """The standard survival metrics in one dict.

    Keys, in order: ``c_index`` (Harrell, :func:`harrell_c`), ``uno_c`` (:func:`uno_c`
    truncated at ``tau = max(times)``, so that only the evaluated horizon counts and
    follow-up beyond the training data does not matter), ``td_auc`` (mean of
    :func:`time_dependent_auc` over ``times``) and ``ibs`` (:func:`integrated_brier_score`;
    omitted when ``surv_prob`` is None; needs two or more times).

    ``risk`` is 1-D here (higher = earlier event).

    Examples
    --------
    >>> t, e = [1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]
    >>> m = survival_metrics(t, e, [5, 6, 3, 1, 2, 4], None, [2.5, 4.5], t, e)
    >>> {k: round(v, 4) for k, v in m.items()}
    {'c_index': 0.6, 'uno_c': 0.5561, 'td_auc': 0.6173}
    """
    t, e, r = _test_data(time, event, risk)
    ts = _eval_times(times, t)
    out = {
        "c_index": _concordance(t, e, r, np.ones(t.size), TIED_TOL),
        "uno_c": uno_c(t, e, r, train_time, train_event, tau=float(ts[-1])),
        "td_auc": time_dependent_auc(t, e, r, ts, train_time, train_event)[1],
    }
    if surv_prob is not None:
        out["ibs"] = integrated_brier_score(t, e, surv_prob, ts, train_time, train_event)
    return out
