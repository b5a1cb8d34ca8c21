"""Multi-label classification metrics (each document may carry several labels).

>>> Y = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]
>>> P = [[.9, .2, .6], [.1, .8, .3], [.7, .4, .2], [.2, .1, .9]]
>>> m = multilabel_metrics(Y, P)
>>> m["subset_accuracy"], round(m["f1_micro"], 4), round(m["hamming_loss"], 4)
(0.75, 0.9091, 0.0833)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthnn.errors import DataError
from healthnn.metrics._validation import as_float_array

__all__ = ["multilabel_metrics"]


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)


def multilabel_metrics(y_true: Any, y_prob: Any, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of ``(n, K)`` 0/1 labels against ``(n, K)`` label probabilities.

    ``f1_micro`` (pooled over labels), ``f1_macro`` (mean over labels; a label with no positive
    and no predicted positive counts as 0, scikit-learn's ``zero_division=0``),
    ``subset_accuracy`` (every label of a row right), ``hamming_loss`` (fraction of wrong
    label cells), ``auroc_macro`` (mean AUROC over the labels that have both values in
    ``y_true``; NaN if none) and ``auprc_macro`` likewise. Labels are predicted where the
    probability is at least ``threshold``.
    """
    from healthnn.metrics.classification import auprc, auroc

    y = as_float_array(y_true, "y_true", ndim=2)
    p = as_float_array(y_prob, "y_prob", ndim=2)
    if y.shape != p.shape:
        raise DataError(f"y_true has shape {y.shape} but y_prob {p.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataError("y_true must hold 0 and 1 only")
    pred = p >= threshold
    t = y.astype(bool)
    tp = (pred & t).sum(0).astype(float)
    fp = (pred & ~t).sum(0).astype(float)
    fn = (~pred & t).sum(0).astype(float)
    aurocs, auprcs = [], []
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y):
            aurocs.append(auroc(y[:, j], p[:, j]))
            auprcs.append(auprc(y[:, j], p[:, j]))
    return {
        "f1_micro": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "f1_macro": float(_f1(tp, fp, fn).mean()),
        "subset_accuracy": float((pred == t).all(1).mean()),
        "hamming_loss": float((pred != t).mean()),
        "auroc_macro": float(np.mean(aurocs)) if aurocs else float("nan"),
        "auprc_macro": float(np.mean(auprcs)) if auprcs else float("nan"),
    }
