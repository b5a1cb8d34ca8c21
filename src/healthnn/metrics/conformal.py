"""Split-conformal prediction: a set of classes or an interval for every prediction.

After training, the model's outputs on the validation rows (which it was not fitted on) give
non-conformity scores; their ``ceil((n + 1)(1 - alpha))``-th smallest value ``q`` makes, for a
new row from the same distribution, a prediction set (classification) or an interval
(regression) that holds the true outcome with probability at least ``1 - alpha`` (marginally:
on average over rows, not for every patient; Vovk et al. 2005, Angelopoulos & Bates 2021).

- classification, ``lac`` (least ambiguous set-valued classifier): score ``1 - p(true class)``;
  the set holds every class with ``p >= 1 - q`` (smallest sets on average).
- classification, ``aps`` (adaptive prediction sets, not randomised): score = the probability
  mass of the classes ranked at or above the true one; the set holds the classes whose own
  score is at most ``q`` (larger sets for harder rows).
- regression: score ``|y - prediction|`` per target; the interval is ``prediction -/+ q``.

With fewer than ``1/alpha - 1`` calibration rows no finite ``q`` exists; the sets then hold
every class and the intervals are unbounded (reported as empty cells), which is honest.

>>> import numpy as np
>>> scores = np.arange(1, 10) / 10                 # 9 calibration scores 0.1 .. 0.9
>>> conformal_quantile(scores, alpha=0.2)          # ceil(10 * 0.8) = 8th smallest
0.8
>>> conformal_quantile(scores, alpha=0.05)         # ceil(10 * 0.95) = 10 > 9 rows
inf
>>> state = fit_conformal("classes", np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
...                       np.array([0, 1, 1]), ["no", "yes"], alpha=0.5)
>>> round(state["qhat"], 6), prediction_sets(state, np.array([[0.85, 0.15], [0.45, 0.55]]))
(0.2, ['no', ''])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "METHODS", "conformal_quantile", "class_scores", "fit_conformal", "prediction_sets",
    "set_membership", "intervals", "conformal_columns", "conformal_coverage",
]

METHODS = ("lac", "aps")


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest of the finite ``scores`` (``inf`` when
    that exceeds ``n``): the split-conformal threshold with the finite-sample correction."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    s = np.sort(np.asarray(scores, dtype=float).ravel())
    s = s[np.isfinite(s)]
    n = len(s)
    k = math.ceil((n + 1) * (1.0 - alpha) - 1e-9)  # 1e-9: (n+1)*0.9 is not exact in binary
    return float(s[k - 1]) if 1 <= k <= n else math.inf


def _aps_all(probs: np.ndarray) -> np.ndarray:
    """The APS score of every class of every row: the mass of the classes ranked at or above
    it (ties broken by class order)."""
    order = np.argsort(-probs, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(probs, order, axis=1), axis=1)
    out = np.empty_like(cum)
    np.put_along_axis(out, order, cum, axis=1)
    return out


def _columns(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[:, None] if a.ndim == 1 else a


def class_scores(probs: np.ndarray, method: str = "lac") -> np.ndarray:
    """Non-conformity score of every class of every row, shape ``(n, K)``."""
    probs = np.asarray(probs, dtype=float)
    if method == "lac":
        return 1.0 - probs
    if method == "aps":
        return _aps_all(probs)
    raise ValueError(f"unknown conformal method {method!r} (one of {', '.join(METHODS)})")


def fit_conformal(kind: str, predicted: np.ndarray, observed: np.ndarray, names: list[str], *,
                  alpha: float = 0.1, method: str = "lac") -> dict[str, Any]:
    """The JSON-ready calibration state from validation rows.

    ``kind`` ``"classes"``: ``predicted`` are class probabilities ``(n, K)``, ``observed``
    the class codes ``(n,)``. ``kind`` ``"values"``: ``predicted`` and ``observed`` are
    ``(n, T)`` values (NaN = not observed), one threshold per target.
    """
    predicted = np.asarray(predicted, dtype=float)
    observed = np.asarray(observed)
    if kind == "classes":
        codes = observed.astype(np.int64)
        ok = (codes >= 0) & (codes < predicted.shape[1])
        s = class_scores(predicted[ok], method)[np.arange(int(ok.sum())), codes[ok]]
        q = conformal_quantile(s, alpha)
        return {"kind": kind, "method": method, "alpha": alpha, "names": list(names),
                "qhat": None if math.isinf(q) else q, "n_calibration": int(ok.sum())}
    if kind == "values":
        predicted, observed = _columns(predicted), _columns(observed.astype(float))
        resid = np.abs(observed - predicted)
        qs = [conformal_quantile(resid[:, j], alpha) for j in range(resid.shape[1])]
        return {"kind": kind, "method": "absolute_residual", "alpha": alpha,
                "names": list(names), "qhat": [None if math.isinf(q) else q for q in qs],
                "n_calibration": [int(np.isfinite(resid[:, j]).sum())
                                  for j in range(resid.shape[1])]}
    raise ValueError(f"unknown conformal kind {kind!r}")


def set_membership(state: dict[str, Any], probs: np.ndarray) -> np.ndarray:
    """Boolean ``(n, K)``: which classes are in each row's prediction set."""
    probs = np.asarray(probs, dtype=float)
    if state["qhat"] is None:
        return np.ones(probs.shape, dtype=bool)
    return class_scores(probs, state["method"]) <= state["qhat"] + 1e-12


def prediction_sets(state: dict[str, Any], probs: np.ndarray) -> list[str]:
    """Each row's set as class names joined by ``|`` (``''``: no class is plausible)."""
    names = state["names"]
    return ["|".join(n for n, keep in zip(names, row, strict=True) if keep)
            for row in set_membership(state, probs)]


def intervals(state: dict[str, Any], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds ``(n, T)`` (NaN where no finite threshold exists)."""
    values = _columns(values)
    q = np.array([np.nan if v is None else v for v in state["qhat"]], dtype=float)
    return values - q, values + q


def conformal_columns(state: dict[str, Any], predicted: np.ndarray) -> dict[str, Any]:
    """Prediction columns: ``set`` (classification); ``lo`` and ``hi`` (one target) or
    ``lo_<target>`` and ``hi_<target>`` (several)."""
    if state["kind"] == "classes":
        return {"set": prediction_sets(state, predicted)}
    lo, hi = intervals(state, predicted)
    names = state["names"]
    if len(names) == 1:
        return {"lo": lo[:, 0], "hi": hi[:, 0]}
    cols: dict[str, Any] = {}
    for j, t in enumerate(names):
        cols[f"lo_{t}"], cols[f"hi_{t}"] = lo[:, j], hi[:, j]
    return cols


def conformal_coverage(state: dict[str, Any], predicted: np.ndarray,
                       observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether the set/interval holds the observed outcome (a fraction over the
    observed targets when there are several; NaN when none is observed) and its size (number
    of classes, or interval width averaged over targets)."""
    if state["kind"] == "classes":
        member = set_membership(state, predicted)
        codes = np.asarray(observed).astype(np.int64)
        ok = (codes >= 0) & (codes < member.shape[1])
        covered = np.full(len(codes), np.nan)
        covered[ok] = member[np.flatnonzero(ok), codes[ok]]
        return covered, member.sum(1).astype(float)
    predicted, observed = _columns(predicted), _columns(observed)
    lo, hi = intervals(state, predicted)
    lo, hi = np.nan_to_num(lo, nan=-np.inf), np.nan_to_num(hi, nan=np.inf)  # unbounded
    seen = np.isfinite(observed)
    inside = np.where(seen, (observed >= lo) & (observed <= hi), False)
    n_seen = seen.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        covered = np.where(n_seen > 0, inside.sum(1) / np.maximum(n_seen, 1), np.nan)
        width = (hi - lo).mean(axis=1)
    return covered, width
