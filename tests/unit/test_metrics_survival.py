"""Survival metrics against scikit-survival (a test-only dependency)."""

from __future__ import annotations


import numpy as np
import pytest

sksurv_metrics = pytest.importorskip("sksurv.metrics")
from sksurv.nonparametric import kaplan_meier_estimator  # noqa: E402
from sksurv.util import Surv  # noqa: E402

from healthnn.errors import DataError  # noqa: E402
from healthnn.metrics import (  # noqa: E402
    brier_scores,
    evaluate_step_function,
    harrell_c,
    integrated_brier_score,
    kaplan_meier,
    survival_metrics,
    time_dependent_auc,
    uno_c,
)


def make_data(seed, n, event_rate=0.6, time_decimals=None, risk_decimals=None, train_all_events=False):
    """Test and training survival data; the training follow-up covers the test one."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    t = rng.exponential(10 * np.exp(-0.7 * risk)) + 0.1
    if time_decimals is not None:
        t = np.round(t, time_decimals) + 0.5
    e = rng.random(n) < event_rate
    e[np.argmin(t)] = True
    if risk_decimals is not None:
        risk = np.round(risk, risk_decimals)
    m = max(3 * n, 20)
    tt = rng.exponential(12, m) + 0.1
    if time_decimals is not None:
        tt = np.round(tt, time_decimals) + 0.5
    te = rng.random(m) < event_rate
    te[0] = True
    if train_all_events:
        te[:] = True
        tt = np.r_[tt, t.max() + 1.0]
        te = np.r_[te, True]
    else:  # one late censoring so the censoring distribution covers the test follow-up
        tt = np.r_[tt, t.max() + 1.0]
        te = np.r_[te, False]
    return t, e, risk, tt, te


def eval_times(t, k=4):
    q = np.unique(np.quantile(t, np.linspace(0.15, 0.8, k)))
    return q[(q >= t.min()) & (q < t.max())]


CASES = [
    # seed, n, event_rate, time_decimals, risk_decimals
    (0, 2, 0.5, None, None),
    (1, 3, 0.7, None, None),
    (2, 5, 0.5, 0, 0),
    (3, 30, 0.6, None, None),
    (4, 80, 0.6, 0, None),      # many tied times
    (5, 80, 0.6, None, 0),      # many tied risks
    (6, 150, 0.1, 0, 1),        # heavy censoring + ties
    (7, 200, 1.0, 1, None),     # no censoring
    (8, 300, 0.3, None, 2),
    (9, 500, 0.05, None, None),  # very heavy censoring
]


def same_result(ours, reference, *, check=None):
    """ours() must equal reference(), or raise a clear error where the reference raises."""
    try:
        expected = reference()
    except ValueError:
        with pytest.raises((DataError, ValueError)):
            ours()
        return None
    got = ours()
    if check is None:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, equal_nan=True)
    else:
        check(got, expected)
    return got


@pytest.mark.parametrize("seed,n,rate,td,rd", CASES)
def test_harrell_c_matches_sksurv(seed, n, rate, td, rd):
    t, e, r, _, _ = make_data(seed, n, rate, td, rd)
    same_result(lambda: harrell_c(t, e, r), lambda: sksurv_metrics.concordance_index_censored(e, t, r)[0])


def test_harrell_c_time_tie_rules():
    # events at the same time are not comparable; an event and a censoring at the same
    # time are; ties in risk count 1/2
    t = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 3.0])
    e = np.array([1, 1, 0, 1, 0, 0], bool)
    for r in ([3.0, 1.0, 2.0, 2.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0, 5, 1, 1 + 1e-9, 4, 2]):
        r = np.asarray(r, float)
        ref = sksurv_metrics.concordance_index_censored(e, t, r)[0]
        assert harrell_c(t, e, r) == pytest.approx(ref, abs=1e-12)


def test_harrell_c_large_n_matches_sksurv():
    t, e, r, _, _ = make_data(11, 2000, 0.4, time_decimals=1, risk_decimals=2)
    assert harrell_c(t, e, r) == pytest.approx(sksurv_metrics.concordance_index_censored(e, t, r)[0], abs=1e-12)


def test_harrell_c_scales_to_large_n():
    rng = np.random.default_rng(0)
    n = 200_000
    t = rng.exponential(1.0, n)
    e = rng.random(n) < 0.5
    value = harrell_c(t, e, -t + rng.normal(scale=1e-3, size=n))  # O(n log n): no n^2 memory
    assert 0.99 < value <= 1.0


@pytest.mark.parametrize("seed,n,rate,td,rd", CASES)
def test_uno_c_matches_sksurv(seed, n, rate, td, rd):
    t, e, r, tt, te = make_data(seed, n, rate, td, rd)
    y_test, y_train = Surv.from_arrays(e, t), Surv.from_arrays(te, tt)
    for tau in (None, float(np.median(t)), float(t.max()) + 5.0):
        same_result(
            lambda: uno_c(t, e, r, tt, te, tau=tau),
            lambda: sksurv_metrics.concordance_index_ipcw(y_train, y_test, r, tau=tau)[0],
        )


def test_uno_c_training_without_censoring_equals_harrell():
    t, e, r, tt, te = make_data(3, 60, 0.6, train_all_events=True)
    y_test, y_train = Surv.from_arrays(e, t), Surv.from_arrays(te, tt)
    ref = sksurv_metrics.concordance_index_ipcw(y_train, y_test, r)[0]
    assert uno_c(t, e, r, tt, te) == pytest.approx(ref, abs=1e-12)
    assert uno_c(t, e, r, tt, te) == pytest.approx(harrell_c(t, e, r), abs=1e-12)


@pytest.mark.parametrize("seed,n,rate,td,rd", CASES)
def test_time_dependent_auc_matches_sksurv(seed, n, rate, td, rd):
    t, e, r, tt, te = make_data(seed, n, rate, td, rd)
    times = eval_times(t)
    if times.size == 0:
        pytest.skip("no evaluation time inside the follow-up")
    y_test, y_train = Surv.from_arrays(e, t), Surv.from_arrays(te, tt)

    def check(got, expected):
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-10, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-10, atol=1e-12, equal_nan=True)

    with np.errstate(invalid="ignore", divide="ignore"):
        same_result(
            lambda: time_dependent_auc(t, e, r, times, tt, te),
            lambda: sksurv_metrics.cumulative_dynamic_auc(y_train, y_test, r, times),
            check=check,
        )
        # time-dependent (2-D) risk scores, with ties
        r2 = np.round(r[:, None] + np.random.default_rng(seed).normal(size=(n, times.size)), 1)
        same_result(
            lambda: time_dependent_auc(t, e, r2, times, tt, te),
            lambda: sksurv_metrics.cumulative_dynamic_auc(y_train, y_test, r2, times),
            check=check,
        )
        # a single time point
        same_result(
            lambda: time_dependent_auc(t, e, r, times[:1], tt, te),
            lambda: sksurv_metrics.cumulative_dynamic_auc(y_train, y_test, r, times[:1]),
            check=check,
        )


@pytest.mark.parametrize("seed,n,rate,td,rd", CASES)
def test_brier_and_ibs_match_sksurv(seed, n, rate, td, rd):
    t, e, r, tt, te = make_data(seed, n, rate, td, rd)
    times = eval_times(t)
    if times.size == 0:
        pytest.skip("no evaluation time inside the follow-up")
    y_test, y_train = Surv.from_arrays(e, t), Surv.from_arrays(te, tt)
    rng = np.random.default_rng(seed)
    surv = np.exp(-np.outer(np.exp(r), times) / 10)
    surv = np.clip(surv + rng.normal(scale=0.05, size=surv.shape), 0, 1)
    same_result(
        lambda: brier_scores(t, e, surv, times, tt, te),
        lambda: sksurv_metrics.brier_score(y_train, y_test, surv, times)[1],
    )
    if times.size >= 2:
        same_result(
            lambda: integrated_brier_score(t, e, surv, times, tt, te),
            lambda: sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times),
        )
    # one time point given as a 1-D vector of probabilities
    same_result(
        lambda: brier_scores(t, e, surv[:, 0], times[:1], tt, te),
        lambda: sksurv_metrics.brier_score(y_train, y_test, surv[:, 0], times[:1])[1],
    )


def test_brier_with_censoring_distribution_reaching_zero():
    # the training follow-up ends with a censoring, so G drops to 0 at its end
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    e = np.array([1, 0, 1, 1, 0, 1], bool)
    tt = np.array([1.0, 2.0, 3.0, 6.0])
    te = np.array([1, 0, 1, 0], bool)
    surv = np.linspace(0.9, 0.2, 12).reshape(6, 2)
    times = [2.5, 4.5]
    ref = sksurv_metrics.brier_score(Surv.from_arrays(te, tt), Surv.from_arrays(e, t), surv, times)[1]
    np.testing.assert_allclose(brier_scores(t, e, surv, times, tt, te), ref)


@pytest.mark.parametrize("seed,n,rate,td", [(0, 10, 0.5, None), (1, 100, 0.3, 0), (2, 50, 1.0, None), (3, 40, 0.0, 1)])
def test_kaplan_meier_matches_sksurv(seed, n, rate, td):
    t, e, _, _, _ = make_data(seed, n, rate, td)
    if rate == 0.0:
        e[:] = False
    ref_t, ref_s = kaplan_meier_estimator(e, t)
    got_t, got_s = kaplan_meier(t, e)
    np.testing.assert_allclose(got_t, ref_t)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-12)
    if e.any():
        ref_t, ref_g = kaplan_meier_estimator(e, t, reverse=True)
        got_t, got_g = kaplan_meier(t, e, reverse=True)
        np.testing.assert_allclose(got_t, ref_t)
        np.testing.assert_allclose(got_g, ref_g, rtol=1e-12)


def test_evaluate_step_function():
    x = np.array([1.0, 2.0, 4.0])
    y = np.array([0.9, 0.5, 0.1])
    at = np.array([0.0, 1.0, 1.5, 2.0, 3.999, 4.0, 100.0])
    expected = [1.0, 0.9, 0.9, 0.5, 0.5, 0.1, 0.1]
    np.testing.assert_array_equal(evaluate_step_function(x, y, at), expected)
    assert evaluate_step_function(x, y, 0.5, initial=0.0) == 0.0
    assert evaluate_step_function([], [], [1.0]).tolist() == [1.0]
    assert np.isnan(evaluate_step_function(x, y, [np.nan])).all()
    ut, s = kaplan_meier([1, 2, 2, 3], [1, 1, 0, 0])
    np.testing.assert_allclose(evaluate_step_function(ut, s, [0.5, 2.5]), [1.0, 0.75 * 2 / 3])
    with pytest.raises(ValueError, match="increasing"):
        evaluate_step_function([2.0, 1.0], [0.5, 0.4], 1.0)
    with pytest.raises(ValueError, match="same shape"):
        evaluate_step_function([1.0, 2.0], [0.5], 1.0)


def test_survival_metrics_keys_match_references():
    t, e, r, tt, te = make_data(21, 2000, 0.5)
    times = np.quantile(t, np.linspace(0.1, 0.8, 10))
    surv = np.exp(-np.outer(np.exp(r), times) / 10)
    m = survival_metrics(t, e, r, surv, times, tt, te)
    assert list(m) == ["c_index", "uno_c", "td_auc", "ibs"]
    assert all(type(v) is float for v in m.values())
    y_test, y_train = Surv.from_arrays(e, t), Surv.from_arrays(te, tt)
    assert m["c_index"] == pytest.approx(sksurv_metrics.concordance_index_censored(e, t, r)[0])
    assert m["uno_c"] == pytest.approx(sksurv_metrics.concordance_index_ipcw(y_train, y_test, r, tau=times[-1])[0])
    assert m["td_auc"] == pytest.approx(sksurv_metrics.cumulative_dynamic_auc(y_train, y_test, r, times)[1])
    assert m["ibs"] == pytest.approx(sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times))
    assert list(survival_metrics(t, e, r, None, times, tt, te)) == ["c_index", "uno_c", "td_auc"]


# --------------------------------------------------------------------------- bad inputs

T = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
E = np.array([1, 0, 1, 1, 0, 1])
R = np.array([5.0, 6.0, 3.0, 1.0, 2.0, 4.0])
S = np.full((6, 2), 0.5)
TIMES = [2.5, 4.5]

ALL_CALLS = {
    "harrell_c": lambda t, e, r: harrell_c(t, e, r),
    "uno_c": lambda t, e, r: uno_c(t, e, r, T, E),
    "td_auc": lambda t, e, r: time_dependent_auc(t, e, r, TIMES, T, E)[1],
    "brier": lambda t, e, r: brier_scores(t, e, S[: len(t)], TIMES, T, E),
    "ibs": lambda t, e, r: integrated_brier_score(t, e, S[: len(t)], TIMES, T, E),
    "survival_metrics": lambda t, e, r: list(survival_metrics(t, e, r, S[: len(t)], TIMES, T, E).values()),
}


@pytest.mark.parametrize("call", ALL_CALLS.values(), ids=ALL_CALLS.keys())
def test_bad_inputs_raise_clear_errors(call):
    assert np.isfinite(np.asarray(call(T, E, R), dtype=float)).all()
    with pytest.raises(DataError, match="no events"):
        call(T, np.zeros(6), R)
    with pytest.raises(DataError, match="negative"):
        call(np.r_[-1.0, T[1:]], E, R)
    with pytest.raises(DataError, match="NaN"):
        call(np.r_[np.nan, T[1:]], E, R)
    with pytest.raises(DataError, match="only 0 and 1"):
        call(T, np.r_[2, E[1:]], R)
    with pytest.raises(ValueError, match="same number of rows"):
        call(T[:-1], E, R)


@pytest.mark.parametrize("call", [ALL_CALLS[k] for k in ("harrell_c", "uno_c", "td_auc", "survival_metrics")])
def test_bad_risk(call):
    with pytest.raises(DataError, match="NaN"):
        call(T, E, np.r_[np.nan, R[1:]])
    with pytest.raises(ValueError, match="same number of rows"):
        call(T, E, R[:-1])


def test_no_comparable_pairs():
    with pytest.raises(DataError, match="comparable"):
        harrell_c([1.0, 2.0, 3.0], [0, 0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="comparable"):
        harrell_c([2.0, 2.0], [1, 1], [0.1, 0.2])  # events at the same time
    with pytest.raises(DataError, match="comparable"):
        uno_c(T, E, R, T, E, tau=0.5)  # no event before tau


def test_evaluation_times_and_training_follow_up():
    with pytest.raises(DataError, match="follow-up of the test data"):
        time_dependent_auc(T, E, R, [2.0, 6.0], T, E)
    with pytest.raises(DataError, match="follow-up of the test data"):
        brier_scores(T, E, S, [0.5, 2.0], T, E)
    with pytest.raises(ValueError, match="strictly increasing"):
        brier_scores(T, E, S, [4.5, 2.5], T, E)
    with pytest.raises(DataError, match="NaN"):
        brier_scores(T, E, S, [2.5, np.nan], T, E)
    with pytest.raises(ValueError, match="columns"):
        time_dependent_auc(T, E, np.ones((6, 3)), TIMES, T, E)
    with pytest.raises(ValueError, match="columns"):
        brier_scores(T, E, np.ones((6, 3)), TIMES, T, E)
    with pytest.raises(ValueError, match="two time points"):
        integrated_brier_score(T, E, S[:, :1], [2.5], T, E)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        brier_scores(T, E, S + 1, TIMES, T, E)
    # test events beyond the training follow-up: the censoring distribution is unknown
    tt, te = T[:4], np.array([1, 0, 1, 1])
    with pytest.raises(DataError, match="beyond the last training time"):
        uno_c(T, E, R, tt, te)
    with pytest.raises(DataError, match="beyond the last training time"):
        brier_scores(T, E, S, TIMES, tt, te)
    assert np.isfinite(uno_c(T, E, R, tt, te, tau=3.5))
    # training follow-up ending with a censoring: G is 0 after it
    with pytest.raises(DataError, match="censoring survival function is zero"):
        uno_c(T, E, R, tt, np.array([1, 0, 1, 0]))
    with pytest.raises(DataError, match="train_event has no events"):
        uno_c(T, E, R, T, np.zeros(6))
    with pytest.raises(ValueError, match="same number of rows"):
        uno_c(T, E, R, T, E[:-1])
