"""Classification metrics against scikit-learn and direct reference implementations."""

from __future__ import annotations


import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import label_binarize

from healthnn.errors import DataError
from healthnn.metrics import (
    auprc,
    auroc,
    binary_metrics,
    brier_score,
    calibration_slope_intercept,
    expected_calibration_error,
    multiclass_metrics,
    threshold_metrics,
)

BINARY_KEYS = [
    "auroc", "auprc", "accuracy", "balanced_accuracy", "sensitivity", "specificity",
    "ppv", "npv", "f1", "brier", "ece", "calibration_slope", "calibration_intercept",
]
MULTICLASS_KEYS = [
    "auroc_macro", "auroc_micro", "accuracy", "balanced_accuracy", "f1_macro", "brier",
    "log_loss", "ece",
]


def make_binary(seed: int, n: int, decimals: int | None = None, prevalence: float = 0.3):
    """Labels with both classes and informative probabilities; rounding creates ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    y[0], y[-1] = 0, 1
    p = expit(rng.normal(scale=1.5, size=n) + 1.2 * y - 0.8)
    if decimals is not None:
        p = np.round(p, decimals)
    return y, p


CASES = [
    (0, 2, None), (1, 3, None), (2, 7, 1), (3, 25, None), (4, 60, 1), (5, 200, 2),
    (6, 500, None), (7, 1000, 1), (8, 40, 0), (9, 333, 3),
]


def ece_loop(y, p, n_bins):
    """Reference ECE: explicit loop over equal-width bins [k/B, (k+1)/B), last one closed."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for k in range(n_bins):
        upper = p <= edges[k + 1] if k == n_bins - 1 else p < edges[k + 1]
        in_bin = (p >= edges[k]) & upper
        if in_bin.any():
            total += in_bin.sum() / len(p) * abs(y[in_bin].mean() - p[in_bin].mean())
    return total


@pytest.mark.parametrize("seed,n,decimals", CASES)
def test_discrimination_matches_sklearn(seed, n, decimals):
    y, p = make_binary(seed, n, decimals)
    assert auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert auprc(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    # scores need not be probabilities
    assert auroc(y, 10 * p - 3) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


@pytest.mark.parametrize("seed,n,decimals", CASES)
def test_brier_and_ece(seed, n, decimals):
    y, p = make_binary(seed, n, decimals)
    assert brier_score(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    for n_bins in (1, 5, 10, 15):
        assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
            ece_loop(y, p, n_bins), abs=1e-12
        )


def test_ece_bin_edges_and_extremes():
    y = np.array([0, 1, 1, 0, 1, 0])
    p = np.array([0.0, 0.1, 0.2, 0.5, 1.0, 0.9])  # values on bin edges, 0 and 1
    for n_bins in (2, 5, 10):
        assert expected_calibration_error(y, p, n_bins) == pytest.approx(ece_loop(y, p, n_bins))
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def calibration_reference(y, p):
    z = logit(np.clip(p, 1e-7, 1 - 1e-7))
    lr = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    slope = lr.fit(z[:, None], y).coef_[0, 0]

    def score(a):  # derivative of the log-likelihood of logit P = a + z
        return np.sum(y - expit(a + z))

    intercept = brentq(score, -50, 50, xtol=1e-14)
    return slope, intercept


@pytest.mark.parametrize("seed,n,decimals", [c for c in CASES if c[1] >= 25])
@pytest.mark.parametrize("distort", [0.5, 1.0, 2.0])
def test_calibration_slope_intercept_match_references(seed, n, decimals, distort):
    y, p = make_binary(seed, n, decimals)
    p = expit(distort * logit(np.clip(p, 1e-3, 1 - 1e-3)) + 0.3)  # miscalibrated on purpose
    slope, intercept = calibration_slope_intercept(y, p)
    ref_slope, ref_intercept = calibration_reference(y, p)
    assert slope == pytest.approx(ref_slope, abs=1e-6)
    assert intercept == pytest.approx(ref_intercept, abs=1e-8)


def test_calibration_perfect_model_is_close_to_ideal():
    rng = np.random.default_rng(42)
    p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.random(p.size) < p).astype(int)
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.08)
    assert intercept == pytest.approx(0.0, abs=0.05)


def test_calibration_slope_nan_when_not_identifiable():
    # perfectly separated: the maximum-likelihood slope is infinite
    slope, intercept = calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert np.isnan(slope)
    assert np.isfinite(intercept)
    # constant predictions: no slope; intercept = logit(mean y) - logit(p)
    slope, intercept = calibration_slope_intercept([0, 1, 1, 1], [0.5] * 4)
    assert np.isnan(slope)
    assert intercept == pytest.approx(logit(0.75))
    # probabilities of exactly 0 and 1 are clipped, not infinite
    slope, intercept = calibration_slope_intercept([0, 1, 0, 1, 1], [0.0, 1.0, 0.3, 0.2, 0.6])
    assert np.isfinite(slope) and np.isfinite(intercept)


@pytest.mark.parametrize("seed,n,decimals", CASES)
@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.7])
def test_threshold_metrics_match_sklearn(seed, n, decimals, threshold):
    y, p = make_binary(seed, n, decimals)
    pred = (p >= threshold).astype(int)
    m = threshold_metrics(y, p, threshold)
    assert list(m) == ["accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"]
    nan = np.nan
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "sensitivity": skm.recall_score(y, pred, zero_division=nan),
        "specificity": skm.recall_score(1 - y, 1 - pred, zero_division=nan),
        "ppv": skm.precision_score(y, pred, zero_division=nan),
        "npv": skm.precision_score(1 - y, 1 - pred, zero_division=nan),
        "f1": skm.f1_score(y, pred, zero_division=nan),
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-12, nan_ok=True), key


def test_threshold_metrics_zero_denominators_are_nan():
    m = threshold_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert m["accuracy"] == 1.0 and m["specificity"] == 1.0
    assert np.isnan(m["sensitivity"]) and np.isnan(m["ppv"]) and np.isnan(m["f1"])
    assert np.isnan(m["balanced_accuracy"])
    assert m["npv"] == 1.0
    # threshold is inclusive
    assert threshold_metrics([0, 1], [0.5, 0.5])["sensitivity"] == 1.0


@pytest.mark.parametrize("seed,n,decimals", CASES)
def test_binary_metrics_keys_and_values(seed, n, decimals):
    y, p = make_binary(seed, n, decimals)
    m = binary_metrics(y, p, threshold=0.4)
    assert list(m) == BINARY_KEYS
    assert all(type(v) is float for v in m.values())
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert m["ece"] == pytest.approx(ece_loop(y, p, 10))
    for key, value in threshold_metrics(y, p, 0.4).items():
        assert m[key] == pytest.approx(value, nan_ok=True)
    slope, intercept = calibration_slope_intercept(y, p)
    assert m["calibration_slope"] == pytest.approx(slope, nan_ok=True)
    assert m["calibration_intercept"] == pytest.approx(intercept)


def test_accepts_bool_and_float_labels():
    y, p = make_binary(3, 50)
    ref = binary_metrics(y, p)
    for labels in (y.astype(bool), y.astype(float), list(y)):
        assert binary_metrics(labels, p) == pytest.approx(ref, nan_ok=True)


def test_auroc_large_input_with_ties():
    y, p = make_binary(0, 200_000, decimals=3)
    assert auroc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-10)


# --------------------------------------------------------------------------- multiclass


def make_multiclass(seed, n, k, decimals=None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if decimals is not None:
        p = np.round(p, decimals)
        p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0, 1)
        p /= p.sum(axis=1, keepdims=True)
    return y, p


def top_label_ece_loop(y, p, n_bins=10):
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    return ece_loop(correct, conf, n_bins)


@pytest.mark.parametrize("seed,n,k,decimals", [(0, 3, 3, None), (1, 30, 3, 1), (2, 200, 4, None), (3, 500, 5, 2), (4, 12, 2, None)])
def test_multiclass_matches_sklearn(seed, n, k, decimals):
    y, p = make_multiclass(seed, n, k, decimals)
    m = multiclass_metrics(y, p)
    assert list(m) == MULTICLASS_KEYS
    assert all(type(v) is float for v in m.values())
    onehot = label_binarize(y, classes=np.arange(k)) if k > 2 else np.eye(2)[y]
    if k > 2:
        assert m["auroc_macro"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    else:
        assert m["auroc_macro"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
    assert m["auroc_micro"] == pytest.approx(skm.roc_auc_score(onehot.ravel(), p.ravel()))
    pred = p.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["brier"] == pytest.approx(np.mean(np.sum((p - onehot) ** 2, axis=1)))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=np.arange(k)))
    assert m["ece"] == pytest.approx(top_label_ece_loop(y, p))


def test_multiclass_absent_class_is_excluded_from_macro_auroc():
    y, p = make_multiclass(7, 300, 4)
    keep = y != 2  # class 2 never occurs in y_true, but still has a column
    y, p = y[keep], p[keep]
    m = multiclass_metrics(y, p)
    per_class = [skm.roc_auc_score(y == c, p[:, c]) for c in (0, 1, 3)]
    assert m["auroc_macro"] == pytest.approx(np.mean(per_class))
    onehot = np.eye(4)[y]
    assert m["auroc_micro"] == pytest.approx(skm.roc_auc_score(onehot.ravel(), p.ravel()))
    pred = p.argmax(axis=1)
    assert m["balanced_accuracy"] == pytest.approx(np.mean([np.mean(pred[y == c] == c) for c in (0, 1, 3)]))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=np.arange(4)))


def test_multiclass_float_codes_and_float32_rows():
    y, p = make_multiclass(5, 100, 3)
    ref = multiclass_metrics(y, p)
    got = multiclass_metrics(y.astype(float), p.astype(np.float32))
    assert got == pytest.approx(ref, rel=1e-5)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("fn", [auroc, binary_metrics, calibration_slope_intercept])
def test_single_class_is_a_data_error(fn):
    with pytest.raises(DataError, match="only one class"):
        fn([1, 1, 1], [0.2, 0.4, 0.9])
    with pytest.raises(DataError, match="only one class"):
        fn([0, 0], [0.2, 0.4])


def test_auprc_needs_a_positive():
    with pytest.raises(DataError, match="no positive"):
        auprc([0, 0, 0], [0.1, 0.5, 0.2])
    assert auprc([1, 1], [0.1, 0.5]) == 1.0


@pytest.mark.parametrize(
    "fn", [auroc, auprc, brier_score, expected_calibration_error, calibration_slope_intercept, threshold_metrics, binary_metrics]
)
def test_binary_bad_inputs(fn):
    with pytest.raises(DataError, match="NaN"):
        fn([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(DataError, match="NaN"):
        fn([0, np.nan, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same number of rows"):
        fn([0, 1, 1], [0.1, 0.2])
    with pytest.raises(DataError, match="only 0 and 1"):
        fn([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="1-D"):
        fn([[0, 1]], [[0.1, 0.2]])


@pytest.mark.parametrize("fn", [brier_score, expected_calibration_error, calibration_slope_intercept, threshold_metrics, binary_metrics])
def test_probabilities_must_be_in_unit_interval(fn):
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        fn([0, 1], [-0.1, 0.5])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        fn([0, 1], [0.1, 1.5])


def test_bad_parameters_are_value_errors():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0, 1], [0.1, 0.9], n_bins=0)
    with pytest.raises(ValueError, match="threshold"):
        threshold_metrics([0, 1], [0.1, 0.9], threshold=1.5)
    with pytest.raises(DataError, match="empty"):
        brier_score([], [])


def test_multiclass_bad_inputs():
    y, p = make_multiclass(0, 20, 3)
    with pytest.raises(DataError, match="at least two classes"):
        multiclass_metrics(np.zeros(20, int), p)
    with pytest.raises(DataError, match="class codes"):
        multiclass_metrics(np.where(y == 2, 3, y), p)
    with pytest.raises(DataError, match="class codes"):
        multiclass_metrics(y + 0.5, p)
    with pytest.raises(DataError, match="sum to 1"):
        multiclass_metrics(y, p * 0.9)
    with pytest.raises(ValueError, match="same number of rows"):
        multiclass_metrics(y[:-1], p)
    with pytest.raises(ValueError, match="2-D"):
        multiclass_metrics(y, p[:, 0])
    bad = p.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        multiclass_metrics(y, bad)
