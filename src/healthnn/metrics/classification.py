"""Binary and multiclass classification metrics as pure functions of numpy arrays.

Discrimination (AUROC, average precision) follows scikit-learn's definitions exactly;
calibration metrics (Brier, ECE, calibration slope and intercept) follow the usual
clinical-prediction conventions (Van Calster et al., 2019).

Errors: a wrong *call* (arrays of different lengths, a 2-D array where a 1-D one is
expected, ``n_bins=0``) raises :class:`ValueError`; *data* that cannot give the metric
(NaN, labels other than 0/1, a single class, probabilities outside [0, 1]) raises
:class:`healthnn.errors.DataError`.

Quantities that are 0/0 for the given data (e.g. the PPV when nothing is predicted
positive) are returned as ``nan`` rather than raising, so that a dict of metrics can
always be produced once the inputs themselves are valid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, logit
from scipy.stats import rankdata

from healthnn.errors import DataError
from healthnn.metrics._validation import (
    as_binary,
    as_float_array,
    as_probability,
    check_same_length,
    require_both_classes,
)

__all__ = [
    "auroc",
    "auprc",
    "brier_score",
    "expected_calibration_error",
    "calibration_slope_intercept",
    "threshold_metrics",
    "binary_metrics",
    "multiclass_metrics",
    "confusion_matrix",
    "per_class_metrics",
]

_P_CLIP = 1e-7


def _binary_inputs(y_true: Any, y_score: Any, score_name: str, *, prob: bool) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary(y_true, "y_true")
    s = as_probability(y_score, score_name) if prob else as_float_array(y_score, score_name)
    check_same_length(y_true=y, **{score_name: s})
    return y, s


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    # Mann-Whitney U with average ranks: ties count 1/2, exactly as the trapezoidal
    # ROC area of scikit-learn.  O(n log n).
    n_pos = int(np.count_nonzero(y))
    n_neg = y.size - n_pos
    ranks = rankdata(s, method="average")
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auroc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve (ties in ``y_score`` count one half).

    Rank-based (Mann-Whitney), O(n log n); equal to
    ``sklearn.metrics.roc_auc_score`` for binary labels.

    Parameters
    ----------
    y_true : array of shape (n,)
        Binary labels (0/1 or bool).
    y_score : array of shape (n,)
        Scores, higher means more likely positive (any real values).

    Raises
    ------
    DataError
        NaN in the inputs, labels other than 0/1, or only one class present.

    Examples
    --------
    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> auroc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])  # a tie counts 1/2
    0.875
    """
    y, s = _binary_inputs(y_true, y_score, "y_score", prob=False)
    require_both_classes(y, "AUROC")
    return _auroc(y, s)


def _average_precision(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # last index of each block of equal scores
    thresholds = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted)[thresholds]
    precision = tps / (thresholds + 1.0)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def auprc(y_true: Any, y_score: Any) -> float:
    """Average precision (area under the precision-recall curve, step-wise).

    ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, the same
    definition as ``sklearn.metrics.average_precision_score`` (no interpolation).

    Raises
    ------
    DataError
        NaN in the inputs, labels other than 0/1, or no positive label.

    Examples
    --------
    >>> round(auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    y, s = _binary_inputs(y_true, y_score, "y_score", prob=False)
    if not y.any():
        raise DataError(
            "average precision is undefined when y_true has no positive label",
            hint="evaluate on data that contains both outcomes, or stratify the split",
        )
    return _average_precision(y, s)


def brier_score(y_true: Any, y_prob: Any) -> float:
    """Mean squared difference between predicted probability and outcome.

    Examples
    --------
    >>> round(brier_score([0, 1, 1], [0.2, 0.7, 1.0]), 4)
    0.0433
    """
    y, p = _binary_inputs(y_true, y_prob, "y_prob", prob=True)
    return float(np.mean((p - y) ** 2))


def _check_n_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _ece(outcome: np.ndarray, conf: np.ndarray, n_bins: int) -> float:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin k holds edges[k] <= p < edges[k + 1]; p == 1 goes to the last bin
    idx = np.searchsorted(edges[1:-1], conf, side="right")
    sum_y = np.bincount(idx, weights=outcome.astype(float), minlength=n_bins)
    sum_p = np.bincount(idx, weights=conf, minlength=n_bins)
    return float(np.abs(sum_y - sum_p).sum() / conf.size)


def expected_calibration_error(y_true: Any, y_prob: Any, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins on [0, 1].

    ``ECE = sum_b (n_b / n) |mean(y in b) - mean(p in b)|``; bin ``b`` holds
    ``b/n_bins <= p < (b+1)/n_bins`` (the last bin also holds ``p == 1``); empty bins
    contribute nothing.

    Examples
    --------
    >>> round(expected_calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], n_bins=2), 4)
    0.175
    """
    n_bins = _check_n_bins(n_bins)
    y, p = _binary_inputs(y_true, y_prob, "y_prob", prob=True)
    return _ece(y, p, n_bins)


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def logistic_newton(
    X: np.ndarray, y: np.ndarray, offset: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray | None:
    """Unpenalised logistic regression by Newton-Raphson with step halving.

    Returns the coefficients, or ``None`` when the maximum-likelihood estimate does not
    exist (separated data) or the Hessian is singular.
    """
    beta = np.zeros(X.shape[1])
    ll = _loglik(y, offset)
    for _ in range(max_iter):
        eta = offset + X @ beta
        mu = expit(eta)
        w = mu * (1.0 - mu)
        grad = X.T @ (y - mu)
        hess = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        if not np.isfinite(step).all():
            return None
        t = 1.0
        while True:
            cand = beta + t * step
            ll_cand = _loglik(y, offset + X @ cand)
            if ll_cand >= ll - 1e-12 * (1.0 + abs(ll)) or t < 1e-8:
                break
            t *= 0.5
        beta, ll = cand, ll_cand
        if np.max(np.abs(t * step)) <= tol * (1.0 + np.max(np.abs(beta))):
            return beta
    return None


def calibration_slope_intercept(y_true: Any, y_prob: Any) -> tuple[float, float]:
    """Calibration slope and calibration-in-the-large (intercept).

    With ``z = logit(clip(p, 1e-7, 1 - 1e-7))``:

    * slope: the coefficient of ``z`` in the unpenalised logistic regression
      ``logit P(y=1) = a + b z`` (ideal 1; below 1 means predictions too extreme);
    * intercept: ``a`` in ``logit P(y=1) = a + z``, i.e. ``z`` as an offset with the slope
      fixed to 1 (ideal 0; positive means risks are underestimated on average).

    Both are fitted by Newton-Raphson. The slope is ``nan`` when it is not identifiable:
    all predictions equal, or the outcome perfectly separated by the predictions (the
    maximum-likelihood estimate is infinite).

    Examples
    --------
    >>> y = [0, 0, 1, 0, 1, 1, 0, 1]
    >>> p = [0.1, 0.3, 0.4, 0.6, 0.7, 0.9, 0.2, 0.5]
    >>> slope, intercept = calibration_slope_intercept(y, p)
    >>> round(slope, 3), round(intercept, 3)
    (1.818, 0.2)
    """
    y, p = _binary_inputs(y_true, y_prob, "y_prob", prob=True)
    require_both_classes(y, "the calibration slope/intercept")
    yf = y.astype(float)
    z = logit(np.clip(p, _P_CLIP, 1.0 - _P_CLIP))
    n = z.size
    beta_int = logistic_newton(np.ones((n, 1)), yf, z)
    intercept = float("nan") if beta_int is None else float(beta_int[0])
    if np.ptp(z) == 0.0:
        slope = float("nan")
    else:
        beta = logistic_newton(np.column_stack([np.ones(n), z]), yf, np.zeros(n))
        slope = float("nan") if beta is None else float(beta[1])
    return slope, intercept


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def threshold_metrics(y_true: Any, y_prob: Any, threshold: float = 0.5) -> dict[str, float]:
    """Confusion-matrix metrics with "positive" meaning ``y_prob >= threshold``.

    Returns accuracy, balanced_accuracy, sensitivity (recall, TPR), specificity (TNR),
    ppv (precision), npv and f1. A ratio whose denominator is zero (e.g. the PPV when
    nothing is predicted positive, or the sensitivity when there is no positive label)
    is ``nan``; balanced accuracy and F1 are then ``nan`` too. F1 is
    ``2 TP / (2 TP + FP + FN)``.

    Examples
    --------
    >>> m = threshold_metrics([0, 0, 1, 1, 1], [0.2, 0.6, 0.7, 0.4, 0.9])
    >>> m["sensitivity"], m["specificity"], m["ppv"]
    (0.6666666666666666, 0.5, 0.6666666666666666)
    >>> threshold_metrics([0, 0], [0.1, 0.2])["ppv"]  # nothing predicted positive
    nan
    """
    if not (0.0 <= float(threshold) <= 1.0):
        raise ValueError(f"threshold must be within [0, 1], got {threshold!r}")
    y, p = _binary_inputs(y_true, y_prob, "y_prob", prob=True)
    pred = p >= threshold
    tp = float(np.count_nonzero(pred & y))
    fp = float(np.count_nonzero(pred & ~y))
    fn = float(np.count_nonzero(~pred & y))
    tn = float(np.count_nonzero(~pred & ~y))
    sens = _ratio(tp, tp + fn)
    spec = _ratio(tn, tn + fp)
    return {
        "accuracy": (tp + tn) / y.size,
        "balanced_accuracy": (sens + spec) / 2.0,
        "sensitivity": sens,
        "specificity": spec,
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2.0 * tp, 2.0 * tp + fp + fn),
    }


def binary_metrics(y_true: Any, y_prob: Any, threshold: float = 0.5) -> dict[str, float]:
    """All binary metrics in one dict (keys in a fixed order).

    Keys: auroc, auprc, accuracy, balanced_accuracy, sensitivity, specificity, ppv, npv,
    f1, brier, ece, calibration_slope, calibration_intercept. See the individual
    functions for definitions; ``nan`` marks a value that is undefined for this data.

    Raises
    ------
    DataError
        Invalid data (NaN, labels other than 0/1, probabilities outside [0, 1]) or only
        one class present.

    Examples
    --------
    >>> m = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.8])
    >>> list(m)[:4]
    ['auroc', 'auprc', 'accuracy', 'balanced_accuracy']
    >>> m["auroc"], m["accuracy"]
    (0.75, 0.5)
    """
    y, p = _binary_inputs(y_true, y_prob, "y_prob", prob=True)
    require_both_classes(y, "binary_metrics")
    slope, intercept = calibration_slope_intercept(y, p)
    return {
        "auroc": _auroc(y, p),
        "auprc": _average_precision(y, p),
        **threshold_metrics(y, p, threshold),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": _ece(y, p, 10),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }


def multiclass_metrics(y_true: Any, y_prob: Any) -> dict[str, float]:
    """Metrics for K-class predictions.

    Parameters
    ----------
    y_true : array of shape (n,)
        Integer class codes ``0 .. K-1``.
    y_prob : array of shape (n, K)
        Predicted class probabilities; every row must sum to 1 (within 1e-3).

    Returns
    -------
    dict
        ``auroc_macro``: mean one-vs-rest AUROC over the classes present in ``y_true``
        (classes absent from ``y_true`` have no positives and are excluded);
        ``auroc_micro``: AUROC of the flattened one-hot labels against the flattened
        probabilities (all K columns); ``accuracy`` (argmax; ties go to the lowest
        class code); ``balanced_accuracy``: mean recall over the classes present in
        ``y_true``; ``f1_macro``: mean F1 over the classes that occur in ``y_true`` or
        in the predictions (scikit-learn's default label set); ``brier``: mean over
        samples of the sum over classes of squared errors (0 to 2); ``log_loss``
        (probabilities clipped to machine epsilon); ``ece``: top-label confidence ECE
        with 10 equal-width bins.

    Raises
    ------
    DataError
        Fewer than two classes in ``y_true``, codes outside ``0 .. K-1``, NaN, rows of
        ``y_prob`` not summing to 1.

    Examples
    --------
    >>> y = [0, 1, 2, 2]
    >>> p = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]]
    >>> m = multiclass_metrics(y, p)
    >>> m["accuracy"], round(m["auroc_macro"], 4)
    (0.75, 0.9583)
    """
    y_raw = as_float_array(y_true, "y_true")
    p = as_probability(y_prob, "y_prob", ndim=2)
    n = check_same_length(y_true=y_raw, y_prob=p)
    k = p.shape[1]
    if k < 2:
        raise ValueError(f"y_prob must have at least 2 columns (one per class), got {k}")
    if not np.array_equal(y_raw, np.round(y_raw)) or y_raw.min() < 0 or y_raw.max() > k - 1:
        raise DataError(
            f"y_true must contain integer class codes 0..{k - 1} (one per column of y_prob)",
            hint="encode the classes as 0, 1, ... in the column order of y_prob",
        )
    row_sums = p.sum(axis=1)
    if np.max(np.abs(row_sums - 1.0)) > 1e-3:
        raise DataError(
            "rows of y_prob must sum to 1, found sums in "
            f"[{row_sums.min():.4g}, {row_sums.max():.4g}]",
            hint="apply softmax to the model outputs",
        )
    y = y_raw.astype(np.intp)
    onehot = np.zeros((n, k), dtype=bool)
    onehot[np.arange(n), y] = True
    present = np.flatnonzero(onehot.any(axis=0))
    if present.size < 2:
        raise DataError(
            "multiclass metrics need at least two classes in y_true",
            hint="evaluate on data that contains several outcomes, or stratify the split",
        )

    auroc_macro = float(np.mean([_auroc(onehot[:, c], p[:, c]) for c in present]))
    auroc_micro = _auroc(onehot.ravel(), p.ravel())

    pred = np.argmax(p, axis=1)
    correct = pred == y
    support = np.bincount(y, minlength=k)
    tp = np.bincount(y[correct], minlength=k)
    n_pred = np.bincount(pred, minlength=k)
    balanced_accuracy = float(np.mean(tp[present] / support[present]))
    in_union = (support > 0) | (n_pred > 0)
    f1 = 2.0 * tp[in_union] / (support[in_union] + n_pred[in_union])
    eps = np.finfo(np.float64).eps
    p_true = np.clip(p[np.arange(n), y], eps, 1.0 - eps)
    return {
        "auroc_macro": auroc_macro,
        "auroc_micro": auroc_micro,
        "accuracy": float(np.mean(correct)),
        "balanced_accuracy": balanced_accuracy,
        "f1_macro": float(np.mean(f1)),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "log_loss": float(-np.mean(np.log(p_true))),
        "ece": _ece(correct, p[np.arange(n), pred], 10),
    }


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j``.

    Codes are ``0 .. n_classes - 1`` (default: one more than the largest code seen); the same
    matrix as ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(n_classes))``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1]).tolist()
    [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    t = as_float_array(y_true, "y_true")
    p = as_float_array(y_pred, "y_pred")
    check_same_length(y_true=t, y_pred=p)
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (not np.array_equal(a, np.round(a)) or a.min() < 0):
            raise DataError(f"{name} must contain integer class codes 0, 1, ...")
    k = int(n_classes) if n_classes is not None else int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    if t.size and max(t.max(), p.max()) > k - 1:
        raise DataError(f"class codes must be below n_classes = {k}")
    idx = t.astype(np.intp) * k + p.astype(np.intp)
    return np.bincount(idx, minlength=k * k).reshape(k, k)


def per_class_metrics(y_true: Any, y_prob: Any) -> dict[str, np.ndarray]:
    """One-vs-rest sensitivity and specificity of each class, predicting the argmax class.

    ``sensitivity[c]`` = recall of class ``c`` (``nan`` when ``c`` has no sample);
    ``specificity[c]`` = the fraction of samples of other classes not predicted as ``c``.

    Examples
    --------
    >>> m = per_class_metrics([0, 1, 2, 2], [[.8, .1, .1], [.1, .2, .7], [.1, .1, .8], [.2, .5, .3]])
    >>> m["sensitivity"].tolist(), m["specificity"].tolist()
    ([1.0, 0.0, 0.5], [1.0, 0.6666666666666666, 0.5])
    """
    p = as_probability(y_prob, "y_prob", ndim=2)
    k = p.shape[1]
    cm = confusion_matrix(y_true, np.argmax(p, axis=1), k).astype(float)
    tp = np.diag(cm)
    support = cm.sum(1)
    predicted = cm.sum(0)
    n = cm.sum()
    fp = predicted - tp
    negatives = n - support
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(support > 0, tp / support, np.nan)
        spec = np.where(negatives > 0, (negatives - fp) / negatives, np.nan)
    return {"sensitivity": sens, "specificity": spec}
