"""Out-of-domain scores for prediction rows, and the training reference they compare with
(issue 22).

At training the bundle keeps a compact reference of its encoded inputs (tables and event
aggregates: the standardised feature columns the network reads): their mean, a shrunk
(Ledoit-Wolf) covariance for up to :data:`FULL_COVARIANCE` features (the diagonal beyond), the
per-feature deciles and 101 quantiles of the training rows. A row's ``domain`` score is its
Mahalanobis distance to the training rows divided by the root of the number of features (about
1 for a typical training row); ``out_of_domain`` flags scores above the threshold that flags
1% of the validation rows (rows the model was not fitted on).

>>> import numpy as np
>>> r = np.random.default_rng(0)
>>> ref = fit_reference(r.normal(size=(500, 3)), r.normal(size=(200, 3)), ["a", "b", "c"])
>>> d = domain_scores(ref, np.array([[0.0, 0.0, 0.0], [8.0, -8.0, 8.0]]))
>>> bool(d[0] < ref["threshold"] < d[1])
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_reference", "domain_scores", "psi", "ks_from_quantiles", "FULL_COVARIANCE"]

FULL_COVARIANCE = 64  # features up to which the full (shrunk) covariance is kept
FLAG_RATE = 0.01


def fit_reference(train: np.ndarray, val: np.ndarray, names: list[str], *,
                  flag_rate: float = FLAG_RATE) -> dict[str, Any]:
    """The reference of encoded training rows ``train`` (n, F), its threshold chosen on the
    validation rows ``val`` so that about ``flag_rate`` of them are flagged."""
    x = np.asarray(train, dtype=np.float64)
    mean = x.mean(0)
    ref: dict[str, Any] = {"features": list(names), "mean": mean.tolist(), "rows": len(x)}
    if x.shape[1] <= FULL_COVARIANCE and len(x) > x.shape[1]:
        from sklearn.covariance import LedoitWolf

        ref["kind"] = "mahalanobis"
        ref["precision"] = LedoitWolf().fit(x).precision_.tolist()
    else:
        ref["kind"] = "diagonal"
        ref["var"] = np.maximum(x.var(0), 1e-6).tolist()
    chosen = np.asarray(val, dtype=np.float64) if len(val) >= 20 else x
    ref["threshold"] = float(np.quantile(domain_scores(ref, chosen), 1 - flag_rate))
    ref["chosen_on"] = "validation rows" if chosen is not x else "training rows (few validation)"
    ref["flag_rate"] = flag_rate
    ref["deciles"] = [np.unique(np.quantile(col, np.linspace(0.1, 0.9, 9))).tolist()
                      for col in x.T]
    ref["props"] = [_props(col, edges).tolist() for col, edges in zip(x.T, ref["deciles"],
                                                                     strict=True)]
    ref["quantiles"] = np.quantile(x, np.linspace(0, 1, 101), axis=0).T.tolist()
    return ref


def domain_scores(ref: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Each row's distance to the training rows (about 1 for a typical training row)."""
    z = np.asarray(x, dtype=np.float64) - np.asarray(ref["mean"])
    if ref["kind"] == "mahalanobis":
        d2 = np.einsum("ij,jk,ik->i", z, np.asarray(ref["precision"]), z)
    else:
        d2 = (z * z / np.asarray(ref["var"])).sum(1)
    return np.sqrt(np.maximum(d2, 0.0) / max(z.shape[1], 1))


def _props(col: np.ndarray, edges: list[float]) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, col, side="right"), minlength=len(edges) + 1)
    return counts / max(len(col), 1)


def psi(ref_props: list[float], edges: list[float], new: np.ndarray) -> float:
    """Population stability index of ``new`` values against the reference's decile bins.

    >>> round(psi([0.5, 0.5], [0.0], np.array([-1.0, 1.0])), 6)
    0.0
    """
    p, q = np.asarray(ref_props), _props(np.asarray(new, dtype=np.float64), edges)
    p, q = np.clip(p, 1e-4, None), np.clip(q, 1e-4, None)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_from_quantiles(quantiles: list[float], new: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between ``new`` values and the training distribution given
    by its 101 quantiles (exact at those quantiles).

    >>> ref = list(np.linspace(0, 1, 101))  # uniform on [0, 1]
    >>> round(ks_from_quantiles(ref, np.linspace(0, 1, 1001)), 2)
    0.0
    >>> round(ks_from_quantiles(ref, np.linspace(0.5, 1.5, 1001)), 2)
    0.5
    """
    q = np.asarray(quantiles)
    new = np.sort(np.asarray(new, dtype=np.float64))
    ecdf = np.searchsorted(new, q, side="right") / max(len(new), 1)
    return float(np.max(np.abs(ecdf - np.linspace(0, 1, len(q)))))
