"""Operating points (a decision threshold chosen on validation data by a stated rule), checked
against scikit-learn's curves on random inputs."""

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from healthnn.metrics import operating_point


def _data(rng, n=300, prev=0.15):
    y = (rng.random(n) < prev).astype(int)
    y[:2] = [0, 1]
    p = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    return y, np.round(p, 2)  # rounding makes ties, as real probabilities have


@pytest.mark.parametrize("seed", range(5))
def test_min_se_ppv_is_the_best_point_of_the_precision_recall_curve(seed):
    y, p = _data(np.random.default_rng(seed))
    op = operating_point(y, p, "min_se_ppv")
    prec, rec, _ = precision_recall_curve(y, p)
    assert op["min_se_ppv"] == pytest.approx(np.max(np.minimum(prec, rec)))
    flag = p >= op["threshold"]
    assert op["sensitivity"] == pytest.approx(flag[y == 1].mean())
    assert op["ppv"] == pytest.approx(y[flag].mean())
    # the lowest threshold that reaches it
    lower = p[p < op["threshold"]]
    if lower.size:
        t = lower.max()
        se, ppv = (p >= t)[y == 1].mean(), y[p >= t].mean()
        assert min(se, ppv) < op["min_se_ppv"]


@pytest.mark.parametrize("seed", range(5))
def test_youden_matches_the_roc_curve(seed):
    y, p = _data(np.random.default_rng(seed))
    op = operating_point(y, p, "youden")
    fpr, tpr, _ = roc_curve(y, p)
    assert op["sensitivity"] + op["specificity"] - 1 == pytest.approx(np.max(tpr - fpr))


@pytest.mark.parametrize("seed", range(5))
def test_prevalence_flags_the_top_share_and_equalises_se_and_ppv(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.14).astype(int)
    p = rng.random(500) * 0.5 + 0.3 * y  # continuous: no ties
    op = operating_point(y, p, "prevalence")
    k = int(round(y.mean() * y.size))
    assert int(np.sum(p >= op["threshold"])) == k
    assert op["sensitivity"] == pytest.approx(op["ppv"])  # flagged = positives
    assert op["prevalence"] == pytest.approx(y.mean())
    # a prevalence given from elsewhere (the training split) sets the share instead
    op2 = operating_point(y, p, "prevalence", prevalence=0.3)
    assert int(np.sum(p >= op2["threshold"])) == 150 and op2["flagged"] == pytest.approx(0.3)
    # scores need not be probabilities (a clinical score such as SAPS-I)
    op3 = operating_point(y, p * 40, "prevalence")
    assert op3["threshold"] == pytest.approx(op["threshold"] * 40)


def test_operating_point_rejects_what_it_cannot_use():
    with pytest.raises(ValueError, match="unknown operating-point rule"):
        operating_point([0, 1], [0.1, 0.9], "f1")
    with pytest.raises(ValueError, match="both classes"):
        operating_point([0, 0], [0.1, 0.9], "min_se_ppv")
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        operating_point([0, 0, 1], [0.1, 0.2, 0.9], "prevalence", prevalence=1.5)


def test_config_names_the_rules():
    from healthnn.config import load_config
    from healthnn.errors import ConfigError

    base = {"task": "classification", "data": {"train": "x.csv", "target": "y"}}
    assert load_config({**base, "eval": {"operating_point": "youden"}}).eval.operating_point \
        == "youden"
    with pytest.raises(ConfigError) as err:
        load_config({**base, "eval": {"operating_point": "prevalance"}})
    assert "eval.operating_point" in str(err.value) and "prevalence" in str(err.value)
