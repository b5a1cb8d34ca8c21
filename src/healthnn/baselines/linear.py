"""Linear baselines: logistic regression, ridge regression and a linear Cox model.

Each is fitted on the network's training rows and kept as plain arrays (standardisation,
coefficients, intercept), applied with numpy: saved in the bundle as JSON, never pickled.
Inputs are numeric matrices, NaN allowed (imputed with the training median).

The Cox model is fitted here (no GPL code at run time): Newton's method on the ridge-penalised
Breslow partial log-likelihood ``l(beta) - alpha / 2 * ||beta||^2`` of the standardised inputs,
with step halving; its coefficients match scikit-survival's ``CoxPHSurvivalAnalysis(alpha,
ties="breslow")`` (checked in the tests).

>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(300, 3))
>>> t = rng.exponential(np.exp(-x[:, 0]))
>>> cox = CoxBaseline().fit(x, {"time": t, "event": np.ones(300, bool)})
>>> bool(cox.coef_[0, 0] > 0.5)  # risk rises with the first input (per SD)
True
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from healthnn.baselines.arrays import pack, unpack

__all__ = ["LogisticBaseline", "LinearBaseline", "CoxBaseline", "Standardizer"]


class Standardizer:
    """Median imputation and standardisation learned on the training rows."""

    def fit(self, x: np.ndarray) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        with warnings.catch_warnings():  # a column never observed: its median is NaN -> 0
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(x, axis=0) if len(x) else np.zeros(x.shape[1])
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        z = self._impute(x)
        self.mean_ = z.mean(0)
        sd = z.std(0)
        self.sd_ = np.where(sd > 0, sd, 1.0)
        return self

    def _impute(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(np.isfinite(x), x, self.median_)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (self._impute(x) - self.mean_) / self.sd_

    def to_dict(self) -> dict[str, Any]:
        return {"median": pack(self.median_), "mean": pack(self.mean_), "sd": pack(self.sd_)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        self = cls()
        self.median_, self.mean_, self.sd_ = (unpack(d[k]) for k in ("median", "mean", "sd"))
        return self


class _Linear:
    """Shared saving of a standardiser plus coefficient arrays."""

    kind = ""

    def to_dict(self) -> dict[str, Any]:
        return {"std": self.std_.to_dict(), "coef": pack(self.coef_),
                "intercept": pack(self.intercept_), **self._extra()}

    def _extra(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        self = cls()
        self.std_ = Standardizer.from_dict(d["std"])
        self.coef_, self.intercept_ = unpack(d["coef"]), unpack(d["intercept"])
        self._load_extra(d)
        return self

    def _load_extra(self, d: dict[str, Any]) -> None:
        pass

    def _z(self, x: np.ndarray) -> np.ndarray:
        return self.std_.transform(x) @ self.coef_.T + self.intercept_


class LogisticBaseline(_Linear):
    """L2-regularised logistic regression (scikit-learn, ``C = 1``); ``predict`` gives class
    probabilities ``(n, n_classes)``. Classes absent from the training rows get 0."""

    kind = "classes"

    def __init__(self, C: float = 1.0, seed: int = 0) -> None:
        self.C, self.seed = C, seed

    def fit(self, x: np.ndarray, target: dict[str, Any], *_: Any) -> LogisticBaseline:
        from sklearn.linear_model import LogisticRegression

        codes, k = np.asarray(target["codes"]), int(target["n_classes"])
        self.std_ = Standardizer().fit(x)
        lr = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
        lr.fit(self.std_.transform(x), codes)
        self.coef_, self.intercept_ = lr.coef_.astype(np.float64), lr.intercept_.astype(np.float64)
        self.columns_ = lr.classes_.astype(np.int64)
        self.n_classes_ = k
        return self

    def _extra(self) -> dict[str, Any]:
        return {"columns": self.columns_.tolist(), "n_classes": self.n_classes_}

    def _load_extra(self, d: dict[str, Any]) -> None:
        self.columns_ = np.asarray(d["columns"], dtype=np.int64)
        self.n_classes_ = int(d["n_classes"])

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = self._z(x)
        out = np.zeros((len(z), self.n_classes_))
        if z.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            out[:, self.columns_] = np.column_stack([1.0 - p1, p1])
        else:
            e = np.exp(z - z.max(1, keepdims=True))
            out[:, self.columns_] = e / e.sum(1, keepdims=True)
        return out


class LinearBaseline(_Linear):
    """Ridge regression (``alpha = 1`` on standardised inputs), one per target column;
    ``predict`` gives values ``(n, n_targets)``; training rows without a target are skipped."""

    kind = "values"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, x: np.ndarray, target: dict[str, Any], *_: Any) -> LinearBaseline:
        from sklearn.linear_model import Ridge

        y = np.asarray(target["values"], dtype=np.float64)
        self.std_ = Standardizer().fit(x)
        z = self.std_.transform(x)
        coef, icpt = [], []
        for j in range(y.shape[1]):
            ok = np.isfinite(y[:, j])
            r = Ridge(alpha=self.alpha).fit(z[ok], y[ok, j])
            coef.append(r.coef_)
            icpt.append(r.intercept_)
        self.coef_, self.intercept_ = np.asarray(coef), np.asarray(icpt, dtype=np.float64)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._z(x)


class CoxBaseline(_Linear):
    """Linear Cox proportional hazards model; ``predict`` gives the log relative risk ``(n,)``.

    ``coef_`` and ``intercept_`` apply to the *standardised* inputs (the intercept is 0)."""

    kind = "risk"

    def __init__(self, alpha: float = 0.01, max_iter: int = 50, tol: float = 1e-9) -> None:
        self.alpha, self.max_iter, self.tol = alpha, max_iter, tol

    def fit(self, x: np.ndarray, target: dict[str, Any], *_: Any) -> CoxBaseline:
        time = np.asarray(target["time"], dtype=np.float64)
        event = np.asarray(target["event"], dtype=bool)
        self.std_ = Standardizer().fit(x)
        z = self.std_.transform(x)
        self.coef_ = fit_cox(z, time, event, alpha=self.alpha, max_iter=self.max_iter,
                             tol=self.tol)[None, :]
        self.intercept_ = np.zeros(1)
        self.scale_ = self.std_.sd_
        return self

    def _load_extra(self, d: dict[str, Any]) -> None:
        self.scale_ = self.std_.sd_

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._z(x)[:, 0]


def _cox_terms(z: np.ndarray, order: np.ndarray, first: np.ndarray, event: np.ndarray,
               beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Breslow partial log-likelihood, gradient and Hessian at ``beta``.

    Rows sorted by decreasing time (``order``); ``first[i]`` is the position, in that order,
    of the first row tied with row ``i`` so the risk set of a tie includes all tied rows."""
    zs, es = z[order], event[order]
    eta = zs @ beta
    shift = eta.max()
    w = np.exp(eta - shift)
    last = _tie_last(first)
    s0 = np.cumsum(w)[last]
    s1 = np.cumsum(w[:, None] * zs, axis=0)[last]
    d = es
    ll = float(np.sum(eta[d] - shift - np.log(s0[d])))
    mean = s1[d] / s0[d, None]
    grad = np.sum(zs[d] - mean, axis=0)
    # sum over events of S2/S0 = sum_i w_i z_i z_i' c_i, c_i = sum of 1/S0 over the events
    # whose risk set holds row i (the events at or before its time: positions >= i)
    a = np.zeros(len(w))
    np.add.at(a, last[d], 1.0 / s0[d])
    c = np.cumsum(a[::-1])[::-1]
    hess = -((zs * (w * c)[:, None]).T @ zs - mean.T @ mean)
    return ll, grad, hess


def _tie_last(first: np.ndarray) -> np.ndarray:
    """For each sorted row, the last position of its tie group (risk sets include ties)."""
    n = len(first)
    last = np.empty(n, dtype=np.int64)
    end = n - 1
    for i in range(n - 1, -1, -1):
        last[i] = end
        if first[i] == i:
            end = i - 1
    return last


def fit_cox(z: np.ndarray, time: np.ndarray, event: np.ndarray, *, alpha: float = 0.01,
            max_iter: int = 50, tol: float = 1e-9) -> np.ndarray:
    """Coefficients maximising ``l(beta) - alpha / 2 * ||beta||^2`` (Breslow ties)."""
    order = np.argsort(-time, kind="stable")
    ts = time[order]
    first = np.searchsorted(-ts, -ts, side="left")
    beta = np.zeros(z.shape[1])
    penalty = lambda b: 0.5 * alpha * float(b @ b)  # noqa: E731
    ll, g, h = _cox_terms(z, order, first, event, beta)
    obj = ll - penalty(beta)
    for _ in range(max_iter):
        g, h = g - alpha * beta, h - alpha * np.eye(len(beta))
        step = np.linalg.solve(h, g)
        t = 1.0
        while t > 1e-8:
            new = beta - t * step
            ll_new, g_new, h_new = _cox_terms(z, order, first, event, new)
            obj_new = ll_new - penalty(new)
            if obj_new >= obj - 1e-12:
                break
            t /= 2
        converged = abs(obj_new - obj) < tol * (1.0 + abs(obj))
        beta, obj, g, h = new, obj_new, g_new, h_new
        if converged:
            break
    return beta
