"""DeLong's test for the difference of two correlated AUROCs (the same rows scored twice).

DeLong, DeLong and Clarke-Pearson (Biometrics 1988) estimate the covariance of two empirical
AUROCs from their *structural components* (placement values); the fast midrank form of Sun and
Xu (IEEE Signal Processing Letters 2014) gives the same numbers in O(n log n).

Examples
--------
>>> y = [0, 0, 0, 1, 1, 1]
>>> a = [0.1, 0.3, 0.2, 0.8, 0.7, 0.4]
>>> b = [0.2, 0.5, 0.1, 0.6, 0.3, 0.4]
>>> r = delong_test(y, a, b)
>>> round(r["auroc_a"], 4), round(r["auroc_b"], 4), round(r["difference"], 4)
(1.0, 0.7778, 0.2222)
>>> r["ci_low"] < r["difference"] < r["ci_high"]
True
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from healthnn.errors import DataError

__all__ = ["delong_test"]


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x`` with ties given their mean rank."""
    return stats.rankdata(x, method="average")


def _components(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUROC and the structural components V10 (one per positive) and V01 (per negative)."""
    m, n = len(pos), len(neg)
    tx = _midranks(pos)
    ty = _midranks(neg)
    tz = _midranks(np.concatenate([pos, neg]))
    v10 = (tz[:m] - tx) / n           # share of negatives below each positive (ties: half)
    v01 = 1.0 - (tz[m:] - ty) / m      # share of positives above each negative
    auc = float(v10.mean())
    return auc, v10, v01


def delong_test(y_true, score_a, score_b, *, ci: float = 0.95) -> dict[str, float]:
    """DeLong's paired test of ``AUROC(score_a) - AUROC(score_b)`` on the same rows.

    Parameters
    ----------
    y_true : array of shape (n,)
        0/1 outcomes.
    score_a, score_b : arrays of shape (n,)
        Two models' scores for the same rows (higher: more likely positive).
    ci : float
        Coverage of the normal-theory interval of the difference, in (0, 1).

    Returns
    -------
    dict
        ``auroc_a``, ``auroc_b``, ``difference`` (a - b), ``se`` (its DeLong standard error),
        ``ci_low``, ``ci_high`` and the two-sided ``p_value`` (1.0 when the two scores rank
        every pair alike, so the difference has no variance). Python floats.

    Raises
    ------
    ValueError
        Arrays of different lengths or ``ci`` outside (0, 1).
    DataError
        Labels other than 0/1, non-finite scores, or a single class.
    """
    y = np.asarray(y_true)
    a = np.asarray(score_a, dtype=np.float64)
    b = np.asarray(score_b, dtype=np.float64)
    if not (y.ndim == a.ndim == b.ndim == 1) or not (len(y) == len(a) == len(b)):
        raise ValueError("y_true, score_a and score_b must be 1-D with the same length")
    if not (0.0 < float(ci) < 1.0):
        raise ValueError(f"ci must be within (0, 1), got {ci!r}")
    if not np.isin(y, (0, 1)).all():
        raise DataError("DeLong's test needs 0/1 outcomes")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("DeLong's test needs finite scores")
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m == 0 or n == 0:
        raise DataError("DeLong's test needs both classes among the rows")
    auc_a, v10a, v01a = _components(a[pos], a[neg])
    auc_b, v10b, v01b = _components(b[pos], b[neg])
    s10 = np.cov(np.vstack([v10a, v10b])) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([v01a, v01b])) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0))
    z = float(stats.norm.ppf(0.5 + float(ci) / 2.0))
    if se > 0:
        p = float(2.0 * stats.norm.sf(abs(diff) / se))
    else:
        p = 1.0 if diff == 0 else 0.0
    return {"auroc_a": auc_a, "auroc_b": auc_b, "difference": float(diff), "se": se,
            "ci_low": float(diff - z * se), "ci_high": float(diff + z * se), "p_value": p}
