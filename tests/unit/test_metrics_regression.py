"""Regression metrics against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from healthnn.errors import DataError
from healthnn.metrics import regression_metrics


@pytest.mark.parametrize("seed,n", [(0, 2), (1, 3), (2, 50), (3, 1000)])
def test_matches_sklearn(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 3 + 1
    pred = y + rng.normal(size=n)
    m = regression_metrics(y, pred)
    assert list(m) == ["rmse", "mae", "r2"]
    assert all(type(v) is float for v in m.values())
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))


def test_r2_undefined_for_constant_target():
    m = regression_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert np.isnan(m["r2"])
    assert m["mae"] == pytest.approx(2 / 3)
    assert np.isnan(regression_metrics([1.0], [1.5])["r2"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="same number of rows"):
        regression_metrics([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="NaN"):
        regression_metrics([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(DataError, match="numeric"):
        regression_metrics(["a", "b"], [1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        regression_metrics([[1.0, 2.0]], [[1.0, 2.0]])
    with pytest.raises(DataError, match="empty"):
        regression_metrics([], [])
