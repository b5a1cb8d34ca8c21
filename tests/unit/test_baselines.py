"""Issue 20: baseline models, their JSON round trip, DeLong's test and the comparison words."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from healthnn.baselines.compare import comparison_lines, comparisons
from healthnn.baselines.linear import CoxBaseline, LinearBaseline, LogisticBaseline, fit_cox
from healthnn.baselines.trees import RandomForestBaseline, XGBoostBaseline
from healthnn.config import load_config
from healthnn.errors import ConfigError, DataError
from healthnn.metrics import auroc
from healthnn.metrics.delong import delong_test

from helpers import config_dict


def _delong_reference(y, a, b):
    """DeLong 1988 written out with the O(m n) kernel psi(x, y) = 1, 1/2, 0."""
    y = np.asarray(y)
    out = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        out.append((psi.mean(), psi.mean(1), psi.mean(0)))
    m, n = (y == 1).sum(), (y == 0).sum()
    v10 = np.vstack([out[0][1], out[1][1]])
    v01 = np.vstack([out[0][2], out[1][2]])
    s = np.cov(v10) / m + np.cov(v01) / n
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    return out[0][0], out[1][0], np.sqrt(var)


@pytest.mark.parametrize("seed", range(5))
def test_delong_matches_the_reference_on_random_inputs(seed):
    r = np.random.default_rng(seed)
    n = int(r.integers(20, 200))
    y = r.integers(0, 2, n)
    y[:2] = [0, 1]
    a = y + r.normal(0, 1.0, n)
    b = np.round(y * 0.5 + r.normal(0, 1.0, n), 1)  # ties
    res = delong_test(y, a, b)
    auc_a, auc_b, se = _delong_reference(y, a, b)
    assert res["auroc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert res["auroc_b"] == pytest.approx(auroc(y, b), abs=1e-12)
    assert res["se"] == pytest.approx(se, rel=1e-9)
    assert res["ci_low"] < res["difference"] < res["ci_high"]
    assert 0.0 <= res["p_value"] <= 1.0
    swapped = delong_test(y, b, a)
    assert swapped["difference"] == pytest.approx(-res["difference"])
    assert swapped["p_value"] == pytest.approx(res["p_value"])


def test_delong_bad_input():
    with pytest.raises(DataError):
        delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError):
        delong_test([0, 1], [0.1], [0.2, 0.3])
    same = delong_test([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], [0.1, 0.9, 0.2, 0.8])
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_linear_cox_matches_scikit_survival():
    sksurv = pytest.importorskip("sksurv.linear_model")
    from sksurv.datasets import load_whas500
    from sksurv.util import Surv

    x, y = load_whas500()
    x = x.apply(lambda c: c.astype(float)).to_numpy()
    time, event = y["lenfol"].astype(float), y["fstat"]
    cox = CoxBaseline(alpha=0.01).fit(x, {"time": time, "event": event})
    z = cox.std_.transform(x)
    ref = sksurv.CoxPHSurvivalAnalysis(alpha=0.01, ties="breslow").fit(
        z, Surv.from_arrays(event, time))
    assert np.abs(cox.coef_[0] - ref.coef_).max() < 1e-6
    again = CoxBaseline.from_dict(cox.to_dict())
    assert np.array_equal(again.predict(x), cox.predict(x))


def test_cox_ties_and_a_useless_input():
    r = np.random.default_rng(1)
    x = np.column_stack([r.normal(size=200), np.ones(200)])  # constant second column
    t = np.round(r.exponential(np.exp(-x[:, 0])), 1)
    beta = fit_cox((x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1), t,
                   np.ones(200, bool))
    assert beta[0] > 0.5 and beta[1] == 0.0


def test_linear_models_round_trip_without_pickle(rng):
    x = rng.normal(size=(120, 4))
    x[::7, 2] = np.nan
    codes = np.where(x[:, 0] > 0.3, 2, np.where(x[:, 0] < -0.3, 0, 1))
    lr = LogisticBaseline().fit(x, {"codes": codes, "n_classes": 3})
    p = lr.predict(x)
    assert p.shape == (120, 3) and np.allclose(p.sum(1), 1)
    assert np.allclose(LogisticBaseline.from_dict(lr.to_dict()).predict(x), p)
    values = (2 * x[:, :1] + 1)
    ridge = LinearBaseline().fit(x, {"values": np.nan_to_num(values)})
    assert np.allclose(LinearBaseline.from_dict(ridge.to_dict()).predict(x), ridge.predict(x))


def test_random_forest_arrays_give_scikit_learns_predictions(rng):
    from sklearn.ensemble import RandomForestRegressor

    x = rng.normal(size=(150, 6)).astype(np.float32)
    y = x[:, 0] * 2 + rng.normal(0, 0.1, 150)
    rf = RandomForestBaseline(n_trees=15, seed=3).fit(x, {"values": y[:, None]})
    ref = RandomForestRegressor(n_estimators=15, random_state=3, max_features=1 / 3,
                                min_samples_leaf=3, n_jobs=1).fit(x, y)
    assert np.allclose(rf.predict(x)[:, 0], ref.predict(x), atol=1e-5)
    assert np.allclose(RandomForestBaseline.from_dict(rf.to_dict()).predict(x), rf.predict(x))


@pytest.mark.parametrize("kind", ["classes", "values", "risk"])
def test_xgboost_round_trip_through_its_json_format(rng, kind):
    pytest.importorskip("xgboost")
    x = rng.normal(size=(200, 3))
    target = {"classes": {"codes": (x[:, 0] > 0).astype(int), "n_classes": 2},
              "values": {"values": x[:, :1] * 3},
              "risk": {"time": rng.exponential(np.exp(-x[:, 0])),
                       "event": rng.random(200) < 0.7}}[kind]
    m = XGBoostBaseline(kind).fit(x[:150], _rows(target, slice(0, 150)), x[150:],
                                  _rows(target, slice(150, None)))
    again = XGBoostBaseline.from_dict(m.to_dict())
    assert isinstance(m.to_dict()["models"][0], str)
    assert np.allclose(again.predict(x), m.predict(x))
    if kind == "risk":
        assert np.corrcoef(m.predict(x), x[:, 0])[0, 1] > 0.5


def _rows(target, sl):
    return {k: (v[sl] if isinstance(v, np.ndarray) else v) for k, v in target.items()}


def test_config_names_baselines_strictly(table_csv):
    base = config_dict("survival", table_csv)
    assert load_config({**base, "baseline": {"models": ["cox"]}}).baseline.models == ["cox"]
    assert load_config(base).baseline.models is None
    with pytest.raises(ConfigError, match="unknown baseline 'xgboost'") as e:
        load_config({**base, "baseline": {"models": ["xgboost"]}})
    assert "cox, xgboost_cox" in str(e.value)
    with pytest.raises(ConfigError, match="listed twice"):
        load_config({**base, "baseline": {"models": ["cox", "cox"]}})
    with pytest.raises(ConfigError, match="did you mean .models."):
        load_config({**base, "baseline": {"model": ["cox"]}})


def test_comparison_words():
    def m(v, lo, hi):
        return {"value": v, "ci_low": lo, "ci_high": hi}

    metrics = {"test": {"rmse": m(1.0, 0.9, 1.1)},
               "test_baseline_linear": {"rmse": m(0.8, 0.7, 0.9)},
               "test_vs_baseline_linear": {"rmse": m(0.2, 0.1, 0.3)},
               "test_baseline_xgboost": {"rmse": m(1.05, 0.9, 1.2)},
               "test_vs_baseline_xgboost": {"rmse": m(-0.05, -0.1, 0.01)}}
    words = {c["name"]: c["verdict"] for c in comparisons(metrics)}
    assert words == {"linear": "the baseline is better", "xgboost": "no clear difference"}
    assert len(comparison_lines(metrics)) == 2
    metrics["test_vs_baseline_xgboost"]["rmse"] = m(0.05, -0.01, 0.1)
    assert comparisons(metrics)[1]["verdict"] == "the baseline is ahead, within the interval"


def test_outputs_reproduce_baseline_predictions(table_csv):
    from healthnn.baselines import adapt
    from healthnn.tasks.survival import SurvivalTask
    from healthnn.tasks.tabular import ClassificationTask

    cfg = load_config(config_dict("classification", table_csv))
    task = ClassificationTask(cfg)
    task.classes_ = ["0", "1"]
    p = np.array([[0.9, 0.1], [0.25, 0.75]])
    assert np.allclose(task.probabilities(adapt.to_outputs(task, p, "classes")), p, atol=1e-6)
    cfg = load_config(config_dict("survival", table_csv),
                      overrides=['model.name="logistic_hazard"'])
    task = SurvivalTask(cfg)
    task.cuts_ = [0.0, 1.0, 2.0, 3.0]
    hazard = (np.array([0.5, 1.5, 2.5]), np.array([0.1, 0.3, 0.6]))
    f = np.array([0.0, 1.0])
    out = adapt.to_outputs(task, f, "risk", hazard)
    want = np.exp(-np.outer(np.exp(f), [0.1, 0.3, 0.6]))
    assert np.allclose(task.survival(out, [1.0, 2.0, 3.0]), want, atol=1e-5)
    assert isinstance(out, torch.Tensor)
