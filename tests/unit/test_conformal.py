"""Split-conformal prediction: the quantile with the (n+1) correction, and marginal coverage
on random data (classification sets, LAC and APS; regression intervals)."""

import math

import numpy as np
import pytest

from healthnn.metrics.conformal import (
    class_scores,
    conformal_columns,
    conformal_coverage,
    conformal_quantile,
    fit_conformal,
    intervals,
    prediction_sets,
)


def test_quantile_matches_a_hand_computation():
    r = np.random.default_rng(0)
    for _ in range(200):
        n = int(r.integers(1, 60))
        alpha = float(r.uniform(0.01, 0.5))
        s = r.normal(size=n)
        k = math.ceil((n + 1) * (1 - alpha))  # the k-th smallest of n scores
        expected = np.sort(s)[k - 1] if k <= n else math.inf
        assert conformal_quantile(s, alpha) == expected
    # (n + 1)(1 - alpha) landing on an integer is not rounded up by float error
    assert conformal_quantile(np.arange(1, 10), 0.1) == 9  # ceil(10 * 0.9) = 9
    assert conformal_quantile(np.arange(1, 20), 0.1) == 18  # ceil(20 * 0.9) = 18
    with pytest.raises(ValueError):
        conformal_quantile([1.0], 0.0)


def test_aps_and_lac_scores_by_hand():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(class_scores(p, "lac"), 1 - p)
    np.testing.assert_allclose(class_scores(p, "aps"), [[0.5, 0.8, 1.0], [0.9, 1.0, 0.8]])
    with pytest.raises(ValueError):
        class_scores(p, "raps")


def _draw_classification(r, n, k):
    logits = r.normal(size=(n, k)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    # labels drawn from a distorted version of the model's probabilities: the model is
    # miscalibrated, and coverage must hold all the same
    true = probs ** 0.5
    true /= true.sum(1, keepdims=True)
    y = (r.random((n, 1)) > np.cumsum(true, 1)).sum(1)  # one draw from each row's law
    return probs, y


@pytest.mark.parametrize("method", ["lac", "aps"])
def test_classification_sets_cover_at_the_nominal_level(method):
    r = np.random.default_rng(1)
    alpha, n_cal, n_test, draws = 0.1, 100, 200, 300
    cover = []
    for _ in range(draws):
        p_cal, y_cal = _draw_classification(r, n_cal, 4)
        p_test, y_test = _draw_classification(r, n_test, 4)
        state = fit_conformal("classes", p_cal, y_cal, list("abcd"), alpha=alpha,
                              method=method)
        covered, size = conformal_coverage(state, p_test, y_test)
        cover.append(covered.mean())
        assert ((size >= 0) & (size <= 4)).all()
    mean = float(np.mean(cover))
    # theory: 1 - alpha <= E[coverage] <= 1 - alpha + 1/(n_cal + 1) for continuous scores;
    # the tolerance is 4 standard errors of the mean over the draws
    se = np.std(cover) / np.sqrt(draws)
    assert 1 - alpha - 4 * se <= mean <= 1 - alpha + 1 / (n_cal + 1) + 4 * se


def test_regression_intervals_cover_at_the_nominal_level():
    r = np.random.default_rng(2)
    alpha, n_cal, n_test, draws = 0.2, 50, 200, 400
    cover = []
    for _ in range(draws):
        x_cal, x_test = r.normal(size=n_cal), r.normal(size=n_test)
        # heavy-tailed, heteroscedastic noise around a biased predictor
        y_cal = 2 * x_cal + r.standard_t(3, n_cal) * (1 + np.abs(x_cal))
        y_test = 2 * x_test + r.standard_t(3, n_test) * (1 + np.abs(x_test))
        state = fit_conformal("values", 1.8 * x_cal[:, None], y_cal[:, None], ["y"],
                              alpha=alpha)
        covered, width = conformal_coverage(state, 1.8 * x_test[:, None], y_test[:, None])
        cover.append(covered.mean())
        q = state["qhat"][0]
        np.testing.assert_allclose(width, 2 * q)
        # the hand computation: the ceil((n+1)(1-alpha))-th smallest absolute residual
        k = math.ceil((n_cal + 1) * (1 - alpha))
        assert q == np.sort(np.abs(y_cal - 1.8 * x_cal))[k - 1]
    mean = float(np.mean(cover))
    se = np.std(cover) / np.sqrt(draws)
    assert 1 - alpha - 4 * se <= mean <= 1 - alpha + 1 / (n_cal + 1) + 4 * se


def test_too_few_calibration_rows_give_every_class_and_unbounded_intervals():
    p = np.array([[0.9, 0.1], [0.3, 0.7]])
    state = fit_conformal("classes", p, np.array([0, 1]), ["no", "yes"], alpha=0.1)
    assert state["qhat"] is None and state["n_calibration"] == 2
    assert prediction_sets(state, p) == ["no|yes", "no|yes"]
    covered, size = conformal_coverage(state, p, np.array([1, 0]))
    assert covered.tolist() == [1.0, 1.0] and size.tolist() == [2.0, 2.0]
    reg = fit_conformal("values", np.zeros((3, 1)), np.ones((3, 1)), ["y"], alpha=0.1)
    lo, hi = intervals(reg, np.zeros((2, 1)))
    assert np.isnan(lo).all() and np.isnan(hi).all()
    covered, _ = conformal_coverage(reg, np.zeros((2, 1)), np.array([[5.0], [-5.0]]))
    assert covered.tolist() == [1.0, 1.0]


def test_several_targets_and_missing_values():
    r = np.random.default_rng(3)
    pred = r.normal(size=(300, 2))
    obs = pred + r.normal(size=(300, 2)) * [1.0, 3.0]
    obs[::7, 1] = np.nan  # not measured: ignored in calibration and coverage
    state = fit_conformal("values", pred, obs, ["a", "b"], alpha=0.1)
    assert state["n_calibration"] == [300, 300 - len(range(0, 300, 7))]
    assert state["qhat"][1] > state["qhat"][0]  # the noisier target gets a wider interval
    cols = conformal_columns(state, pred[:5])
    assert list(cols) == ["lo_a", "hi_a", "lo_b", "hi_b"]
    np.testing.assert_allclose(cols["hi_b"] - cols["lo_b"], 2 * state["qhat"][1])
    covered, _ = conformal_coverage(state, pred, obs)
    assert np.isfinite(covered).all() and 0.8 < covered.mean() <= 1.0
    # one target: 'lo' / 'hi'; classes: 'set'
    one = fit_conformal("values", pred[:, :1], obs[:, :1], ["y"], alpha=0.1)
    assert list(conformal_columns(one, pred[:3, :1])) == ["lo", "hi"]
    assert list(conformal_columns({"kind": "classes", "qhat": 0.5, "method": "lac",
                                   "names": ["x", "y"]}, np.array([[0.6, 0.4]]))) == ["set"]
