"""Metrics the test rows cannot give are reported as not estimable (issue 19, items 4 and 6)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthnn.errors import DataError
from healthnn.metrics import binary_metrics, bootstrap, multiclass_metrics
from healthnn.metrics.estimable import (
    MIN_CLASS_ROWS,
    POOLED_METRICS,
    evaluate_or_not_estimable,
    format_metric,
    is_estimable,
)
from healthnn.metrics.survival import brier_scores, time_dependent_auc

sksurv_metrics = pytest.importorskip("sksurv.metrics")
from sksurv.datasets import load_veterans_lung_cancer  # noqa: E402
from sksurv.util import Surv  # noqa: E402


def test_one_row_per_class_is_not_estimable_but_pooled_metrics_are():
    # the case: a multi-class test set whose classes have a row or two each
    y = np.array([0, 1, 2, 2, 0, 1])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1],
                  [0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]])
    res = bootstrap(multiclass_metrics, [y, p], n_resamples=100, strata=y,
                    min_stratum=MIN_CLASS_ROWS, pooled=POOLED_METRICS, strata_name="class")
    auc = res["auroc_macro"]
    assert auc["estimable"] is False and math.isnan(auc["value"])
    assert auc["note"] == "the smallest class has 2 rows; at least 5 are needed"
    assert auc["point"] == pytest.approx(multiclass_metrics(y, p)["auroc_macro"])
    assert format_metric(auc).startswith("not estimable (the smallest class has 2 rows")
    assert is_estimable(res["accuracy"]) and math.isfinite(res["accuracy"]["ci_low"])


def test_enough_rows_keep_ordinary_intervals():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1)
    res = bootstrap(binary_metrics, [y, p], n_resamples=200, strata=y,
                    min_stratum=MIN_CLASS_ROWS, pooled=POOLED_METRICS)
    for name, m in res.items():
        assert set(m) == {"value", "ci_low", "ci_high"}, name
        assert m["ci_low"] < m["ci_high"], name


def test_zero_width_interval_is_not_shown_as_precise():
    # the "auroc_macro 0.333 [0.333, 0.333]": identical resamples
    y = np.array([0] * 6 + [1])
    p = np.linspace(0.1, 0.9, 7)
    res = bootstrap(lambda a, b: {"auroc": binary_metrics(a, b)["auroc"]}, [y, p],
                    n_resamples=100, strata=y)
    m = res["auroc"]
    assert m["value"] == 1.0 and math.isnan(m["ci_low"]) and math.isnan(m["ci_high"])
    assert format_metric(m) == "1.000 (interval not estimable: every resample gave the same value)"
    # a split-conformal interval has one width for every row: its zero width is exact
    res = bootstrap(lambda w: {"conformal_width": float(w.mean())}, [np.full(20, 2.0)],
                    n_resamples=50)
    assert res["conformal_width"] == {"value": 2.0, "ci_low": 2.0, "ci_high": 2.0}


def test_a_failing_evaluation_becomes_one_not_estimable_entry():
    def fails(*_, **__):
        raise DataError("no events in the evaluation data: survival metrics are undefined")

    out = evaluate_or_not_estimable(fails, 1, seed=0)
    assert out["metrics"]["estimable"] is False and "no events" in out["metrics"]["note"]
    with pytest.raises(ZeroDivisionError):  # programming errors are not hidden
        evaluate_or_not_estimable(lambda: 1 / 0)


def _veterans_split():
    X, y = load_veterans_lung_cancer()
    t = y["Survival_in_days"].astype(float)
    e = y["Status"].astype(bool)
    rng = np.random.default_rng(3)
    risk = -np.log(t) + rng.normal(scale=1.0, size=t.size)
    test = np.zeros(t.size, dtype=bool)
    test[np.argsort(t)[-3:]] = True  # the longest follow-up lies in the test rows only
    test[rng.choice(np.flatnonzero(~test), 30, replace=False)] = True
    return t, e, risk, test


def test_time_dependent_metrics_beyond_training_follow_up_match_sksurv_truncated():
    # issue 19 item 6: Veterans test times go beyond the last training time; the metrics
    # at times within the training follow-up are sksurv's on the test rows truncated there
    t, e, risk, test = _veterans_split()
    tr_t, tr_e, te_t, te_e, r = t[~test], e[~test], t[test], e[test], risk[test]
    assert te_t.max() > tr_t.max()
    times = np.quantile(tr_t[tr_e], np.linspace(0.1, 0.8, 5))
    with pytest.raises(ValueError, match="largest observed time"):
        sksurv_metrics.cumulative_dynamic_auc(Surv.from_arrays(tr_e, tr_t),
                                              Surv.from_arrays(te_e, te_t), r, times)
    clipped = np.minimum(te_t, tr_t.max())  # same cases, controls and KM up to max(times)
    train, truncated = Surv.from_arrays(tr_e, tr_t), Surv.from_arrays(te_e, clipped)
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(train, truncated, r, times)
    auc, mean = time_dependent_auc(te_t, te_e, r, times, tr_t, tr_e)
    np.testing.assert_allclose(auc, ref_auc, rtol=1e-10)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    surv = np.exp(-np.outer(np.exp(r - r.mean()), times / 300.0))
    ref_bs = sksurv_metrics.brier_score(train, truncated, surv, times)[1]
    np.testing.assert_allclose(brier_scores(te_t, te_e, surv, times, tr_t, tr_e), ref_bs,
                               rtol=1e-10)
