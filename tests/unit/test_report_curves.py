"""Report curves and recalibration, against hand-computed cases and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve as sk_roc

from healthnn.metrics import auroc, brier_score, expected_calibration_error
from healthnn.metrics.curves import (
    calibration_bins,
    curve_bands,
    decision_curve,
    net_benefit,
    pr_curve,
    roc_curve,
    survival_decision_curve,
    threshold_table,
)
from healthnn.metrics.recalibration import apply_recalibration, fit_recalibration
from healthnn.report.sections import wilson

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.35, 0.3, 0.2, 0.1, 0.05])


def test_net_benefit_by_hand():
    # t = 0.5: treated p >= 0.5 -> rows 0..3: TP = 3 (rows 0, 2, 3), FP = 1 (row 1); n = 10
    # NB = 3/10 - 1/10 * 0.5/0.5 = 0.2
    # t = 0.25: treated rows 0..6: TP = 4, FP = 3; NB = 0.4 - 0.3 * (0.25/0.75) = 0.3
    # t = 0.95: nobody treated: NB = 0
    nb = net_benefit(Y, P, [0.5, 0.25, 0.95])
    np.testing.assert_allclose(nb, [0.2, 0.3, 0.0], atol=1e-12)


def test_decision_curve_reference_strategies_by_hand():
    d = decision_curve(Y, P, [0.1, 0.2, 0.4])
    prev = 0.4
    # treat all: prevalence - (1 - prevalence) * t / (1 - t)
    np.testing.assert_allclose(d["treat_all"], [prev - 0.6 * 0.1 / 0.9, prev - 0.6 * 0.25,
                                                prev - 0.6 * 0.4 / 0.6])
    assert d["treat_none"].tolist() == [0.0, 0.0, 0.0]
    # t = 0.1: treated p >= 0.1 -> all but row 9: TP 4, FP 5 -> 0.4 - 0.5/9
    np.testing.assert_allclose(d["model"][0], 0.4 - 0.5 / 9)
    # a model that treats everybody equals treat-all
    np.testing.assert_allclose(net_benefit(Y, np.ones(10) * 0.99, [0.1, 0.2, 0.4]),
                               d["treat_all"])
    with pytest.raises(ValueError):
        net_benefit(Y, P, [0.0])


def test_survival_decision_curve_by_hand_with_censoring():
    # treated at t = 0.5: rows 0 (event at 1) and 1 (censored at 2): KM S(3.5) = 0.5, so
    # TP = FP = 2 * 0.5 and NB = (1 - 1 * 0.5/0.5) / 4 = 0.
    # everyone: KM 0.75 after t=1, 0.375 after t=3 (2 at risk) -> P(event by 3.5) = 0.625,
    # treat all = 0.625 - 0.375 * 1 = 0.25
    d = survival_decision_curve([1, 2, 3, 4], [1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], 3.5, [0.5])
    np.testing.assert_allclose(d["model"], [0.0], atol=1e-12)
    np.testing.assert_allclose(d["treat_all"], [0.25])


def test_survival_decision_curve_without_censoring_is_the_binary_one(rng):
    n, horizon = 200, 5.0
    time = rng.exponential(5, n) + 0.01
    event = np.ones(n, dtype=int)
    risk = np.clip(1 - np.exp(-horizon / time) + rng.normal(0, 0.1, n), 0, 1)
    by_h = (time <= horizon).astype(int)
    t = [0.05, 0.2, 0.5, 0.8]
    d = survival_decision_curve(time, event, risk, horizon, t)
    ref = decision_curve(by_h, risk, t)
    for k in ("model", "treat_all", "treat_none"):
        np.testing.assert_allclose(d[k], ref[k], atol=1e-12)
    # censoring after the horizon changes nothing either
    late = time > horizon + 1
    d2 = survival_decision_curve(time, np.where(late, 0, 1), risk, horizon, t)
    np.testing.assert_allclose(d2["model"], ref["model"], atol=1e-12)


def test_calibration_bins_by_hand():
    b = calibration_bins(Y, P, n_bins=4)
    # bins [0, .25): 0.2, 0.1, 0.05 -> y 0, 0, 0
    # [.25, .5): 0.4, 0.35, 0.3 -> y 0, 0, 1
    # [.5, .75): 0.7, 0.6 -> y 1, 1 ; [.75, 1]: 0.9, 0.8 -> y 1, 0
    assert b["count"].tolist() == [3, 3, 2, 2]
    np.testing.assert_allclose(b["mean_predicted"], [0.35 / 3, 1.05 / 3, 0.65, 0.85])
    np.testing.assert_allclose(b["observed"], [0.0, 1 / 3, 1.0, 0.5])
    np.testing.assert_allclose(b["lower"], [0, 0.25, 0.5, 0.75])
    # the bins give the ECE of healthnn.metrics
    ece = np.sum(b["count"] * np.abs(b["observed"] - b["mean_predicted"])) / 10
    assert ece == pytest.approx(expected_calibration_error(Y, P, n_bins=4))
    # p == 1 falls in the last bin; empty bins are left out
    b = calibration_bins([0, 1], [0.0, 1.0], n_bins=5)
    assert b["count"].tolist() == [1, 1] and b["upper"].tolist() == [0.2, 1.0]
    q = calibration_bins(Y, P, n_bins=5, strategy="quantile")
    assert q["count"].sum() == 10 and len(q["count"]) == 5


def test_threshold_table_by_hand():
    (row,) = threshold_table(Y, P, [0.5])
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (3, 1, 5, 1)
    assert row["sensitivity"] == 0.75 and row["specificity"] == 5 / 6
    assert row["ppv"] == 0.75 and row["npv"] == 5 / 6 and row["flagged"] == 0.4
    (none,) = threshold_table(Y, P, [0.99])
    assert np.isnan(none["ppv"]) and none["sensitivity"] == 0.0


def test_roc_and_pr_points_match_sklearn(rng):
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 2)  # ties
    fpr, tpr, _ = sk_roc(y, s, drop_intermediate=False)
    c = roc_curve(y, s)
    np.testing.assert_allclose(c["fpr"], fpr)
    np.testing.assert_allclose(c["tpr"], tpr)
    assert np.trapezoid(c["tpr"], c["fpr"]) == pytest.approx(auroc(y, s))
    prec, rec, _ = precision_recall_curve(y, s)
    p = pr_curve(y, s)
    np.testing.assert_allclose(p["precision"], prec[::-1])
    np.testing.assert_allclose(p["recall"], rec[::-1])


def test_curve_bands_contain_the_curve_and_narrow_with_n(rng):
    def band(n):
        y = rng.integers(0, 2, n)
        s = y * 0.6 + rng.random(n)
        return curve_bands(y, s, kind="roc", n_resamples=100, seed=1)

    small, large = band(60), band(2000)
    for b in (small, large):
        assert np.all(b["lo"] <= b["y"] + 1e-12) and np.all(b["y"] <= b["hi"] + 1e-12)
    width = lambda b: np.mean(b["hi"] - b["lo"])  # noqa: E731
    assert width(large) < width(small) / 2
    pr = curve_bands([0, 1, 1, 0, 1, 0], [0.1, 0.9, 0.6, 0.4, 0.3, 0.2], kind="pr")
    assert pr["y"][0] == 1.0 and np.all((pr["lo"] >= 0) & (pr["hi"] <= 1))


def test_wilson_interval_by_hand():
    lo, hi = wilson(np.array([0, 10]), np.array([10, 10]))
    assert lo[0] == pytest.approx(0.0, abs=1e-12) and hi[0] == pytest.approx(0.2775, abs=1e-4)
    assert hi[1] == pytest.approx(1.0) and lo[1] == pytest.approx(0.7225, abs=1e-4)


def _overconfident(rng, n=4000):
    z = rng.normal(0, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    p1 = 1 / (1 + np.exp(-3 * z))  # logits three times too large
    return y, np.column_stack([1 - p1, p1])


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic"])
def test_recalibration_fixes_overconfidence(rng, method):
    y, p = _overconfident(rng)
    state = fit_recalibration(method, y[:2000], p[:2000])
    q = apply_recalibration(state, p[2000:])
    np.testing.assert_allclose(q.sum(1), 1.0)
    yt = y[2000:]
    assert brier_score(yt, q[:, 1]) < brier_score(yt, p[2000:, 1])
    assert expected_calibration_error(yt, q[:, 1]) < expected_calibration_error(yt, p[2000:, 1])
    if method == "temperature":
        assert state["temperature"] == pytest.approx(3.0, rel=0.15)
        assert auroc(yt, q[:, 1]) == pytest.approx(auroc(yt, p[2000:, 1]))  # ranking kept
    if method == "platt":
        assert state["maps"][0]["b"] == pytest.approx(1 / 3, rel=0.15)


def test_recalibration_multiclass_and_errors(rng):
    n, k = 600, 3
    logits = rng.normal(0, 1, (n, k))
    y = np.array([rng.choice(k, p=np.exp(r) / np.exp(r).sum()) for r in logits])
    p = np.exp(2 * logits) / np.exp(2 * logits).sum(1, keepdims=True)
    for method in ("temperature", "platt", "isotonic"):
        q = apply_recalibration(fit_recalibration(method, y, p), p)
        assert q.shape == (n, k)
        np.testing.assert_allclose(q.sum(1), 1.0)
    assert fit_recalibration("temperature", y, p)["temperature"] == pytest.approx(2.0, rel=0.25)
    with pytest.raises(ValueError, match="method"):
        fit_recalibration("magic", y, p)
