"""Percentile bootstrap: determinism, stratification, failure handling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from healthnn.errors import DataError
from healthnn.metrics import auroc, binary_metrics, bootstrap, harrell_c


def make_binary(seed=0, n=200, prevalence=0.2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    return y, p


def test_interval_contains_point_estimate_and_keeps_order():
    y, p = make_binary()
    res = bootstrap(binary_metrics, [y, p], n_resamples=300, strata=y)
    assert list(res) == list(binary_metrics(y, p))
    for name, r in res.items():
        assert list(r) == ["value", "ci_low", "ci_high"]
        assert all(type(v) is float for v in r.values())
        if name != "calibration_slope":
            assert r["ci_low"] <= r["value"] <= r["ci_high"], name
    assert res["auroc"]["value"] == pytest.approx(auroc(y, p))
    assert res["auroc"]["ci_high"] - res["auroc"]["ci_low"] < 0.3
    json.dumps(res)  # JSON friendly


def test_mean_interval_has_nominal_coverage_roughly():
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(60):
        x = rng.normal(loc=1.0, size=100)
        r = bootstrap(lambda a: {"mean": float(a.mean())}, [x], n_resamples=200, seed=int(rng.integers(1 << 30)))["mean"]
        covered += r["ci_low"] <= 1.0 <= r["ci_high"]
    assert covered >= 48  # nominal 95 % of 60 = 57


def test_percentiles_of_the_resampled_values():
    x = np.arange(50.0)
    res = bootstrap(lambda a: {"mean": a.mean()}, [x], n_resamples=400, ci=0.9, seed=7)["mean"]
    rng = np.random.default_rng(7)
    means = [x[rng.integers(0, 50, size=50)].mean() for _ in range(400)]
    assert res["value"] == pytest.approx(24.5)
    assert res["ci_low"] == pytest.approx(np.quantile(means, 0.05))
    assert res["ci_high"] == pytest.approx(np.quantile(means, 0.95))


def test_infinite_values_give_an_infinite_bound_without_warnings():
    x = np.r_[np.arange(10.0), np.inf]  # e.g. one unbounded interval among finite widths
    with np.errstate(all="raise"):
        res = bootstrap(lambda a: {"mean": a.mean(), "max": a.max()}, [x], n_resamples=200,
                        seed=1)
    assert res["max"]["ci_high"] == math.inf and res["mean"]["ci_high"] == math.inf
    assert res["max"]["ci_low"] <= res["max"]["ci_high"]


def test_deterministic_for_a_seed():
    y, p = make_binary(1)
    a = bootstrap(binary_metrics, [y, p], n_resamples=100, seed=3, strata=y)
    b = bootstrap(binary_metrics, [y, p], n_resamples=100, seed=3, strata=y)
    c = bootstrap(binary_metrics, [y, p], n_resamples=100, seed=4, strata=y)
    assert json.dumps(a) == json.dumps(b)
    assert a["auroc"] != c["auroc"]


def test_stratification_keeps_level_sizes():
    y, p = make_binary(2, n=60, prevalence=0.05)
    n_pos = int(y.sum())
    seen = []

    def count(yy, pp):
        seen.append(int(yy.sum()))
        return {"auroc": auroc(yy, pp)}

    res = bootstrap(count, [y, p], n_resamples=200, strata=y)
    assert seen[0] == n_pos  # the full-data call
    assert set(seen[1:]) == {n_pos}
    # one positive row, kept in every resample: the same AUROC each time, so the
    # interval is reported as not estimable rather than as zero width (issue 19 item 4)
    assert n_pos == 1 and res["auroc"]["value"] == 1.0
    assert math.isnan(res["auroc"]["ci_low"]) and "same value" in res["auroc"]["note"]
    # the same data without strata: some resamples lose all positives and are skipped
    seen.clear()
    bootstrap(count, [y, p], n_resamples=200)
    assert min(seen[1:]) < n_pos < max(seen[1:])


def test_strata_for_survival_keep_events():
    rng = np.random.default_rng(0)
    n = 300
    t = rng.exponential(10, n)
    e = rng.random(n) < 0.1
    r = -t + rng.normal(scale=5, size=n)
    res = bootstrap(lambda a, b, c: {"c_index": harrell_c(a, b, c)}, [t, e, r], n_resamples=100, strata=e)
    assert res["c_index"]["ci_low"] <= res["c_index"]["value"] <= res["c_index"]["ci_high"]


def test_failing_and_nan_resamples_are_skipped_per_metric():
    x = np.arange(100.0)
    calls = {"n": 0}

    def flaky(a):
        calls["n"] += 1
        if calls["n"] > 1 and calls["n"] % 4 == 0:  # 25 % of resamples raise
            raise DataError("cannot compute")
        return {
            "mean": float(a.mean()),
            "mostly_nan": float("nan") if calls["n"] % 3 != 1 else 1.0,  # 2/3 NaN
            "some_nan": float("nan") if calls["n"] % 5 == 0 else float(a.max()),
        }

    res = bootstrap(flaky, [x], n_resamples=200)
    assert math.isfinite(res["mean"]["ci_low"]) and math.isfinite(res["mean"]["ci_high"])
    assert math.isfinite(res["some_nan"]["ci_low"])
    assert math.isnan(res["mostly_nan"]["ci_low"]) and math.isnan(res["mostly_nan"]["ci_high"])
    # too few valid resamples: not estimable (issue 19 item 4), the number kept as 'point'
    assert res["mostly_nan"]["estimable"] is False and math.isnan(res["mostly_nan"]["value"])
    assert res["mostly_nan"]["point"] == 1.0
    assert "resamples gave a value" in res["mostly_nan"]["note"]


def test_more_than_half_failing_gives_nan_interval():
    # one positive in 100 rows: about (99/100)^100 = 37 % of unstratified resamples
    # have no positive and fail, fewer than half, so the interval is defined
    y = np.r_[np.zeros(99, int), 1]
    p = np.linspace(0, 1, 100)
    res = bootstrap(lambda a, b: {"auroc": auroc(a, b)}, [y, p], n_resamples=200)
    assert res["auroc"]["value"] == 1.0
    # ... but every valid resample gives 1.0: a zero-width interval is not shown
    assert math.isnan(res["auroc"]["ci_low"]) and math.isnan(res["auroc"]["ci_high"])
    assert res["auroc"]["note"] == "every resample gave the same value"
    # a metric that raises in 70 % of the resamples: no interval
    calls = {"n": 0}

    def unstable(a):
        calls["n"] += 1
        if calls["n"] > 1 and calls["n"] % 10 < 7:
            raise FloatingPointError("unstable")
        return {"m": float(a.mean())}

    res = bootstrap(unstable, [p], n_resamples=200)
    assert math.isnan(res["m"]["ci_low"]) and math.isnan(res["m"]["ci_high"])
    assert res["m"]["estimable"] is False and res["m"]["point"] == pytest.approx(p.mean())
    assert res["m"]["note"] == "only 60 of 200 bootstrap resamples gave a value"


def test_none_arrays_are_passed_through_and_2d_arrays_resampled_by_row():
    x = np.arange(20.0)
    m = np.column_stack([x, 2 * x])

    def fn(a, nothing, mat):
        assert nothing is None
        assert np.array_equal(mat[:, 0], a)
        return {"s": float(mat[:, 1].sum())}

    res = bootstrap(fn, [x, None, m], n_resamples=20)
    assert res["s"]["value"] == pytest.approx(2 * x.sum())


def test_bad_arguments():
    x = np.arange(10.0)
    fn = lambda a: {"m": float(a.mean())}  # noqa: E731
    with pytest.raises(ValueError, match="same number of rows"):
        bootstrap(lambda a, b: {}, [x, x[:-1]])
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap(fn, [])
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap(fn, [x], n_resamples=-1)
    no_ci = bootstrap(fn, [x], n_resamples=0)["m"]  # [eval] bootstrap = 0: no intervals
    assert no_ci["value"] == 4.5 and np.isnan(no_ci["ci_low"]) and np.isnan(no_ci["ci_high"])
    with pytest.raises(ValueError, match="ci"):
        bootstrap(fn, [x], ci=1.0)
    with pytest.raises(ValueError, match="strata"):
        bootstrap(fn, [x], strata=np.zeros(5))
    with pytest.raises(ValueError, match="dict"):
        bootstrap(lambda a: 1.0, [x])
    with pytest.raises(DataError):  # errors on the full data propagate
        bootstrap(lambda a: {"a": auroc(np.zeros(10), a)}, [x])


def test_harrell_bootstrap_interval_brackets_estimate():
    rng = np.random.default_rng(0)
    n = 2000
    t = rng.exponential(10, n)
    e = rng.random(n) < 0.4
    r = rng.normal(size=n) - 0.05 * t
    res = bootstrap(lambda a, b, c: {"c": harrell_c(a, b, c)}, [t, e, r], n_resamples=1000, strata=e)
    assert res["c"]["ci_low"] < res["c"]["value"] < res["c"]["ci_high"]
