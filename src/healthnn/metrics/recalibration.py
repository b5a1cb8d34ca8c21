"""Post-hoc recalibration of class probabilities, fitted on validation data.

``fit_recalibration(method, y, probs)`` returns a JSON-compatible state and
``apply_recalibration(state, probs)`` maps new probabilities through it.

* ``temperature``: ``softmax(log p / T)`` with one ``T > 0`` minimising the log loss
  (binary: ``sigmoid(logit(p) / T)``). Keeps the ranking, so AUROC does not change.
* ``platt``: ``sigmoid(a + b * logit(p))`` by maximum likelihood (multi-class: one map per
  class, one-vs-rest, rows renormalised).
* ``intercept`` (binary): ``sigmoid(a + logit(p))``, calibration-in-the-large: one offset
  that makes the mean predicted risk match the observed rate, ranking and slope unchanged.
* ``isotonic``: a monotone step map fitted by pool-adjacent-violators (multi-class: one-vs-
  rest, rows renormalised); applied by linear interpolation between its knots.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit, softmax

from healthnn.metrics.classification import logistic_newton

__all__ = ["fit_recalibration", "apply_recalibration", "RECALIBRATION_METHODS"]

RECALIBRATION_METHODS = ("temperature", "platt", "isotonic", "intercept")
_EPS = 1e-7


def _check(y: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError("probs must have shape (n, K) with K >= 2 (one column per class)")
    yy = np.asarray(y, dtype=np.int64)
    if yy.shape != (p.shape[0],):
        raise ValueError("y must have one class code per row of probs")
    return yy, np.clip(p, _EPS, 1.0)


def _pava(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic (non-decreasing) fit of y on x; returns knots (distinct x) and fitted values."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    ux, inv = np.unique(xs, return_inverse=True)
    w = np.bincount(inv).astype(float)
    v = np.bincount(inv, weights=ys) / w
    vals, wts, sizes = [], [], []
    for vi, wi in zip(v, w, strict=True):
        vals.append(vi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            merged = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum
            size = sizes[-2] + sizes[-1]
            vals[-2:], wts[-2:], sizes[-2:] = [merged], [wsum], [size]
    fitted = np.repeat(vals, sizes)
    return ux, fitted


def fit_recalibration(method: str, y: Any, probs: Any) -> dict[str, Any]:
    """Fit a recalibration map on (class codes, probabilities of shape (n, K)).

    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
    >>> y = np.array([0, 0, 1, 1, 1, 0])
    >>> s = fit_recalibration("temperature", y, p)
    >>> s["method"], s["temperature"] > 0
    ('temperature', True)
    >>> apply_recalibration(s, p).sum(1).round(6).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if method not in RECALIBRATION_METHODS:
        raise ValueError(f"method must be one of {RECALIBRATION_METHODS}, got {method!r}")
    yy, p = _check(y, probs)
    k = p.shape[1]
    onehot = np.eye(k)[yy]
    if method == "temperature":
        logp = np.log(p)

        def nll(log_t: float) -> float:
            q = softmax(logp / np.exp(log_t), axis=1)
            return float(-np.mean(np.log(np.clip((q * onehot).sum(1), 1e-300, None))))

        res = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded",
                              options={"xatol": 1e-6})
        return {"method": method, "temperature": float(np.exp(res.x))}
    if method == "intercept":
        if k != 2:
            raise ValueError("intercept recalibration is for binary outcomes")
        return {"method": method, "intercept": _intercept(yy, p[:, 1])}
    cols = [k - 1] if k == 2 else list(range(k))
    maps = []
    for c in cols:
        target = onehot[:, c]
        if method == "platt":
            z = logit(np.clip(p[:, c], _EPS, 1 - _EPS))
            beta = logistic_newton(np.column_stack([np.ones_like(z), z]), target, np.zeros_like(z))
            a, b = (0.0, 1.0) if beta is None else (float(beta[0]), float(beta[1]))
            maps.append({"a": a, "b": b})
        else:
            knots, fitted = _pava(p[:, c], target)
            maps.append({"x": knots.tolist(), "y": fitted.tolist()})
    return {"method": method, "classes": k, "columns": cols, "maps": maps}


def apply_recalibration(state: dict[str, Any], probs: Any) -> np.ndarray:
    """Recalibrated probabilities (rows sum to 1)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0)
    method = state["method"]
    if method == "temperature":
        return softmax(np.log(p) / state["temperature"], axis=1)
    if method == "intercept":
        p1 = expit(state["intercept"] + logit(np.clip(p[:, 1], _EPS, 1 - _EPS)))
        return np.column_stack([1.0 - p1, p1])
    out = np.empty((p.shape[0], len(state["columns"])))
    for j, (c, m) in enumerate(zip(state["columns"], state["maps"], strict=True)):
        if method == "platt":
            out[:, j] = expit(m["a"] + m["b"] * logit(np.clip(p[:, c], _EPS, 1 - _EPS)))
        else:
            out[:, j] = np.interp(p[:, c], m["x"], m["y"])
    if p.shape[1] == 2:
        return np.column_stack([1.0 - out[:, 0], out[:, 0]])
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1])
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def _intercept(y: np.ndarray, p1: np.ndarray) -> float:
    """The offset ``a`` maximising the likelihood of ``sigmoid(a + logit(p1))``.

    At the optimum the mean recalibrated risk equals the observed event rate:

    >>> y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    >>> p = np.full(8, 0.3)
    >>> a = _intercept(y, p)
    >>> round(float(expit(a + logit(0.3))), 6)
    0.625
    """
    z = logit(np.clip(p1, _EPS, 1 - _EPS))

    def nll(a: float) -> float:
        q = np.clip(expit(a + z), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    return float(minimize_scalar(nll, bounds=(-20.0, 20.0), method="bounded",
                                 options={"xatol": 1e-9}).x)
